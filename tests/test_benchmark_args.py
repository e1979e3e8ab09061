"""Every benchmark parses its command line with argparse: ``--help`` works, and a bad argument (a
missing clip or folder, a negative length) is one line on stderr, exit status 2, before any heavy
work (bench_interior.py --help used to fail with "no such file: --help" and a traceback)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
MISSING = "/nonexistent/clip.mp4"
# each benchmark's bad argument and what its error line must name
BAD = {
    "bench_batch.py": (["--videos", MISSING], f"argument --videos: no such file: {MISSING}"),
    "bench_briefing.py": (["--clips", "nosuch.mp4"], "argument --clips: no such file: nosuch.mp4"),
    "bench_engine.py": (["--speech", MISSING], f"argument --speech: no such file: {MISSING}"),
    "bench_enhance.py": (["--video", MISSING], f"argument --video: no such file: {MISSING}"),
    "bench_interior.py": ([MISSING], f"argument CLIP: no such file: {MISSING}"),
    "bench_landmarks.py": ([MISSING], f"argument clips: no such file: {MISSING}"),
    "bench_loops.py": (["--clips", "nosuch"], "argument --clips: no such clip: "),
    "bench_musetalk.py": (["--models-dir", "/nonexistent"], "argument --models-dir: no such folder: /nonexistent"),
    "bench_occlusion.py": (["/nonexistent"], "argument MEDIA_DIR: no such folder: /nonexistent"),
    "bench_reenactment.py": (["--clips", MISSING], f"argument --clips: no such file: {MISSING}"),
    "bench_sync_codecs.py": (["--conditions", "vinyl"], "argument --conditions: invalid choice: 'vinyl'"),
    "bench_sync_noise.py": (["--snr", "-3"], "argument --snr: must be above 0: -3"),
    "bench_sync_rotations.py": (["--rotations", "0"], "argument --rotations: must be above 0: 0"),
    "bench_wav2lip.py": (["--seconds", "-1"], "argument --seconds: must be above 0: -1"),
    "calibrate_chance.py": (["--lengths", "-1"], "argument --lengths: must be above 0: -1"),
    "calibrate_sync.py": (["--clips", MISSING], f"argument --clips: no such file: {MISSING}"),
    "extra_clips.py": (["--dest"], "argument --dest: expected one argument"),
    "fit_acoustic.py": (["--bogus"], "unrecognized arguments: --bogus"),
}


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          timeout=120, cwd=BENCH.parent)


def test_every_benchmark_is_listed():
    assert sorted(BAD) == sorted(p.name for p in BENCH.glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("script", sorted(BAD))
def test_help_and_bad_argument(script):
    shown = _run(script, "--help")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"usage: {script}") and "-h, --help" in shown.stdout
    assert shown.stderr == ""

    args, message = BAD[script]
    bad = _run(script, *args)
    assert bad.returncode == 2, bad.stderr
    assert bad.stdout == ""                      # nothing ran: no torch banner, no table header
    lines = bad.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{script}: error: {message}"), bad.stderr
