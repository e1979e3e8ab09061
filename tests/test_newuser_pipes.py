"""A new user's tour, pipes: ``heygem scan videos/* | head -1`` and the like.

Before: when the reader of standard output had gone, the command ended with
"heygem: internal error: BrokenPipeError: [Errno 32] Broken pipe" on stderr, exit 1. Now it
stops quietly with 141 (128 + SIGPIPE), as `ls | head` does. A broken pipe to anything else
(ffmpeg) is not hidden: only a closed standard output is taken for the reader having gone.
"""
from __future__ import annotations

import os
import subprocess
import sys


def _with_closed_reader(*args: str) -> subprocess.CompletedProcess:
    read_end, write_end = os.pipe()
    os.close(read_end)                     # the reader has gone before the first line is written
    try:
        return subprocess.run([sys.executable, "-m", "heygem_kernel", *args], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=300,
                              env={**os.environ, "HEYGEM_LANG": "en"})
    finally:
        os.close(write_end)


def test_scan_into_a_closed_pipe_stops_quietly(clip_524):
    proc = _with_closed_reader("scan", str(clip_524), "--samples", "1")
    assert proc.returncode == 141, proc.stderr
    assert "error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_doctor_into_a_closed_pipe_stops_quietly():
    proc = _with_closed_reader("doctor")
    assert proc.returncode == 141, proc.stderr
    assert "error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_an_open_pipe_gets_the_whole_table(clip_524):
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "scan", str(clip_524), "--samples", "1"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "HEYGEM_LANG": "en"})
    assert proc.returncode == 0, proc.stderr
    assert clip_524.name in proc.stdout


def test_a_console_that_cannot_show_chinese_gets_it_escaped(tmp_path, clip_524):
    """Before: with a latin-1 or ascii console (PYTHONIOENCODING, an old locale, a log file opened so)
    the result line naming 李四.mp4 was "internal error: UnicodeEncodeError", exit 1, after the work."""
    clip = tmp_path / "李四.mp4"
    clip.symlink_to(clip_524)
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "scan", str(clip), "--samples", "1"],
                          capture_output=True, timeout=300,
                          env={**os.environ, "HEYGEM_LANG": "en", "PYTHONIOENCODING": "latin-1"})
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    assert b"\\u674e\\u56db.mp4" in proc.stdout
