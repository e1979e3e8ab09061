"""The contract every lip-sync backend fulfils.

A backend turns (speech, face frames) into new mouth pixels. It never decodes, encodes,
tracks faces or blends: the pipeline hands it batches of full frames with their landmarks,
and pastes what it returns back through the engine's feathered mouth mask
(:mod:`heygem_kernel.compositing`).
"""
from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np


@dataclass(frozen=True)
class AudioFeatures:
    """Speech features of one run, computed once (and re-used across a batch of videos).

    wav   [shape=(S,)] float32 mono waveform at ``sr`` Hz (16 kHz).
    mel   [shape=(80, M)] Wav2Lip-normalised mel spectrogram, 80 columns per second.
    fps   frame rate the per-frame tracks below are sampled at.
    envelope [shape=(T,)] speech loudness per output frame in [0, 1].
    visemes  dict of per-output-frame mouth targets, each [shape=(T,)] in [0, 1]:
             ``open`` (jaw/lip opening), ``width`` (spread), ``round`` (rounding).
    """

    wav: np.ndarray
    sr: int
    mel: np.ndarray
    fps: float
    envelope: np.ndarray
    visemes: dict[str, np.ndarray]

    @property
    def n_frames(self) -> int:
        return int(self.envelope.shape[0])

    @property
    def duration(self) -> float:
        return self.wav.shape[0] / float(self.sr)


@dataclass(frozen=True)
class JobContext:
    """What a backend may look at once per job, before the first batch.

    audio   the run's :class:`AudioFeatures` (n_frames = number of output frames).
    track   :class:`heygem_kernel.landmarks.FaceTrack` of the source video (all source frames).
    library :class:`heygem_kernel.mouthlib.MouthLibrary` or None: the person's own mouths.
    width, height  frame size in pixels.
    options the run's :class:`heygem_kernel.options.RunOptions`.
    cache_dir folder for content-hashed caches (``cache.default_dir()``) or None: no disk cache.
    """

    audio: AudioFeatures
    track: Any
    library: Any
    width: int
    height: int
    options: Any
    cache_dir: Any = None


@dataclass
class FrameBatch:
    """A batch of consecutive output frames.

    frames    list of B frames, each [shape=(H, W, 3)] uint8 BGR (read-only for backends).
    landmarks list of B arrays [shape=(68, 2)] float32 (iBUG-68 layout, pixel x, y) or None (no face).
    out_index [shape=(B,)] int: output frame numbers (audio time = out_index / fps).
    src_index [shape=(B,)] int: source frame numbers (after the loop plan / trimming; inside a
              cross-fade the heavier of the two blended frames).
    """

    frames: list
    landmarks: list
    out_index: np.ndarray
    src_index: np.ndarray


@dataclass(frozen=True)
class MouthPatch:
    """New pixels for one frame: ``image`` [shape=(h, w, 3)] uint8 BGR placed at (x0, y0).

    The patch must cover the mouth region; the compositor blends only inside its feathered
    mouth mask, so a patch may be larger (e.g. a whole face crop). ``alpha`` [shape=(h, w)]
    float32 in [0, 1], when given, says where the image holds the person's face: the
    compositor's mask is multiplied by it instead of being clipped to the frame's face outline
    (a resampled patch's edges and its own background stay out; face pixels past the frame's
    outline, such as the lower chin of a mouth more open than the frame's, come in).
    """

    image: np.ndarray
    x0: int
    y0: int
    alpha: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.alpha is not None and (self.alpha.shape != self.image.shape[:2]
                                       or not np.issubdtype(self.alpha.dtype, np.floating)):
            raise ValueError(f"MouthPatch.alpha must be a float array of shape {self.image.shape[:2]} "
                             f"(the image's height and width), got {self.alpha.dtype} {self.alpha.shape}")


#: :class:`~heygem_kernel.options.RunOptions` fields that only some backends read: model files and
#: the face-box padding. Each backend lists those it reads in :attr:`Backend.options_used`.
BACKEND_OPTIONS = ("checkpoint", "models_dir", "pads")


