"""Engine benchmark: speed against ffmpeg at the engine's own encoder settings, re-runs with new
audio, per-stage times, and memory against output length.

    python benchmarks/bench_engine.py [--video V] [--speech A] [--seconds 8] [--long 60] [--rounds 2]

Each round runs, alternating and side by side (the machine may be shared: only ratios taken
in one run mean anything):

  * ``transcode``: ``ffmpeg -i V -i A -c:v libx264 -preset P -crf C -pix_fmt yuv420p -c:a aac
    -b:a 160k -movflags +faststart -shortest`` with P, C read from the engine run's params.json
    (the settings the engine encodes with, not ffmpeg's defaults);
  * ``first run``: ``heygem_kernel.run`` on the video with ``--seconds`` of speech, no cache
    (a fresh cache folder): decode, face analysis, speech, render, sync check, plots;
  * ``re-run``: the same video, a *different* ``--seconds`` of speech (later in the file), with
    the first run's face-track cache: what a briefing re-run with new audio costs.

Every engine run is a fresh Python process (imports included, as for ``heygem run``), so its
peak RSS is its own. Printed: wall seconds and CPU seconds (process + children) per round,
median ratios, the per-stage busy-time table of the engine (stages overlap on threads, so they
add up to more than the wall time; on a loaded machine busy time includes waiting for a core),
the engine's CPU seconds by thread (what each thread used, whatever the load), and peak RSS for ``--long`` s of output against
``--seconds`` s (both cold). Acceptance (issue 9): first run <= 1.5x the transcode (target
1.2x), re-run >= 2x faster than the first run, RSS long/short <= 1.1x.

Memory, 2026-12-01 (portrait_1080x1920 + speech_en_60s, 2-core box shared with other work,
load 5-12): before/after the loop morph's re-used buffers (commit 850be04), this benchmark
532 -> 525-535 MB for 8 s, 597 -> 563-569 MB for 60 s, ratio 1.12x -> 1.06-1.07x; 120 s of
output 567-575 MB (~1.01x the 60 s run: flat once the output loops). One run's
peak moves +-10 MB with how far the x264 encoder lags (frames held in flight: 37-44 of 6.2 MB),
so compare several runs. What the 60 s run still holds beyond the 8 s one: the morph's buffers
(~12 MB, kept once the first join is made), the second source frame of a join frame (6 MB),
the longer speech (~6 MB) and 50 more analysed source frames' mouths (~2.5 MB).
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _cli import Parser, existing_file, positive
from _cli import run as run_main

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"

CHILD = r"""
import json, resource, sys, threading, time
t = time.perf_counter()
threads = {}                    # thread name (numbers dropped) -> CPU seconds, summed when it ends
_run = threading.Thread.run
def _counted(self):
    try:
        _run(self)
    finally:
        name = self.name.split(" (")[0].rstrip("0123456789_-")
        threads[name] = threads.get(name, 0.0) + time.thread_time()
threading.Thread.run = _counted
from heygem_kernel import RunOptions, run
r = run(sys.argv[1], sys.argv[2], out=sys.argv[3], runs_root=sys.argv[4], cache_dir=sys.argv[5],
        options=RunOptions())
threads["MainThread"] = time.thread_time()
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": me.ru_maxrss / 1024,
                  "cpu": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
                  "self_cpu": me.ru_utime + me.ru_stime, "threads": threads,
                  "timings": r.timings, "frames": r.n_frames, "run_dir": str(r.run_dir),
                  "cached": r.extra.get("analysis_cached")}))
