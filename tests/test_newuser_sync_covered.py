"""A new user's tour, ``heygem sync`` on a recording where a hand covers the mouth for a while.

Before: the check printed the run's warning "mouth covered (hand, microphone...) in 36 frame(s) at
1.00-2.44 s: passed through untouched" - nothing is rendered or passed through by a sync check.
Now it says what the covered frames mean for the reading.
"""
from __future__ import annotations

import os
import subprocess
import sys


def test_sync_says_what_a_covered_mouth_means_for_the_reading(tmp_path, clip_590):
    video = tmp_path / "手.mp4"   # a skin-coloured hand over mouth and chin, frames 25-60
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_590), "-vf",
                    "drawbox=x=190:y=330:w=220:h=150:color=0xC89878@1:t=fill:enable='between(n,25,60)'",
                    "-c:a", "copy", str(video)], check=True)
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "sync", str(video), "--no-plot",
                           "--cache-dir", str(tmp_path / "cache")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HEYGEM_LANG": "en"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    warnings = [line.split(" WARNING ", 1)[1] for line in proc.stderr.splitlines() if " WARNING " in line]
    assert warnings == ["the mouth is covered (hand, microphone...) in 36 frame(s) at 1.00-2.44 s: the landmarks "
                        "there are a guess, so the reading may be off"], proc.stderr
    assert "passed through" not in proc.stderr
    assert "verdict:     low confidence" in proc.stdout     # the reading itself is flagged too
