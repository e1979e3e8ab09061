"""Child processes that die with the process that started them (Linux; elsewhere nothing changes).

``kill -9`` of ``heygem run`` runs no clean-up, so its ffmpeg children were left running: the
encoder, its input at EOF, went on padding the last frame to the speech's end and writing. The
kernel can end them instead: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` in the child, before it
executes ffmpeg, has it killed when its parent goes. Start children with :func:`tied`, which puts
util-linux's ``setpriv --pdeathsig KILL --`` in front of the command (the command as it is where
setpriv is missing).

Not a ``preexec_fn``: one makes ``subprocess`` fork() instead of vfork(), and fork() runs every
library's atfork handlers in the parent. OpenBLAS's joins its worker threads, and while the run's
speech thread was inside numpy's matrix product that join never returned: ``heygem run`` hung for
good at the start of the face analysis (3 runs in 15 of speech_en_60s + portrait_1080x1920).
``setpriv`` sets the flag after exec, so no Python code runs between fork and exec.

Linux sends the signal when the *thread* that started the child ends, so a child must be started
on a thread that outlives it: every caller here waits for (or kills) its child on the thread that
started it.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from typing import Sequence


@functools.cache
def _setpriv() -> str | None:
    """``setpriv`` when it can set the parent-death signal (util-linux >= 2.33), else None."""
    if not sys.platform.startswith("linux") or os.environ.get("HEYGEM_NO_PDEATHSIG"):
        return None
    path = shutil.which("setpriv")
    if path is None:
        return None
    try:
        usage = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return path if "--pdeathsig" in usage else None


def tied(cmd: Sequence[str | os.PathLike]) -> list[str]:
    """``cmd`` started so that the child dies (SIGKILL) with this process, on Linux: ``setpriv
    --pdeathsig KILL -- cmd``; ``cmd`` unchanged elsewhere or without setpriv."""
    cmd = [os.fspath(part) for part in cmd]
    setpriv = _setpriv()
    return [setpriv, "--pdeathsig", "KILL", "--", *cmd] if setpriv else cmd
