"""A new user's tour, a batch whose notebook kernel dies (the OOM killer on a long 1080p batch,
kill -9, a native crash).

Before: "heygem: internal error: DeadKernelError: Kernel died (run with -v for the traceback)",
exit 1, as if it were a bug, and nothing said that the finished items were kept. Now one line
says what happened and how to go on (the same command resumes), exit 2; the manifest keeps
the finished item.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "heygem_kernel" / "assets" / "sample_speech.wav"


def test_a_killed_kernel_is_one_line_and_keeps_the_finished_items(tmp_path, clip_524, clip_590):
    audio = tmp_path / "speech.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(SPEECH), "-t", "1.2", str(audio)], check=True)
    videos = []
    for clip in (clip_524, clip_590):
        videos.append(tmp_path / clip.name)
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip), "-t", "1.2", "-c", "copy",
                        str(videos[-1])], check=True)
    run_dir = tmp_path / "batch"
    proc = subprocess.Popen([sys.executable, "-m", "heygem_kernel", "batch", "--audio", str(audio), "--run-dir",
                             str(run_dir), *map(str, videos)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "HEYGEM_LANG": "en"})
    lines = []
    killed = None
    for line in proc.stderr:                      # the kernel is our child's child: kill it after item 1
        lines.append(line)
        if killed is None and "[1/2]" in line:
            kernels = [p for p in psutil.Process(proc.pid).children(recursive=True)
                       if "ipykernel" in " ".join(p.cmdline())]
            assert kernels, "no notebook kernel under the batch"
            killed = kernels[0].pid
            os.kill(killed, signal.SIGKILL)
    proc.wait(timeout=300)
    stderr = "".join(lines)
    assert killed is not None, stderr
    assert proc.returncode == 2, stderr[-2000:]
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == (
        "heygem: error: the batch's notebook kernel died (killed, or out of memory?); the finished items are kept: "
        "run the same command again to go on from where it stopped")
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    status = {item["name"]: item["status"] for item in manifest["items"]}
    assert sorted(status.values()) == ["ok", "pending"], status


def test_a_report_that_cannot_be_written_is_one_line_and_the_items_stay_done(tmp_path, photo_524):
    """Before: a full disk when the report was written after all the items gave "internal error: OSError:
    [Errno 28] No space left on device" (exit 1, no path). The same branch is reached here by a folder
    standing where report.html goes."""
    photo = photo_524
    audio = tmp_path / "speech.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(SPEECH), "-t", "1.0", str(audio)], check=True)
    run_dir = tmp_path / "batch"
    (run_dir / "report.html").mkdir(parents=True)
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "batch", "--audio", str(audio), "--run-dir",
                           str(run_dir), str(photo), "--no-zip", "--no-sync-check"], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "HEYGEM_LANG": "en"})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"heygem: error: the items are done (see {run_dir / 'manifest.json'}), but the report could not be written "
        f"in {run_dir}: Is a directory")
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert [item["status"] for item in manifest["items"]] == ["ok"]
    assert not [p for p in run_dir.iterdir() if ".tmp-" in p.name]     # no half-written report left


def test_timeout_stops_the_batch_in_one_line_and_bad_values_are_refused(tmp_path, clip_524, clip_590):
    """Before: --timeout expiring was "internal error: CellTimeoutError: A cell timed out ..." (exit 1),
    a fractional --timeout (60.5) was "internal error: TraitError", and 0 or -5 meant no limit in silence."""
    def batch(*extra):
        return subprocess.run([sys.executable, "-m", "heygem_kernel", "batch", "--audio", str(SPEECH), "--run-dir",
                               str(tmp_path / "batch"), str(clip_524), str(clip_590), *extra], capture_output=True,
                              text=True, timeout=600, env={**os.environ, "HEYGEM_LANG": "en"})

    for bad, shown in (("0", "0.0"), ("-5", "-5.0"), ("nan", "nan")):
        proc = batch("--timeout", bad)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines()[-1] == (
            f"heygem: error: --timeout must be a number of seconds above 0, got {shown}")
    assert not (tmp_path / "batch").exists()

    proc = batch("--timeout", "1.5")        # 7.7 s of speech over two clips: far more than 2 s of work
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "internal error" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "heygem: error: the batch stopped after --timeout 1.5 s; the finished items are kept: run the same command "
        "again (with a longer --timeout) to go on")
    manifest = tmp_path / "batch" / "manifest.json"   # (the limit may fall in the pre-flight, before any manifest)
    if manifest.exists():
        assert "pending" in [item["status"] for item in json.loads(manifest.read_text(encoding="utf-8"))["items"]]
