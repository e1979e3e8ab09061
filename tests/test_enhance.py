"""Face restoration after lip sync (heygem_kernel.enhance), with small ONNX models of the real
exports' signature ([1,3,512,512] RGB in -1..1; CodeFormer's extra scalar ``weight``) built
here with onnx.helper: the restoration lands on the mouth only, eyes and the top of the frame
keep the input's pixels, and broken model files give one line and exit 2."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from heygem_kernel import enhance, media
from heygem_kernel.compositing import mask_geometry
from heygem_kernel.errors import CheckpointError, InputError

SIZE = 512


# ------------------------------------------------------------------------------ test models
def build_model(path: Path, *, op: str = "invert", size: int = SIZE, batch: int | str = 1, weight: bool = False,
                channels: int = 3, padding: int = 0) -> Path:
    """A tiny enhancer: ``invert`` (y = -x), ``brighten`` (y = x + 0.5) or ``scale`` (y = x * weight).

    ``padding`` adds an unused initializer of that many floats, so a cut file ends inside it.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    dims = [batch, channels, size, size]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)]
    inits = []
    if op == "invert":
        nodes = [helper.make_node("Neg", ["input"], ["output"])]
    elif op == "brighten":
        inits.append(numpy_helper.from_array(np.array(0.5, np.float32), "half"))
        nodes = [helper.make_node("Add", ["input", "half"], ["output"])]
    else:  # scale by the fidelity input
        nodes = [helper.make_node("Cast", ["weight"], ["w32"], to=TensorProto.FLOAT),
                 helper.make_node("Mul", ["input", "w32"], ["output"])]
    if weight:
        inputs.append(helper.make_tensor_value_info("weight", TensorProto.DOUBLE, [1]))
    if padding:
        inits.append(numpy_helper.from_array(np.linspace(0, 1, padding, dtype=np.float32), "unused"))
    graph = helper.make_graph(nodes, "enhancer", inputs,
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, dims)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"invert": build_model(root / "gfpgan_1.4.onnx"),
            "brighten": build_model(root / "brighten.onnx", op="brighten"),
            "codeformer": build_model(root / "codeformer.onnx", op="scale", weight=True),
            "dynamic": build_model(root / "dynamic.onnx", batch="N"),
            "padded": build_model(root / "padded.onnx", padding=50_000)}


@pytest.fixture(scope="module")
def face(clip_590):
    """First frame of a real clip [shape=(590, 590, 3)] and its 68 landmarks."""
    from heygem_kernel.landmarks import FaceTracker
    frames = media.iter_frames(media.probe_video(clip_590))
    try:
        frame = next(frames)
    finally:
        frames.close()
    with FaceTracker("mediapipe") as tracker:
        lm = tracker.update(frame)
    assert lm is not None
    return frame, lm


