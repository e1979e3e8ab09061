"""A new user's tour, ``heygem run --out-height 101`` (a height typed as it came to mind).

Before: the output was 100x100 without a word (H.264 yuv420p needs even sizes; output_size rounds
down), while an odd input size gets a note. Now one warning line says it and gives the size.
"""
from __future__ import annotations

import os
import subprocess
import sys


def test_an_odd_out_height_is_said_and_the_file_has_the_even_one(tmp_path, clip_524, speech_5s):
    speech = tmp_path / "s.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech_5s), "-t", "0.5", str(speech)], check=True)
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "run", "--audio", str(speech), "--video",
                           str(clip_524), "--out", "o.mp4", "--out-height", "101", "--quiet", "--no-sync-check"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "HEYGEM_LANG": "en"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    warnings = [line.split(" WARNING ", 1)[1] for line in proc.stderr.splitlines() if " WARNING " in line]
    assert warnings == ["out_height (--out-height) 101: H.264 (yuv420p) needs an even height, so the output "
                        "is 100x100"], proc.stderr
    size = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream=width,height",
                           "-of", "csv=p=0", str(tmp_path / "o.mp4")], capture_output=True, text=True, check=True)
    assert size.stdout.strip() == "100,100"
    assert proc.stdout.startswith("wrote o.mp4 (100x100, ")
