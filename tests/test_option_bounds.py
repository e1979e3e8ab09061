"""Numeric options have an upper bound too: ``heygem sync --max-shift`` was cut silently to what the
clip allowed (100000 ran as 52), and ``--samples`` of scan/batch above a clip's frames was recorded
as checked while only the clip's frames were. Refused beyond the bound with one line, exit 2,
before any work."""
from __future__ import annotations

import json
import subprocess

from heygem_cli import heygem

from heygem_kernel.scan import MAX_SAMPLES
from heygem_kernel.sync import MAX_SHIFT_LIMIT_S, max_shift_limit


def error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc.stderr.strip()


def test_sync_max_shift_beyond_the_clip_is_refused_before_any_work(tmp_path, clip_590):
    cache, plot = tmp_path / "cache", tmp_path / "sync.png"
    limit = max_shift_limit(fps=25.0, n_frames=125)
    assert limit == 52                                   # (125 frames - the 0.8 s window of 20) // 2
    line = ("heygem: error: --max-shift must be from 5 to 52 frames for {video} (0.20 to 2.08 s either way: the "
            "confidence compares the peak with the rest of the curve; at most 5 s, and 0.8 s of its 125 frames left "
            "to correlate), got {n}")
    for n in (100000, 53, 4, 1):      # below 5 (0.2 s): an in-sync clip read "does not clearly follow"
        proc = heygem("sync", clip_590, "--max-shift", n, "--cache-dir", cache, "--plot", plot, "--json")
        assert error_line(proc) == line.format(video=clip_590, n=n)
        assert not plot.exists() and not any(cache.rglob("*.npz"))    # no face tracked, nothing plotted
    assert error_line(heygem("sync", clip_590, "--max-shift", "-3", "--no-plot")) == \
        "heygem: error: --max-shift must be at least 0.2 s worth of frames either way (5 at 25 fps), got -3"
    proc = heygem("sync", clip_590, "--max-shift", limit, "--cache-dir", cache, "--no-plot", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["max_shift"] == 52 and len(report["curve"]) == 105     # searched as asked, not cut
    assert report["window_frames"] == 125 - 2 * 52
    assert abs(report["offset_exact"]) < 2                              # in sync as recorded


def test_the_fixed_cap_holds_on_long_clips():
    assert max_shift_limit(fps=25.0, n_frames=90_000) == int(MAX_SHIFT_LIMIT_S * 25) == 125
    assert max_shift_limit(fps=60.0, n_frames=90_000) == 300
    assert max_shift_limit(fps=25.0, n_frames=10) == 1                   # too short: the estimate says so


def test_samples_are_bounded_and_the_record_says_how_many_were_checked(tmp_path, clip_524, speech_5s):
    short = tmp_path / "one second.mp4"                                  # 25 frames
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_524), "-t", "1", "-an", "-c:v", "libx264",
                    "-preset", "ultrafast", str(short)], check=True, timeout=60)
    too_many = f"heygem: error: --samples must be from 1 to {MAX_SAMPLES} frames, got {MAX_SAMPLES + 1}"
    assert error_line(heygem("scan", short, "--samples", MAX_SAMPLES + 1)) == too_many
    run_dir = tmp_path / "batch"
    assert error_line(heygem("batch", short, "--audio", speech_5s, "--run-dir", run_dir,
                             "--samples", MAX_SAMPLES + 1)) == too_many
    assert not run_dir.exists()
    proc = heygem("scan", short, "--samples", 100, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (report,) = json.loads(proc.stdout)
    assert report["n_frames"] == 25 and len(report["sample_times"]) == 25
    assert report["samples"] == 25                                       # said 100 while 25 were checked
