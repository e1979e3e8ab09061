"""In-sync recordings rotated in time, for tests of the sync reading.

Ground truth: the shared recordings are in sync, and so is any rotation of one (its frames and its
sound rotated together by the same time, the phones recognised again), so every rotation should
read what the untouched clip reads. (benchmarks/bench_sync_rotations.py prints the same readings.)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from heygem_kernel import landmarks, media, sync
from heygem_kernel.audio import speech_from_wav


class Rotations:
    """A clip's face track and own sound (container start applied), tracked once."""

    def __init__(self, video: Path):
        self.track = landmarks.track_video(video)
        own, _ = sync._own_speech(video, media.probe_video(video).audio_delay)
        self.fps = float(self.track.fps)
        self.sr = own.sr
        self.wav = own.wav[:int(round(self.track.n_frames / self.fps * own.sr))]

    def __call__(self, frames: int):
        """(mouth_open, mouth_width, speech, fps) of the clip rotated by ``frames`` frames."""
        speech = speech_from_wav(np.roll(self.wav, -int(round(frames / self.fps * self.sr))), sr=self.sr)
        return (np.roll(self.track.mouth_open(), -frames), np.roll(self.track.mouth_width(), -frames),
                speech, self.fps)

    def reading(self, frames: int) -> "sync.SyncEstimate":
        """``heygem sync``'s estimate of the clip rotated by ``frames`` frames."""
        mouth, width, speech, fps = self(frames)
        return sync.estimate_from_speech(mouth, speech=speech, fps=fps, mouth_width=width)
