"""Batch benchmark: resume and face-track re-use (issue 5).

    python benchmarks/bench_batch.py [--videos V1 V2] [--audio A] [--new-audio B]

Runs, in a fresh temporary folder with its own face-track cache:
  1. `heygem batch` on the videos + one broken file (cold: nothing cached);
  2. the same command again (resume: every finished item skipped; issue 5: < 1/3 of run 1);
  3. `heygem batch` with a new audio into a new folder, same cache (face tracks re-used), and
     prints the per-item analysis time cold vs cached.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _cli import Parser, existing_file
from _cli import run as run_main

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"


def batch(audio: Path, videos: list[Path], run_dir: Path, cache: Path) -> tuple[float, dict]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "batch", "--audio", str(audio), "--run-dir",
                           str(run_dir), "--cache-dir", str(cache), *map(str, videos)],
                          capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t
    if proc.returncode not in (0, 1):
        sys.exit(f"heygem batch failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return seconds, json.loads((run_dir / "manifest.json").read_text())


def main() -> None:
    ap = Parser(__doc__)
    ap.add_argument("--videos", type=existing_file, nargs="+",
                    default=[MEDIA / "talking_590.mp4", MEDIA / "talking_524.mp4"])
    ap.add_argument("--audio", type=existing_file, default=MEDIA / "speech_en_5s.wav")
    ap.add_argument("--new-audio", type=existing_file, default=MEDIA / "speech_zh_8s.wav")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="heygem-bench-batch-") as tmp:
        tmp = Path(tmp)
        broken = tmp / "broken.mp4"
        broken.write_bytes(b"not a video" * 100)
        cache = tmp / "cache"
        videos = [*args.videos, broken]
        first, m1 = batch(args.audio, videos, tmp / "batch", cache)
        again, m2 = batch(args.audio, videos, tmp / "batch", cache)
        new, m3 = batch(args.new_audio, args.videos, tmp / "new-audio", cache)

    def analyse(m: dict) -> float:
        return sum((i.get("timings") or {}).get("analyse", 0.0) for i in m["items"] if i["status"] == "ok")

    print(f"videos: {', '.join(v.name for v in args.videos)} + 1 broken; audio {args.audio.name}")
    print(f"first run:               {first:7.1f} s   {m1['summary']}")
    print(f"same command again:      {again:7.1f} s   {m2['summary']}, "
          f"{sum(1 for i in m2['items'] if i.get('reused'))} skipped")
    print(f"resume ratio:            {again / first:7.2f}   (issue 5: < 0.33)")
    print(f"new audio ({args.new_audio.name}): {new:7.1f} s   face tracks cached: "
          f"{[i.get('analysis_cached') for i in m3['items']]}")
    print(f"analysis time cold/cached: {analyse(m1):.2f} s / {analyse(m3):.2f} s "
          f"(ratio {analyse(m3) / max(analyse(m1), 1e-9):.3f})")
    print(f"item time cold/cached:   {sum(i['wall_s'] for i in m1['items'] if i['status'] == 'ok'):.1f} s / "
          f"{sum(i['wall_s'] for i in m3['items'] if i['status'] == 'ok'):.1f} s "
          f"(new audio is {m3['audio_duration']:.1f} s vs {m1['audio_duration']:.1f} s)")


if __name__ == "__main__":
    run_main(main)
