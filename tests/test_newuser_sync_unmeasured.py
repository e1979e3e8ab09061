"""`heygem sync` when nothing could be measured prints no reading.

Before: talking_590 with its first 2.5 s black (no face in 63 of 125 frames) printed "offset: +0
frames (+0 ms; sub-frame +0.00)", a reading of "in step", above a verdict saying there was nothing to
read. Now the offset line says it was not measured; the JSON keeps its fields (offset 0, confidence 0)
and its note.
"""
from __future__ import annotations

import json
import subprocess

from heygem_cli import heygem


def test_no_reading_is_printed_when_nothing_was_measured(tmp_path, clip_590):
    dark = tmp_path / "dark start.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_590), "-vf",
                    "drawbox=enable='lt(t,2.5)':color=black:t=fill", "-c:a", "copy", str(dark)], check=True)
    shown = heygem("sync", dark, "--no-plot", "--cache-dir", tmp_path / "cache")
    assert shown.returncode == 0, shown.stderr
    assert "offset:      not measured (see the verdict)" in shown.stdout, shown.stdout
    assert "verdict:     low confidence: no face in 63 of 125 frames" in shown.stdout, shown.stdout
    report = json.loads(heygem("sync", dark, "--no-plot", "--json", "--cache-dir", tmp_path / "cache").stdout)
    assert report["note"] == "no face in 63 of 125 frames" and report["confidence"] == 0.0
    read = heygem("sync", clip_590, "--no-plot", "--cache-dir", tmp_path / "cache")
    assert "offset:      +0 frames (+0 ms; sub-frame +0.19)" in read.stdout, read.stdout
