"""MuseTalk backend speed: network throughput per batch size, then the whole pipeline at 1080p.

    python benchmarks/bench_musetalk.py [--models-dir DIR] [--device auto] [--seconds 10]

Without ``--models-dir`` (and no ``checkpoints/musetalk``) the weights are deterministic in the
official layout and shapes (3.4 GB UNet, written to a temporary folder: speed does not depend
on the values; ``--tiny`` shrinks them for a CPU smoke run). Side by side in one process on the
same 1920x1080 clip and settings: the ``reuse`` backend (engine without a network) and
``musetalk`` twice, the second time with a new speech (face track and reference latents
cached, the batch case). Prints fps, x real time and GPU share; asserts nothing. Fits in
10 minutes on one CUDA GPU with the defaults.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _cli import Parser, existing_dir, positive
from _cli import run as run_main

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MEDIA = Path(os.environ.get("HEYGEM_MEDIA", ROOT.parent / "shared" / "media"))
BATCHES = (1, 8, 32)


class GpuSampler:
    """Mean GPU utilisation (%) from nvidia-smi every 200 ms while active (None without it)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._proc = None

    def __enter__(self) -> "GpuSampler":
        try:
            self._proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                 "-lms", "200", "-i", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        except OSError:
            return self
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        for line in self._proc.stdout:
            try:
                self.samples.append(float(line.strip()))
            except ValueError:
                pass

    def __exit__(self, *exc) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=5)

    @property
    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


def _sync(dev) -> None:
    import torch
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def bench_networks(model, *, min_seconds: float) -> None:
    """Faces per second: VAE encoder (reference latents, once per video frame) and the
    per-speech step (UNet + VAE decoder), uint8 in / uint8 out."""
    import numpy as np
    rng = np.random.default_rng(0)
    for bs in BATCHES:
        faces = rng.integers(0, 256, (bs, 256, 256, 3), dtype=np.uint8)
        prompts = rng.standard_normal((bs, 50, 384)).astype(np.float32)
        lat = model.reference_latents(faces)
        for name, fn in (("encode", lambda: model.reference_latents(faces)),
                         ("unet+decode", lambda: model.generate_from_latents(lat, prompts))):
            fn()
            _sync(model.device)
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < min_seconds or n < 2:
                fn()
                n += 1
            _sync(model.device)
            print(f"networks   batch {bs:>3} {name:<12} {n * bs / (time.perf_counter() - t0):8.1f} "
                  f"faces/s on {model.device} ({str(model.dtype).replace('torch.', '')})", flush=True)


def make_clip(tmp: Path, seconds: float, height: int) -> tuple[Path, Path, Path]:
    """A 16:9 25 fps talking clip (talking_590 scaled and padded) and two different speeches."""
    src, speech = MEDIA / "talking_590.mp4", MEDIA / "speech_en_60s.wav"
    width = height * 16 // 9 // 2 * 2
    video = tmp / f"talking_{height}p.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(src), "-t", str(seconds),
                    "-vf", f"scale={height}:{height},pad={width}:{height}:{(width - height) // 2}:0",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-an", str(video)], check=True)
    out = []
    for i, start in enumerate((0.0, 20.0)):
        path = tmp / f"speech_{i}.wav"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", str(start), "-t", str(seconds), "-i", str(speech),
                        str(path)], check=True)
        out.append(path)
    return video, out[0], out[1]