def regions(frame: np.ndarray, lm: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks: the mouth mask's core (alpha ~ 1), everything outside its box, the eyes."""
    h, w = frame.shape[:2]
    geom = mask_geometry(lm)
    ys, xs = np.mgrid[0:h, 0:w]
    c, s = np.cos(geom.angle), np.sin(geom.angle)
    u = (c * (xs - geom.cx) + s * (ys - geom.cy)) / geom.half_w
    v = (-s * (xs - geom.cx) + c * (ys - geom.cy)) / geom.half_h
    x0, y0, x1, y1 = geom.bbox(h, w)
    outside = np.ones((h, w), bool)
    outside[y0:y1, x0:x1] = False
    eyes = np.zeros((h, w), bool)
    for pts in (lm[36:42], lm[42:48]):
        (ex0, ey0), (ex1, ey1) = pts.min(0).astype(int) - 6, pts.max(0).astype(int) + 6
        eyes[ey0:ey1, ex0:ex1] = True
    return {"core": np.hypot(u, v) < 0.5, "outside": outside, "eyes": eyes}


# ------------------------------------------------------------------------------ alignment
def test_alignment_puts_the_face_on_the_ffhq_template(face, models):
    """Landmarks found again on the aligned crop sit on the five-point template."""
    from heygem_kernel.landmarks import FaceTracker
    frame, lm = face
    enhancer = enhance.create("gfpgan", model=models["invert"], device="cpu")
    crop, m = enhancer.align(frame, lm)
    assert crop.shape == (SIZE, SIZE, 3)
    with FaceTracker("mediapipe") as tracker:
        again = tracker.update(crop)
    assert again is not None
    err = np.linalg.norm(enhance.five_points(again) - enhance.FFHQ_TEMPLATE * SIZE, axis=1)
    # a least-squares fit of five points: an open, speaking mouth and the detector's nose tip
    # leave a residual of a few per cent; a wrong point order or a mirrored fit is off by ~30%
    assert err.mean() < 0.025 * SIZE and err.max() < 0.05 * SIZE, err
    assert np.linalg.det(m[:, :2]) > 0   # a rotation and scale, never a reflection


# ------------------------------------------------------------------------------ blending
def test_restoration_lands_on_the_mouth_and_nowhere_else(face, models):
    frame, lm = face
    r = regions(frame, lm)
    out = frame.copy()
    n = enhance.create("gfpgan", model=models["invert"], device="cpu", strength=1.0).enhance(
        [out], [lm], color_match=False)
    assert n == 1
    diff = np.abs(out.astype(int) - frame.astype(int)).sum(2)
    inverted = np.abs(255 - frame.astype(int) - frame.astype(int)).sum(2)
    # inside the mask's core the pixels are the inverted face's (to resampling precision)
    assert np.median(diff[r["core"]] / np.maximum(inverted[r["core"]], 1)) > 0.9
    # eyes, forehead, background: the input's pixels, bit for bit
    assert not diff[r["outside"]].any()
    assert not diff[r["eyes"]].any()


def test_strength_scales_the_change_and_zero_is_a_no_op(face, models):
    frame, lm = face
    r = regions(frame, lm)

    def change(strength: float) -> float:
        out = frame.copy()
        enhance.create("gfpgan", model=models["brighten"], device="cpu", strength=strength).enhance(
            [out], [lm], color_match=False)
        return float((out.astype(int) - frame.astype(int))[r["core"]].mean())

    full, half, none = change(1.0), change(0.5), change(0.0)
    assert full > 40                       # +0.5 in -1..1 is about +64 levels, less where it clips at 255
    assert abs(half - full / 2) < 3
    assert none == 0


def test_frames_without_a_face_are_skipped(face, models):
    frame, lm = face
    frames = [frame.copy(), frame.copy()]
    n = enhance.create("gfpgan", model=models["invert"], device="cpu").enhance(frames, [None, lm])
    assert n == 1
    assert np.array_equal(frames[0], frame) and not np.array_equal(frames[1], frame)


def test_codeformer_gets_its_fidelity_weight(face, models):
    """codeformer.onnx takes a scalar double ``weight``: read from the model and fed (here y = x * w)."""
    frame, lm = face
    e = enhance.create("codeformer", model=models["codeformer"], device="cpu", strength=1.0)
    assert e.describe()["fidelity_input"] == "weight"
    crop, _ = e.align(frame, lm)
    restored = e.restore_crops([crop])[0].astype(float)
    expected = (crop.astype(float) / 127.5 - 1) * enhance.CODEFORMER_FIDELITY
    assert np.abs(restored - (expected + 1) * 127.5).max() <= 1.0


def test_a_dynamic_batch_model_runs_the_whole_batch_in_one_call(face, models):
    frame, lm = face
    single = enhance.create("gfpgan", model=models["invert"], device="cpu")
    batched = enhance.create("gfpgan", model=models["dynamic"], device="cpu")
    assert (single.runner.batch, batched.runner.batch) == (1, 0)
    a, b = [frame.copy() for _ in range(3)], [frame.copy() for _ in range(3)]
    single.enhance(a, [lm] * 3)
    batched.enhance(b, [lm] * 3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


# ------------------------------------------------------------------------------ bad files
def test_bad_model_files_raise_one_line_naming_the_file(tmp_path, models):
    cut = tmp_path / "gfpgan_1.4.onnx"
    data = models["padded"].read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    wrong = build_model(tmp_path / "gray.onnx", channels=1, size=64)
    empty = tmp_path / "gpen_bfr_512.onnx"
    empty.write_bytes(b"")
    cases = [(tmp_path / "nope.onnx", "not found"), (cut, "not a readable ONNX model"),
             (wrong, "expected input [N,3,S,S]"), (empty, "empty"), (tmp_path, "folder")]
    for path, words in cases:
        with pytest.raises(CheckpointError) as err:
            enhance.create("gfpgan", model=path, device="cpu")
        msg = str(err.value)
        assert str(path) in msg and words in msg and "\n" not in msg, msg
    with pytest.raises(CheckpointError) as err:              # and in Chinese (HEYGEM_LANG=zh)
        enhance.create("gfpgan", model=cut, device="cpu")
    assert err.value.localized("zh").startswith(f"{cut} 不是可读取的 ONNX 模型")
    with pytest.raises(CheckpointError, match="extra input"):  # a fidelity input on a model that takes none
        enhance.create("gfpgan", model=models["codeformer"], device="cpu")


def test_a_pth_without_spandrel_says_what_to_install(tmp_path):
    pth = tmp_path / "GFPGANv1.4.pth"
    pth.write_bytes(b"PK\x03\x04" + b"\0" * 4096)
    try:
        import spandrel  # noqa: F401
    except Exception:
        with pytest.raises(CheckpointError, match=r"install spandrel .*gfpgan_1\.4\.onnx"):
            enhance.create("gfpgan", model=pth, device="cpu")
    else:  # with spandrel: a file that is not a checkpoint still gets one line naming it
        with pytest.raises(CheckpointError, match=str(pth).replace(".", r"\.")):
            enhance.create("gfpgan", model=pth, device="cpu")


def test_unknown_name_and_strength_out_of_range(models):
    with pytest.raises(InputError, match="unknown enhancer 'gfpgan2'; choose one of: codeformer, gfpgan"):
        enhance.create("gfpgan2", model=models["invert"])
    with pytest.raises(InputError, match="between 0 and 1"):
        enhance.create("gfpgan", model=models["invert"], strength=1.5)


def test_doctor_lists_enhancers_with_licences(tmp_path, models):
    from heygem_kernel.commands.doctor import _text, collect
    for name in ("codeformer.onnx", "gfpgan_1.4.onnx", "mystery.onnx"):
        (tmp_path / name).write_bytes(models["invert"].read_bytes())
    report = collect(str(tmp_path), hash=False)
    found = {e["file"]: e for e in report["enhancers"]}
    assert set(found) == {"codeformer.onnx", "gfpgan_1.4.onnx", "mystery.onnx"}
    assert found["codeformer.onnx"]["commercial"] is False and "non-commercial" in found["codeformer.onnx"]["licence"]
    assert found["gfpgan_1.4.onnx"]["enhancer"] == "gfpgan" and found["mystery.onnx"]["enhancer"] is None
    text = _text(report)
    assert "codeformer.onnx" in text and "NOT for commercial use" in text


# ------------------------------------------------------------------------------ the CLI
def heygem(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "heygem_kernel", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def test_cli_broken_model_exits_2_with_one_line(tmp_path, models, clip_590, speech_5s):
    cut = tmp_path / "codeformer.onnx"
    data = models["padded"].read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out.mp4"
    for extra, needle in (([ "--enhance-model", cut], "codeformer.onnx"), (["--enhance-strength", "2"], "strength")):
        proc = heygem("run", "--audio", speech_5s, "--video", clip_590, "--out", out, "--runs-root", tmp_path / "r",
                      "--quiet", "--enhance", "codeformer", *extra)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("heygem: error: ") and needle in last, proc.stderr
        assert not out.exists()


def frames_of(path: Path) -> np.ndarray:
    return np.stack(media.read_frames(path)).astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0 ** 2 / max(np.mean((a - b) ** 2), 1e-12)))


@pytest.mark.slow
def test_cli_end_to_end_restores_the_mouth_and_keeps_the_top_of_the_frame(tmp_path, models, clip_590, speech_5s):
    """Same clip, same speech, with and without --enhance (an inverting model, so any leak shows)."""
    root = tmp_path / "runs"
    speech = tmp_path / "speech_2s.wav"   # 50 frames: enough to see every frame restored, less time
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(speech_5s), "-t", "2", "-ac", "1", str(speech)],
                   check=True)
    common = ["--audio", speech, "--video", clip_590, "--runs-root", root, "--quiet", "--no-sync-check"]
    proc = heygem("run", *common, "--run-dir", root / "enh", "--enhance", "gfpgan", "--enhance-model", models["invert"],
                  "--enhance-strength", "1")
    assert proc.returncode == 0, proc.stderr
    proc = heygem("run", *common, "--run-dir", root / "plain")  # re-uses the face track cached by the first
    assert proc.returncode == 0, proc.stderr
    enhanced, plain = frames_of(root / "enh" / "output.mp4"), frames_of(root / "plain" / "output.mp4")
    source = frames_of(clip_590)[: len(plain)]
    assert enhanced.shape == plain.shape and len(plain) == 50
    assert json.loads((root / "enh" / "result.json").read_text())["extra"]["frames_enhanced"] == len(plain)
    top = slice(0, enhanced.shape[1] // 3)                        # forehead and background, above the eyes
    assert psnr(enhanced[:, top], plain[:, top]) >= 35
    assert psnr(enhanced[:, top], source[:, top]) >= 35
    # per frame, the lips (+-8 px) and the eyes (+-8 px) of that frame's own landmarks
    from heygem_kernel.landmarks import FaceTracker
    mouth, eyes = [], []
    with FaceTracker("mediapipe") as tracker:
        for k in range(0, len(source), 10):
            lm = tracker.update(source[k].astype(np.uint8))
            (mx0, my0), (mx1, my1) = lm[48:60].min(0).astype(int) - 8, lm[48:60].max(0).astype(int) + 8
            (ex0, ey0), (ex1, ey1) = lm[36:48].min(0).astype(int) - 8, lm[36:48].max(0).astype(int) + 8
            mouth.append(psnr(enhanced[k, my0:my1, mx0:mx1], plain[k, my0:my1, mx0:mx1]))
            eyes.append(psnr(enhanced[k, ey0:ey1, ex0:ex1], plain[k, ey0:ey1, ex0:ex1]))
    assert max(mouth) < 25, mouth   # the restored (inverted) mouth is not the composited one (~40 if it were)
    assert min(eyes) >= 35, eyes    # the eyes are: encoder noise only
    params = json.loads((root / "enh" / "params.json").read_text())
    assert params["enhance"]["sha256"] == hashlib.sha256(models["invert"].read_bytes()).hexdigest()
    assert params["enhance"]["strength"] == 1.0 and params["enhance"]["model"] == str(models["invert"].resolve())
    assert params["options"]["enhance"] == "gfpgan"
    assert json.loads((root / "plain" / "params.json").read_text())["enhance"] is None


def test_batch_checks_the_enhancer_before_the_notebook_starts(tmp_path, clip_524, speech_5s):
    proc = heygem("batch", "--audio", speech_5s, "--run-dir", tmp_path / "b", clip_524, "--enhance", "gpen",
                  "--enhance-model", tmp_path / "gpen_bfr_512.onnx")
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("heygem: error: enhancer model not found: ") and "gpen_bfr_512.onnx" in last
    assert not (tmp_path / "b" / "manifest.json").exists()


def test_batch_notebook_options_and_panel_carry_the_enhancer(tmp_path, models):
    from heygem_kernel import batch
    from fake_engine import FakeEngine
    from heygem_widgets.panel import Workbench
    from heygem_widgets.workspace import Workspace
    opts = batch.make_options({"enhance": "gfpgan", "enhance_model": str(models["invert"]), "enhance_strength": 0.5})
    assert (opts.enhance, opts.enhance_strength) == ("gfpgan", 0.5)
    assert enhance.from_options(opts).describe()["strength"] == 0.5
    panel = Workbench(engine=FakeEngine(encode=False), workspace=Workspace(root=tmp_path / "ws"))
    assert panel.options().enhance is None
    panel.enhance.value, panel.enhance_strength.value = "codeformer", 0.6
    assert (panel.options().enhance, panel.options().enhance_strength) == ("codeformer", 0.6)


def test_enhance_model_alone_names_its_kind_else_asks_for_it(models):
    from heygem_kernel import RunOptions
    assert enhance.from_options(RunOptions(enhance_model=str(models["invert"]))).spec.name == "gfpgan"
    with pytest.raises(InputError, match=r"--enhance-model .*brighten\.onnx: say which model it is with --enhance"):
        enhance.from_options(RunOptions(enhance_model=str(models["brighten"])))
    assert enhance.from_options(RunOptions()) is None


def test_one_frame_preview_shows_the_restored_mouth(tmp_path, face, models, clip_590, speech_5s):
    from heygem_kernel import RunOptions, pipeline
    _, lm = face
    kwargs = dict(frame_index=0, cache_dir=tmp_path / "cache")
    plain = pipeline.preview_frame(speech_5s, clip_590, options=RunOptions(), **kwargs)
    restored = pipeline.preview_frame(speech_5s, clip_590, options=RunOptions(
        enhance="gfpgan", enhance_model=str(models["invert"]), enhance_strength=1.0), **kwargs)
    diff = np.abs(plain.astype(int) - restored.astype(int)).sum(2)
    below_eyes = int(lm[36:48, 1].max()) + 10
    assert diff[below_eyes:].mean() > 1 and not diff[:below_eyes].any()


def test_batch_options_json_enhancer_is_checked_too(tmp_path, clip_524, speech_5s):
    proc = heygem("batch", "--audio", speech_5s, "--run-dir", tmp_path / "b", clip_524,
                  "--options", json.dumps({"enhance": "codeformer", "enhance_model": str(tmp_path / "cf.onnx")}))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("heygem: error: enhancer model not found: ")


def test_pth_path_glue_with_a_spandrel_stand_in(tmp_path, face, models, monkeypatch):
    """The .pth route's own code (device, -1..1 RGB in, tuple out, CodeFormer's w) against a
    stand-in for spandrel's ModelLoader: the real spandrel needs torchvision, absent here."""
    import types

    import torch

    class Net(torch.nn.Module):  # GFPGAN/CodeFormer-like: returns a tuple, CodeFormer takes w=
        def forward(self, x, w=None):
            return (-x if w is None else -x * w), None

    loaded = []

    class ModelLoader:
        def __init__(self, device):
            self.device = device

        def load_from_file(self, path):
            loaded.append((path, self.device))
            return types.SimpleNamespace(model=Net(), architecture=types.SimpleNamespace(name="GFPGAN"),
                                         size_requirements=types.SimpleNamespace(minimum=512), supports_half=True)

    monkeypatch.setitem(sys.modules, "spandrel", types.SimpleNamespace(ModelLoader=ModelLoader))
    pth = tmp_path / "GFPGANv1.4.pth"
    pth.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    frame, lm = face
    by_torch, by_onnx = frame.copy(), frame.copy()
    e = enhance.create("gfpgan", model=pth, device="cpu", strength=1.0)
    assert loaded == [(str(pth), torch.device("cpu"))] and e.describe()["runtime"] == "spandrel"
    e.enhance([by_torch], [lm])
    enhance.create("gfpgan", model=models["invert"], device="cpu", strength=1.0).enhance([by_onnx], [lm])
    assert np.abs(by_torch.astype(int) - by_onnx.astype(int)).max() <= 1   # same result as the ONNX route
    cf = tmp_path / "codeformer.pth"
    cf.write_bytes(pth.read_bytes())
    crop = enhance.create("codeformer", model=cf, device="cpu").align(frame, lm)[0]
    out = enhance.create("codeformer", model=cf, device="cpu").restore_crops([crop])[0].astype(float)
    assert np.abs(out - (-(crop / 127.5 - 1) * enhance.CODEFORMER_FIDELITY + 1) * 127.5).max() <= 1


def test_batch_item_key_follows_the_enhancer_file_content(tmp_path, models, clip_524, speech_5s):
    from heygem_kernel import batch
    model = tmp_path / "gfpgan_1.4.onnx"

    def key(content: Path, folder: str) -> str:
        model.write_bytes(content.read_bytes())
        plan = batch.prepare(speech_5s, [clip_524], run_dir=tmp_path / folder, scan=False,
                             cache_dir=tmp_path / "cache", options={"enhance": "gfpgan", "enhance_model": str(model)})
        plan.release()
        return plan.manifest["items"][0]["key"]

    first = key(models["invert"], "a")
    assert key(models["invert"], "b") == first          # same file, same key (a re-run skips it)
    assert key(models["brighten"], "c") != first        # same path, another model: the item runs again
