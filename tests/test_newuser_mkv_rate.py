"""A new user's tour: Matroska files (OBS records .mkv; remuxed phone clips).

Before: a constant 25 fps .mkv whose video starts at 0.064 s (talking_590 remuxed beside a longer
sound track, as ffmpeg interleaves them) read 5.064 s long from its DURATION tag, which is where
the stream ends, not how long it lasts: 125 frames over 5.064 s is 1.6 frames short, so it was taken
for variable frame rate and the output came out at 24.684 fps instead of 25. And a .mkv cut short
(an interrupted download or copy: Matroska has no frame count for the truncation check MP4s get)
ran as "VFR" at 11.8 fps over its 59 frames, with 29 frames wrongly "mouth covered"; now it is one
line, exit 2, like a truncated MP4 or speech file.
"""
from __future__ import annotations

import json
import subprocess

import numpy as np

from heygem_cli import heygem
from heygem_kernel import media


def _ffprobe(path, entries: str) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", entries, "-of", "json",
                          str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)["streams"][0]


def test_a_constant_rate_mkv_with_a_late_first_frame_keeps_its_rate(tmp_path, clip_590, speech_60s, speech_5s):
    mkv = tmp_path / "录像 1.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_590), "-i", str(speech_60s), "-map", "0:v", "-map",
                    "1:a", "-t", "8", "-c:v", "copy", "-c:a", "aac", str(mkv)], check=True)
    stream = _ffprobe(mkv, "stream=start_time,r_frame_rate:stream_tags=DURATION")
    assert stream["r_frame_rate"] == "25/1" and float(stream["start_time"]) >= 0.04, stream   # the case itself

    out = tmp_path / "out.mp4"
    proc = heygem("run", "--audio", speech_5s, "--video", mkv, "--out", out, "--quiet", "--no-sync-check",
                  cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = _ffprobe(out, "stream=r_frame_rate,avg_frame_rate,width,height")
    assert got["r_frame_rate"] == "25/1" and got["avg_frame_rate"] == "25/1", got
    assert (got["width"], got["height"]) == (590, 590)
    result = json.loads(next(tmp_path.glob("runs/*/result.json")).read_text())
    assert result["fps"] == 25.0 and result["n_frames"] == 125 and not result["extra"]["is_vfr"], result
    # frame for frame the clip's own pictures (top half: away from the mouth), not a resampled sequence
    src, dst = media.read_frames(clip_590, limit=125), media.read_frames(out, limit=125)
    diff = [np.abs(a[:250].astype(int) - b[:250]).mean() for a, b in zip(src, dst)]
    assert len(dst) == 125 and max(diff) < 3.0, max(diff)


def test_a_truncated_mkv_is_one_line(tmp_path, clip_590, speech_5s):
    full, cut = tmp_path / "full.mkv", tmp_path / "cut short.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_590), "-c", "copy", str(full)], check=True)
    cut.write_bytes(full.read_bytes()[:200_000])           # about half of it: 59 of 125 frames
    out = tmp_path / "out.mp4"
    proc = heygem("run", "--audio", speech_5s, "--video", cut, "--out", out, "--quiet", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f"heygem: error: {cut} is truncated: decoded 2.") and line.endswith(
        "of the 5.00 s its header declares"), line
    assert not out.exists()
