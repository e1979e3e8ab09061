"""HeyGem Workbench engine: speech + video (or photo) in, lip-synced video out.

Pipeline stages, one module each::

    media.py        probe / stream-decode / encode through ffmpeg
    audio.py        waveform loading, Wav2Lip mel spectrogram, loudness envelope
    visemes.py      speech -> phonemes (pocketsphinx) -> per-frame mouth targets
    landmarks.py    face detection + 68-point landmarks, largest-face tracking
    mouthlib.py     library of the person's own mouths (analysis pass)
    backends/       lip-sync backends (registry): "reuse" (default, no weights), "wav2lip"
    compositing.py  feathered, colour-matched mouth blending
    pipeline.py     the run as named stages: probe -> analyse -> render -> check -> record
    render.py       the render stage: decode -> synthesise -> composite -> encode, overlapped
    sync.py         audio/video offset and confidence from mouth landmarks
    diagnostics.py  plots (mel, landmarks, mouth track)
    records.py      run directories, params.json, logs
    cli.py          the ``heygem`` command

Imports are cheap: heavy libraries (torch, mediapipe, librosa) load on first use.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .errors import (BackendError, Cancelled, CheckpointError, HeyGemError, InputError,
                     MediaError, NoFaceError)
from .options import RunOptions

__version__ = "0.1.0"


if TYPE_CHECKING:
    import threading

    from .records import RunResult


def run(audio: str | Path, video: str | Path, *, out: str | Path | None = None,
        options: RunOptions | None = None, run_dir: str | Path | None = None,
        runs_root: str | Path = "runs", name: str | None = None, speech=None,
        progress: Callable[[str, int, int], None] | None = None, cancel: threading.Event | None = None,
        cache_dir: str | Path | None = None) -> RunResult:
    """Lip-sync ``video`` (or a photo) to ``audio``; see :func:`heygem_kernel.pipeline.run`.

    Importing the engine stays cheap: the pipeline (numpy, OpenCV, ...) loads on the first call.
    """
    from .pipeline import run as _run
    return _run(audio, video, out=out, options=options, run_dir=run_dir, runs_root=runs_root, name=name,
                speech=speech, progress=progress, cancel=cancel, cache_dir=cache_dir)


__all__ = ["run", "RunOptions", "HeyGemError", "InputError", "MediaError", "NoFaceError",
           "CheckpointError", "BackendError", "Cancelled", "__version__"]


def __dir__() -> list[str]:
    """``dir(heygem_kernel)`` (and tab completion): the public API, not the typing helpers this file
    imports (submodules are imported by name: ``import heygem_kernel.batch``)."""
    return sorted(__all__)
