"""Face restoration after lip sync, blended back only through the engine's mouth mask.

A learned mouth (Wav2Lip's 96x96, MuseTalk's 256x256) upscaled into a large frame is softer
than the face around it. This stage runs a face-restoration model the user owns (GFPGAN 1.4,
GPEN-BFR-512, RestoreFormer++, CodeFormer) on the composited frame:

    68 landmarks -> five points (eye centres, nose tip, mouth corners)
      -> similarity transform onto the FFHQ five-point template -> aligned S x S crop
      -> model (RGB, -1..1, NCHW) -> warp back into the mouth mask's box
      -> blend through :func:`heygem_kernel.compositing.composite` (same ellipse, same feather)

so every pixel outside the feathered mouth mask (eyes, identity, background) stays the
input's, bit for bit. ONNX exports run with onnxruntime (CUDA provider when onnxruntime-gpu
and a GPU are present, else CPU); input/output names, sizes and the optional fidelity input
are read from the model. PyTorch ``.pth`` files load through spandrel when it is installed.

Registry: ``available()``, ``spec(name)``, ``create(name, model=..., device=...)``.
Errors: :class:`~heygem_kernel.errors.CheckpointError` (missing, truncated or wrong file),
:class:`~heygem_kernel.errors.InputError` (unknown name, strength out of range).
"""
from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import compositing
from .backends.base import MouthPatch
from .errors import CheckpointError, InputError
from .options import RunOptions

LOG = logging.getLogger("heygem.enhance")

# FFHQ five-point template of a 512x512 aligned face (x, y as fractions of the crop side):
# left eye centre, right eye centre, nose tip, left and right mouth corner, in image
# left-to-right order. The alignment GFPGAN/CodeFormer/GPEN were trained on (facexlib's
# 512 template divided by 512); other crop sizes scale it.
FFHQ_TEMPLATE = np.array([[0.37691676, 0.46864664],
                          [0.62285697, 0.46912813],
                          [0.50123859, 0.61331904],
                          [0.39308822, 0.72541100],
                          [0.61150205, 0.72490465]], np.float64)
DEFAULT_CROP = 512                # crop side when the model leaves it dynamic
NOSE_TIP = 30                     # iBUG-68 index (eyes and mouth corners: see compositing)
CODEFORMER_FIDELITY = 0.5         # CodeFormer's own default w (0: quality, 1: fidelity)
DEFAULT_STRENGTH = RunOptions.enhance_strength  # restorers over-smooth skin: keep some input texture
ONNX_SUFFIX = ".onnx"
TORCH_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")


@dataclass(frozen=True)
class EnhancerSpec:
    """One kind of face-restoration model.

    ``files``: default file names looked up in the checkpoints folder, first found wins.
    ``licence``: of the released weights, as their authors state it; ``commercial``: whether
    that licence allows commercial use (None: not stated).
    """

    name: str
    title: str
    files: tuple[str, ...]
    licence: str
    commercial: bool | None
    fidelity: float | None = None   # value for the model's scalar fidelity input, if it has one


_REGISTRY: dict[str, EnhancerSpec] = {}


def register(spec: EnhancerSpec) -> None:
    """Register (or replace) an enhancer kind."""
    _REGISTRY[spec.name] = spec


for _spec in (
    EnhancerSpec("gfpgan", "GFPGAN 1.4", ("gfpgan_1.4.onnx", "GFPGANv1.4.pth"),
                 "Apache-2.0 (TencentARC/GFPGAN)", True),
    EnhancerSpec("gpen", "GPEN-BFR-512", ("gpen_bfr_512.onnx", "GPEN-BFR-512.pth"),
                 "academic and non-commercial use only (yangxy/GPEN: (c) Alibaba 2021)", False),
    EnhancerSpec("restoreformer", "RestoreFormer++", ("restoreformer_plus_plus.onnx", "RestoreFormer++.ckpt"),
                 "no licence stated by the authors (wzhouxiff/RestoreFormerPlusPlus): ask before commercial use",
                 None),
    EnhancerSpec("codeformer", "CodeFormer", ("codeformer.onnx", "codeformer.pth"),
                 "S-Lab License 1.0: non-commercial use only (sczhou/CodeFormer)", False,
                 fidelity=CODEFORMER_FIDELITY),
):
    register(_spec)


