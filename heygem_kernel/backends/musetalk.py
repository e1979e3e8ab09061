"""The ``musetalk`` backend: MuseTalk 1.5 (TMElyralab/MuseTalk, MIT; weights usable commercially).

Single-step latent inpainting at 256x256. The networks are the libraries' own
(diffusers ``UNet2DConditionModel`` / ``AutoencoderKL``, transformers ``WhisperModel`` /
``WhisperFeatureExtractor``); this module only feeds them the way MuseTalk 1.5 does and
loads exactly the ``models/`` folder MuseTalk's weight download produces
(see :data:`MODEL_FILES`; default ``checkpoints/musetalk/``).

Per output frame t (speech of ``seconds`` at ``fps``):

* audio prompt: whisper-tiny encoder hidden states of all 5 levels (embedding output + 4
  layers; the last one after the final layer norm) over 30 s segments -> [50 Hz, 5, 384],
  trimmed to floor(seconds x 50), zero-padded by 2p before and 6p after (p = ceil(50 / fps)),
  window = the 10 frames from floor(t x 50 / fps) -> [10, 5, 384] -> [50, 384];
  T = floor(seconds x fps). A fixed sinusoidal position code (d_model 384) is added before
  the UNet's cross-attention.
* face: crop box from the 68 landmarks (x: min..max, y: from y29 - (max y - y29) to
  max y + 10 px), Lanczos-resized to 256x256; lower half zeroed; masked and whole crop
  through the VAE encoder (distribution mean x 0.18215) -> [8, 32, 32]; UNet at timestep 0
  with the prompt; VAE decode -> 256x256 BGR, resized back to the box. The engine pastes it
  through its feathered mouth mask (the original uses a face-parsing network).

Differences from the original code, on purpose:

* fps is used as the exact rational rate. The original truncates it to an integer
  (``int(29.97) = 29``), so at 29.97 fps its frame t reads the speech at t x 50 / 29: 0.1 s
  late after 3 s, 1 s late after 30 s. At integer rates (25, 30) the mapping is identical.
  T, the trim length and the window starts are computed in exact integer arithmetic.
* the VAE latents are the posterior mean; the original draws a sample (noise of
  exp(logvar / 2), tiny for the released VAE), so ours is deterministic.
* output frames past T (the engine rounds the frame count) reuse the last prompt.

A video's reference latents do not depend on the speech: they are cached by the content
hash of each 256x256 crop (~/.cache/heygem/musetalk-latents/...), so a new speech on the same
presenters skips the VAE encoder. torch, diffusers and transformers are imported lazily.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import checkpoints
from ..errors import BackendError, CheckpointError, InputError, os_error
from ..i18n import N_, Text
from .base import Backend, FrameBatch, JobContext, MouthPatch

if TYPE_CHECKING:  # pragma: no cover
    import torch

log = logging.getLogger("heygem.musetalk")

# --- audio (whisper-tiny front end, MuseTalk 1.5 get_whisper_chunk) --------------------------
SAMPLE_RATE = 16000          # whisper's rate
FEATURE_RATE = 50            # encoder frames per second: 100 mel frames/s, conv stride 2
SEGMENT_SECONDS = 30         # whisper always sees 30 s windows (zero-padded)
PAD_SIDE = 2                 # audio_padding_length_left = right = 2 (units of ceil(50/fps))
WINDOW = 2 * (PAD_SIDE + PAD_SIDE + 1)   # 10 feature frames per video frame
PAD_BEFORE = PAD_SIDE        # x p zeros before the features
PAD_AFTER = 3 * PAD_SIDE     # x p zeros after ("extra padding to prevent out of bounds")
LEVELS = 5                   # embedding output + 4 encoder layers of whisper-tiny
D_MODEL = 384                # whisper-tiny width = the UNet's cross_attention_dim
PROMPT_TOKENS = WINDOW * LEVELS   # 50 tokens of 384 per frame
PE_MAX_LEN = 5000            # length of the original's position-code table (only 50 used)

# --- image / latents ----------------------------------------------------------------------
FACE = 256                   # MuseTalk crops are 256x256
LATENT = FACE // 8           # the VAE downsamples 8x -> 32x32
VAE_SCALE = 0.18215          # Stable Diffusion VAE scaling factor
NOSE_BRIDGE = 29             # iBUG-68 index of the crop's centre line (0-based)
CHIN_MARGIN = 10             # px below the lowest landmark (v1.5 "extra_margin")
MIN_BOX = 16                 # px; smaller faces are left untouched
TIMESTEP = 0                 # one denoising step at t = 0

# --- files --------------------------------------------------------------------------------
MODELS_SUBDIR = "musetalk"   # default: <checkpoints>/musetalk/
LATENT_CACHE_VERSION = 1
MEMORY_LATENTS = 2048        # crops kept in RAM (~32 KB each in float32)
CHUNKS_OPEN = 8              # cache chunk files kept loaded


@dataclass(frozen=True)
class ModelFile:
    """One file of MuseTalk's ``models/`` folder (relative path, what it is, typical size)."""

    path: str
    what: str
    typical: str
    alternatives: tuple[str, ...] = ()


MODEL_FILES: tuple[ModelFile, ...] = (
    ModelFile("musetalkV15/unet.pth", N_("the MuseTalk 1.5 UNet weights"), "~3.4 GB"),
    ModelFile("musetalkV15/musetalk.json", N_("the MuseTalk UNet config"), "~1 KB"),
    ModelFile("sd-vae/config.json", N_("the sd-vae-ft-mse config"), "~1 KB"),
    ModelFile("sd-vae/diffusion_pytorch_model.bin", N_("the sd-vae-ft-mse weights"), "~335 MB",
              ("sd-vae/diffusion_pytorch_model.safetensors",)),
    ModelFile("whisper/config.json", N_("the whisper-tiny config"), "~2 KB"),
    ModelFile("whisper/pytorch_model.bin", N_("the whisper-tiny weights"), "~151 MB",
              ("whisper/model.safetensors",)),
    ModelFile("whisper/preprocessor_config.json", N_("the whisper feature-extractor config"), "~1 KB"),
)
# The released musetalkV15/musetalk.json (values that must hold for the prompts to fit).
UNET_REQUIRED = {"in_channels": 8, "out_channels": 4, "cross_attention_dim": D_MODEL}


