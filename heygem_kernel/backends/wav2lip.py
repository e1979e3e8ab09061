"""The ``wav2lip`` backend: official Wav2Lip checkpoints, batched on CUDA (CPU works, slowly).

Per frame: a square face box from the 68 landmarks (+ ``options.pads``) is cropped, resized
to 96x96, its lower half masked, and sent with the frame's 0.2 s mel window through the
generator; the 96x96 result is upscaled back to the box (Lanczos) and returned as a
:class:`MouthPatch` that the engine blends through its feathered mouth mask (no hard box).

Also here: checkpoint loaders that accept every layout seen in the wild (dict container with
``state_dict``, bare state_dict, ``module.`` prefixes, TorchScript) with one-line errors, and
LSE-D / LSE-C style sync scores from the expert SyncNet (spec section 8, adapted to
``SyncNet_color``). torch is imported lazily: ``import heygem_kernel.backends.wav2lip`` is cheap.
"""
from __future__ import annotations

import logging
import os
import threading
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .. import checkpoints
from ..errors import BackendError, CheckpointError, InputError
from ..i18n import N_, Text
from .base import Backend, FrameBatch, JobContext, MouthPatch

if TYPE_CHECKING:  # pragma: no cover
    import torch

log = logging.getLogger("heygem.wav2lip")

FACE_SIZE = 96             # released models are 96x96 only (spec 1.1)
HALF = FACE_SIZE // 2      # rows 48-95 are the masked / scored lower half
MEL_STEPS = 16             # mel columns per window (0.2 s)
SYNC_FRAMES = 5            # frames per expert SyncNet sample
VSHIFT = 15                # +-15 frame offsets searched, as the LSE evaluation (spec 8.1)
TOP_MARGIN = 0.1           # detector boxes reach ~10 % of the face above the brows
MIN_BOX = 16               # px; smaller faces are left untouched
ALLOW_PICKLE_ENV = "HEYGEM_ALLOW_PICKLE"   # "1": trust pickled whole-model files

GENERATOR_HINT = N_("the Wav2Lip generator, e.g. wav2lip.pth or wav2lip_gan.pth, ~416 MB; "
                    "put it in checkpoints/")
SYNCNET_HINT = N_("the Wav2Lip expert SyncNet lipsync_expert.pth, ~188 MB; put it in checkpoints/")
_OFFICIAL = {"generator": checkpoints.KNOWN_BY_NAME["wav2lip.pth"],
             "syncnet": checkpoints.KNOWN_BY_NAME["lipsync_expert.pth"]}
# key prefixes that identify a model family, for "you gave me the wrong file" messages
_FAMILIES = (("face_encoder_blocks.", "output_block.", N_("the Wav2Lip generator")),
             ("face_encoder.", "audio_encoder.13.", N_("the expert SyncNet (lipsync_expert.pth)")),
             ("face_encoder_blocks.", "binary_pred.", N_("the visual-quality discriminator")))

_MODELS: dict[tuple, Any] = {}     # (kind, path, mtime, size, device) -> module: load once
_MODELS_LOCK = threading.Lock()


# ============================================================================ devices
def resolve_device(device: str = "auto") -> "torch.device":
    """"auto" -> cuda if available else cpu; a CUDA request without CUDA is an InputError."""
    import torch
    name = (device or "auto").strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise InputError("unknown device {device!r} (expected auto, cpu, cuda or cuda:N)",
                         device=device) from exc
    if dev.type == "cuda":
        from ..options import check_device
        check_device(name)              # the same line for every backend
    return dev


def _autocast_dtype(dev: "torch.device", dtype: str) -> "torch.dtype | None":
    """Reduced precision for CUDA autocast; None = plain float32."""
    import torch
    if dtype == "auto":
        return torch.float16 if dev.type == "cuda" else None
    table = {"float32": None, "fp32": None, "float16": torch.float16, "fp16": torch.float16,
             "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if dtype not in table:
        raise InputError("unknown dtype {dtype!r} (expected auto, float32, float16 or bfloat16)", dtype=dtype)
    return table[dtype]


# ============================================================================ loading
def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


def _not_a_checkpoint(path: Path, kind: str, why: str) -> CheckpointError:
    ref = _OFFICIAL[kind]
    size = path.stat().st_size
    return CheckpointError("{path} is not a PyTorch checkpoint ({why}; {size:,} bytes; the "
                           "official {official_name} is {official_size:,} bytes: re-download it)",
                           path=path, why=why, size=size, official_name=ref.name, official_size=ref.size)


def _is_torchscript(path: Path) -> bool:
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in zf.namelist())