"""

# Engine CPU by thread (CPU seconds, not busy time): Python threads by name, what is left of the
# process's own CPU is native threads (mediapipe's graph executors, OpenCV's worker pool).
THREADS = [
    ("main (imports, tracker / meter calls, spool reads, compositing, plots)", ["MainThread"]),
    ("decode reader (pipe, I420 -> BGR, spool writes)", ["heygem-decode"]),
    ("describer (thumbnails, mouth grids, library)", ["heygem-describe"]),
    ("speech (phones, mel, mel plot)", ["heygem-speech"]),
    ("source's own speech (speaker timing)", ["heygem-own-speech"]),
    ("backend (synthesis)", ["heygem-backend"]),
    ("encode writer (BGR -> I420, pipe)", ["heygem-encode"]),
    ("other Python threads", None),
]


# Stage table: label -> timing keys of RunResult.timings (busy seconds on the thread doing it)
STAGES = [
    ("decode (wait for frames)", ["decode"]),
    ("decode, ffmpeg CPU", ["decode_cpu"]),
    ("face analysis", ["analyse"]),
    ("speech analysis", ["speech"]),
    ("synthesis", ["synthesise"]),
    ("compositing", ["composite"]),
    ("enhance", ["enhance"]),
    ("encode (queue + resize, final drain)", ["encode", "encode_finish"]),
    ("encode, ffmpeg CPU", ["encode_cpu"]),
    ("sync check (measure + estimate)", ["measure", "sync"]),
    ("plots", ["plots"]),
    ("probe", ["probe"]),
    ("total (wall, in process)", ["total"]),
]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def transcode(video: Path, audio: Path, out: Path, *, preset: str, crf: int) -> dict:
    """The baseline: a plain ffmpeg transcode at the engine's encoder settings."""
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(video), "-i", str(audio),
           "-map", "0:v:0", "-map", "1:a:0", "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "160k", "-movflags", "+faststart", "-shortest", str(out)]
    c0, t0 = _children_cpu(), time.perf_counter()
    subprocess.run(cmd, check=True)
    return {"seconds": time.perf_counter() - t0, "cpu": _children_cpu() - c0}


def engine(video: Path, audio: Path, out: Path, runs: Path, cache: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(audio), str(video), str(out), str(runs), str(cache)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"engine run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cut(audio: Path, start: float, seconds: float, out: Path) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-ss", str(start), "-i", str(audio),
                    "-t", str(seconds), str(out)], check=True)
    return out


def encoder_settings(run: dict) -> tuple[str, int]:
    params = json.loads((Path(run["run_dir"]) / "params.json").read_text())
    return params["options"]["preset"], int(params["options"]["crf"])


def stage_table(runs: dict[str, dict]) -> str:
    names = list(runs)
    lines = [f"{'stage (busy s)':34s}" + "".join(f"{n:>12s}" for n in names)]
    for label, keys in STAGES:
        vals = []
        for n in names:
            t = runs[n]["timings"]
            have = [t[k] for k in keys if k in t]
            vals.append(f"{sum(have):12.2f}" if have else f"{'-':>12s}")
        lines.append(f"{label:34s}" + "".join(vals))
    return "\n".join(lines)


def thread_table(runs: dict[str, dict]) -> str:
    """Engine CPU seconds per thread; native = the process's CPU minus its Python threads'."""
    names = list(runs)
    lines = [f"{'engine CPU by thread (s)':72s}" + "".join(f"{n:>12s}" for n in names)]
    named = {k for _, keys in THREADS if keys for k in keys}
    for label, keys in THREADS:
        vals = [sum(v for k, v in r["threads"].items() if (k in keys if keys else k not in named))
                for r in runs.values()]
        lines.append(f"{label:72s}" + "".join(f"{v:12.2f}" for v in vals))
    native = [r["self_cpu"] - sum(r["threads"].values()) for r in runs.values()]
    lines.append(f"{'native threads (mediapipe graphs, OpenCV pool)':72s}" + "".join(f"{v:12.2f}" for v in native))
    lines.append(f"{'engine process (own CPU)':72s}" + "".join(f"{r['self_cpu']:12.2f}" for r in runs.values()))
    lines.append(f"{'ffmpeg / ffprobe children':72s}" + "".join(f"{r['cpu'] - r['self_cpu']:12.2f}"
                                                               for r in runs.values()))
    return "\n".join(lines)


