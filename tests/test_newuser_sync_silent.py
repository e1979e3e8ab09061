"""A new user's tour, ``heygem sync`` on the outputs of a batch whose speech was silent (a muted
microphone).

Before: the check said only "low confidence: the mouth does not clearly follow this speech (...); the
offset is a guess", which sends one looking for a lip-sync fault; that the sound holds nothing at all
was not said. Now a note line says so, for the video's own track and for --audio, in the user's language.
"""
from __future__ import annotations

import subprocess

from heygem_cli import heygem


def test_sync_says_when_the_sound_is_silent(tmp_path, clip_524):
    muted = tmp_path / "王 医生 静音.mp4"       # talking_524's picture, its sound replaced by silence
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_524), "-f", "lavfi", "-i",
                    "anullsrc=r=48000:cl=stereo", "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac",
                    "-shortest", str(muted)], check=True)
    done = heygem("sync", muted, "--no-plot", "--cache-dir", tmp_path / "cache", lang="zh")
    assert done.returncode == 0, done.stderr
    assert "注意：       王 医生 静音.mp4 的音轨没有声音（全程低于 -60 dBFS）：没有可用来对照嘴部动作的语音" in done.stdout, \
        done.stdout
    silent = tmp_path / "静音.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "5",
                    str(silent)], check=True)
    given = heygem("sync", clip_524, "--audio", silent, "--no-plot", "--cache-dir", tmp_path / "cache")
    assert given.returncode == 0, given.stderr
    assert ("note:        静音.wav holds no sound (quieter than -60 dBFS throughout): there is no speech to check "
            "the mouth against") in given.stdout, given.stdout
    speaking = heygem("sync", clip_524, "--no-plot", "--cache-dir", tmp_path / "cache")   # its own speech: no note
    assert "holds no sound" not in speaking.stdout, speaking.stdout
