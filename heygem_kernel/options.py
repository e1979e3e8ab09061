"""Options of one lip-sync run: a frozen dataclass, recorded verbatim in ``params.json``.

Every option is checked when the dataclass is made (:meth:`RunOptions.validate`), so a bad
value fails at once with one :class:`~heygem_kernel.errors.InputError` line, before any file is
read: the CLI (exit 2), the panel, the batch notebook and the Python API all build one.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import re
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .i18n import Text

# --- accepted ranges (and why) -----------------------------------------------------------------
BATCH_SIZE_RANGE = (1, 1024)        # frames per batch: >= 1; 1024 1080p frames are already 6 GB
MASK_SCALE_RANGE = (0.25, 4.0)      # x the default mouth mask: smaller misses the lips, larger eats the face
UNIT_RANGE = (0.0, 1.0)             # feather, smoothing
PAD_RANGE = (-512, 512)             # px added to (negative: taken from) each side of the face box
FPS_RANGE = (1.0, 240.0)            # a photo's output rate: below 1 fps nothing moves; 240: top of H.264 levels
OUT_HEIGHT_RANGE = (32, 4320)       # px: a face needs a few dozen rows; 4320 is 8K
CRF_RANGE = (0, 51)                 # libx264's 8-bit CRF scale
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                "veryslow", "placebo")
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")

# the CLI flag of each option whose name differs from its field (messages name both)
CLI_FLAGS = {"still_fps": "--fps", "color_match": "--no-color-match", "sync_check": "--no-sync-check",
             "use_cache": "--no-cache"}


@dataclass(frozen=True)
class RunOptions:
    """Every knob of :func:`heygem_kernel.run`.

    Sizes are relative to the face so that one setting works at any resolution.
    Raises :class:`~heygem_kernel.errors.InputError` (one line naming the option, its CLI
    flag, the accepted range and the value given) for any value out of range.
    """

    backend: str = "reuse"           # lip-sync backend name (see heygem_kernel.backends.available())
    checkpoint: str | None = None    # learned backends: model file; default under checkpoints/
    models_dir: str | None = None    # musetalk: MuseTalk's models/ folder; default checkpoints/musetalk
    device: str = "auto"             # "auto" | "cpu" | "cuda" | "cuda:N"
    detector: str = "mediapipe"      # landmark detector name (see heygem_kernel.landmarks)
    batch_size: int = 16             # frames per processing batch (bounded memory; GPU batch)
    mask_scale: float = 1.0          # mouth mask size, x the default mouth-region size
    feather: float = 0.35            # mask edge softness, as a fraction of the mask radius
    pads: tuple[int, int, int, int] = (0, 10, 0, 0)  # top, bottom, left, right face-box padding (px)
    smoothing: float = 0.5           # temporal landmark smoothing, 0 (none) .. 1 (strong)
    color_match: bool = True         # match the new mouth's colour to the frame around it
    still_fps: float = 25.0          # frame rate of the output when the input is a photo
    out_height: int | None = None    # resize the output to this height (None: input resolution)
    crf: int = 18                    # H.264 quality (lower is better)
    preset: str = "veryfast"         # x264 preset
    sync_check: bool = True          # measure the output's A/V offset and confidence
    use_cache: bool = True           # re-use face tracks cached by video content hash
    enhance: str | None = None       # face restoration after lip sync (heygem_kernel.enhance.available())
    enhance_model: str | None = None  # its model file (.onnx; .pth with spandrel); default under checkpoints/
    enhance_strength: float = 0.8    # 0..1: how much of the restored mouth replaces the composited one
    loop: str = "seamless"           # speech longer than the video: "seamless" forward loops | "pingpong"
    language: str = "auto"           # speech language: auto (English phone model) or a heygem_kernel.articulation code
    speaker_timing: bool = True      # time the mouth by the presenter's own lips vs sound (heygem_kernel.speaker_timing)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every option; raise :class:`InputError` for the first bad one."""
        from .backends import available
        from .detectors import DETECTORS
        _choice(self, "backend", available())
        _path_or_none(self, "checkpoint")
        _path_or_none(self, "models_dir")
        if not isinstance(self.device, str) or not DEVICE_PATTERN.fullmatch(self.device):
            _bad(self, "device", Text("must be auto, cpu, cuda or cuda:N"))
        _choice(self, "detector", sorted(DETECTORS))
        _integer(self, "batch_size", BATCH_SIZE_RANGE)
        _number(self, "mask_scale", MASK_SCALE_RANGE)
        _number(self, "feather", UNIT_RANGE)
        _number(self, "smoothing", UNIT_RANGE)
        pads = self.pads
        if (not isinstance(pads, (tuple, list)) or len(pads) != 4
                or not all(_is_int(p) and PAD_RANGE[0] <= p <= PAD_RANGE[1] for p in pads)):
            _bad(self, "pads", Text("must be 4 whole numbers of pixels (top, bottom, left, right) from {lo} to {hi}",
                                    lo=PAD_RANGE[0], hi=PAD_RANGE[1]))
        _number(self, "still_fps", FPS_RANGE, unit=" fps")
        if self.out_height is not None:
            _integer(self, "out_height", OUT_HEIGHT_RANGE, unit=" px", none_ok=True)
        _integer(self, "crf", CRF_RANGE)
        _choice(self, "preset", X264_PRESETS)
        from .loops import LOOP_MODES
        _choice(self, "loop", LOOP_MODES)
        if self.enhance is not None:
            from .enhance import available as enhancers
            _choice(self, "enhance", enhancers(), or_none=True)
        _path_or_none(self, "enhance_model")
        _number(self, "enhance_strength", UNIT_RANGE)
        from .articulation import normalise_language
        normalise_language(self.language)            # InputError naming the accepted codes
        for name in ("color_match", "sync_check", "use_cache", "speaker_timing"):
            if not isinstance(getattr(self, name), bool):
                _bad(self, name, Text("must be True or False"))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "RunOptions":
        return dataclasses.replace(self, **changes)