def main() -> None:
    ap = Parser(__doc__)
    ap.add_argument("--video", type=existing_file, default=MEDIA / "portrait_1080x1920.mp4")
    ap.add_argument("--speech", type=existing_file, default=MEDIA / "speech_en_60s.wav",
                    help="speech of at least 2 x --seconds (and --long) s")
    ap.add_argument("--seconds", type=positive(float), default=8.0, help="speech length of the speed runs")
    ap.add_argument("--long", type=float, default=60.0, help="speech length of the memory run (0: skip)")
    ap.add_argument("--rounds", type=positive(int), default=2, help="alternating rounds of transcode / first run / re-run")
    args = ap.parse_args()
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        tmp = Path(tmp)
        first_audio = cut(args.speech, 0, args.seconds, tmp / "speech_a.wav")
        other_audio = cut(args.speech, args.seconds, args.seconds, tmp / "speech_b.wav")
        rows = []
        for k in range(args.rounds):
            cache = tmp / f"cache{k}"
            first = engine(args.video, first_audio, tmp / "first.mp4", tmp / "runs", cache)
            preset, crf = encoder_settings(first)
            base = transcode(args.video, first_audio, tmp / "ffmpeg.mp4", preset=preset, crf=crf)
            rerun = engine(args.video, other_audio, tmp / "rerun.mp4", tmp / "runs", cache)
            base2 = transcode(args.video, other_audio, tmp / "ffmpeg.mp4", preset=preset, crf=crf)
            assert first["cached"] is False and rerun["cached"] is True, (first["cached"], rerun["cached"])
            rows.append((base, first, rerun, base2))
            print(f"round {k + 1}: transcode {base['seconds']:.2f} s / {base2['seconds']:.2f} s, "
                  f"first run {first['seconds']:.2f} s, re-run {rerun['seconds']:.2f} s "
                  f"(-preset {preset} -crf {crf}; load {os.getloadavg()[0]:.1f})", flush=True)
        mem = None
        if args.long:
            long_audio = cut(args.speech, 0, args.long, tmp / "speech_long.wav")
            mem = engine(args.video, long_audio, tmp / "long.mp4", tmp / "runs", tmp / "cache_long")
    load1 = os.getloadavg()

    def med(values) -> float:
        return statistics.median(values)

    base_s = med([(b["seconds"] + b2["seconds"]) / 2 for b, _, _, b2 in rows])
    base_cpu = med([(b["cpu"] + b2["cpu"]) / 2 for b, _, _, b2 in rows])
    first_s, rerun_s = med([f["seconds"] for _, f, _, _ in rows]), med([r["seconds"] for _, _, r, _ in rows])
    first_ratio = med([f["seconds"] / ((b["seconds"] + b2["seconds"]) / 2) for b, f, _, b2 in rows])
    rerun_ratio = med([r["seconds"] / ((b["seconds"] + b2["seconds"]) / 2) for b, _, r, b2 in rows])
    speedup = med([f["seconds"] / r["seconds"] for _, f, r, _ in rows])
    print()
    print(f"input: {args.video.name}, {args.seconds:g} s of speech, {rows[0][1]['frames']} frames; "
          f"load average {load0[0]:.1f} at start, {load1[0]:.1f} at end (2 cores: timings are noisy)")
    print(f"{'':34s}{'wall s':>10s}{'CPU s':>10s}{'x transcode':>14s}")
    print(f"{'transcode (same settings)':34s}{base_s:10.2f}{base_cpu:10.2f}{1:14.2f}")
    print(f"{'heygem first run (no cache)':34s}{first_s:10.2f}{med([f['cpu'] for _, f, _, _ in rows]):10.2f}"
          f"{first_ratio:14.2f}   (issue 9: <= 1.5x, target 1.2x)")
    print(f"{'heygem re-run, new speech':34s}{rerun_s:10.2f}{med([r['cpu'] for _, _, r, _ in rows]):10.2f}"
          f"{rerun_ratio:14.2f}")
    print(f"re-run speed-up over the first run: {speedup:.2f}x   (issue 9: >= 2x)")
    print()
    print(stage_table({"first run": rows[len(rows) // 2][1], "re-run": rows[len(rows) // 2][2],
                       **({f"{args.long:g} s": mem} if mem else {})}))
    print()
    print(thread_table({"first run": rows[len(rows) // 2][1], "re-run": rows[len(rows) // 2][2]}))
    if mem:
        first = rows[len(rows) // 2][1]
        print()
        print(f"peak RSS, {args.seconds:g} s of output:  {first['peak_rss_mb']:7.0f} MB")
        print(f"peak RSS, {args.long:g} s of output: {mem['peak_rss_mb']:7.0f} MB   "
              f"({mem['seconds']:.1f} s, {mem['frames']} frames)")
        print(f"memory ratio {args.long:g} s / {args.seconds:g} s:  {mem['peak_rss_mb'] / first['peak_rss_mb']:7.2f}x   "
              f"(issue 9: <= 1.1x)")


if __name__ == "__main__":
    run_main(main)