class Backend(abc.ABC):
    """Base class of lip-sync backends. Construct once per process; reuse across jobs."""

    name: ClassVar[str] = ""
    #: True when the backend needs a :class:`MouthLibrary` built during the analysis pass.
    needs_library: ClassVar[bool] = False
    #: Which of :data:`BACKEND_OPTIONS` this backend reads (a backend that does not say: all of them);
    #: the others, when a user sets them, are reported as ignored instead of being dropped in silence.
    options_used: ClassVar[frozenset[str]] = frozenset(BACKEND_OPTIONS)
    #: False when the output does not depend on ``device`` (no network: the CPU does it all).
    uses_device: ClassVar[bool] = True
    #: True when the mouth follows ``AudioFeatures.visemes`` (their timing, and so the per-speaker
    #: lead of :mod:`heygem_kernel.speaker_timing`); learned backends read the mel spectrogram.
    timing_from_visemes: ClassVar[bool] = False

    @classmethod
    def ignored_options(cls, options: Any) -> list[str]:
        """Names of :data:`BACKEND_OPTIONS` set in ``options`` (a RunOptions; away from their
        defaults) that this backend does not read, in :data:`BACKEND_OPTIONS` order."""
        defaults = {f.name: f.default for f in dataclasses.fields(options)}
        return [name for name in BACKEND_OPTIONS
                if name not in cls.options_used and _given(getattr(options, name), defaults[name])]

    @classmethod
    def output_options(cls, options: Any) -> Any:
        """``options`` (a RunOptions) as they decide this backend's output, for a batch item's key:
        the :data:`BACKEND_OPTIONS` it does not read are put back to their defaults, so setting one
        (``--checkpoint`` with ``reuse``) does not make finished items run again."""
        defaults = {f.name: f.default for f in dataclasses.fields(options)}
        return options.replace(**{name: defaults[name] for name in BACKEND_OPTIONS if name not in cls.options_used})

    @classmethod
    def model_files(cls, *, checkpoint: Any = None, models_dir: Any = None) -> tuple[Path, ...]:
        """The files a backend made with these options loads (default: none, no weights), present or
        not. A file replaced under the same name is another model: the process's model cache and a
        batch item's key follow them by size and date, and by content."""
        return ()

    @classmethod
    def check_model_options(cls, options: Any) -> None:
        """Refuse model options (``checkpoint``, ``models_dir``) this backend reads but cannot use
        as given, with one :class:`~heygem_kernel.errors.InputError` line, before any work. Default:
        nothing to refuse (that the paths exist is checked for every backend)."""

    def prepare(self, job: JobContext) -> None:
        """Per-job set-up (index audio features, pick reference frames...). Default: keep job."""
        self.job = job

    def replay(self, *, upto: int, landmarks: Callable[[int], "np.ndarray | None"]) -> None:
        """Bring per-job state to where a run has it just before output frame ``upto`` (a run
        synthesises frames 0, 1, ... in order; a one-frame preview calls this after
        :meth:`prepare`). ``landmarks(t)``: output frame t's landmarks [shape=(68, 2)] as the run
        hands them over, None where it hands none. Default: a backend whose frames do not depend on
        the frames before them has nothing to replay."""

    @abc.abstractmethod
    def synthesize(self, batch: FrameBatch) -> list[MouthPatch | None]:
        """Return one patch per frame of ``batch`` (None: leave the frame as it is)."""

    def describe(self) -> dict[str, Any]:
        """Facts for the run record (model file, checksum, device...)."""
        return {"backend": self.name}

    def close(self) -> None:  # release GPU memory, threads...
        pass


def _given(value: Any, default: Any) -> bool:
    """A value the user set: not None and not the default (pads come as a list from JSON)."""
    if value is None:
        return False
    if isinstance(default, tuple) and isinstance(value, (list, tuple)):
        return tuple(value) != default
    return value != default