def check_device(device: str) -> None:
    """Refuse a CUDA device that this machine's torch does not see, with one :class:`InputError` line.

    The same for every backend, and called before any work where the run happens
    (:func:`heygem_kernel.run`, ``heygem run``, ``heygem batch`` with local items): a ``--device
    cuda`` that cannot be honoured is a mistake to show, not a slow CPU run to discover later.
    ``auto`` and ``cpu`` always pass (without importing torch). Not part of :meth:`RunOptions.validate`,
    because options may be made on a machine without a GPU for Dask workers that have one.
    """
    if not str(device).startswith("cuda"):
        return
    try:
        import torch
    except ImportError:
        raise InputError("device {device!r} requested but PyTorch is not installed; install a CUDA build of "
                         "torch or use --device cpu", device=device) from None
    if not torch.cuda.is_available():
        raise InputError("device {device!r} requested but CUDA is not available "
                         "(torch {torch_version}); use --device cpu",
                         device=device, torch_version=torch.__version__)
    index, count = int(device.partition(":")[2] or 0), torch.cuda.device_count()
    if index >= count:
        raise InputError("device {device!r} requested but torch sees {count} CUDA device(s): cuda:0 to "
                         "cuda:{last}", device=device, count=count, last=count - 1)


def check_model_paths(options: RunOptions) -> None:
    """Refuse a ``checkpoint`` or ``models_dir`` that does not exist, with one :class:`InputError` line.

    For every backend, before any work: a mistyped model path is a mistake to show, also where
    the chosen backend would not read it (``reuse``), not a fallback to the default files or a
    failure after the speech analysis. What is inside is the backend's to check when it loads.
    """
    from pathlib import Path
    for name in ("checkpoint", "models_dir"):
        value = getattr(options, name)
        if value is None:
            continue
        path = Path(value).expanduser()
        if not path.exists():
            raise InputError("{option}: no such file or folder: {path}", option=option_label(name), path=path)
        if name == "models_dir" and not path.is_dir():
            raise InputError("{option}: {path} is a file; give the folder that holds the model files",
                             option=option_label(name), path=path)


def option_label(name: str) -> str:
    """``still_fps (--fps)``: the API name and the CLI flag of an option."""
    return f"{name} ({CLI_FLAGS.get(name, '--' + name.replace('_', '-'))})"


def _bad(opts: RunOptions, name: str, why: Text) -> None:
    """Raise the one-line error; ``why`` is translated where the error is shown."""
    raise InputError("invalid option {option}: {why}; got {value!r}", option=option_label(name), why=why,
                     value=getattr(opts, name))


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _choice(opts: RunOptions, name: str, choices, *, or_none: bool = False) -> None:
    if getattr(opts, name) not in choices:
        _bad(opts, name, Text("must be one of {choices} (or None)", choices=", ".join(choices)) if or_none
             else Text("must be one of {choices}", choices=", ".join(choices)))


def _path_or_none(opts: RunOptions, name: str) -> None:
    value = getattr(opts, name)
    if value is not None and (not isinstance(value, str) and not hasattr(value, "__fspath__")
                              or not str(value).strip()):
        _bad(opts, name, Text("must be a model file path or None"))


def _integer(opts: RunOptions, name: str, bounds: tuple[int, int], *, unit: str = "",
             none_ok: bool = False) -> None:
    value = getattr(opts, name)
    if not _is_int(value) or not bounds[0] <= value <= bounds[1]:
        _bad(opts, name, Text("must be a whole number from {lo} to {hi}{unit} (or None: keep the input's)",
                              lo=bounds[0], hi=bounds[1], unit=unit) if none_ok
             else Text("must be a whole number from {lo} to {hi}{unit}", lo=bounds[0], hi=bounds[1], unit=unit))


def _number(opts: RunOptions, name: str, bounds: tuple[float, float], *, unit: str = "") -> None:
    value = getattr(opts, name)
    if not _is_number(value) or not bounds[0] <= value <= bounds[1]:
        _bad(opts, name, Text("must be a number from {lo:g} to {hi:g}{unit}", lo=bounds[0], hi=bounds[1], unit=unit))
