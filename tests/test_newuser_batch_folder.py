"""A new user's tour, a folder of presenters' clips as they come from the cameras.

Before: ``heygem batch ... videos/`` took only .mp4/.mov/... files and dropped every other file in
silence: presenters recorded on a camcorder (.MTS), a Windows PC (.wmv) or a phone (.3gp) vanished
from the batch without a word. Now those formats are taken, and whatever is still left out is
named in one warning line.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from heygem_kernel.batch import expand_videos

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "heygem_kernel" / "assets" / "sample_speech.wav"


def test_camera_formats_are_taken_and_the_rest_is_named(tmp_path, clip_524, caplog):
    folder = tmp_path / "演讲者"
    folder.mkdir()
    for name in ("甲.mp4", "乙.MTS", "丙.wmv", "丁.3gp", "戊.m2ts", ".隐藏.mp4"):
        (folder / name).symlink_to(clip_524)
    (folder / "说明.txt").write_text("presenters", encoding="utf-8")
    (folder / "旁白.wav").symlink_to(SPEECH)
    with caplog.at_level(logging.WARNING, logger="heygem.batch"):
        found = expand_videos([folder])
    assert [p.name for p in found] == sorted(["甲.mp4", "乙.MTS", "丙.wmv", "丁.3gp", "戊.m2ts"])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"{folder}: 2 file(s) skipped, not a video or photo by their extension: 旁白.wav, 说明.txt"]


def test_a_folder_with_nothing_to_run_says_what_it_skipped(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "旁白.wav").symlink_to(SPEECH)
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "batch", "--audio", str(SPEECH), "--run-dir",
                           str(tmp_path / "b"), str(folder)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HEYGEM_LANG": "en"})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == f"heygem: error: no videos found in {folder}"
    assert any(line.endswith(f"{folder}: 1 file(s) skipped, not a video or photo by their extension: 旁白.wav")
               for line in lines), lines


def test_a_presenter_given_twice_is_run_once(tmp_path, clip_524, caplog):
    """Before: `heygem batch ... videos/*.mp4 videos/` (or one path typed twice) rendered each such clip
    twice, as 甲 and 甲-2, for the same speech and options."""
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "甲.mp4").symlink_to(clip_524)
    (folder / "乙.mp4").symlink_to(clip_524.with_name("talking_590.mp4"))
    with caplog.at_level(logging.WARNING, logger="heygem.batch"):
        found = expand_videos([folder / "甲.mp4", folder, f"{folder}/./甲.mp4"])
    assert [p.name for p in found] == ["甲.mp4", "乙.mp4"]
    assert [r.getMessage() for r in caplog.records] == ["given more than once, run once: 甲.mp4"]
