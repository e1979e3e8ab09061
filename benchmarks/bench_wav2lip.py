"""Wav2Lip backend speed: generator fps per batch size, then the whole pipeline at 1080p.

    python benchmarks/bench_wav2lip.py [--device auto] [--seconds 5] [--skip-e2e]

Weights are random (seeded) in the official layout, written to a temporary folder: speed does
not depend on the values. Prints ratios (fps, x real time, GPU share), asserts nothing.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _cli import Parser, positive
from _cli import run as run_main

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("HEYGEM_MEDIA", ROOT.parent / "shared" / "media"))
BATCHES = (1, 16, 64)


def _sync(dev) -> None:
    import torch
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def bench_generator(device: str, *, min_seconds: float = 3.0) -> dict[int, float]:
    """Frames per second of one forward pass (uint8 crops in, uint8 crops out) per batch size."""
    import numpy as np
    import torch

    from heygem_kernel.backends import wav2lip as w2l
    from heygem_kernel.backends.wav2lip_nets import Wav2LipGenerator

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wav2lip.pth"
        torch.save({"state_dict": Wav2LipGenerator().state_dict()}, path)
        backend = w2l.Wav2LipBackend(checkpoint=path, device=device, batch_size=max(BATCHES))
    rng = np.random.default_rng(0)
    results = {}
    for bs in BATCHES:
        faces = rng.integers(0, 256, (bs, 96, 96, 3), dtype=np.uint8)
        mels = rng.uniform(-4, 4, (bs, 80, 16)).astype(np.float32)
        for _ in range(3):                                  # warm-up (cudnn autotune)
            backend.generate(faces, mels)
        _sync(backend.device)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < min_seconds or n < 3:
            backend.generate(faces, mels)
            n += 1
        _sync(backend.device)
        results[bs] = n * bs / (time.perf_counter() - t0)
        print(f"generator  batch {bs:>3}: {results[bs]:8.1f} fps on {backend.device} "
              f"({backend.describe()['dtype']})", flush=True)
    return results


def make_1080p(tmp: Path, seconds: float) -> tuple[Path, Path]:
    """A 1920x1080 25 fps talking clip (talking_590 scaled and padded) and its speech."""
    src, speech = MEDIA / "talking_590.mp4", MEDIA / "speech_en_5s.wav"
    video, audio = tmp / "talking_1080p.mp4", tmp / "speech.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(src), "-t", str(seconds),
                    "-vf", "scale=1080:1080,pad=1920:1080:420:0", "-c:v", "libx264", "-preset", "veryfast",
                    "-crf", "18", "-an", str(video)], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(speech), "-t", str(seconds),
                    str(audio)], check=True)
    return video, audio


def bench_pipeline(device: str, seconds: float, batch_size: int) -> None:
    import torch

    import heygem_kernel
    from heygem_kernel import backends
    from heygem_kernel.backends.wav2lip_nets import SyncNetColor, Wav2LipGenerator

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        torch.manual_seed(0)
        ckpt = tmp / "wav2lip.pth"
        torch.save({"state_dict": {"module." + k: v for k, v in Wav2LipGenerator().state_dict().items()},
                    "optimizer": None, "global_step": 0, "global_epoch": 0}, ckpt)
        torch.save({"state_dict": SyncNetColor().state_dict()}, tmp / "lipsync_expert.pth")
        os.environ["HEYGEM_CHECKPOINTS"] = str(tmp)
        video, audio = make_1080p(tmp, seconds)
        opts = heygem_kernel.RunOptions(backend="wav2lip", checkpoint=str(ckpt), device=device,
                                        batch_size=batch_size)
        # the pipeline gets this same (cached) instance, so its forward-pass time is visible here
        backend = backends.create("wav2lip", checkpoint=opts.checkpoint, device=opts.device,
                                  batch_size=opts.batch_size)
        backend.gpu_seconds = 0.0
        t0 = time.perf_counter()
        result = heygem_kernel.run(audio, video, options=opts, runs_root=tmp / "runs")
        wall = time.perf_counter() - t0
        print(f"pipeline   1920x1080, {result.n_frames} frames ({result.duration:.1f} s) on {backend.device}: "
              f"{wall:.1f} s wall = {result.n_frames / wall:.1f} fps = {result.duration / wall:.2f}x real time")
        print(f"           generator (incl. transfers) {backend.gpu_seconds:.1f} s = "
              f"{100 * backend.gpu_seconds / wall:.0f}% of the wall time"
              + (" (GPU share)" if backend.device.type == "cuda" else ""))
        print("           stage timings:", json.dumps(result.timings))
        print("           syncnet:", {k: v for k, v in result.extra.items() if k.startswith("syncnet")})


def main(argv: list[str] | None = None) -> int:
    ap = Parser(__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seconds", type=positive(float), default=None, help="end-to-end clip length (default 10 on CUDA, 2 on CPU)")
    ap.add_argument("--batch-size", type=positive(int), default=None, help="pipeline batch (default 64 on CUDA, 16 on CPU)")
    ap.add_argument("--skip-e2e", action="store_true")
    args = ap.parse_args(argv)
    import torch
    cuda = args.device.startswith("cuda") or (args.device == "auto" and torch.cuda.is_available())
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{torch.cuda.get_device_name(0) if cuda else 'CPU only'}")
    bench_generator(args.device, min_seconds=3.0 if cuda else 2.0)
    if not args.skip_e2e:
        try:
            import heygem_kernel.pipeline  # noqa: F401
        except ImportError as exc:
            print(f"pipeline   skipped: {exc}")
            return 0
        bench_pipeline(args.device, args.seconds or (10.0 if cuda else 2.0),
                       args.batch_size or (64 if cuda else 16))
    return 0


if __name__ == "__main__":
    run_main(main)