# ============================================================================ layout
def default_models_dir() -> Path:
    """``<checkpoints>/musetalk`` (see :func:`heygem_kernel.checkpoints.checkpoints_dir`)."""
    return checkpoints.checkpoints_dir() / MODELS_SUBDIR


def models_dir_for(*, models_dir: str | os.PathLike | None = None,
                   checkpoint: str | os.PathLike | None = None) -> Path:
    """MuseTalk's ``models/`` folder that a run's options name (default :func:`default_models_dir`).

    ``models_dir`` is the folder. ``checkpoint`` may name it too, or one of its files where they
    lie (``models/musetalkV15/unet.pth`` names ``models/``): a user who passes a file means that
    model. Raises :class:`InputError` (one line) for a file that does not identify the folder
    (MuseTalk is the 7 files of :data:`MODEL_FILES`, not one) and for the two options naming
    different folders. Looks at paths only: what the files hold is checked when they load.
    """
    folder = Path(models_dir).expanduser() if models_dir else None
    if checkpoint:
        named = _folder_holding(Path(checkpoint).expanduser())
        if folder is not None and named.resolve() != folder.resolve():
            raise InputError("checkpoint (--checkpoint) {checkpoint} names the MuseTalk folder {named}, but "
                             "models_dir (--models-dir) names {folder}: give one of them",
                             checkpoint=checkpoint, named=named, folder=folder)
        folder = folder or named
    return folder or default_models_dir()


def _folder_holding(path: Path) -> Path:
    """The models folder ``path`` is (a folder) or lies in (one of :data:`MODEL_FILES` in its place)."""
    if path.is_dir():
        return path
    path = path.absolute()
    for entry in MODEL_FILES:
        for rel in (entry.path, *entry.alternatives):
            parts = Path(rel).parts
            if path.parts[-len(parts):] == parts:
                return path.parents[len(parts) - 1]
    raise InputError("checkpoint (--checkpoint): {path} is one file, and the musetalk backend loads MuseTalk's "
                     "models folder: give it with --models-dir DIR (it holds musetalkV15/unet.pth and "
                     "musetalk.json, sd-vae/ and whisper/, as MuseTalk's download_weights.sh lays them out)",
                     path=path)


def _resolve(folder: Path, entry: ModelFile) -> Path:
    for rel in (entry.path, *entry.alternatives):
        if (folder / rel).is_file():
            return folder / rel
    return folder / entry.path


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError("{path} is not valid JSON ({reason}); expected {what}: "
                              "re-download it", path=path, what=what,
                              reason=os_error(exc) if isinstance(exc, OSError) else str(exc)[:80]) from None
    if not isinstance(data, dict):
        raise CheckpointError("{path} holds a JSON {kind}, expected {what}",
                              path=path, kind=type(data).__name__, what=what)
    return data


def _check_config(path: Path, rel: str) -> None:
    """Catch a config of the wrong model before any weights load."""
    if rel.endswith("musetalk.json"):
        cfg = _read_json(path, Text("MuseTalk's UNet config"))
        bad = {k: cfg.get(k) for k, v in UNET_REQUIRED.items() if cfg.get(k) != v}
        if bad:
            raise CheckpointError("{path} is not MuseTalk's UNet config: {details}", path=path,
                                  details=", ".join(f"{k} {v} (expected {UNET_REQUIRED[k]})"
                                                    for k, v in bad.items()))
    elif rel == "sd-vae/config.json":
        cfg = _read_json(path, Text("the sd-vae-ft-mse config"))
        if cfg.get("_class_name", "AutoencoderKL") != "AutoencoderKL" or cfg.get("latent_channels", 4) != 4:
            raise CheckpointError("{path} is not an AutoencoderKL config with 4 latent channels "
                                  "(_class_name {class_name!r}, latent_channels "
                                  "{latent_channels!r})",
                                  path=path, class_name=cfg.get("_class_name"),
                                  latent_channels=cfg.get("latent_channels"))
    elif rel == "whisper/config.json":
        cfg = _read_json(path, Text("the whisper-tiny config"))
        if cfg.get("model_type") != "whisper" or cfg.get("d_model") != D_MODEL \
                or cfg.get("encoder_layers") != LEVELS - 1:
            raise CheckpointError(
                "{path} is not a whisper-tiny config (model_type {model_type!r}, d_model "
                "{d_model!r}, encoder_layers {encoder_layers!r}; expected "
                "whisper, {D_MODEL}, {n_layers})",
                path=path, model_type=cfg.get("model_type"), d_model=cfg.get("d_model"),
                encoder_layers=cfg.get("encoder_layers"), D_MODEL=D_MODEL, n_layers=LEVELS - 1)
    elif rel == "whisper/preprocessor_config.json":
        cfg = _read_json(path, Text("the whisper feature-extractor config"))
        if cfg.get("feature_size", 80) != 80 or cfg.get("sampling_rate", SAMPLE_RATE) != SAMPLE_RATE:
            raise CheckpointError("{path} is not whisper's 80-mel 16 kHz feature-extractor config", path=path)