def available() -> list[str]:
    return sorted(_REGISTRY)


def spec(name: str) -> EnhancerSpec:
    if name not in _REGISTRY:
        raise InputError("unknown enhancer '{name}'; choose one of: {choices}", name=name,
                         choices=", ".join(available()))
    return _REGISTRY[name]


def default_model_path(name: str, directory: str | Path | None = None) -> Path:
    """The first of ``spec(name).files`` present in the checkpoints folder (else the first name)."""
    from .checkpoints import checkpoints_dir
    folder = Path(directory) if directory is not None else checkpoints_dir()
    files = spec(name).files
    return next((folder / f for f in files if (folder / f).is_file()), folder / files[0])


def identify(path: str | Path) -> EnhancerSpec | None:
    """The enhancer kind whose default file name is ``path``'s name (case-insensitive), else None."""
    low = Path(path).name.lower()
    return next((s for s in _REGISTRY.values() if low in (f.lower() for f in s.files)), None)


def check_strength(strength: float) -> float:
    value = float(strength)
    if not 0.0 <= value <= 1.0:
        raise InputError("enhance strength must be between 0 and 1, got {value}", value=strength)
    return value


# --------------------------------------------------------------------------------- alignment
def five_points(landmarks: np.ndarray) -> np.ndarray:
    """Five points [shape=(5, 2)] (eye centres, nose tip, mouth corners) from 68 landmarks."""
    pts = np.asarray(landmarks, np.float64)
    return np.stack([pts[compositing.LEFT_EYE].mean(0), pts[compositing.RIGHT_EYE].mean(0), pts[NOSE_TIP],
                     pts[compositing.MOUTH_LEFT], pts[compositing.MOUTH_RIGHT]])


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) [shape=(2, 3)] mapping src -> dst.

    Written with complex numbers: dst ~ z * src + t, z = sum(conj(s) d) / sum(|s|^2) on the
    centred points (the closed form of Umeyama's method without reflection).
    """
    s = np.asarray(src, np.float64)
    d = np.asarray(dst, np.float64)
    ms, md = s.mean(0), d.mean(0)
    sc = (s[:, 0] - ms[0]) + 1j * (s[:, 1] - ms[1])
    dc = (d[:, 0] - md[0]) + 1j * (d[:, 1] - md[1])
    z = np.vdot(sc, dc) / max(np.vdot(sc, sc).real, 1e-12)
    rot = np.array([[z.real, -z.imag], [z.imag, z.real]])
    return np.hstack([rot, (md - rot @ ms)[:, None]])


def align_matrix(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Affine [shape=(2, 3)] from frame pixels to the ``size`` x ``size`` FFHQ-aligned crop."""
    return similarity_transform(five_points(landmarks), FFHQ_TEMPLATE * size)


# --------------------------------------------------------------------------------- runtimes
class _OnnxRunner:
    """One onnxruntime session; the signature is read from the model and checked once."""

    def __init__(self, path: Path, *, device: str, kind: EnhancerSpec) -> None:
        import onnxruntime as ort
        self.path = path
        self.providers = _providers(ort, device)
        try:
            self.session = ort.InferenceSession(str(path), providers=self.providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/... types
            raise CheckpointError("{path} is not a readable ONNX model ({size} bytes: {reason}); expected an "
                                  "ONNX export of {title} ({file}): a cut download? Fetch it again",
                                  path=path, size=f"{path.stat().st_size:,}", reason=_first_line(exc), title=kind.title,
                                  file=kind.files[0]) from None
        self.providers = self.session.get_providers()
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        image = [i for i in inputs if len(i.shape) == 4]
        scalars = [i for i in inputs if len(i.shape) != 4]
        if len(image) != 1 or len(scalars) > 1 or not outputs or len(outputs[0].shape) != 4:
            raise CheckpointError("{path} does not look like a face-restoration model: inputs {inputs}, outputs "
                                  "{outputs}; expected input [N,3,S,S] RGB in -1..1 (S = 512 for {file})",
                                  path=path, inputs=_sig(inputs), outputs=_sig(outputs), file=kind.files[0])
        self.image_input, self.output = image[0], outputs[0]
        shape = self.image_input.shape
        self.size = _dim(shape[2]) or _dim(shape[3]) or DEFAULT_CROP
        if _dim(shape[1]) not in (None, 3) or (_dim(shape[2]) and _dim(shape[3]) and shape[2] != shape[3]):
            raise CheckpointError("{path} takes {inputs}; expected input [N,3,S,S] RGB in -1..1 (S = 512 for {file})",
                                  path=path, inputs=_sig([self.image_input]), file=kind.files[0])
        out_shape = self.output.shape
        if _dim(out_shape[1]) not in (None, 3):
            raise CheckpointError("{path} returns {outputs}; expected output [N,3,S,S] RGB in -1..1", path=path,
                                  outputs=_sig([self.output]))
        self.batch = _dim(shape[0]) or 0       # 0: any batch size
        self.dtype = np.float16 if "float16" in self.image_input.type else np.float32
        self.scalar = scalars[0] if scalars else None
        if self.scalar is not None:
            if kind.fidelity is None:
                raise CheckpointError("{path} has an extra input {inputs}; {title} takes only the image "
                                      "[N,3,S,S]", path=path, inputs=_sig([self.scalar]), title=kind.title)
            self.scalar_value = np.full([_dim(d) or 1 for d in self.scalar.shape], kind.fidelity,
                                        _ONNX_DTYPES.get(self.scalar.type, np.float32))

    def describe(self) -> dict[str, Any]:
        return {"runtime": "onnxruntime", "providers": list(self.providers), "crop": self.size,
                "input": self.image_input.name, "output": self.output.name,
                "fidelity_input": None if self.scalar is None else self.scalar.name}

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """crops [shape=(B, 3, S, S)] float32 RGB in -1..1 -> the same layout, restored."""
        step = self.batch or len(crops)
        outs = []
        for k in range(0, len(crops), step):
            feed = {self.image_input.name: crops[k:k + step].astype(self.dtype, copy=False)}
            if self.scalar is not None:
                feed[self.scalar.name] = self.scalar_value
            outs.append(np.asarray(self.session.run([self.output.name], feed)[0], dtype=np.float32))
        out = outs[0] if len(outs) == 1 else np.concatenate(outs)
        if out.shape[0] != len(crops) or out.ndim != 4 or out.shape[1] != 3:
            raise CheckpointError("{path} returned {got} for {given}; expected output [N,3,S,S] RGB in -1..1",
                                  path=self.path, got=list(out.shape), given=list(crops.shape))
        return out


class _TorchRunner:
    """A PyTorch checkpoint through spandrel (optional: needs torchvision, i.e. a CUDA install)."""

    def __init__(self, path: Path, *, device: str, kind: EnhancerSpec) -> None:
        try:
            import spandrel
            import torch
        except Exception:  # ImportError, or torchvision failing against this torch build
            raise CheckpointError("{path} is a PyTorch checkpoint: install spandrel to use it (pip install "
                                  "'heygem-workbench[enhance-torch]'; it needs torchvision, i.e. a CUDA torch "
                                  "install) or use the ONNX export {file} instead", path=path,
                                  file=kind.files[0]) from None
        self.path, self.torch = path, torch
        self.device = _torch_device(torch, device)
        try:
            descriptor = spandrel.ModelLoader(device=self.device).load_from_file(str(path))
        except Exception as exc:
            raise CheckpointError("{path} could not be loaded as {title} ({reason}); expected the released {file}",
                                  path=path, title=kind.title, reason=_first_line(exc), file=kind.files[-1]) from None
        self.net = descriptor.model.eval()
        self.size = int(getattr(descriptor, "size_requirements", None) and
                        getattr(descriptor.size_requirements, "minimum", 0) or DEFAULT_CROP) or DEFAULT_CROP
        self.size = max(self.size, DEFAULT_CROP)
        self.arch = getattr(descriptor.architecture, "name", type(self.net).__name__)
        # CodeFormer's fidelity argument is `w` in its own code and `weight` in some ports
        params = inspect.signature(self.net.forward).parameters
        self.fidelity_arg = next((a for a in ("w", "weight", "fidelity") if a in params), None)
        self.fidelity = kind.fidelity if self.fidelity_arg else None
        self.half = self.device.type == "cuda" and bool(getattr(descriptor, "supports_half", False))
        if self.half:
            self.net = self.net.half()

    def describe(self) -> dict[str, Any]:
        return {"runtime": "spandrel", "architecture": self.arch, "device": str(self.device), "crop": self.size}

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            x = torch.from_numpy(crops).to(self.device)
            x = x.half() if self.half else x
            out = self.net(x, **{self.fidelity_arg: self.fidelity}) if self.fidelity is not None else self.net(x)
            out = out[0] if isinstance(out, (tuple, list)) else out
            return out.float().cpu().numpy()


_ONNX_DTYPES = {"tensor(double)": np.float64, "tensor(float)": np.float32, "tensor(float16)": np.float16,
                "tensor(int64)": np.int64, "tensor(int32)": np.int32}


def _dim(d) -> int | None:
    return int(d) if isinstance(d, (int, np.integer)) and d > 0 else None


def _sig(args) -> str:
    return ", ".join(f"{a.name} {list(a.shape)} {a.type.removeprefix('tensor(').rstrip(')')}" for a in args)


def _first_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:200] + ("..." if len(text) > 200 else "")


def _providers(ort, device: str) -> list:
    """CUDA first when asked for (or "auto") and onnxruntime-gpu offers it; CPU always last."""
    have = set(ort.get_available_providers())
    if device != "cpu" and "CUDAExecutionProvider" in have:
        index = int(device.split(":", 1)[1]) if device.startswith("cuda:") else 0
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    if device.startswith("cuda"):
        LOG.warning("enhance: device %s asked for but onnxruntime has no CUDA provider "
                    "(install onnxruntime-gpu); restoring on the CPU", device)
    return ["CPUExecutionProvider"]


def _torch_device(torch, device: str):
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


# --------------------------------------------------------------------------------- the enhancer
class FaceEnhancer:
    """A loaded face-restoration model plus the align / restore / warp-back / blend steps.

    Build with :func:`create` (loads once per process). Nothing changes after loading, so
    threads may share one (onnxruntime sessions run concurrently).
    """

    def __init__(self, name: str, *, model: str | Path | None = None, device: str = "auto",
                 strength: float = DEFAULT_STRENGTH, hash: bool = True) -> None:
        self.spec = spec(name)
        self.strength = check_strength(strength)
        self.path = Path(model).expanduser() if model else default_model_path(name)
        self.sha256 = _check_file(self.path, self.spec, hash=hash)
        suffix = self.path.suffix.lower()
        runner = _OnnxRunner if suffix == ONNX_SUFFIX else _TorchRunner
        self.runner = runner(self.path, device=device, kind=self.spec)
        self.size = int(self.runner.size)
        if self.spec.commercial is not True:
            LOG.warning("enhance: %s weights: %s", self.spec.title, self.spec.licence)
        LOG.info("enhance: %s from %s (%s), strength %.2f", self.spec.title, self.path,
                 ", ".join(f"{k}={v}" for k, v in self.runner.describe().items() if k in ("runtime", "providers")),
                 self.strength)

    def describe(self) -> dict[str, Any]:
        """What params.json records: model file, its sha256, strength, runtime, licence."""
        return {"name": self.spec.name, "model": str(self.path.resolve()), "sha256": self.sha256,
                "strength": self.strength, "licence": self.spec.licence, **self.runner.describe()}

    # ------------------------------------------------------------------ steps
    def align(self, frame: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(aligned crop [shape=(S, S, 3)] uint8 BGR, frame->crop affine [shape=(2, 3)])."""
        import cv2
        m = align_matrix(landmarks, self.size)
        crop = cv2.warpAffine(frame, m, (self.size, self.size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        return crop, m

    def restore_crops(self, crops: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Aligned BGR uint8 crops -> restored BGR uint8 crops (one model call per batch)."""
        out = self._model(crops)
        return [_to_bgr(y, (0, 0, y.shape[2], y.shape[1])) for y in out]

    def _model(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """BGR uint8 crops -> model output [shape=(B, 3, S', S')] float32 RGB, nominally -1..1."""
        import cv2
        # one C++ pass: BGR -> RGB, (x - 127.5) / 127.5, HWC -> NCHW
        x = cv2.dnn.blobFromImages(list(crops), scalefactor=1 / 127.5, mean=(127.5, 127.5, 127.5), swapRB=True)
        return self.runner(x)

    def enhance(self, frames: list[np.ndarray], landmarks: Sequence[np.ndarray | None], *,
                mask_scale: float = 1.0, feather: float = 0.35, color_match: bool = True) -> int:
        """Restore the mouth of every frame whose ``landmarks`` [shape=(68, 2)] are given, in place.

        ``frames``: uint8 BGR [shape=(H, W, 3)]; frames with ``None`` landmarks (no face, or
        no new mouth) are left alone. Returns how many frames were restored. Only pixels inside
        the feathered mouth mask (``mask_scale``, ``feather``: as the compositor uses them) change.
        """
        jobs = [(k, lm) for k, lm in enumerate(landmarks) if lm is not None and self.strength > 0]
        if not jobs:
            return 0
        aligned = [self.align(frames[k], lm) for k, lm in jobs]
        restored = self._model([crop for crop, _ in aligned])
        for (k, lm), (_, m), face in zip(jobs, aligned, restored):
            patch = self._warp_back(frames[k], lm, m, face, mask_scale=mask_scale)
            if patch is not None:
                compositing.composite(frames[k], lm, patch, mask_scale=mask_scale, feather=feather,
                                      color_match=color_match, inplace=True)
        return len(jobs)

    def _warp_back(self, frame: np.ndarray, landmarks: np.ndarray, m: np.ndarray, face: np.ndarray, *,
                   mask_scale: float) -> MouthPatch | None:
        """The restored face [shape=(3, S', S')] warped back into the mouth mask's box, mixed in
        by ``strength``. Only the part of the crop that lands in the box is converted."""
        import cv2
        height, width = frame.shape[:2]
        x0, y0, x1, y1 = compositing.mask_geometry(landmarks, scale=mask_scale).bbox(height, width)
        if x1 <= x0 or y1 <= y0:
            return None
        side = face.shape[1]
        corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64)
        inside = (corners @ m[:, :2].T + m[:, 2]) * (side / self.size)    # the box in output-crop pixels
        u0, v0 = np.clip(np.floor(inside.min(0)).astype(int) - 2, 0, side)
        u1, v1 = np.clip(np.ceil(inside.max(0)).astype(int) + 3, 0, side)
        if u1 <= u0 or v1 <= v0:
            return None
        back = cv2.invertAffineTransform(m)                      # input crop -> frame
        back[:, :2] *= self.size / side                          # an output larger than the input crop
        back[:, 2] += back[:, :2] @ (u0, v0) - (x0, y0)          # sub-crop -> the box's own coordinates
        region = frame[y0:y1, x0:x1]
        warped = region.copy()                                   # pixels the crop does not cover stay
        cv2.warpAffine(_to_bgr(face, (u0, v0, u1, v1)), back, (x1 - x0, y1 - y0), dst=warped,
                       flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)
        if self.strength < 1.0:
            warped = cv2.addWeighted(warped, self.strength, region, 1.0 - self.strength, 0.0)
        return MouthPatch(image=warped, x0=x0, y0=y0)


def _to_bgr(face: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Model output [shape=(3, S, S)] RGB -1..1 -> uint8 BGR [shape=(v1-v0, u1-u0, 3)] of ``box``."""
    u0, v0, u1, v1 = box
    sub = face[::-1, v0:v1, u0:u1].transpose(1, 2, 0)            # RGB -> BGR, CHW -> HWC
    return np.clip(sub * 127.5 + 128.0, 0, 255).astype(np.uint8)  # +0.5 rounds; clips -1..1


def _check_file(path: Path, kind: EnhancerSpec, *, hash: bool) -> str | None:
    """sha256 of ``path`` after the cheap checks (exists, a file, not empty/tiny, known suffix)."""
    from .checkpoints import sha256
    facts = dict(path=path, title=kind.title, files=" or ".join(kind.files))
    if not path.exists():
        raise CheckpointError("enhancer model not found: {path}; expected {title} ({files}) in the checkpoints "
                              "folder, or give --enhance-model PATH", **facts)
    if not path.is_file():
        raise CheckpointError("{path} is a folder; expected the {title} model file ({files})", **facts)
    suffix = path.suffix.lower()
    if suffix != ONNX_SUFFIX and suffix not in TORCH_SUFFIXES:
        raise CheckpointError("{path} is neither .onnx nor a PyTorch file; expected the {title} model file ({files})",
                              **facts)
    if path.stat().st_size == 0:
        raise CheckpointError("{path} is empty (0 bytes): a failed download? Expected the {title} model file "
                              "({files})", **facts)
    return sha256(path) if hash else None


_CACHE: dict[tuple, FaceEnhancer] = {}


def create(name: str, *, model: str | Path | None = None, device: str = "auto",
           strength: float = DEFAULT_STRENGTH) -> FaceEnhancer:
    """A :class:`FaceEnhancer` for ``name``; the model loads once per (file, size, mtime, device)."""
    kind = spec(name)
    check_strength(strength)
    path = Path(model).expanduser() if model else default_model_path(kind.name)
    try:
        st = path.stat()
        key = (kind.name, str(path.resolve()), st.st_size, st.st_mtime_ns, device)
    except OSError:
        key = None
    cached = _CACHE.get(key) if key else None
    if cached is None:
        cached = FaceEnhancer(kind.name, model=path, device=device, strength=strength)
        if key:
            _CACHE[key] = cached
    if cached.strength != strength:  # same model, new strength: share the session
        clone = object.__new__(FaceEnhancer)
        clone.__dict__.update(cached.__dict__, strength=float(strength))
        return clone
    return cached


def from_options(options) -> FaceEnhancer | None:
    """The enhancer :class:`~heygem_kernel.options.RunOptions` ask for, or None."""
    name, model = getattr(options, "enhance", None), getattr(options, "enhance_model", None)
    if not name and model:  # --enhance-model alone: the kind from the file's usual name
        kind = identify(model)
        if kind is None:
            raise InputError("--enhance-model {path}: say which model it is with --enhance {choices}", path=model,
                             choices="{" + ",".join(available()) + "}")
        name = kind.name
    if not name:
        return None
    return create(name, model=model, device=options.device, strength=options.enhance_strength)


def scan(directory: str | Path | None = None) -> list[dict[str, Any]]:
    """Enhancer model files in the checkpoints folder, for ``heygem doctor`` (no loading)."""
    from .checkpoints import checkpoints_dir
    folder = Path(directory) if directory is not None else checkpoints_dir()
    if not folder.is_dir():
        return []
    found = []
    for p in sorted(folder.iterdir()):
        kind = identify(p)
        if kind is None and p.suffix.lower() != ONNX_SUFFIX:
            continue
        if not p.is_file():
            continue
        found.append({"file": p.name, "size": p.stat().st_size, "enhancer": kind.name if kind else None,
                      "licence": kind.licence if kind else "unknown model",
                      "commercial": kind.commercial if kind else None})
    return found


__all__ = ["DEFAULT_STRENGTH", "EnhancerSpec", "FaceEnhancer", "FFHQ_TEMPLATE", "align_matrix", "available",
           "create", "default_model_path", "five_points", "from_options", "identify", "register", "scan",
           "similarity_transform", "spec"]
