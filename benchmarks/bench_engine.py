"""Engine benchmark: speed against a plain ffmpeg re-encode, and memory against output length.

    python benchmarks/bench_engine.py [--video V] [--speech-8s A8] [--speech-60s A60]

Prints, for a 1080x1920 input on this machine:
  * end-to-end time of `heygem run` (cold: no face-track cache) / time of
    `ffmpeg -i V -i A -c:v libx264 -c:a aac -shortest` on the same input (issue 2: <= 3x, target 1.2x);
  * peak RSS of the engine process for 60 s of output / for 8 s (issue 2: <= 1.3x).
Each engine run happens in a fresh Python process so its peak RSS is its own.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"

CHILD = r"""
import json, resource, sys, time
from heygem_kernel import RunOptions, run
t = time.perf_counter()
r = run(sys.argv[1], sys.argv[2], out=sys.argv[3], runs_root=sys.argv[4], options=RunOptions(use_cache=False))
print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "timings": r.timings, "frames": r.n_frames}))
"""


def ffmpeg_baseline(video: Path, audio: Path, out: Path) -> float:
    t = time.perf_counter()
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(video), "-i", str(audio),
                    "-c:v", "libx264", "-c:a", "aac", "-shortest", str(out)], check=True)
    return time.perf_counter() - t


def engine(video: Path, audio: Path, out: Path, runs: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(audio), str(video), str(out), str(runs)],
                          check=True, capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cut(audio: Path, seconds: float, out: Path) -> Path:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(audio), "-t", str(seconds), str(out)], check=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=MEDIA / "portrait_1080x1920.mp4")
    ap.add_argument("--speech", type=Path, default=MEDIA / "speech_en_60s.wav", help="at least 60 s of speech")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        a8 = cut(args.speech, 8, tmp / "speech8.wav")
        a60 = cut(args.speech, 60, tmp / "speech60.wav")
        base = ffmpeg_baseline(args.video, a8, tmp / "ffmpeg.mp4")
        r8 = engine(args.video, a8, tmp / "heygem8.mp4", tmp / "runs")
        r60 = engine(args.video, a60, tmp / "heygem60.mp4", tmp / "runs")
    print(f"input: {args.video.name}")
    print(f"ffmpeg re-encode, 8 s:        {base:7.2f} s")
    print(f"heygem run, 8 s (cold):       {r8['seconds']:7.2f} s   stages: {r8['timings']}")
    print(f"speed ratio heygem/ffmpeg:    {r8['seconds'] / base:7.2f}x   (issue 2: <= 3x, target 1.2x)")
    print(f"peak RSS, 8 s of output:      {r8['peak_rss_mb']:7.0f} MB")
    print(f"peak RSS, 60 s of output:     {r60['peak_rss_mb']:7.0f} MB   ({r60['seconds']:.1f} s, {r60['frames']} frames)")
    print(f"memory ratio 60 s / 8 s:      {r60['peak_rss_mb'] / r8['peak_rss_mb']:7.2f}x   (issue 2: <= 1.3x)")


if __name__ == "__main__":
    main()
