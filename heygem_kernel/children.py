"""Child processes that die with the process that started them (Linux; elsewhere nothing changes).

``kill -9`` of ``heygem run`` runs no clean-up, so its ffmpeg children were left running: the
encoder, its input at EOF, went on padding the last frame to the speech's end and writing. The
kernel can end them instead: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` in the child, before it
executes ffmpeg, has it killed when its parent goes. Pass :func:`tied_to_parent` to
``subprocess.Popen`` / ``subprocess.run``.

Linux sends the signal when the *thread* that started the child ends, so a child must be started
on a thread that outlives it: every caller here waits for (or kills) its child on the thread that
started it. A ``preexec_fn`` also makes ``subprocess`` run Python's fork hooks (the logging module's
lock) in the parent: a Ctrl-C landing inside them printed "Exception ignored in _releaseLock" and left
the lock held, so tied children are started inside :func:`heygem_kernel.media.signals_held`.
"""
from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys
from typing import Any, Callable

PR_SET_PDEATHSIG = 1             # <linux/prctl.h>: the signal a child gets when its parent dies


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, looked up in the parent: a child forked from a threaded process should not
    load libraries (another thread may have held the loader's lock at the fork)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def tied_to_parent() -> dict[str, Any]:
    """Keyword arguments for ``subprocess.Popen`` / ``run`` that make the child die (SIGKILL) with
    this process, on Linux: a ``preexec_fn``. Empty elsewhere (and where libc has no ``prctl``)."""
    prctl = _prctl()
    if prctl is None:
        return {}
    parent = os.getpid()

    def in_the_child() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:   # the parent died before prctl took effect: nobody will signal us
            os.kill(os.getpid(), signal.SIGKILL)

    return {"preexec_fn": in_the_child}