def read_state_dict(path: str | os.PathLike, *, kind: str = "generator",
                    allow_pickle: bool | None = None) -> dict[str, "torch.Tensor"]:
    """Tensors of a checkpoint file, keys with every ``module.`` removed (as the original).

    Accepts: the training container ``{"state_dict", "optimizer", "global_step", ...}``, a bare
    state_dict, a TorchScript archive and (only with ``allow_pickle`` or
    ``HEYGEM_ALLOW_PICKLE=1``: it runs code from the file) a pickled whole ``nn.Module``.
    Raises :class:`CheckpointError` (one line naming the file) for anything else.
    """
    import pickle

    import torch

    hint = Text(GENERATOR_HINT if kind == "generator" else SYNCNET_HINT)
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError("checkpoint not found: {path} (expected {hint})", path=path, hint=hint)
    if path.stat().st_size == 0:
        raise _not_a_checkpoint(path, kind, Text("empty file"))
    fmt = checkpoints.sniff_format(path)
    if fmt == "html":
        raise _not_a_checkpoint(path, kind, Text("an HTML page, probably a download or login page"))
    if fmt == "unknown":
        raise _not_a_checkpoint(path, kind, Text("unrecognised bytes"))
    if fmt == "zip":
        try:
            script = _is_torchscript(path)
        except (zipfile.BadZipFile, OSError):
            raise _not_a_checkpoint(path, kind, Text("truncated zip archive")) from None
        if script:
            try:
                return _clean_keys(torch.jit.load(str(path), map_location="cpu").state_dict())
            except Exception as exc:  # noqa: BLE001 - any failure here is a bad file
                raise CheckpointError("{path} is a TorchScript archive that does not load "
                                      "({reason})", path=path, reason=_one_line(exc)) from None
    if allow_pickle is None:
        allow_pickle = os.environ.get(ALLOW_PICKLE_ENV, "") == "1"
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as exc:
        if fmt == "legacy" and "truncated" in str(exc):
            raise _not_a_checkpoint(path, kind, Text("truncated")) from None
        raise CheckpointError(
            "{path} holds pickled Python objects (a whole model?) that safe loading refuses "
            "({reason}); if you trust the file set {ALLOW_PICKLE_ENV}=1, or re-save "
            "it as torch.save(model.state_dict(), 'wav2lip.pth')",
            path=path, reason=_one_line(exc)[:80], ALLOW_PICKLE_ENV=ALLOW_PICKLE_ENV) from None
    except (EOFError, RuntimeError, ValueError, OSError) as exc:
        raise _not_a_checkpoint(path, kind, Text("truncated or corrupt: {reason}",
                                                 reason=_one_line(exc)[:80])) from None
    except (ModuleNotFoundError, AttributeError) as exc:  # allow_pickle without the classes
        raise CheckpointError("{path} is a pickled model whose classes are not importable "
                              "({reason}); load it in its own code and save "
                              "model.state_dict()", path=path, reason=_one_line(exc)) from None
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]          # training container: optimizer etc. ignored
    elif isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if not isinstance(obj, dict) or not obj or \
            not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError("{path} is a PyTorch file but holds {kind}, not a "
                              "state_dict (expected {hint})", path=path, kind=type(obj).__name__, hint=hint)
    return _clean_keys(obj)


def _clean_keys(state: dict) -> dict:
    return {str(k).replace("module.", ""): v for k, v in state.items()}


def _guess_family(keys: Sequence[str]) -> str | None:
    for first, second, name in _FAMILIES:
        if any(k.startswith(first) for k in keys) and any(k.startswith(second) for k in keys):
            return name
    return None


