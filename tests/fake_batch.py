"""A stand-in for `heygem batch` in the job-queue tests (``$HEYGEM_BATCH_COMMAND``).

It is the real batch engine (heygem_kernel.batch: manifest, content-hash resume, cancel flag,
progress.json, report ZIP) with a slow copy instead of lip-sync and no pre-flight scan, so that a
queue test takes seconds. Each item's video is probed first, by the engine's own probe: a file that
is not a video fails its item with the engine's error line. ``$FAKE_ITEM_S``: seconds per item; ``$FAKE_EVENTS``: a file that gets
"start <run dir name>" / "end <run dir name>" lines.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from heygem_kernel import batch, media, report
from heygem_kernel.errors import Cancelled


def slow_copy(audio, video, *, out, progress=None, cancel=None, **_):
    media.probe_video(video)
    steps = 10
    for n in range(steps):
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled by the user")
        time.sleep(float(os.environ.get("FAKE_ITEM_S", "1")) / steps)
        if progress:
            progress("render", n + 1, steps)
    partial = Path(out).with_name(f".{Path(out).stem}.partial.mp4")
    shutil.copyfile(video, partial)
    os.replace(partial, out)
    return {"output": str(out), "plots": {}, "timings": {}, "n_frames": 1}


def event(text: str) -> None:
    path = os.environ.get("FAKE_EVENTS")
    if path:
        with open(path, "a") as fh:
            fh.write(text + "\n")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("videos", nargs="+")
    p.add_argument("--audio", required=True)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--options", default="")
    p.add_argument("--cache-dir", default="")
    args = p.parse_args()
    name = Path(args.run_dir).name
    event(f"start {name}")
    Path(args.run_dir).mkdir(parents=True, exist_ok=True)   # the language the batch was started in
    Path(args.run_dir, "fake-lang.txt").write_text(os.environ.get("HEYGEM_LANG", "-"))
    plan = batch.prepare(args.audio, args.videos, run_dir=args.run_dir, options=args.options, scan=False,
                         cache_dir=args.cache_dir or None)
    result = batch.execute(plan, runner=slow_copy, speech=object(), progress=False)
    report.write_zip(result.run_dir)
    event(f"end {name}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