def _check_weights(path: Path, entry: ModelFile) -> None:
    if path.suffix == ".safetensors":
        _check_safetensors(path, entry)
        return
    info = checkpoints.inspect_checkpoint(path, hash=False)
    if info.status in ("not a checkpoint", "truncated?"):
        template = (N_("{path} is not a checkpoint: {detail}; expected {what} ({typical}): re-download it")
                    if info.status == "not a checkpoint"
                    else N_("{path} is truncated: {detail}; expected {what} ({typical}): re-download it"))
        raise CheckpointError(template, path=path, detail=info.detail, what=Text(entry.what),
                              typical=entry.typical)


def _check_safetensors(path: Path, entry: ModelFile) -> None:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        try:
            meta = json.loads(fh.read(n)) if 0 < n < size else None
        except ValueError:
            meta = None
    if not isinstance(meta, dict):
        raise CheckpointError("{path} is not a safetensors file ({size:,} bytes); expected "
                              "{what}: re-download it", path=path, size=size, what=Text(entry.what))
    end = max((v["data_offsets"][1] for k, v in meta.items() if k != "__metadata__"), default=0)
    if 8 + n + end > size:
        raise CheckpointError("{path} is truncated: {size:,} of {expected_size:,} bytes; "
                              "re-download {what}",
                              path=path, size=size, expected_size=8 + n + end, what=Text(entry.what))


