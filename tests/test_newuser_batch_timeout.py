"""A new user's tour, ``heygem batch --timeout`` expiring.

Before: the one error line came after "HH:MM:SS ERROR Timeout waiting for execute reply (3s)." and a
traceback the notebook kernel printed while it was shut down in the middle of a cell
(``zmq.error.ZMQError: Socket operation on non-socket``). Now the kernel is interrupted as Ctrl-C
would (its item cleans up and records "run interrupted"), shut down idle, and the line is alone.
"""
from __future__ import annotations

import os
import subprocess
import sys


def test_timeout_is_one_line_without_the_kernels_traceback(tmp_path, clip_524, clip_590, speech_zh):
    run_dir = tmp_path / "批次 1"
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "batch", "--audio", str(speech_zh), "--run-dir",
                           str(run_dir), str(clip_524), str(clip_590), "--timeout", "3"], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "HEYGEM_LANG": "en"})
    assert proc.returncode == 2, proc.stderr[-3000:]
    for noise in ("Traceback", "ZMQError", "Timeout waiting for execute reply", "Interrupting kernel"):
        assert noise not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        "heygem: error: the batch stopped after --timeout 3 s; the finished items are kept: run the same command "
        "again (with a longer --timeout) to go on")
    assert not [p for p in run_dir.rglob("*") if ".partial" in p.name or ".tmp-" in p.name]
