"""Face-tracking speed per clip: ms/frame of FaceTracker.update, and its ratio to decoding and
to a plain ffmpeg re-encode of the same clip.

    python benchmarks/bench_landmarks.py [--frames N] [CLIP ...]

Frames are decoded first (heygem_kernel.media) and kept in memory, so the tracker's time is its
own; ``cpu`` is the process CPU time (all threads) per frame, which is what the tracker costs
on a busy machine, ``wall`` what it takes here and now.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import time
from itertools import islice
from pathlib import Path

from _cli import Parser, media_file, positive
from _cli import run as run_main

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("HEYGEM_MEDIA", ROOT.parent / "shared" / "media"))
CLIPS = ["talking_590.mp4", "talking_524.mp4", "talking_vfr_700.mp4", "portrait_1080x1920.mp4"]


def reencode_seconds(path: Path, n_frames: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(path), "-frames:v",
                        str(n_frames), "-c:v", "libx264", "-an", str(Path(tmp) / "out.mp4")],
                       check=True)
        return time.perf_counter() - start


def main() -> None:
    from heygem_kernel import media
    from heygem_kernel.landmarks import FaceTracker

    parser = Parser(__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", type=media_file, help=f"paths or names in {MEDIA} (default: {' '.join(CLIPS)})")
    parser.add_argument("--frames", type=positive(int), default=100)
    args = parser.parse_args()
    print(f"{'clip':26} {'frames':>6} {'decode':>7} {'wall':>6} {'cpu':>6} {'x264':>6}  "
          f"track/x264  detections  lost   (ms per frame)")
    for path in args.clips or [MEDIA / c for c in CLIPS]:
        name = path.name
        info = media.probe_video(path)
        start = time.perf_counter()
        frames = list(islice(media.iter_frames(info), args.frames))
        decode = (time.perf_counter() - start) / len(frames)
        with FaceTracker() as tracker:
            tracker.update(frames[0])                    # model start-up is not per-frame cost
            tracker.reset()
            tracker.stats.update(frames=0, detections=0, fast=0, lost=0)
            wall0, cpu0 = time.perf_counter(), time.process_time()
            for frame in frames:
                tracker.update(frame)
            wall = (time.perf_counter() - wall0) / len(frames)
            cpu = (time.process_time() - cpu0) / len(frames)
            stats = dict(tracker.stats)
        x264 = reencode_seconds(path, len(frames)) / len(frames)
        print(f"{name:26} {len(frames):6d} {decode * 1e3:7.1f} {wall * 1e3:6.1f} {cpu * 1e3:6.1f} "
              f"{x264 * 1e3:6.1f}  {wall / x264:10.2f}  {stats['detections']:10d}  {stats['lost']:4d}")


if __name__ == "__main__":
    run_main(main)
