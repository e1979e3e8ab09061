"""A video file as the speech (README: 'any video file's audio track') whose sound starts after its
first picture: the output's sound must be the speech the mouth was timed to, from its first sample."""
from __future__ import annotations

import json
import subprocess

import numpy as np

from heygem_cli import heygem
from heygem_kernel import media
from heygem_kernel.audio import load_audio

DELAY_S = 0.48


def test_speech_from_a_video_whose_sound_starts_late_stays_in_sync(tmp_path, media_dir):
    # heygem run --audio <talking_590 with its sound 0.48 s after the first frame> --video talking_524:
    # the output's sound started at 0.452 s (the speech had been analysed from its first sample), the
    # mouth led it by 12 frames (heygem sync: -12), and its last 0.44 s were cut off
    speech = tmp_path / "recorded speech.mp4"
    clip = media_dir / "talking_590.mp4"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", clip, "-itsoffset", str(DELAY_S), "-i", clip,
                    "-map", "0:v", "-map", "1:a", "-c", "copy", speech], check=True)
    assert media.probe_video(speech).audio_delay > 0.45          # the input is what the test means
    out = tmp_path / "o.mp4"
    # speaker timing off: talking_524 is a screen capture whose picture reads ~2 frames late, and with it on
    # the render follows that presenter (an output as late as its source: tests/test_speaker_timing.py)
    proc = heygem("run", "--quiet", "--no-sync-check", "--speaker-timing", "off", "--audio", speech,
                  "--video", media_dir / "talking_524.mp4", "--out", out, "--run-dir", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    streams = json.loads(subprocess.run([media.ffprobe_exe(), "-v", "error", "-show_entries",
                                         "stream=codec_type,start_time,duration", "-of", "json", out],
                                        capture_output=True, text=True, check=True).stdout)["streams"]
    sound = next(s for s in streams if s["codec_type"] == "audio")
    assert abs(float(sound["start_time"])) < 0.03, sound
    assert float(sound["duration"]) > 5.0, sound                 # the whole 5.04 s of speech
    # the output's sound is the speech from its first sample: cross-correlation peak at lag ~0
    sr = 16000
    a, b = load_audio(speech, sr=sr), load_audio(out, sr=sr)
    n = min(len(a), len(b))
    lags = range(-int(0.6 * sr), int(0.6 * sr) + 1, 40)
    score = [np.dot(a[max(0, -k):n - max(0, k)], b[max(0, k):n - max(0, -k)]) for k in lags]
    assert abs(lags[int(np.argmax(score))]) / sr < 0.01
    sync = heygem("sync", out, "--no-plot", "--json")
    assert sync.returncode == 0, sync.stderr
    assert abs(json.loads(sync.stdout)["offset_frames"]) <= 1, sync.stdout


def test_a_stereo_speech_whose_channels_cancel_out_still_drives_the_mouth(tmp_path, media_dir):
    # speech_en_5s with its right channel in opposite phase (a lavalier wired backwards), as m4a: it plays
    # loud speech, but mixed to mono it cancels: 'holds no sound ... no mouth will move', and the
    # run's sync check read confidence 0.21 against chance 0.42
    speech = tmp_path / "inverted.m4a"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", media_dir / "speech_en_5s.wav", "-af",
                    "pan=stereo|c0=c0|c1=-1*c0", "-c:a", "aac", speech], check=True)
    proc = heygem("run", "--quiet", "--audio", speech, "--video", media_dir / "talking_524.mp4",
                  "--out", tmp_path / "o.mp4", "--run-dir", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    assert "holds no sound" not in proc.stderr, proc.stderr
    assert "inverted.m4a: its channels cancel out when mixed to mono" in proc.stderr, proc.stderr
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["extra"]["input_notes"] == []
    assert result["extra"]["sync_reliable"] and result["sync_confidence"] > result["extra"]["sync_chance"], result
    # an ordinary stereo file is still ffmpeg's mono mix, sample for sample
    mixed = subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", media_dir / "speech_en_5s.wav", "-ac", "1", "-ar",
                            "16000", "-f", "f32le", "-"], capture_output=True, check=True).stdout
    assert np.array_equal(load_audio(media_dir / "speech_en_5s.wav"), np.clip(np.frombuffer(mixed, "<f4"), -1, 1))
