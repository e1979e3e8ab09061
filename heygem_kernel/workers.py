"""The stop protocol of the engine's worker threads: a bounded queue that ``None`` ends.

A producer puts items on the queue, then :func:`stop_worker` puts the sentinel. A worker that
fails keeps reading up to the sentinel (:func:`drain`), so neither the producer's puts nor its
stop ever block on a full queue; a worker that has ended reads nothing, so the stop gives up.
Used by the face analysis's describer (:mod:`heygem_kernel.pipeline`) and the encoder's pump
(:class:`heygem_kernel.media.VideoWriter`).
"""
from __future__ import annotations

import queue
import threading

POLL_S = 0.1   # s between checks that the worker is still alive while its queue is full


def stop_worker(items: queue.Queue, thread: threading.Thread) -> None:
    """Put the sentinel ``None`` on ``items`` for ``thread``: waits while the queue is full and the
    thread alive; returns without it once the thread has ended. Join the thread afterwards."""
    while thread.is_alive():
        try:
            items.put(None, timeout=POLL_S)
            return
        except queue.Full:
            continue


def drain(items: queue.Queue) -> None:
    """Read ``items`` up to the sentinel, dropping them: the end of a worker that failed."""
    while items.get() is not None:
        pass
