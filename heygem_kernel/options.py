"""Options of one lip-sync run: a frozen dataclass, recorded verbatim in ``params.json``."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunOptions:
    """Every knob of :func:`heygem_kernel.run`.

    Sizes are relative to the face so that one setting works at any resolution.
    """

    backend: str = "reuse"           # lip-sync backend name (see heygem_kernel.backends.available())
    checkpoint: str | None = None    # learned backends: model file; default under checkpoints/
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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "RunOptions":
        return dataclasses.replace(self, **changes)