def bench_pipeline(models_dir: Path, device: str, *, seconds: float, height: int, batch_size: int,
                   tmp: Path) -> None:
    import heygem_kernel
    from heygem_kernel import backends

    video, speech_a, speech_b = make_clip(tmp, seconds, height)
    runs = tmp / "runs"
    base = dict(device=device, batch_size=batch_size, sync_check=False)
    reuse = heygem_kernel.RunOptions(backend="reuse", **base)
    opts = heygem_kernel.RunOptions(backend="musetalk", models_dir=str(models_dir), **base)
    t0 = time.perf_counter()
    backend = backends.create("musetalk", checkpoint=None, device=device, batch_size=batch_size,
                              models_dir=str(models_dir))          # the instance the pipeline re-uses
    print(f"model load {time.perf_counter() - t0:.1f} s (once per worker)")
    rows = []
    for label, options, speech in (("reuse (no network)", reuse, speech_a),
                                   ("musetalk, new video", opts, speech_a),
                                   ("musetalk, new speech", opts, speech_b)):
        net0 = backend.gpu_seconds
        with GpuSampler() as gpu:
            t0 = time.perf_counter()
            result = heygem_kernel.run(speech, video, options=options, runs_root=runs)
            wall = time.perf_counter() - t0
        net = backend.gpu_seconds - net0 if options.backend == "musetalk" else 0.0
        rows.append((label, wall, result))
        util = f", nvidia-smi utilisation {gpu.mean:.0f}%" if gpu.mean is not None else ""
        print(f"pipeline   {label:<22} {result.width}x{result.height}, {result.n_frames} frames: "
              f"{wall:6.1f} s = {result.n_frames / wall:6.1f} fps = {result.duration / wall:5.2f}x real time; "
              f"networks {net:.1f} s = {100 * net / wall:.0f}% of wall{util}", flush=True)
        print("           stage timings:", json.dumps(result.timings))
        if options.backend == "musetalk":
            d = json.loads(Path(result.params_path).read_text())["backend"]
            print(f"           latent cache: {d['latent_cache_hits']} hits, {d['latent_cache_misses']} misses")
    r_wall = rows[0][1]
    for label, wall, _ in rows[1:]:
        print(f"ratio      {label} / reuse wall time: {wall / r_wall:.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = Parser(__doc__.splitlines()[0])
    ap.add_argument("--models-dir", type=existing_dir, help="MuseTalk models/ folder (default: checkpoints/musetalk if "
                                         "complete, else deterministic weights in a temporary folder)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--tiny", action="store_true", help="small deterministic weights (CPU smoke run)")
    ap.add_argument("--seconds", type=positive(float), default=None, help="clip length (default 10 on CUDA, 1 on CPU)")
    ap.add_argument("--height", type=positive(int), default=1080, help="clip height (16:9), default 1080")
    ap.add_argument("--batch-size", type=positive(int), default=None, help="default 32 on CUDA, 8 on CPU")
    ap.add_argument("--skip-e2e", action="store_true")
    args = ap.parse_args(argv)
    import torch

    from heygem_kernel.backends import musetalk as mt
    from heygem_kernel.errors import CheckpointError
    cuda = args.device.startswith("cuda") or (args.device == "auto" and torch.cuda.is_available())
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{torch.cuda.get_device_name(0) if cuda else 'CPU only'}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_musetalk_") as tmp:
        tmp = Path(tmp)
        models = Path(args.models_dir) if args.models_dir else mt.default_models_dir()
        try:
            mt.check_models_dir(models)
            print(f"weights    {models}")
        except CheckpointError:
            if args.models_dir:
                raise
            from heygem_kernel.backends.musetalk_testing import write_models_dir
            t0 = time.perf_counter()
            size = "tiny" if args.tiny else "official"
            models = write_models_dir(tmp / "models", size=size)
            print(f"weights    deterministic, {size} shapes, written in {time.perf_counter() - t0:.0f} s")
        t0 = time.perf_counter()
        model = mt.load_musetalk(models, args.device)
        print(f"load       {time.perf_counter() - t0:.1f} s on {model.device}", flush=True)
        bench_networks(model, min_seconds=3.0 if cuda else 1.0)
        if not args.skip_e2e:
            bench_pipeline(models, args.device, seconds=args.seconds or (10.0 if cuda else 1.0),
                           height=args.height, batch_size=args.batch_size or (32 if cuda else 8), tmp=tmp)
    return 0


if __name__ == "__main__":
    run_main(main)
