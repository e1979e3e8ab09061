"""Face-restoration stage benchmark (``--enhance``): what it costs and where it lands.

    python benchmarks/bench_enhance.py [--video V] [--speech A] [--frames N]

No real enhancer weights are shipped, so the model here is a stand-in of the real exports'
signature ([N,3,512,512] RGB in -1..1) built with onnx.helper: an unsharp mask (3x3 depthwise
blur, y = x + 1.5 (x - blur x)), i.e. a cheap "restorer" that adds detail. Prints, on a real clip:
  * the stage's own cost per frame (align + warp back + mask blend), apart from the model, and
    that cost / the frame's whole render time without the stage;
  * `heygem run` time with the stage / without (same process, face track cached, same settings);
  * sharpness (variance of the Laplacian) of the mouth region with / without, and PSNR of the
    top third of the frame between the two outputs (untouched: encoder noise only).
A real GFPGAN/CodeFormer adds its own inference time per frame on top (not measured here).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from _cli import Parser, existing_file, positive
from _cli import run as run_main

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
SHARPEN = 1.5


def sharpen_model(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    blur = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 16
    kernel = np.repeat(blur[None, None], 3, axis=0)                        # depthwise, one per channel
    dims = ["N", 3, 512, 512]
    nodes = [helper.make_node("Conv", ["input", "k"], ["blur"], group=3, pads=[1, 1, 1, 1]),
             helper.make_node("Sub", ["input", "blur"], ["detail"]),
             helper.make_node("Mul", ["detail", "amount"], ["more"]),
             helper.make_node("Add", ["input", "more"], ["output"])]
    graph = helper.make_graph(nodes, "sharpen", [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, dims)],
                              initializer=[numpy_helper.from_array(kernel, "k"),
                                           numpy_helper.from_array(np.array(SHARPEN, np.float32), "amount")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def best(fn, repeats: int = 3) -> float:
    """Fastest of ``repeats`` timings in seconds (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def frames_of(path: Path) -> np.ndarray:
    from heygem_kernel import media
    return np.stack(media.read_frames(path)).astype(np.float64)


def sharpness(frames: np.ndarray, box) -> float:
    import cv2
    x0, y0, x1, y1 = box
    return float(np.mean([cv2.Laplacian(cv2.cvtColor(f[y0:y1, x0:x1].astype(np.uint8), cv2.COLOR_BGR2GRAY),
                                        cv2.CV_64F).var() for f in frames]))


def main() -> None:
    ap = Parser(__doc__.splitlines()[0])
    ap.add_argument("--video", type=existing_file, default=MEDIA / "talking_590.mp4")
    ap.add_argument("--speech", type=existing_file, default=MEDIA / "speech_en_5s.wav")
    ap.add_argument("--frames", type=positive(int), default=32, help="frames for the per-frame stage timing")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto (CUDA needs onnxruntime-gpu)")
    args = ap.parse_args()

    from heygem_kernel import RunOptions, enhance, media, run
    from heygem_kernel.landmarks import FaceTracker
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = sharpen_model(tmp / "sharpen.onnx")
        enhancer = enhance.create("gfpgan", model=model, device=args.device, strength=1.0)

        # 1. the stage's own cost per frame, apart from the model
        it = media.iter_frames(media.probe_video(args.video))
        frames = [f for _, f in zip(range(args.frames), it)]
        it.close()
        with FaceTracker("mediapipe") as tracker:
            lms = [tracker.update(f) for f in frames]
        crops = [enhancer.align(f, lm)[0] for f, lm in zip(frames, lms)]
        enhancer.enhance([f.copy() for f in frames], lms)                  # warm-up (first-run allocations)
        stage = best(lambda: enhancer.enhance([f.copy() for f in frames], lms)) / len(frames)
        model_s = best(lambda: enhancer._model(crops)) / len(frames)        # the model call and its input blob

        # 2. whole runs, face track cached by a first run
        root = tmp / "runs"
        common = dict(runs_root=root, cache_dir=root / ".cache")
        opts = RunOptions(sync_check=False, device=args.device)
        run(args.speech, args.video, options=opts, run_dir=root / "warm", **common)
        t = time.perf_counter()
        plain = run(args.speech, args.video, options=opts, run_dir=root / "plain", **common)
        t_plain = time.perf_counter() - t
        t = time.perf_counter()
        enh = run(args.speech, args.video, run_dir=root / "enh", **common,
                  options=opts.replace(enhance="gfpgan", enhance_model=str(model), enhance_strength=1.0))
        t_enh = time.perf_counter() - t

        a, b = frames_of(enh.output), frames_of(plain.output)
        lm = lms[0]
        (x0, y0), (x1, y1) = lm[48:60].min(0).astype(int) - 6, lm[48:60].max(0).astype(int) + 6
        top = slice(0, a.shape[1] // 3)
        mse = np.mean((a[:, top] - b[:, top]) ** 2)
        print(f"clip {args.video.name}, {plain.n_frames} frames {plain.width}x{plain.height}; stand-in model: "
              f"unsharp mask x{SHARPEN}; onnxruntime providers {enhancer.describe()['providers']}")
        print(f"stage per frame (align + warp back + blend, without the model): {1000 * (stage - model_s):.1f} ms "
              f"= {(stage - model_s) / (t_plain / plain.n_frames):.2f}x of a frame's whole render "
              f"({1000 * t_plain / plain.n_frames:.1f} ms); the stand-in model call with its input blob: "
              f"{1000 * model_s:.1f} ms")
        print(f"run with --enhance / without: {t_enh:.1f} s / {t_plain:.1f} s = {t_enh / t_plain:.2f}x")
        print(f"mouth sharpness (Laplacian variance) with / without: "
              f"{sharpness(a, (x0, y0, x1, y1)):.0f} / {sharpness(b, (x0, y0, x1, y1)):.0f}; "
              f"top third PSNR between the two outputs: {10 * np.log10(255 ** 2 / max(mse, 1e-12)):.1f} dB")


if __name__ == "__main__":
    run_main(main)
