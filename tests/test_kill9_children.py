"""``kill -9`` of ``heygem run`` takes its ffmpeg children with it (Linux: PR_SET_PDEATHSIG).

Before: they were left running; the encoder, its input at EOF, went on padding the last frame to the
speech's end and writing the partial output. The children are stopped (SIGSTOP) just before the kill,
so that one finishing on its own is never taken for one killed: only a kill ends a stopped process.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

ENCODER_WAIT_S = 600     # until the render's encoder runs (the face analysis comes first)
GONE_WAIT_S = 10         # a child killed with its parent is gone at once; this is slack for a loaded machine
FFMPEG_NAMES = ("ffmpeg", "ffprobe")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")


def _ffmpeg_children(pid: int) -> list[psutil.Process]:
    with contextlib.suppress(psutil.NoSuchProcess):
        return [c for c in psutil.Process(pid).children(recursive=True) if _name(c) in FFMPEG_NAMES]
    return []


def _name(proc: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return proc.name()
    return ""


def _cmdline(proc: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return " ".join(proc.cmdline())
    return ""


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE   # dead, not reaped yet
    except psutil.NoSuchProcess:
        return True


def test_kill_9_of_a_run_leaves_no_ffmpeg_running(tmp_path, clip_590, speech_60s):
    run = subprocess.Popen([sys.executable, "-m", "heygem_kernel", "run", "--audio", str(speech_60s), "--video",
                            str(clip_590), "--out", str(tmp_path / "out.mp4"), "--runs-root", str(tmp_path / "runs"),
                            "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + ENCODER_WAIT_S
        while not any("libx264" in _cmdline(c) for c in children):
            assert run.poll() is None and time.monotonic() < deadline, "the run ended before its encoder was seen"
            time.sleep(0.1)
            children = _ffmpeg_children(run.pid)
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.send_signal(signal.SIGSTOP)
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        deadline = time.monotonic() + GONE_WAIT_S
        while not all(_gone(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [_cmdline(c)[:80] for c in children if not _gone(c)]
        assert not left, f"ffmpeg children of the killed run still there: {left}"
    finally:
        for child in children:   # what the old code left behind: stopped, so killed here
            with contextlib.suppress(psutil.Error):
                child.kill()
        if run.poll() is None:
            run.kill()
            run.wait()
