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
    assert "offset:      +1 frame (+40 ms; sub-frame +" in read.stdout, read.stdout   # +1.00 at the -25 ms zero


def test_a_sound_starting_after_the_picture_has_ended_is_named(tmp_path, clip_590):
    """Before: talking_590 remuxed with its sound 6 s late (after its 5 s picture) read "the speech track
    is flat (silence?)" with an offset of +0 frames; the sound is not silent, it comes too late."""
    late = tmp_path / "late.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_590), "-itsoffset", "6", "-i", str(clip_590),
                    "-map", "0:v", "-map", "1:a", "-c", "copy", str(late)], check=True)
    done = heygem("sync", late, "--no-plot", "--cache-dir", tmp_path / "cache")
    assert done.returncode == 2 and done.stdout == "", done.stdout
    assert done.stderr.strip().splitlines()[-1].startswith(
        f"heygem: error: {late}: its audio track starts 5.9"), done.stderr
    assert done.stderr.strip().endswith("s after the first frame, when the picture (5.00 s) has ended"), done.stderr
