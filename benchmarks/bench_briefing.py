"""The briefing batch as a benchmark: N presenters, one speech, local and Dask executors.

    python benchmarks/bench_briefing.py [--presenters N] [--minutes M] [--clip-seconds 60]
                                        [--executors local dask] [--workers K]

N presenter clips from ../shared/media (``--clips``, cycled; default talking_590, talking_524,
talking_vfr_700, portrait_1080x1920; each copy made distinct so the face-track cache cannot
share work) are
looped to ``--clip-seconds`` (stream copy), and speech_en_60s is looped to M minutes. Each
executor runs the whole batch (``heygem_kernel.batch.run_batch``, fresh cache and run folder)
in a fresh Python process. Printed per executor:

  * frames/s and output seconds per wall second;
  * CPU-seconds per output second (every process: the batch process, which analyses the
    speech once, plus each item's own CPU and that of its ffmpeg children, measured by the
    worker around the item);
  * peak RSS per worker process (ru_maxrss);
  * projected wall time of the real briefing, 28 presenters x 8 minutes, ARITHMETIC from the
    measured rates, not a measurement: on this machine (at the executor's measured output
    seconds per wall second, and at CPU-seconds / 2 cores), and on a 16-core machine with K
    workers (each keeping ``item CPU / item wall`` cores busy as measured here, at most 16 in
    all; and the bound CPU-seconds / 16); the speech is analysed once, at its measured rate.
    Linear scaling, the same per-core speed and no disk or memory limit are assumed.

This machine is shared (2 cores, other jobs running): the load average is printed with the
figures. The defaults are small (2 presenters, 0.25 min) so that it runs in CI-type budgets.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _cli import Parser, media_file, positive
from _cli import run as run_main

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
CLIPS = ["talking_590.mp4", "talking_524.mp4", "talking_vfr_700.mp4", "portrait_1080x1920.mp4"]
BRIEFING_PRESENTERS, BRIEFING_MINUTES = 28, 8.0
BIG_MACHINE_CORES = 16


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def measured_runner(audio, video, **kwargs):
    """heygem_kernel.run, writing this item's CPU seconds (worker + its ffmpeg children), wall
    seconds and the worker's peak RSS to ``<item run_dir>/usage.json``."""
    from heygem_kernel import run
    c0 = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    result = run(audio, video, **kwargs)
    usage = {"pid": os.getpid(), "cpu_s": _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN) - c0,
             "wall_s": time.perf_counter() - t0, "frames": result.n_frames, "seconds": result.duration,
             "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    (Path(kwargs["run_dir"]) / "usage.json").write_text(json.dumps(usage))
    return result


def child(args: argparse.Namespace) -> None:
    """One executor's whole batch, in this (fresh) process; prints a JSON line."""
    from heygem_kernel import batch
    videos = [Path(v) for v in args.videos]
    t0 = time.perf_counter()
    result = batch.run_batch(args.audio, videos, run_dir=args.run_dir, cache_dir=args.cache_dir,
                             executor=args.executor, workers=args.workers, runner=measured_runner,
                             progress=False)
    wall = time.perf_counter() - t0
    usages = [json.loads(p.read_text()) for p in Path(args.run_dir).glob("items/*/usage.json")]
    print(json.dumps({"wall_s": wall, "ok": result.n_ok, "failed": result.n_failed,
                      "errors": [e.get("error") for e in result.items if e.get("status") != "ok"],
                      "parent_cpu_s": _cpu(resource.RUSAGE_SELF),
                      "parent_children_cpu_s": _cpu(resource.RUSAGE_CHILDREN),
                      "parent_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "items": usages}))


def make_inputs(tmp: Path, n: int, clip_seconds: float, minutes: float, clips: list[str]) -> tuple[list[Path], Path]:
    videos = []
    for i in range(n):
        src = MEDIA / clips[i % len(clips)]
        out = tmp / f"presenter{i + 1:02d}_{src.stem}.mp4"
        # stream copy (no re-encode); the comment makes every copy's bytes (content hash) distinct
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-stream_loop", "-1", "-i", str(src),
                        "-t", f"{clip_seconds:g}", "-c", "copy", "-metadata", f"comment=presenter {i + 1}",
                        str(out)], check=True)
        videos.append(out)
    speech = tmp / "speech.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-stream_loop", "-1",
                    "-i", str(MEDIA / "speech_en_60s.wav"), "-t", f"{minutes * 60:g}", "-ac", "1", str(speech)],
                   check=True)
    return videos, speech


