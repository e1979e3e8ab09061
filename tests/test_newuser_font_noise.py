"""A new user's tour: the console of a batch (or the panel's log) is readable.

Before: ``heygem batch`` printed "findfont: Failed to find font weight bold for WenQuanYi Micro
Hei, now using 400." between its item lines whenever an item's landmark plot marked a frame
without a face (the CJK fallback font has no bold face; the plot is fine). Only the ``heygem``
CLI process silenced it; the batch notebook's kernel, the panel and the Python API did not. Now
the module that installs the CJK font silences it wherever plots are drawn.
"""
from __future__ import annotations

import subprocess
import sys


def test_plotting_a_run_with_faceless_frames_prints_no_font_warning(tmp_path, clip_590, speech_5s):
    video = tmp_path / "late face.mp4"      # 1 s of a grey wall, then talking_590: 25 frames without a face
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=gray:s=590x590:r=25", "-i",
                    str(clip_590), "-filter_complex", "[0]trim=duration=1[a];[1:v]trim=duration=2,setpts=PTS-STARTPTS[b];"
                    "[a][b]concat=n=2:v=1:a=0", "-an", "-c:v", "libx264", str(video)], check=True)
    code = ("import sys, heygem_kernel as hk\n"
            "r = hk.run(sys.argv[1], sys.argv[2], out=sys.argv[3], runs_root=sys.argv[4])\n"
            "print(r.frames_no_face, r.plots['landmarks'])\n")
    out = tmp_path / "out.mp4"
    proc = subprocess.run([sys.executable, "-c", code, str(speech_5s), str(video), str(out), str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    no_face, plot = proc.stdout.split()
    assert int(no_face) >= 20 and plot.endswith("landmarks.png")   # the plot that marks faceless frames was drawn
    assert "findfont" not in proc.stderr, proc.stderr[-3000:]