def _load_into(model: "torch.nn.Module", state: dict, path: Path, kind: str) -> None:
    """Strict load; only ``num_batches_tracked`` may be absent (old files lack it)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        want = N_("the Wav2Lip generator") if kind == "generator" else N_("the expert SyncNet")
        family = _guess_family(list(state))
        looks = (Text("; it looks like {family}", family=Text(family))
                 if family and not family.startswith(want) else "")
        raise CheckpointError(
            "{path} does not hold {want} weights: {n_missing} of {n_expected} expected "
            "keys missing (e.g. {missing_key}), {n_unexpected} unexpected "
            "(e.g. {unexpected_key}){looks}",
            path=path, want=Text(want), n_missing=len(missing), n_expected=len(expected),
            missing_key=missing[0] if missing else "-", n_unexpected=len(unexpected),
            unexpected_key=unexpected[0] if unexpected else "-", looks=looks)
    wrong = [k for k, v in state.items() if tuple(v.shape) != tuple(expected[k].shape)]
    if wrong:
        k = wrong[0]
        raise CheckpointError("{path} has {n_wrong} tensors of the wrong shape, e.g. {key} "
                              "{shape} instead of {expected_shape}",
                              path=path, n_wrong=len(wrong), key=k, shape=tuple(state[k].shape),
                              expected_shape=tuple(expected[k].shape))
    model.load_state_dict(state, strict=False)


def _load(kind: str, path: str | os.PathLike, device: "str | torch.device",
          allow_pickle: bool | None) -> "torch.nn.Module":
    from .wav2lip_nets import SyncNetColor, Wav2LipGenerator
    dev = resolve_device(str(device))
    path = Path(path).expanduser()
    stat = path.stat() if path.is_file() else None
    key = (kind, str(path.resolve()), stat and stat.st_mtime_ns, stat and stat.st_size, str(dev))
    with _MODELS_LOCK:
        if stat is not None and key in _MODELS:
            return _MODELS[key]
        state = read_state_dict(path, kind=kind, allow_pickle=allow_pickle)
        model = Wav2LipGenerator() if kind == "generator" else SyncNetColor()
        _load_into(model, state, path, kind)
        model = model.to(dev).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        _MODELS[key] = model
        return model


def load_generator(path: str | os.PathLike, device: "str | torch.device" = "cpu", *,
                   allow_pickle: bool | None = None) -> "torch.nn.Module":
    """Load a Wav2Lip generator in eval mode (cached per file and device).

    forward(mel [N,1,80,16], faces [N,6,96,96]) -> [N,3,96,96] BGR in [0,1].
    """
    return _load("generator", path, device, allow_pickle)


def load_syncnet(path: str | os.PathLike, device: "str | torch.device" = "cpu", *,
                 allow_pickle: bool | None = None) -> "torch.nn.Module":
    """Load the expert SyncNet in eval mode (cached per file and device).

    forward(mel [N,1,80,16], faces [N,15,48,96]) -> (audio_emb [N,512], face_emb [N,512]).
    """
    return _load("syncnet", path, device, allow_pickle)


def syncnet_path() -> Path:
    """Default expert SyncNet file: ``checkpoints/lipsync_expert.pth`` (may not exist)."""
    return checkpoints.syncnet_path()


# ============================================================================ geometry
def face_box(landmarks: np.ndarray | None, *, width: int, height: int,
             pads: Sequence[int] = (0, 10, 0, 0)) -> tuple[int, int, int, int] | None:
    """Square-ish face box (x1, y1, x2, y2) from 68 landmarks [shape=(68, 2)] (pixel x, y).

    The landmarks' bounding box is widened to a square that keeps the chin and reaches above
    the brows like a face detector's box (what Wav2Lip was trained on), then padded by
    ``pads`` = (top, bottom, left, right) pixels and clamped to the frame. None if no face.
    """
    if landmarks is None:
        return None
    pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] == 0 or not np.isfinite(pts).all():
        return None
    (x_min, y_min), (x_max, y_max) = pts.min(axis=0), pts.max(axis=0)
    side = max(x_max - x_min, (y_max - y_min) * (1.0 + TOP_MARGIN))
    cx = 0.5 * (x_min + x_max)
    top, bottom, left, right = (int(p) for p in pads)
    x1 = int(np.floor(max(0.0, cx - side / 2 - left)))
    x2 = int(np.ceil(min(float(width), cx + side / 2 + right)))
    y1 = int(np.floor(max(0.0, y_max - side - top)))
    y2 = int(np.ceil(min(float(height), y_max + bottom)))
    if x2 - x1 < MIN_BOX or y2 - y1 < MIN_BOX:
        return None
    return x1, y1, x2, y2


def crop96(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """frame [shape=(H, W, 3)] uint8 -> the box resized to [shape=(96, 96, 3)] (INTER_AREA)."""
    import cv2
    x1, y1, x2, y2 = box
    return cv2.resize(frame[y1:y2, x1:x2], (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)


def mouth_crop(frame: np.ndarray, landmarks: np.ndarray | None, *,
               pads: Sequence[int] = (0, 10, 0, 0)) -> np.ndarray | None:
    """Lower half of the 96x96 face crop [shape=(48, 96, 3)] uint8 BGR, as the expert sees it."""
    box = face_box(landmarks, width=frame.shape[1], height=frame.shape[0], pads=pads)
    return None if box is None else crop96(frame, box)[HALF:]


# ============================================================================ backend
class Wav2LipBackend(Backend):
    """Wav2Lip generator on the engine's landmarks; the model is loaded once per process.

    checkpoint  generator file; default ``checkpoints/wav2lip.pth`` (or ``wav2lip_gan.pth``).
    device      "auto" (CUDA if available) | "cpu" | "cuda[:N]".
    batch_size  faces per forward pass.
    syncnet     expert file for :meth:`sync_scores`; default ``checkpoints/lipsync_expert.pth``.
    dtype       "auto" (float16 autocast on CUDA, float32 on CPU) | "float32" | "bfloat16" ...
    """

    name = "wav2lip"
    needs_library = False
    options_used = frozenset({"checkpoint", "pads"})

    @classmethod
    def model_files(cls, *, checkpoint: Any = None, models_dir: Any = None) -> tuple[Path, ...]:
        """The generator (the expert SyncNet only scores, it does not change the output)."""
        return (Path(checkpoint).expanduser() if checkpoint else checkpoints.generator_path(),)

    def __init__(self, *, checkpoint: str | os.PathLike | None = None, device: str = "auto",
                 batch_size: int = 16, syncnet: str | os.PathLike | None = None,
                 dtype: str = "auto", **ignored: Any) -> None:
        import torch
        self.checkpoint = Path(checkpoint).expanduser() if checkpoint else checkpoints.generator_path()
        self.device = resolve_device(device)
        self.batch_size = max(1, int(batch_size))
        self.amp_dtype = _autocast_dtype(self.device, dtype)
        self.syncnet_file = Path(syncnet).expanduser() if syncnet else syncnet_path()
        self.model = load_generator(self.checkpoint, self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True     # fixed 96x96 shapes: pick the best kernels
            self.model = self.model.to(memory_format=torch.channels_last)
        self._shared: dict[str, Any] = {}   # lazily loaded SyncNet, file facts: shared by job copies
        self._boxes: np.ndarray | None = None   # [T, 4] int32 face box per output frame (-1: none)
        self.job: JobContext | None = None
        self.gpu_seconds = 0.0       # time spent inside forward passes (for benchmarks)

    # -- per job -------------------------------------------------------------------------
    def prepare(self, job: JobContext) -> None:
        """Keep the job; mel windows are cut per batch (memory does not grow with the video's
        length: 16 bytes of face box per output frame is all that is kept, for scoring)."""
        self.job = job
        self._boxes = np.full((max(1, job.audio.n_frames), 4), -1, np.int32)

    def windows(self, out_index: np.ndarray) -> np.ndarray:
        """Mel windows of output frames ``out_index`` [shape=(B,)]: [shape=(B, 80, 16)] float32."""
        from ..audio import mel_windows
        if self.job is None:
            raise BackendError("wav2lip backend used before prepare(job)")
        index = np.clip(np.asarray(out_index), 0, max(1, self.job.audio.n_frames) - 1)
        return mel_windows(self.job.audio.mel, fps=self.job.audio.fps, index=index).astype(np.float32)

    def _pads(self) -> tuple[int, int, int, int]:
        pads = getattr(getattr(self.job, "options", None), "pads", None)
        return tuple(pads) if pads is not None else (0, 10, 0, 0)

    # -- per batch -----------------------------------------------------------------------
    def synthesize(self, batch: FrameBatch) -> list[MouthPatch | None]:
        """New face crops for every frame with landmarks (None for the others)."""
        if self.job is None:
            raise BackendError("wav2lip backend used before prepare(job)")
        pads = self._pads()
        boxes, crops, rows = [], [], []
        for i, (frame, lms) in enumerate(zip(batch.frames, batch.landmarks)):
            box = face_box(lms, width=frame.shape[1], height=frame.shape[0], pads=pads)
            if box is not None:
                boxes.append(box)
                crops.append(crop96(frame, box))
                rows.append(i)
        patches: list[MouthPatch | None] = [None] * len(batch.frames)
        if not rows:
            return patches
        faces = np.stack(crops)                          # [N,96,96,3] uint8
        mels = self.windows(np.asarray(batch.out_index)[rows])   # [N,80,16]
        out = np.concatenate([self.generate(faces[s:s + self.batch_size],
                                            mels[s:s + self.batch_size])
                              for s in range(0, len(rows), self.batch_size)])
        import cv2
        for row, box, face in zip(rows, boxes, out):
            if 0 <= batch.out_index[row] < len(self._boxes):
                self._boxes[int(batch.out_index[row])] = box
            x1, y1, x2, y2 = box
            image = cv2.resize(face, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LANCZOS4)
            patches[row] = MouthPatch(image=image, x0=x1, y0=y1)
        return patches

    def generate(self, faces: np.ndarray, mels: np.ndarray) -> np.ndarray:
        """One forward pass: faces [shape=(N, 96, 96, 3)] uint8 BGR, mels [shape=(N, 80, 16)]
        -> new faces [shape=(N, 96, 96, 3)] uint8 BGR. Masking and scaling happen on the device."""
        import time

        import torch
        cuda = self.device.type == "cuda"
        t0 = time.perf_counter()
        with torch.inference_mode():
            img = torch.from_numpy(np.ascontiguousarray(faces))
            mel = torch.from_numpy(np.ascontiguousarray(mels, dtype=np.float32))
            if cuda:   # page-locked host memory lets the copy overlap with host work
                img, mel = img.pin_memory(), mel.pin_memory()
            img = img.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
            mel = mel.to(self.device, non_blocking=True).unsqueeze(1)
            masked = img.clone()
            masked[:, :, HALF:] = 0.0                    # hide the mouth: rows 48-95
            x = torch.cat([masked, img], dim=1)          # [N,6,96,96]: target, reference
            if cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device_type=self.device.type, dtype=self.amp_dtype or torch.float32,
                                enabled=self.amp_dtype is not None):
                y = self.model(mel, x)
            y = (y.float().clamp_(0, 1) * 255.0).round_().to(torch.uint8)
            out = y.permute(0, 2, 3, 1).contiguous().cpu().numpy()
        self.gpu_seconds += time.perf_counter() - t0
        return out

    # -- sync scoring ----------------------------------------------------------------------
    def syncnet(self) -> "torch.nn.Module | None":
        """The expert SyncNet if its file exists (loaded once), else None."""
        if "syncnet" not in self._shared and self.syncnet_file.is_file():
            self._shared["syncnet"] = load_syncnet(self.syncnet_file, self.device)
        return self._shared.get("syncnet")

    def score_output(self, output: str | os.PathLike, *, feats: Any = None,
                     fps: float | None = None) -> dict[str, Any]:
        """SyncNet scores of the finished output of the current job for the run record:
        ``syncnet_offset_frames``, ``syncnet_lse_d``, ``syncnet_lse_c``, ``syncnet_windows``
        ({} without a SyncNet checkpoint). Uses the face boxes and mel windows of the job."""
        net = self.syncnet()
        if net is None or self.job is None or self._boxes is None:
            return {}
        fps = float(fps or self.job.audio.fps)
        boxes = (None if b[0] < 0 else tuple(int(v) for v in b) for b in self._boxes)
        res = score_video(output, boxes=boxes, windows=self.windows, fps=fps, syncnet=net,
                          source_size=(self.job.width, self.job.height))
        return {"syncnet_offset_frames": res["offset_frames"], "syncnet_lse_d": res["lse_d"],
                "syncnet_lse_c": res["lse_c"], "syncnet_windows": res["n_windows"],
                "syncnet_model": str(self.syncnet_file)}

    def describe(self) -> dict[str, Any]:
        if "file_info" not in self._shared:   # hashed once per loaded model (and cached on disk)
            try:
                info = checkpoints.inspect_checkpoint(self.checkpoint)
                self._shared["file_info"] = {
                    "model_bytes": info.size, "sha256": info.sha256, "sha256_status": info.status,
                    "official_name": info.known.name if info.status == "official" else None}
            except (OSError, CheckpointError) as exc:   # file moved after loading
                self._shared["file_info"] = {"model_bytes": None, "sha256": None,
                                             "sha256_status": f"unavailable: {exc}", "official_name": None}
        return {"backend": self.name, "model": str(self.checkpoint), **self._shared["file_info"],
                "device": str(self.device),
                "dtype": str(self.amp_dtype or "float32").replace("torch.", ""),
                "batch_size": self.batch_size,
                "syncnet": str(self.syncnet_file) if self.syncnet_file.is_file() else None}

    def close(self) -> None:
        self._boxes = None
        if self.device.type == "cuda":
            import torch
            torch.cuda.empty_cache()


# ============================================================================ sync scores
class SyncScorer:
    """LSE-D / LSE-C style scores with the expert SyncNet, streamed frame by frame.

    Feed the output's mouths in order with :meth:`push`; 5-frame stacks go through the
    network ``batch_size`` at a time, and only the embeddings of the last ``vshift`` windows
    are kept, so memory does not depend on the video's length. For each stack v (frames
    v..v+4, mel window v) the face embedding is compared with the audio embedding of window
    v + o for o = -vshift..vshift by Euclidean distance of the L2-normalised embeddings,
    averaged over the pairs that exist (spec 8.1 zero-pads instead).

    windows  callable: output frame numbers [shape=(B,)] -> mel windows [shape=(B, 80, 16)].
    """

    def __init__(self, syncnet: "torch.nn.Module", *, windows, vshift: int = VSHIFT,
                 batch_size: int = 64) -> None:
        from collections import deque
        self.net, self.windows, self.vshift, self.batch_size = syncnet, windows, int(vshift), int(batch_size)
        self._recent: deque = deque(maxlen=SYNC_FRAMES)       # (mouth, valid) of the last frames
        self._frames = 0
        self._pending: list[tuple[int, np.ndarray]] = []       # (window, [5,48,96,3] stack)
        self._emb: dict[int, tuple[np.ndarray, np.ndarray]] = {}   # window -> (audio, face)
        self._sums = np.zeros(2 * self.vshift + 1)
        self._counts = np.zeros(2 * self.vshift + 1, np.int64)
        self.n_windows = 0

    def push(self, mouth: np.ndarray | None) -> None:
        """The next output frame's mouth [shape=(48, 96, 3)] uint8 BGR, or None (no face)."""
        self._recent.append(mouth)
        self._frames += 1
        if len(self._recent) == SYNC_FRAMES and all(m is not None for m in self._recent):
            self._pending.append((self._frames - SYNC_FRAMES, np.stack(self._recent)))
            if len(self._pending) >= self.batch_size:
                self._flush()

    def _flush(self) -> None:
        import torch
        if not self._pending:
            return
        idx = np.array([v for v, _ in self._pending])
        stack = np.stack([s for _, s in self._pending])                     # [B,5,48,96,3]
        self._pending = []
        dev = next(self.net.parameters()).device
        with torch.inference_mode():
            face = torch.from_numpy(stack).to(dev).permute(0, 1, 4, 2, 3)   # [B,5,3,48,96]
            face = face.reshape(len(idx), SYNC_FRAMES * 3, HALF, FACE_SIZE).float() / 255.0
            mel = torch.from_numpy(np.ascontiguousarray(self.windows(idx), np.float32))
            a, f = self.net(mel.to(dev).unsqueeze(1), face)
        for v, av, fv in zip(idx, a.double().cpu().numpy(), f.double().cpu().numpy()):
            self._add(int(v), av, fv)

    def _add(self, v: int, a: np.ndarray, f: np.ndarray) -> None:
        self.n_windows += 1
        self._emb[v] = (a, f)
        for u, (au, fu) in list(self._emb.items()):
            if v - u > self.vshift:
                del self._emb[u]                  # too old to pair with anything still to come
                continue
            self._sums[u - v + self.vshift] += np.linalg.norm(f - au)       # face v, audio u
            self._counts[u - v + self.vshift] += 1
            if u != v:
                self._sums[v - u + self.vshift] += np.linalg.norm(fu - a)   # face u, audio v
                self._counts[v - u + self.vshift] += 1

    def result(self) -> dict[str, Any]:
        """``offset_frames`` (syncnet_python's AV offset = -argmin o: positive when the mouth
        lags the audio), ``lse_d`` (min mean distance), ``lse_c`` (median - min), ``dists``
        (the curve over o = -vshift..vshift) and ``n_windows``."""
        self._flush()
        nan = float("nan")
        if self.n_windows == 0:
            return {"offset_frames": 0, "lse_d": nan, "lse_c": nan, "dists": [], "n_windows": 0}
        curve = np.where(self._counts > 0, self._sums / np.maximum(self._counts, 1), nan)
        best = int(np.nanargmin(curve))
        return {"offset_frames": -(best - self.vshift), "lse_d": float(curve[best]),
                "lse_c": float(np.nanmedian(curve) - curve[best]), "dists": [float(d) for d in curve],
                "n_windows": self.n_windows}


