"""The worker-thread stop protocol (heygem_kernel.workers), shared by the face analysis's describer
and the encoder's pump: nothing blocks when the worker fails or has ended, nothing is lost when it works."""
from __future__ import annotations

import queue
import threading
import time

from heygem_kernel.workers import drain, stop_worker


def _worker(items: queue.Queue, seen: list, fail_at: int | None) -> threading.Thread:
    def run() -> None:
        try:
            while (item := items.get()) is not None:
                if item == fail_at:
                    raise RuntimeError("boom")
                seen.append(item)
        except RuntimeError:
            drain(items)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_working_worker_gets_every_item_then_stops():
    items, seen = queue.Queue(maxsize=2), []
    thread = _worker(items, seen, fail_at=None)
    for i in range(50):
        items.put(i)
    stop_worker(items, thread)
    thread.join(timeout=5)
    assert not thread.is_alive() and seen == list(range(50))


def test_a_failed_worker_never_blocks_its_producer():
    items, seen = queue.Queue(maxsize=2), []
    thread = _worker(items, seen, fail_at=3)
    t0 = time.perf_counter()
    for i in range(50):
        items.put(i, timeout=5)              # the failed worker drains: no put waits 5 s
    stop_worker(items, thread)
    thread.join(timeout=5)
    assert not thread.is_alive() and seen == [0, 1, 2]
    assert time.perf_counter() - t0 < 5


def test_stopping_an_ended_worker_returns_at_once():
    items = queue.Queue(maxsize=1)
    items.put("unread")                       # full, and nobody will read it
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    t0 = time.perf_counter()
    stop_worker(items, thread)
    assert time.perf_counter() - t0 < 0.5 and items.get_nowait() == "unread"
