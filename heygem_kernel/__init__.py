"""HeyGem Workbench engine: speech + video (or photo) in, lip-synced video out.

Pipeline stages, one module each::

    media.py        probe / stream-decode / encode through ffmpeg
    audio.py        waveform loading, Wav2Lip mel spectrogram, loudness envelope
    visemes.py      speech -> phonemes (pocketsphinx) -> per-frame mouth targets
    landmarks.py    face detection + 68-point landmarks, largest-face tracking
    mouthlib.py     library of the person's own mouths (analysis pass)
    backends/       lip-sync backends (registry): "reuse" (default, no weights), "wav2lip"
    compositing.py  feathered, colour-matched mouth blending
    pipeline.py     the streaming run: analyse -> synthesise -> composite -> encode
    sync.py         audio/video offset and confidence from mouth landmarks
    diagnostics.py  plots (mel, landmarks, mouth track)
    records.py      run directories, params.json, logs
    cli.py          the ``heygem`` command

Imports are cheap: heavy libraries (torch, mediapipe, librosa) load on first use.
"""
from __future__ import annotations

from .errors import (BackendError, Cancelled, CheckpointError, HeyGemError, InputError,
                     MediaError, NoFaceError)
from .options import RunOptions

__version__ = "0.1.0"


def run(*args, **kwargs):
    """Lip-sync one video to one speech recording; see :func:`heygem_kernel.pipeline.run`."""
    from .pipeline import run as _run
    return _run(*args, **kwargs)


__all__ = ["run", "RunOptions", "HeyGemError", "InputError", "MediaError", "NoFaceError",
           "CheckpointError", "BackendError", "Cancelled", "__version__"]
