"""A new user's tour, a Chinese-speaking user's warnings on the console.

Before: under LANG=zh_CN.UTF-8, ``heygem run`` printed its warnings half in English: a speech that
holds no sound ("静音 讲解.wav holds no sound (quieter than -60 dBFS throughout): every mouth stays
closed; ...") and ``--fps`` ignored for a video ("still_fps (--fps) is the frame rate of a photo's
output: ..."), both translated in the catalogue but logged as English; while "the reuse backend does
not use pads (--pads): ignored" was written into run.log in Chinese (run.log stays English). Now the
console shows all three in Chinese and run.log all three in English.
"""
from __future__ import annotations

import subprocess

from heygem_cli import heygem


def test_warnings_on_the_console_are_in_the_users_language_and_run_log_in_english(tmp_path, clip_524):
    silent = tmp_path / "静音 讲解.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "2",
                    str(silent)], check=True)
    done = heygem("run", "--quiet", "--audio", silent, "--video", clip_524, "--fps", "30", "--pads", "1", "2", "3",
                  "4", "--out", tmp_path / "输出.mp4", "--run-dir", tmp_path / "记录", "--cache-dir",
                  tmp_path / "cache", lang="zh")
    assert done.returncode == 0, done.stderr
    err = done.stderr
    assert "静音 讲解.wav 没有声音（全程低于 -60 dBFS）：嘴不会动" in err, err
    assert "是照片输出的帧率：talking_524.mp4 是视频" in err, err
    assert "reuse 后端不使用 pads (--pads)：已忽略" in err, err
    assert "holds no sound" not in err and "frame rate of a photo" not in err, err
    log = (tmp_path / "记录" / "run.log").read_text(encoding="utf-8")
    assert "静音 讲解.wav holds no sound (quieter than -60 dBFS throughout)" in log, log
    assert "is the frame rate of a photo's output: talking_524.mp4 is a video" in log, log
    assert "the reuse backend does not use pads (--pads): ignored" in log, log
    assert "没有声音" not in log and "已忽略" not in log, log
