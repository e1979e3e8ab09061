"""A new user's tour: ``heygem sync`` on what ``heygem run`` made from a photo.

Before: a talking photo keeps every frame of a pause identical (nothing but the mouth moves, and
it rests), so the sync check's cadence count took those held pictures for a screen capture's
repeats and printed "the picture repeats the previous frame 6 times in 125 frames ...: a screen
capture or a frame-rate conversion, whose pictures are often shown late" under the reading of
the engine's own output. A capture repeats single pictures (talking_524: runs of 1, once 2);
pictures held longer are not counted now. talking_524 and the 20->25 fps conversion keep their
note (tests/test_cadence.py).
"""
from __future__ import annotations

import json
import subprocess

from heygem_cli import heygem


def test_sync_of_a_talking_photo_is_not_called_a_screen_capture(tmp_path, photo_524, speech_5s, clip_524):
    out = tmp_path / "talking photo.mp4"
    made = heygem("run", "--audio", speech_5s, "--video", photo_524, "--out", out, "--quiet", "--no-sync-check",
                  cwd=tmp_path)
    assert made.returncode == 0, made.stderr[-2000:]
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
                            "stream=nb_read_frames", "-of", "csv=p=0", str(out)], capture_output=True, text=True)
    assert int(probe.stdout) == 125

    report = heygem("sync", out, "--json", "--no-plot", cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-2000:]
    data = json.loads(report.stdout)
    assert data["cadence"]["frames"] == 125 and data["cadence"]["skips"] == 0, data["cadence"]
    assert data["cadence"]["note"] == "", data["cadence"]
    assert data["confidence"] > data["chance"], data      # the reading itself is a real one
    text = heygem("sync", out, "--no-plot", cwd=tmp_path)
    assert text.returncode == 0 and "note:" not in text.stdout, text.stdout

    # the screen capture among the shared clips is still named one
    capture = heygem("sync", clip_524, "--json", "--no-plot", cwd=tmp_path)
    assert json.loads(capture.stdout)["cadence"]["note"].startswith("the picture repeats the previous frame")