def sync_scores(syncnet: "torch.nn.Module", *, mel_windows: np.ndarray, mouths: np.ndarray,
                fps: float, vshift: int = VSHIFT, valid: np.ndarray | None = None,
                batch_size: int = 64) -> dict[str, Any]:
    """:class:`SyncScorer` over arrays in memory.

    mel_windows [shape=(T, 80, 16)] one window per output frame (window i starts at i / fps).
    mouths      [shape=(T, 48, 96, 3)] uint8 BGR lower halves of the output's 96x96 face crops.
    valid       [shape=(T,)] bool, False where a frame has no face (stacks touching one are
                skipped). At 25 fps the 0.2 s window covers exactly the 5 frames; other rates
                are scored as they are (the expert was trained at 25 fps).
    """
    if fps <= 0:
        raise InputError("fps must be positive, got {fps}", fps=fps)
    t = min(len(mel_windows), len(mouths))
    ok = np.ones(t, bool) if valid is None else np.asarray(valid, bool)[:t]
    scorer = SyncScorer(syncnet, windows=lambda idx: mel_windows[idx], vshift=vshift, batch_size=batch_size)
    for i in range(t):
        scorer.push(mouths[i] if ok[i] else None)
    return scorer.result()


def score_video(video_path: str | os.PathLike, *, boxes, windows, fps: float,
                syncnet: "torch.nn.Module", source_size: tuple[int, int] | None = None,
                vshift: int = VSHIFT) -> dict[str, Any]:
    """Decode ``video_path`` frame by frame and score it with a :class:`SyncScorer`.

    boxes: iterable of one face box (x1, y1, x2, y2) or None per output frame, in
    ``source_size`` (width, height) pixels; rescaled if the video was written at another size.
    windows: output frame numbers [shape=(B,)] -> mel windows [shape=(B, 80, 16)].
    """
    import cv2

    from ..errors import MediaError
    if fps <= 0:
        raise InputError("fps must be positive, got {fps}", fps=fps)
    cap = cv2.VideoCapture(str(video_path))
    if not cap.isOpened():
        raise MediaError("cannot open {video_path} to score its lip sync (expected a video)",
                         video_path=video_path)
    scorer = SyncScorer(syncnet, windows=windows, vshift=vshift)
    decoded = 0
    try:
        for box in boxes:
            ok, frame = cap.read()
            if not ok:
                break
            decoded += 1
            if box is not None and source_size and source_size != (frame.shape[1], frame.shape[0]):
                sx, sy = frame.shape[1] / source_size[0], frame.shape[0] / source_size[1]
                box = (int(box[0] * sx), int(box[1] * sy), int(np.ceil(box[2] * sx)),
                       int(np.ceil(box[3] * sy)))
            scorer.push(crop96(frame, box)[HALF:] if box is not None else None)
    finally:
        cap.release()
    if not decoded:
        raise MediaError("{video_path} has no decodable frames to score", video_path=video_path)
    return scorer.result()


def score_output(video_path: str | os.PathLike, *, landmarks: Sequence[np.ndarray | None],
                 mel: np.ndarray, fps: float, syncnet: "torch.nn.Module",
                 pads: Sequence[int] = (0, 10, 0, 0), width: int, height: int,
                 vshift: int = VSHIFT) -> dict[str, Any]:
    """Score an output from the source landmarks (one [shape=(68, 2)] array or None per
    output frame, in a ``width`` x ``height`` frame) and the run's mel [shape=(80, M)]."""
    from ..audio import mel_windows
    boxes = (face_box(lm, width=width, height=height, pads=pads) for lm in landmarks)
    return score_video(video_path, boxes=boxes, windows=lambda idx: mel_windows(mel, fps=fps, index=idx),
                       fps=fps, syncnet=syncnet, source_size=(width, height), vshift=vshift)


__all__ = ["Wav2LipBackend", "load_generator", "load_syncnet", "read_state_dict",
           "resolve_device", "face_box", "crop96", "mouth_crop", "SyncScorer", "sync_scores", "score_video", "score_output",
           "syncnet_path"]
