"""Small media helpers for the page: thumbnails and PNG encoding (ffmpeg / OpenCV)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np

from heygem_kernel.errors import MediaError
from heygem_kernel.media import ffmpeg_exe
from heygem_kernel.records import atomic_output

THUMB_WIDTH = 160                   # px; history rows and result cards
THUMB_AT_S = 0.5                    # s into the video: frame 0 is often a blink or a fade-in


def thumbnail(video: str | os.PathLike, dest: str | os.PathLike, *, width: int = THUMB_WIDTH) -> Path | None:
    """Write a ``width``-wide PNG of an early frame of ``video`` (or photo) to ``dest``.

    Returns ``dest``, or None when ffmpeg is missing or cannot decode the file. Reuses an
    existing ``dest`` that is newer than ``video``.
    """
    video, dest = Path(video), Path(dest)
    if dest.is_file() and dest.stat().st_mtime >= video.stat().st_mtime:
        return dest
    try:
        ffmpeg = ffmpeg_exe()
    except MediaError:
        return None
    for seek in (THUMB_AT_S, 0.0):  # clips shorter than THUMB_AT_S: take the first frame
        try:
            with atomic_output(dest) as tmp:   # renamed over dest only if the block ends cleanly
                cmd = [ffmpeg, "-nostdin", "-v", "error", "-y", "-ss", f"{seek}", "-i", str(video),
                       "-frames:v", "1", "-vf", f"scale={width}:-2", "-f", "image2", "-c:v", "png", str(tmp)]
                subprocess.run(cmd, check=True, capture_output=True, timeout=60)
                if tmp.stat().st_size == 0:
                    raise OSError("ffmpeg wrote no picture")
            return dest
        except (subprocess.SubprocessError, OSError):
            continue
    return None


def png_bytes(image: np.ndarray) -> bytes:
    """PNG bytes of ``image`` [shape=(H, W, 3)] uint8 BGR (the engine's frame layout)."""
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image))
    if not ok:
        raise ValueError(f"cannot encode an image of shape {image.shape} as PNG")
    return buf.tobytes()
