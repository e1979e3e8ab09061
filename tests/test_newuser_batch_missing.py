"""A new user's tour, a mistyped path given to ``heygem batch``.

Before: ``heygem batch --audio a.wav --run-dir d vidoes/`` (the folder misspelt) started the notebook
kernel, scanned, wrote a batch folder, report.html and an empty outputs.zip, and ended "0 of 1 ok,
1 failed: vidoes: cannot read /abs/vidoes: No such file or directory", exit 1. ``heygem run`` and the
web app's job queue refuse a missing video in one line before any work; now ``heygem batch`` does
too: exit 2, no batch folder. (A video recorded in a batch that ``--from`` re-runs and that is gone
since stays one failed item: one bad item never stops a batch.)
"""
from __future__ import annotations

import os
import subprocess
import sys
import time


def batch(tmp_path, speech, *videos, lang="en"):
    return subprocess.run([sys.executable, "-m", "heygem_kernel", "batch", "--audio", str(speech), "--run-dir",
                           str(tmp_path / "批次"), *map(str, videos)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env={**os.environ, "HEYGEM_LANG": lang})


def test_a_mistyped_folder_is_one_line_before_any_work(tmp_path, speech_5s, clip_524):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "甲.mp4").symlink_to(clip_524)
    t0 = time.perf_counter()
    proc = batch(tmp_path, speech_5s, "vidoes/")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip() == "heygem: error: no such video file: vidoes/"
    assert time.perf_counter() - t0 < 60
    assert not (tmp_path / "批次").exists()


def test_one_mistyped_file_among_good_ones_is_named(tmp_path, speech_5s, clip_524, clip_590):
    proc = batch(tmp_path, speech_5s, clip_524, "演讲 者.mp4", clip_590, lang="zh")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip() == "heygem：错误：视频文件不存在：演讲 者.mp4"
    assert not (tmp_path / "批次").exists()