def run_executor(executor: str, videos: list[Path], speech: Path, tmp: Path, workers: int | None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--executor", executor,
           "--audio", str(speech), "--run-dir", str(tmp / f"batch-{executor}"),
           "--cache-dir", str(tmp / f"cache-{executor}"), "--videos", *map(str, videos)]
    if workers:
        cmd += ["--workers", str(workers)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"{executor} batch failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def speech_rate(speech: Path) -> float:
    """CPU seconds per second of speech for the once-per-batch speech analysis (measured here)."""
    code = ("import resource, sys, json; from heygem_kernel import audio; s = audio.load_speech(sys.argv[1]); "
            "r = resource.getrusage(resource.RUSAGE_SELF); c = resource.getrusage(resource.RUSAGE_CHILDREN); "
            "print(json.dumps([r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime, s.duration]))")
    out = subprocess.run([sys.executable, "-c", code, str(speech)], capture_output=True, text=True, check=True)
    cpu, seconds = json.loads(out.stdout.strip().splitlines()[-1])
    return cpu / seconds


def report(name: str, r: dict, *, speech_cpu_per_s: float, workers_16: int) -> None:
    items = r["items"]
    frames = sum(u["frames"] for u in items)
    out_s = sum(u["seconds"] for u in items)
    item_cpu = sum(u["cpu_s"] for u in items)
    if name == "local":   # items ran inside the batch process: its own rusage holds them and their ffmpeg
        cpu_total = r["parent_cpu_s"] + r["parent_children_cpu_s"]
    else:                 # the batch process (speech, scheduler) + every item in the worker processes
        cpu_total = r["parent_cpu_s"] + item_cpu
    rss = {}
    for u in items:
        rss[u["pid"]] = max(rss.get(u["pid"], 0.0), u["peak_rss_mb"])
    cores_per_item = item_cpu / max(1e-9, sum(u["wall_s"] for u in items))
    per_out_s = item_cpu / max(out_s, 1e-9)
    throughput = out_s / r["wall_s"]
    job_s = BRIEFING_PRESENTERS * BRIEFING_MINUTES * 60
    speech_s = speech_cpu_per_s * BRIEFING_MINUTES * 60
    here_h = (job_s / throughput) / 3600
    here_idle_h = (speech_s + job_s * per_out_s / 2) / 3600          # both cores ours alone
    used_cores = min(BIG_MACHINE_CORES, workers_16 * cores_per_item)
    big_h = (speech_s + job_s * per_out_s / used_cores) / 3600
    big_full_h = (speech_s + job_s * per_out_s / BIG_MACHINE_CORES) / 3600
    print(f"\n[{name}] {r['ok']} ok, {r['failed']} failed{': ' + '; '.join(map(str, r['errors'])) if r['errors'] else ''}")
    print(f"  output: {out_s:.1f} s, {frames} frames in {r['wall_s']:.1f} s wall: {frames / r['wall_s']:.1f} frames/s, "
          f"{throughput:.3f} output s per wall s")
    print(f"  CPU-seconds per output second: {per_out_s:.2f} (items, worker + ffmpeg); "
          f"{cpu_total / max(out_s, 1e-9):.2f} with the batch process (speech once, scheduling)")
    print(f"  cores one item keeps busy: {cores_per_item:.2f}")
    print(f"  peak RSS per worker: " + ", ".join(f"{v:.0f} MB" for v in rss.values())
          + f"; batch process {r['parent_peak_rss_mb']:.0f} MB")
    print(f"  projected (arithmetic, not measured) {BRIEFING_PRESENTERS} presenters x {BRIEFING_MINUTES:g} min:")
    print(f"    this machine: {here_h:.1f} h at the throughput measured here (shared), "
          f"{here_idle_h:.1f} h with both cores ours (CPU-s / 2)")
    print(f"    {BIG_MACHINE_CORES}-core machine, {workers_16} workers: {big_h:.1f} h if each worker keeps "
          f"{cores_per_item:.2f} cores busy as measured here ({used_cores:.1f} cores), {big_full_h:.1f} h with "
          f"all {BIG_MACHINE_CORES} busy (CPU-s / {BIG_MACHINE_CORES}); speech once: {speech_s / 60:.1f} min")


def main() -> None:
    ap = Parser(__doc__)
    ap.add_argument("--presenters", "-n", type=positive(int), default=2, help="N presenter clips (default 2)")
    ap.add_argument("--minutes", "-m", type=positive(float), default=0.25, help="M minutes of speech (default 0.25)")
    ap.add_argument("--clip-seconds", type=positive(float), default=60.0, help="each presenter clip looped to this length")
    ap.add_argument("--clips", nargs="+", type=media_file, default=CLIPS, metavar="NAME",
                    help="presenter clips in ../shared/media, cycled (default: %(default)s); the briefing's "
                         "1080p case: --clips portrait_1080x1920.mp4")
    ap.add_argument("--executors", nargs="+", default=["local", "dask"], choices=["local", "dask"])
    ap.add_argument("--workers", type=positive(int), default=2, help="Dask workers on this machine (default 2)")
    ap.add_argument("--workers-16", type=positive(int), default=8, help="K workers for the 16-core projection")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--executor", help=argparse.SUPPRESS)
    ap.add_argument("--audio", help=argparse.SUPPRESS)
    ap.add_argument("--run-dir", help=argparse.SUPPRESS)
    ap.add_argument("--cache-dir", help=argparse.SUPPRESS)
    ap.add_argument("--videos", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-briefing-") as tmp:
        tmp = Path(tmp)
        videos, speech = make_inputs(tmp, args.presenters, args.clip_seconds, args.minutes, args.clips)
        rate = speech_rate(speech)
        results = {}
        for ex in args.executors:
            results[ex] = run_executor(ex, videos, speech, tmp, args.workers if ex == "dask" else None)
    print(f"{args.presenters} presenter(s) ({', '.join(v.name for v in videos)}), "
          f"{args.clip_seconds:g} s clips, {args.minutes:g} min of speech; load average {load0:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end (2 cores, shared: rates are lower bounds)")
    print(f"speech analysis: {rate:.3f} CPU-s per speech second (cold process)")
    for ex, r in results.items():
        report(ex, r, speech_cpu_per_s=rate, workers_16=args.workers_16)


if __name__ == "__main__":
    run_main(main)