def check_models_dir(models_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Check MuseTalk's ``models/`` layout without loading any weights.

    Returns {relative name: path} of the 7 files. Raises :class:`CheckpointError` (one line
    naming the file) for a missing folder or file, an empty or truncated weight file, an HTML
    page saved under a weight's name, or a config of another model.
    """
    folder = Path(models_dir).expanduser() if models_dir else default_models_dir()
    if not folder.is_dir():
        raise CheckpointError("MuseTalk models folder not found: {folder} (expected musetalkV15/, sd-vae/ "
                              "and whisper/ inside; MuseTalk's download_weights.sh fills models/ with this "
                              "layout)", folder=folder)
    found: dict[str, Path] = {}
    for entry in MODEL_FILES:
        path = _resolve(folder, entry)
        if not path.is_file():
            raise CheckpointError("MuseTalk file missing: {path} ({what}, {typical}; MuseTalk's "
                                  "download_weights.sh fills models/ with this layout)",
                                  path=path, what=Text(entry.what), typical=entry.typical)
        if path.stat().st_size == 0:
            raise CheckpointError("{path} is empty; expected {what} ({typical}): "
                                  "re-download it", path=path, what=Text(entry.what), typical=entry.typical)
        if path.suffix == ".json":
            _check_config(path, entry.path)
        else:
            _check_weights(path, entry)
        found[entry.path] = path
    return found


def describe_models_dir(models_dir: str | os.PathLike | None = None, *, hash: bool = True
                        ) -> list[dict[str, Any]]:
    """One dict per file for ``heygem doctor``: path, size, sha256, status ("ok" or the error)."""
    folder = Path(models_dir).expanduser() if models_dir else default_models_dir()
    rows = []
    for entry in MODEL_FILES:
        path = _resolve(folder, entry)
        row: dict[str, Any] = {"name": entry.path, "path": str(path), "size": None,
                               "sha256": None, "status": "missing"}
        if path.is_file():
            row["size"] = path.stat().st_size
            row["sha256"] = checkpoints.sha256(path) if hash else None
            try:
                if row["size"] == 0:
                    raise CheckpointError("{path} is empty", path=path)
                (_check_config(path, entry.path) if path.suffix == ".json"
                 else _check_weights(path, entry))
                row["status"] = "ok"
            except CheckpointError as exc:   # its English line, shown by heygem doctor in the user's language
                row["status"] = Text(exc.template, **exc.values)
        rows.append(row)
    return rows


# ============================================================================ audio
def _rational(fps: float) -> Fraction:
    """The video's rate as a fraction (29.97002997 -> 30000/1001)."""
    if not (fps > 0 and math.isfinite(fps)):
        raise InputError("fps must be a positive number, got {fps}", fps=fps)
    return Fraction(fps).limit_denominator(100_000)


def prompt_layout(n_samples: int, fps: float) -> tuple[int, int, int, np.ndarray]:
    """(T, trimmed feature frames, p, window starts [shape=(T,)] int) for a speech of
    ``n_samples`` at 16 kHz and a video at ``fps``, in exact integer arithmetic.

    T = floor(seconds x fps); trim = floor(seconds x 50); p = ceil(50 / fps) (padding unit);
    start[t] = floor(t x 50 / fps) indexes the padded features (2p zeros come first).
    """
    r = _rational(fps)
    n_frames = (n_samples * r.numerator) // (SAMPLE_RATE * r.denominator)
    trim = (n_samples * FEATURE_RATE) // SAMPLE_RATE
    p = -((-FEATURE_RATE * r.denominator) // r.numerator)       # ceil(50 / fps)
    t = np.arange(n_frames, dtype=np.int64)
    starts = (t * FEATURE_RATE * r.denominator) // r.numerator
    return int(n_frames), int(trim), int(p), starts


def positional_encoding(n_tokens: int = PROMPT_TOKENS, d_model: int = D_MODEL) -> np.ndarray:
    """Fixed sinusoidal code [shape=(n_tokens, d_model)] float32 added to each prompt:
    even columns sin(pos x w_i), odd columns cos(pos x w_i), w_i = 10000^(-2i / d_model)
    (computed in float32 as the original's torch table)."""
    import torch
    pos = torch.arange(0, n_tokens, dtype=torch.float).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
    pe = torch.zeros(n_tokens, d_model)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe.numpy()


# ============================================================================ geometry
def crop_box(landmarks: np.ndarray | None, *, width: int, height: int
             ) -> tuple[int, int, int, int] | None:
    """MuseTalk's face box (x1, y1, x2, y2) from 68 landmarks [shape=(68, 2)] pixel (x, y).

    Landmarks are truncated to integer pixels (as the original's int32 keypoints); the box
    spans the landmarks' x range and, vertically, from y29 - (max y - y29) (clamped to 0) to
    max y + 10 px, clamped to the frame. None without a usable face.
    """
    if landmarks is None:
        return None
    pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] != 68 or not np.isfinite(pts).all():
        return None
    pts = pts.astype(np.int64)
    y_mid = int(pts[NOSE_BRIDGE, 1])
    y_max = int(pts[:, 1].max())
    x1 = max(0, int(pts[:, 0].min()))
    x2 = min(int(width), int(pts[:, 0].max()))
    y1 = max(0, y_mid - (y_max - y_mid))
    y2 = min(int(height), y_max + CHIN_MARGIN)
    if x2 - x1 < MIN_BOX or y2 - y1 < MIN_BOX:
        return None
    return x1, y1, x2, y2


def crop256(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """frame [shape=(H, W, 3)] uint8 -> the box resized to [shape=(256, 256, 3)] (Lanczos)."""
    import cv2
    x1, y1, x2, y2 = box
    return cv2.resize(frame[y1:y2, x1:x2], (FACE, FACE), interpolation=cv2.INTER_LANCZOS4)


# ============================================================================ model
def _one_line(exc: BaseException) -> str:
    lines = [s for s in str(exc).strip().splitlines() if s.strip()]
    return lines[0][:160] if lines else type(exc).__name__


def _amp_dtype(device: "torch.device", dtype: str) -> "torch.dtype":
    import torch
    name = (dtype or "auto").lower()
    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    table = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
             "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if name not in table:
        raise InputError("unknown dtype {dtype!r} (expected auto, float32, float16 or bfloat16)", dtype=dtype)
    return table[name]


def _load_unet(config_path: Path, weights: Path) -> "torch.nn.Module":
    """UNet2DConditionModel from musetalk.json (keys starting with ``_`` dropped), built on
    the meta device and filled from unet.pth (memory-mapped), keys and shapes checked strictly."""
    import torch
    from diffusers import UNet2DConditionModel
    cfg = {k: v for k, v in _read_json(config_path, Text("MuseTalk's UNet config")).items()
           if not k.startswith("_")}
    try:
        with torch.device("meta"):
            unet = UNet2DConditionModel(**cfg)
    except Exception as exc:  # noqa: BLE001 - any failure is a bad config
        raise CheckpointError("{config_path} does not build a UNet2DConditionModel "
                              "({reason})", config_path=config_path, reason=_one_line(exc)) from None
    try:
        state = torch.load(str(weights), map_location="cpu", weights_only=True,
                           mmap=checkpoints.sniff_format(weights) == "zip")
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError("{weights} does not load as a PyTorch state_dict "
                              "({reason}); re-download it",
                              weights=weights, reason=_one_line(exc)[:100]) from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError("{weights} holds {kind}, not the MuseTalk UNet "
                              "state_dict", weights=weights, kind=type(state).__name__)
    expected = unet.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise CheckpointError(
            "{weights} does not hold MuseTalk UNet weights for {name}: "
            "{n_missing} of {n_expected} keys missing (e.g. {missing_key}), "
            "{n_unexpected} unexpected (e.g. {unexpected_key})",
            weights=weights, name=config_path.name, n_missing=len(missing), n_expected=len(expected),
            missing_key=missing[0] if missing else "-", n_unexpected=len(unexpected),
            unexpected_key=unexpected[0] if unexpected else "-")
    wrong = [k for k, v in expected.items() if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        k = wrong[0]
        raise CheckpointError("{weights} has {n_wrong} tensors of the wrong shape for "
                              "{name}, e.g. {key} {shape} instead of "
                              "{expected_shape}",
                              weights=weights, n_wrong=len(wrong), name=config_path.name, key=k,
                              shape=tuple(state[k].shape), expected_shape=tuple(expected[k].shape))
    unet.load_state_dict({k: v.float() for k, v in state.items()}, strict=True, assign=True)
    return unet


@contextlib.contextmanager
def _quiet_libraries():
    """Silence the libraries' load chatter (safetensors probing, progress bars, dtype hints):
    our own log line says what was loaded."""
    import warnings

    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog
    levels = (dlog.get_verbosity(), tlog.get_verbosity())
    bars = tlog.is_progress_bar_enabled()
    dlog.set_verbosity_error()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        dlog.set_verbosity(levels[0])
        tlog.set_verbosity(levels[1])
        if bars:
            tlog.enable_progress_bar()


def _load_pretrained(cls, folder: Path, weights: Path, what: str):
    """``cls.from_pretrained(folder)`` locally; missing/unexpected keys are errors."""
    try:
        with _quiet_libraries():
            model, info = cls.from_pretrained(str(folder), local_files_only=True,
                                              output_loading_info=True,
                                              use_safetensors=weights.suffix == ".safetensors")
    except Exception as exc:  # noqa: BLE001 - library errors become one line naming the file
        raise CheckpointError("{weights} does not load as {what} ({reason})",
                              weights=weights, what=what, reason=_one_line(exc)) from None
    missing = list(info.get("missing_keys") or [])
    unexpected = list(info.get("unexpected_keys") or [])
    mismatched = list(info.get("mismatched_keys") or [])
    if missing or mismatched:
        first = (missing or [m[0] if isinstance(m, tuple) else m for m in mismatched])[0]
        raise CheckpointError("{weights} does not hold {what}: {n_missing} keys missing, "
                              "{n_mismatched} of the wrong shape (e.g. {first})",
                              weights=weights, what=what, n_missing=len(missing),
                              n_mismatched=len(mismatched), first=first)
    if unexpected:
        log.debug("%s: %d unused keys (e.g. %s)", weights, len(unexpected), unexpected[0])
    return model


@dataclass(frozen=True)
class AudioTrack:
    """features [shape=(L, 5, 384)] float32: whisper levels at 50 Hz, zero-padded (2p before,
    >= 6p after); starts [shape=(T,)] int: window start of each video frame in it."""

    features: np.ndarray
    starts: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(len(self.starts))

    def prompts(self, frames: np.ndarray) -> np.ndarray:
        """Prompts [shape=(len(frames), 50, 384)] of video frames ``frames`` (clamped to T - 1;
        a speech shorter than one frame gives all-zero prompts)."""
        frames = np.asarray(frames, dtype=np.int64).reshape(-1)
        if self.n_frames == 0:
            return np.zeros((len(frames), PROMPT_TOKENS, D_MODEL), np.float32)
        starts = self.starts[np.clip(frames, 0, self.n_frames - 1)]
        idx = starts[:, None] + np.arange(WINDOW)[None, :]                # [N, 10]
        return self.features[idx].reshape(len(frames), PROMPT_TOKENS, D_MODEL)


class MuseTalkModel:
    """The three MuseTalk 1.5 networks on one device. Build with :func:`load_musetalk`.

    ``audio_prompts(wav, fps) -> [T, 50, 384]``, ``reference_latents(faces) -> [N, 8, 32, 32]``,
    ``generate(faces, prompts) -> [N, 256, 256, 3]``. Thread-safe (one lock per model).
    """

    def __init__(self, *, unet, vae, whisper, extractor, device: "torch.device",
                 dtype: "torch.dtype", files: dict[str, Path]) -> None:
        import torch
        self.unet, self.vae, self.whisper, self.extractor = unet, vae, whisper, extractor
        self.device, self.dtype, self.files = device, dtype, files
        self.folder = files["musetalkV15/unet.pth"].parents[1]
        self._pe = torch.from_numpy(positional_encoding()).to(device)
        self._lock = threading.Lock()
        self.gpu_seconds = 0.0   # time inside the networks (for benchmarks)

    # -- audio ---------------------------------------------------------------------------
    def whisper_features(self, wav: np.ndarray) -> np.ndarray:
        """All 5 whisper encoder levels [shape=(50 Hz frames, 5, 384)] float32, untrimmed
        (1500 frames per started 30 s segment)."""
        import torch
        wav = np.ascontiguousarray(np.asarray(wav, dtype=np.float32).reshape(-1))
        seg = SEGMENT_SECONDS * SAMPLE_RATE
        mels = [self.extractor(wav[i:i + seg], sampling_rate=SAMPLE_RATE,
                               return_tensors="np").input_features[0]
                for i in range(0, max(1, len(wav)), seg)]
        out = []
        with self._lock, torch.inference_mode():
            t0 = time.perf_counter()
            for i in range(0, len(mels), 8):     # 8 segments (4 min) per encoder pass
                x = torch.from_numpy(np.stack(mels[i:i + 8])).to(self.device)
                states = self.whisper(x, output_hidden_states=True).hidden_states
                if len(states) != LEVELS:
                    raise BackendError("whisper encoder returned {n_states} hidden states, "
                                       "expected {LEVELS} (whisper-tiny)",
                                       n_states=len(states), LEVELS=LEVELS)
                out.append(torch.stack(states, dim=2).float().reshape(-1, LEVELS, D_MODEL).cpu())
            self.gpu_seconds += time.perf_counter() - t0
        return torch.cat(out).numpy()

    def audio_track(self, wav: np.ndarray, fps: float) -> "AudioTrack":
        """The speech's padded 50 Hz features and each video frame's window start (prompts are
        cut from it on demand: 6x less memory than all prompts of a long speech at 30 fps)."""
        wav = np.asarray(wav, dtype=np.float32).reshape(-1)
        n_frames, trim, p, starts = prompt_layout(len(wav), fps)
        feats = self.whisper_features(wav)[:trim]
        need = int(starts[-1]) + WINDOW if n_frames else 0
        after = max(PAD_AFTER * p, need - PAD_BEFORE * p - len(feats))
        padded = np.concatenate([np.zeros((PAD_BEFORE * p, LEVELS, D_MODEL), np.float32), feats,
                                 np.zeros((after, LEVELS, D_MODEL), np.float32)])
        return AudioTrack(features=padded, starts=starts)

    def audio_prompts(self, wav: np.ndarray, fps: float) -> np.ndarray:
        """Per-video-frame audio prompts [shape=(T, 50, 384)] float32 (no position code).

        wav [shape=(n,)] float32 mono at 16 kHz; fps the video's rate (29.97 is kept exact,
        see the module docstring). T = floor(n / 16000 x fps). Token k of frame t is level
        k % 5 of feature frame start[t] + k // 5 (see :func:`prompt_layout`).
        """
        track = self.audio_track(wav, fps)
        return track.prompts(np.arange(track.n_frames))

    # -- faces ---------------------------------------------------------------------------
    def _to_device(self, faces: np.ndarray) -> "torch.Tensor":
        import torch
        x = torch.from_numpy(np.ascontiguousarray(faces))
        if self.device.type == "cuda":
            x = x.pin_memory()
        return x.to(self.device, non_blocking=True)

    def reference_latents(self, faces: np.ndarray) -> np.ndarray:
        """faces [shape=(N, 256, 256, 3)] uint8 BGR -> [shape=(N, 8, 32, 32)] (masked, reference)
        VAE latents (posterior mean x 0.18215), on the host in the model's dtype (float32 for
        bfloat16)."""
        import torch
        faces = _check_faces(faces)
        with self._lock, torch.inference_mode():
            t0 = time.perf_counter()
            lat = self._encode(self._to_device(faces))
            if lat.dtype == torch.bfloat16:          # numpy has no bfloat16
                lat = lat.float()
            out = lat.cpu().numpy()
            self.gpu_seconds += time.perf_counter() - t0
        return out

    def _encode(self, faces: "torch.Tensor") -> "torch.Tensor":
        import torch
        x = faces.flip(-1).permute(0, 3, 1, 2).float() / 255.0     # BGR uint8 -> RGB 0..1
        masked = x.clone()
        masked[:, :, FACE // 2:] = 0.0                               # hide the lower half
        both = (torch.cat([masked, x]) - 0.5) / 0.5
        mean = self.vae.encode(both.to(self.dtype)).latent_dist.mean * VAE_SCALE
        n = faces.shape[0]
        return torch.cat([mean[:n], mean[n:]], dim=1)               # [N, 8, 32, 32]

    def generate_from_latents(self, latents: np.ndarray, prompts: np.ndarray) -> np.ndarray:
        """latents [shape=(N, 8, 32, 32)], prompts [shape=(N, 50, 384)] -> faces
        [shape=(N, 256, 256, 3)] uint8 BGR."""
        import torch
        latents = np.asarray(latents)
        prompts = np.asarray(prompts, dtype=np.float32)
        if latents.ndim != 4 or latents.shape[1:] != (8, LATENT, LATENT):
            raise InputError("latents must be [N, 8, {LATENT}, {LATENT}], got {shape}",
                             LATENT=LATENT, shape=latents.shape)
        _check_prompts(prompts, len(latents))
        with self._lock, torch.inference_mode():
            t0 = time.perf_counter()
            lat = torch.from_numpy(np.ascontiguousarray(latents)).to(self.device, self.dtype)
            out = self._decode_step(lat, self._prompts(prompts)).cpu().numpy()
            self.gpu_seconds += time.perf_counter() - t0
        return out

    def _prompts(self, prompts: np.ndarray) -> "torch.Tensor":
        import torch
        p = torch.from_numpy(np.ascontiguousarray(prompts, dtype=np.float32)).to(self.device)
        return (p + self._pe).to(self.dtype)

    def _decode_step(self, latents: "torch.Tensor", prompts: "torch.Tensor") -> "torch.Tensor":
        import torch
        t = torch.tensor([TIMESTEP], device=self.device)
        pred = self.unet(latents, t, encoder_hidden_states=prompts).sample
        img = self.vae.decode(pred / VAE_SCALE).sample
        img = (img.float() / 2 + 0.5).clamp(0, 1)
        img = (img * 255).round().to(torch.uint8)
        return img.permute(0, 2, 3, 1).flip(-1).contiguous()          # RGB -> BGR, NHWC

    def generate(self, faces: np.ndarray, prompts: np.ndarray) -> np.ndarray:
        """faces [shape=(N, 256, 256, 3)] uint8 BGR crops, prompts [shape=(N, 50, 384)] (from
        :meth:`audio_prompts`) -> new faces [shape=(N, 256, 256, 3)] uint8 BGR. One pass."""
        import torch
        faces = _check_faces(faces)
        prompts = np.asarray(prompts, dtype=np.float32)
        _check_prompts(prompts, len(faces))
        with self._lock, torch.inference_mode():
            t0 = time.perf_counter()
            lat = self._encode(self._to_device(faces))
            out = self._decode_step(lat, self._prompts(prompts)).cpu().numpy()
            self.gpu_seconds += time.perf_counter() - t0
        return out


def _check_faces(faces: np.ndarray) -> np.ndarray:
    faces = np.asarray(faces)
    if faces.ndim != 4 or faces.shape[1:] != (FACE, FACE, 3) or faces.dtype != np.uint8:
        raise InputError("faces must be uint8 [N, {FACE}, {FACE}, 3], got {dtype} "
                         "{shape}", FACE=FACE, dtype=faces.dtype, shape=list(faces.shape))
    return faces


def _check_prompts(prompts: np.ndarray, n: int) -> None:
    if prompts.shape != (n, PROMPT_TOKENS, D_MODEL):
        raise InputError("prompts must be [{n}, {PROMPT_TOKENS}, {D_MODEL}], got "
                         "{shape}",
                         n=n, PROMPT_TOKENS=PROMPT_TOKENS, D_MODEL=D_MODEL, shape=list(prompts.shape))


_MODELS: dict[tuple, MuseTalkModel] = {}
_MODELS_LOCK = threading.Lock()


def load_musetalk(models_dir: str | os.PathLike | None = None, device: "str | torch.device" = "cpu",
                  *, dtype: str = "auto") -> MuseTalkModel:
    """Load MuseTalk 1.5 from its ``models/`` folder (default ``checkpoints/musetalk``), once
    per process, folder, device and dtype.

    device "cpu" | "cuda[:N]" | "auto"; dtype "auto" (float16 on CUDA, float32 on CPU) |
    "float32" | "float16" | "bfloat16" (UNet and VAE; whisper always runs in float32).
    Raises :class:`CheckpointError` naming the file that is missing, truncated or wrong.
    """
    import torch

    from .wav2lip import resolve_device
    files = check_models_dir(models_dir)
    dev = resolve_device(str(device))
    amp = _amp_dtype(dev, dtype)
    unet_file = files["musetalkV15/unet.pth"]
    stamp = tuple((p.stat().st_size, p.stat().st_mtime_ns) for p in files.values())
    key = (str(unet_file.parents[1].resolve()), stamp, str(dev), str(amp))
    with _MODELS_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        t0 = time.perf_counter()
        from diffusers import AutoencoderKL
        from transformers import WhisperFeatureExtractor, WhisperModel
        unet = _load_unet(files["musetalkV15/musetalk.json"], unet_file)
        vae_w = files["sd-vae/diffusion_pytorch_model.bin"]
        vae = _load_pretrained(AutoencoderKL, vae_w.parent, vae_w, Text("the sd-vae-ft-mse AutoencoderKL"))
        wh_w = files["whisper/pytorch_model.bin"]
        whisper = _load_pretrained(WhisperModel, wh_w.parent, wh_w, "whisper-tiny").get_encoder()
        try:
            extractor = WhisperFeatureExtractor.from_pretrained(str(wh_w.parent), local_files_only=True)
        except Exception as exc:  # noqa: BLE001
            raise CheckpointError("{path} does not load as "
                                  "a WhisperFeatureExtractor ({reason})",
                                  path=files["whisper/preprocessor_config.json"], reason=_one_line(exc)) from None
        for net in (unet, vae, whisper):
            net.eval().requires_grad_(False)
        with _quiet_libraries():
            unet.to(dev, amp)
            vae.to(dev, amp)
            whisper.to(dev, torch.float32)
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True     # fixed 256x256 shapes
        model = MuseTalkModel(unet=unet, vae=vae, whisper=whisper, extractor=extractor,
                              device=dev, dtype=amp, files=files)
        log.info("musetalk: loaded %s on %s (%s) in %.1f s", unet_file.parents[1], dev,
                 str(amp).replace("torch.", ""), time.perf_counter() - t0)
        _MODELS[key] = model
        return model


# ============================================================================ latent cache
class LatentCache:
    """Reference latents by the content hash (blake2b) of each 256x256 crop.

    RAM: the last :data:`MEMORY_LATENTS` crops. Disk (when ``folder`` is given): one small
    ``.npz`` chunk per batch of new crops under ``folder/<shard>/``, written atomically; the
    shard names the video (its landmark track) and the model (VAE file, dtype), so a lookup
    reads only that video's chunks, and a hit is exact by construction (content hash).
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self._ram: OrderedDict[str, np.ndarray] = OrderedDict()
        self._index: dict[str, tuple[Path, int]] = {}
        self._chunks: OrderedDict[Path, np.ndarray] = OrderedDict()
        self.hits = self.misses = 0

    def open_shard(self, shard: str | None) -> None:
        """Point the disk part at ``folder/<shard>`` and index its chunks (digests only)."""
        self._index.clear()
        self._chunks.clear()
        self.shard_dir = self.folder / shard if (self.folder and shard) else None
        if self.shard_dir is None or not self.shard_dir.is_dir():
            return
        for chunk in sorted(self.shard_dir.glob("*.npz")):
            try:
                with np.load(chunk) as z:
                    for row, digest in enumerate(z["digests"].tolist()):
                        self._index[digest] = (chunk, row)
            except Exception as exc:  # noqa: BLE001 - a damaged chunk is recomputed
                log.warning("musetalk latent cache %s unreadable (%s); ignoring it", chunk, exc)

    def get(self, digest: str) -> np.ndarray | None:
        if digest in self._ram:
            self._ram.move_to_end(digest)
            self.hits += 1
            return self._ram[digest]
        where = self._index.get(digest)
        if where is not None:
            chunk, row = where
            if chunk not in self._chunks:
                try:
                    with np.load(chunk) as z:
                        self._chunks[chunk] = z["latents"]
                except Exception:  # noqa: BLE001
                    self._index.pop(digest, None)
                    self.misses += 1
                    return None
                while len(self._chunks) > CHUNKS_OPEN:
                    self._chunks.popitem(last=False)
            self._chunks.move_to_end(chunk)
            self.hits += 1
            return self._remember(digest, self._chunks[chunk][row])
        self.misses += 1
        return None

    def _remember(self, digest: str, latent: np.ndarray) -> np.ndarray:
        self._ram[digest] = latent
        while len(self._ram) > MEMORY_LATENTS:
            self._ram.popitem(last=False)
        return latent

    def put(self, digests: list[str], latents: np.ndarray) -> None:
        for d, lat in zip(digests, latents):
            self._remember(d, lat)
        if getattr(self, "shard_dir", None) is None or not digests:
            return
        from ..cache import atomic_save_npz
        path = self.shard_dir / f"{digests[0][:16]}-{len(digests)}.npz"
        try:
            atomic_save_npz(path, digests=np.array(digests), latents=np.ascontiguousarray(latents))
        except OSError as exc:   # a full or read-only disk must not fail the run
            log.warning("musetalk latent cache not written (%s)", exc)
            return
        for row, d in enumerate(digests):
            self._index[d] = (path, row)


def crop_digest(crop: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(crop).tobytes(), digest_size=16).hexdigest()


# ============================================================================ backend
class MuseTalkBackend(Backend):
    """MuseTalk 1.5 on the engine's landmarks; models load once per process.

    models_dir  MuseTalk's ``models/`` folder (default ``checkpoints/musetalk``); ``checkpoint``
                may name it, or a file in it (see :func:`models_dir_for`).
    device      "auto" (CUDA if available) | "cpu" | "cuda[:N]".
    batch_size  faces per network pass.
    dtype       "auto" (float16 on CUDA, float32 on CPU) | "float32" | "float16" | "bfloat16".
    """

    name = "musetalk"
    needs_library = False
    options_used = frozenset({"models_dir", "checkpoint"})   # its own 256 px face crop: no pads

    @classmethod
    def check_model_options(cls, options: Any) -> None:
        """``checkpoint`` names the models folder or a file in it; any other file is refused."""
        models_dir_for(models_dir=options.models_dir, checkpoint=options.checkpoint)

    @classmethod
    def model_files(cls, *, checkpoint: Any = None, models_dir: Any = None) -> tuple[Path, ...]:
        """The 7 files of :data:`MODEL_FILES` in the folder the options name."""
        folder = models_dir_for(models_dir=models_dir, checkpoint=checkpoint)
        return tuple(_resolve(folder, entry) for entry in MODEL_FILES)

    @classmethod
    def output_options(cls, options: Any) -> Any:
        """As :meth:`Backend.output_options`, the models folder named one way (``checkpoint`` folded in)."""
        folder = models_dir_for(models_dir=options.models_dir, checkpoint=options.checkpoint)
        return super().output_options(options).replace(checkpoint=None, models_dir=str(folder.absolute()))

    def __init__(self, *, models_dir: str | os.PathLike | None = None,
                 checkpoint: str | os.PathLike | None = None, device: str = "auto",
                 batch_size: int = 16, dtype: str = "auto", **ignored: Any) -> None:
        self.models_dir = models_dir_for(models_dir=models_dir, checkpoint=checkpoint)
        self.model = load_musetalk(self.models_dir, device, dtype=dtype)
        self.batch_size = max(1, int(batch_size))
        self.cache = LatentCache()
        self._audio: AudioTrack | None = None
        self._file_info: list[dict[str, Any]] | None = None
        self.job: JobContext | None = None

    @property
    def gpu_seconds(self) -> float:
        return self.model.gpu_seconds

    def prepare(self, job: JobContext) -> None:
        """Run whisper over the speech (:class:`AudioTrack`) and open the video's latent cache."""
        self.job = job
        wav = np.asarray(job.audio.wav, dtype=np.float32)
        if int(job.audio.sr) != SAMPLE_RATE:
            import librosa
            wav = librosa.resample(wav, orig_sr=int(job.audio.sr), target_sr=SAMPLE_RATE)
        self._audio = self.model.audio_track(wav, job.audio.fps)
        folder = getattr(job, "cache_dir", None)
        use = bool(getattr(getattr(job, "options", None), "use_cache", True))
        self.cache = LatentCache(Path(folder) / "musetalk-latents" if folder and use else None)
        self.cache.open_shard(self._shard(job) if folder and use else None)

    def _shard(self, job: JobContext) -> str:
        """Cache shard: the video's landmark track (not the speech) and the VAE in use."""
        from .. import cache
        track = job.track
        lms = np.ascontiguousarray(np.asarray(getattr(track, "landmarks", np.zeros(0)), np.float32))
        vae = self.model.files["sd-vae/diffusion_pytorch_model.bin"]
        st = vae.stat()
        return cache.key(video_hash=hashlib.sha256(lms.tobytes()).hexdigest(),
                         size=(job.width, job.height), vae=(str(vae.resolve()), st.st_size, st.st_mtime_ns),
                         dtype=str(self.model.dtype), version=LATENT_CACHE_VERSION)

    def prompts(self, out_index: np.ndarray) -> np.ndarray:
        """Prompts [shape=(N, 50, 384)] of output frames ``out_index`` of the current job
        (frames past T = floor(seconds x fps) reuse the last one)."""
        if self._audio is None:
            raise BackendError("musetalk backend used before prepare(job)")
        return self._audio.prompts(out_index)

    def synthesize(self, batch: FrameBatch) -> list[MouthPatch | None]:
        """New 256x256 faces for every frame with landmarks, resized back to their box."""
        import cv2
        if self._audio is None:
            raise BackendError("musetalk backend used before prepare(job)")
        patches: list[MouthPatch | None] = [None] * len(batch.frames)
        rows, boxes, digests, latents, todo = [], [], [], [], []
        for i, (frame, lms) in enumerate(zip(batch.frames, batch.landmarks)):
            box = crop_box(lms, width=frame.shape[1], height=frame.shape[0])
            if box is None:
                continue
            crop = crop256(frame, box)
            digest = crop_digest(crop)
            lat = self.cache.get(digest)
            if lat is None:
                todo.append((len(rows), crop))
            rows.append(i)
            boxes.append(box)
            digests.append(digest)
            latents.append(lat)
        if not rows:
            return patches
        for s in range(0, len(todo), self.batch_size):       # only crops never seen before
            part = todo[s:s + self.batch_size]
            new = self.model.reference_latents(np.stack([c for _, c in part]))
            self.cache.put([digests[j] for j, _ in part], new)
            for (j, _), lat in zip(part, new):
                latents[j] = lat
        lat_all, prompts = np.stack(latents), self.prompts(np.asarray(batch.out_index)[rows])
        faces = np.concatenate([self.model.generate_from_latents(lat_all[s:s + self.batch_size],
                                                                 prompts[s:s + self.batch_size])
                                for s in range(0, len(rows), self.batch_size)])
        for row, (x1, y1, x2, y2), face in zip(rows, boxes, faces):
            image = cv2.resize(face, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LANCZOS4)
            patches[row] = MouthPatch(image=image, x0=x1, y0=y1)
        return patches

    def describe(self) -> dict[str, Any]:
        if self._file_info is None:      # hashed once (sha256 is cached on disk by mtime)
            self._file_info = [{"name": r["name"], "bytes": r["size"], "sha256": r["sha256"]}
                               for r in describe_models_dir(self.models_dir)]
        return {"backend": self.name, "models_dir": str(self.models_dir), "files": self._file_info,
                "device": str(self.model.device),
                "dtype": str(self.model.dtype).replace("torch.", ""), "batch_size": self.batch_size,
                "latent_cache_hits": self.cache.hits, "latent_cache_misses": self.cache.misses}

    def close(self) -> None:
        self._audio = None
        if self.model.device.type == "cuda":
            import torch
            torch.cuda.empty_cache()


__all__ = ["MODEL_FILES", "AudioTrack", "MuseTalkBackend", "MuseTalkModel", "LatentCache", "check_models_dir",
           "crop256", "crop_box", "default_models_dir", "describe_models_dir", "load_musetalk", "models_dir_for",
           "positional_encoding", "prompt_layout"]
