"""Audio/video sync check: offset and confidence from the mouth's own landmarks.

The mouth opening of a video (inner-lip gap over eye distance, per frame) is cross-correlated
with the mouth opening the speech calls for (:mod:`heygem_kernel.visemes` ``open`` track) at
every lag of +-``max_shift`` frames. The best lag is the offset; how far the peak stands above
the rest of the curve (peak minus median, like SyncNet's LSE-C) is the confidence.

Sign: a **positive** offset means the **video lags the audio** (the mouth moves after the sound);
negative means the video leads (the sound comes late, e.g. audio delayed in the container).

Why these tracks (measured with ``landmarks.track_video`` on talking_590 / 524 / vfr_700,
recorded in sync, against ~60 unrelated 5 s pairings each: speech_en_60s cut every second,
speech_en_5s, speech_zh_8s and the other clips; "chance" = their 95th-percentile confidence):

* the loudness envelope finds the in-sync lag, but not talking_590 shifted by 5 frames (it
  reads -12 / +14: fricatives are loud with the mouth nearly closed), and its confidence sits
  below chance;
* the viseme ``open`` track (phones -> opening, sampled ``visemes.LEAD`` ahead of the sound)
  reads every clip and every +-5 frame shift within 1 frame, but with confidence 0.66, 0.37,
  0.36 against chance 0.57, 0.51, 0.51 it cannot tell two of the clips from unrelated speech;
* adding the mouth *width* channel (corner distance vs the viseme ``width`` track) at weight
  0.5 gives 0.60, 0.50, 0.51 against chance 0.50, 0.39, 0.41: every in-sync clip above chance.
  Its own peak is a poor clock though (lip spreading leads or trails the sound by -70 ms on
  talking_590 and +50 ms on the others), so the width channel only feeds the confidence; the
  offset is the peak of the opening channel. Mixing in the envelope only made things worse.

Slow drifts of the mouth baseline (head pose, smiles) and of loudness (phrases) are removed by
subtracting a 1 s moving average; robust z-scores (median/MAD, clipped at 3) stop a single
landmark glitch from dominating. Frames without a face (NaN) are ignored. The correlation
window is fixed (the middle ``T - 2 * max_shift`` mouth frames) so every lag is scored on the
same frames and the curve has no edge bias.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, MediaError

MAX_SHIFT = 15              # frames searched either way: 0.6 s at 25 fps, beyond any usable clip
DETREND_S = 1.0             # s; moving average subtracted from both tracks (0.6..1.5 s all work)
CLIP_Z = 3.0                # robust z-scores are clipped here (a glitch is one point, not a peak)
WIDTH_WEIGHT = 0.5          # weight of the width-channel curve against the opening curve
# The recorded mouth opening trails the viseme track (which already leads the sound by
# visemes.LEAD) a little more: sub-frame peaks of the opening channel on the in-sync clips, and
# on the same clips shifted by +-5 frames, sit 10..54 ms late (talking_590 18..20 ms, talking_524
# 10..35 ms, talking_vfr_700 44..54 ms). Subtracting the middle of that range leaves every
# reading within 22 ms (0.55 frame) of the truth.
MOUTH_LAG_S = 0.032
MIN_FRAMES = 20             # correlation window below this: no estimate (confidence 0)
MAX_NO_FACE = 0.5           # more than half the frames without a face: no estimate
# Chance level: unrelated speech reaches this confidence 5 % of the time. Measured 95th
# percentiles over ~60 unrelated pairings per clip: 0.39..0.50 for 3.7..4.7 s correlation
# windows (the clips above), 0.24 for 8.8 s and 0.20 for 14.8 s (clips joined end to end),
# i.e. about CHANCE_K / sqrt(window seconds), never below CHANCE_FLOOR.
CHANCE_K = 0.85
CHANCE_K_OPEN_ONLY = 1.05   # the same without the width channel (95th percentiles 0.51..0.57)
CHANCE_FLOOR = 0.15
# ITU-R BT.1359: offsets a viewer can detect start at sound 45 ms before the picture (video
# lags) and 125 ms after it (video leads). Inside that window the clip counts as in sync.
IN_SYNC_MS = (-125.0, 45.0)


@dataclass(frozen=True)
class SyncEstimate:
    """Estimated audio/video offset of one video against one speech track.

    offset_frames  best lag in whole frames; positive = video lags audio (mouth after sound).
    offset_ms      the same in milliseconds (offset_frames / fps).
    offset_exact   sub-frame offset (parabolic peak), in frames.
    confidence     peak of the correlation curve minus its median (like LSE-C), of
                   ``curve_combined`` when there is one; compare with ``chance``. 0 when no
                   estimate was possible (see ``note``).
    correlation    Pearson correlation of the (detrended) opening tracks at the best lag.
    curve          [shape=(2*max_shift+1,)] opening-channel correlation at each lag in ``lags``
                   (its peak is the offset).
    curve_combined [shape=(2*max_shift+1,)] opening + width channels (weights 1 : WIDTH_WEIGHT),
                   or None without the width tracks.
    fps            frame rate the tracks are sampled at.
    chance         confidence unrelated speech reaches 5 % of the time for this window length.
    window_frames  number of mouth frames (with a face) the curve was computed on.
    note           why there is no estimate ("" when there is one).
    """

    offset_frames: int
    offset_ms: float
    offset_exact: float
    confidence: float
    correlation: float
    curve: np.ndarray = field(repr=False)
    fps: float
    max_shift: int
    chance: float
    window_frames: int
    note: str = ""
    curve_combined: np.ndarray | None = field(default=None, repr=False)

    @property
    def lags(self) -> np.ndarray:
        """[shape=(2*max_shift+1,)] offsets (frames, calibrated) of the ``curve`` points."""
        return np.arange(-self.max_shift, self.max_shift + 1) - MOUTH_LAG_S * self.fps

    @property
    def reliable(self) -> bool:
        """The peak stands clearly above what unrelated speech gives (confidence > chance)."""
        return not self.note and self.confidence > self.chance

    @property
    def in_sync(self) -> bool:
        """The offset is inside the ITU-R BT.1359 detectability window (-125 .. +45 ms), or at
        most one frame (the resolution of the measurement)."""
        return IN_SYNC_MS[0] <= self.offset_ms <= IN_SYNC_MS[1] or abs(self.offset_frames) <= 1

    def verdict(self) -> str:
        """One line for people: "in sync", "video lags audio by N frames (X ms)", "low confidence: ..."."""
        if self.note:
            return f"low confidence: {self.note}"
        if not self.reliable:
            return (f"low confidence: the mouth does not clearly follow this speech (confidence "
                    f"{self.confidence:.2f}, chance level {self.chance:.2f}); the offset is a guess")
        if self.in_sync:
            return "in sync"
        n = abs(self.offset_frames)
        side = "lags" if self.offset_frames > 0 else "leads"
        return f"video {side} audio by {n} frame{'s' if n != 1 else ''} ({abs(self.offset_ms):.0f} ms)"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (plain floats, the curve as a list, plus ``verdict`` and ``reliable``)."""
        return {
            "offset_frames": int(self.offset_frames), "offset_ms": round(float(self.offset_ms), 1),
            "offset_exact": round(float(self.offset_exact), 3),
            "confidence": round(float(self.confidence), 4), "correlation": round(float(self.correlation), 4),
            "chance": round(float(self.chance), 4), "reliable": self.reliable, "in_sync": self.in_sync,
            "verdict": self.verdict(), "fps": float(self.fps), "max_shift": int(self.max_shift),
            "window_frames": int(self.window_frames), "note": self.note,
            "lags": [round(float(x), 3) for x in self.lags],
            "curve": [round(float(x), 4) for x in self.curve],
            "curve_combined": (None if self.curve_combined is None
                               else [round(float(x), 4) for x in self.curve_combined]),
        }


# --- the estimate ------------------------------------------------------------------------------
def _moving_mean(x: np.ndarray, width: int) -> np.ndarray:
    width = max(3, int(width) | 1)
    padded = np.pad(x, (width // 2, width // 2), mode="reflect" if x.shape[0] > width // 2 else "edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def _normalise(x: np.ndarray, fps: float) -> np.ndarray:
    """Detrended, robust-z-scored copy of a track [shape=(T,)]; NaN stays NaN."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    if ok.sum() < 3:
        return np.full(x.shape, np.nan)
    t = np.arange(x.shape[0])
    filled = np.interp(t, t[ok], x[ok])          # bridge no-face gaps for the moving average only
    y = filled - _moving_mean(filled, round(DETREND_S * fps))
    centre = np.median(y[ok])
    spread = 1.4826 * np.median(np.abs(y[ok] - centre))
    if spread <= 1e-9:                           # mostly constant: fall back to the std
        spread = float(np.std(y[ok]))
    if spread <= 1e-9:
        return np.where(ok, 0.0, np.nan)
    z = np.clip((y - centre) / spread, -CLIP_Z, CLIP_Z)
    z[~ok] = np.nan
    return z


def _curve(mouth: np.ndarray, speech: np.ndarray, shift: int) -> np.ndarray:
    """Pearson r(k) of mouth[t] with speech[t - k] for k in [-shift, shift], on the fixed
    window t in [shift, T - shift), ignoring NaN pairs. [shape=(2*shift+1,)]"""
    n = mouth.shape[0]
    a = mouth[shift:n - shift]
    rows = np.stack([speech[shift - k:n - shift - k] for k in range(-shift, shift + 1)])
    ok = np.isfinite(rows) & np.isfinite(a)[None, :]
    cnt = np.maximum(ok.sum(axis=1), 1)
    av = np.where(ok, a[None, :], 0.0)
    bv = np.where(ok, rows, 0.0)
    am = av.sum(axis=1) / cnt
    bm = bv.sum(axis=1) / cnt
    da = np.where(ok, av - am[:, None], 0.0)
    db = np.where(ok, bv - bm[:, None], 0.0)
    den = np.sqrt((da * da).sum(axis=1) * (db * db).sum(axis=1))
    r = np.where(den > 0, (da * db).sum(axis=1) / np.where(den > 0, den, 1.0), 0.0)
    return np.where(ok.sum(axis=1) >= 5, r, 0.0)


def chance_confidence(window_frames: int, fps: float, *, with_width: bool = True) -> float:
    """Confidence that unrelated speech reaches 5 % of the time over ``window_frames`` frames."""
    seconds = max(window_frames / fps, 1e-3)
    k = CHANCE_K if with_width else CHANCE_K_OPEN_ONLY
    return max(CHANCE_FLOOR, k / math.sqrt(seconds))


def _as_track(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise InputError(f"sync: {name} must be a 1-D per-frame track, got shape {arr.shape}")
    return arr


def estimate_offset(mouth_open: np.ndarray, speech: np.ndarray, *, fps: float,
                    max_shift: int = MAX_SHIFT, mouth_width: np.ndarray | None = None,
                    speech_width: np.ndarray | None = None) -> SyncEstimate:
    """Offset and confidence of a mouth track against a speech track.

    mouth_open   [shape=(T,)] mouth opening per video frame (any unit; NaN = no face).
    speech       [shape=(T,)] what the speech asks of the mouth per frame: the viseme ``open``
                 track (``Speech.features(...).visemes["open"]``) is what this is calibrated on.
    mouth_width, speech_width  optional [shape=(T,)] mouth-corner distance and viseme ``width``
                 track: when both are given their curve joins in at weight ``WIDTH_WEIGHT``.
    Tracks of different lengths are cut to the shorter one. Never raises for weak data: the
    estimate then has confidence 0 and a ``note`` saying why.
    """
    if not fps or fps <= 0:
        raise InputError(f"sync: fps must be positive, got {fps}")
    mouth = _as_track(mouth_open, "mouth_open")
    target = _as_track(speech, "speech")
    channels = [(mouth, target, 1.0)]
    if mouth_width is not None and speech_width is not None:
        channels.append((_as_track(mouth_width, "mouth_width"), _as_track(speech_width, "speech_width"),
                         WIDTH_WEIGHT))
    with_width = len(channels) > 1
    n = min(min(m.shape[0], s.shape[0]) for m, s, _ in channels)
    channels = [(m[:n], s[:n], w) for m, s, w in channels]
    shift = int(max(0, min(int(max_shift), (n - MIN_FRAMES) // 2)))
    face = np.isfinite(channels[0][0])
    window = int(face[shift:n - shift].sum()) if n > 2 * shift else 0

    def empty(note: str) -> SyncEstimate:
        return SyncEstimate(offset_frames=0, offset_ms=0.0, offset_exact=0.0, confidence=0.0,
                            correlation=0.0, curve=np.zeros(2 * shift + 1), fps=float(fps),
                            max_shift=shift,
                            chance=chance_confidence(max(window, 1), fps, with_width=with_width),
                            window_frames=window, note=note)

    if n - 2 * shift < MIN_FRAMES:
        return empty(f"too short: {n} frames, at least {MIN_FRAMES + 2 * shift} needed")
    if face.sum() == 0:
        return empty("no face in any frame")
    if 1.0 - face.mean() > MAX_NO_FACE:
        return empty(f"no face in {int(n - face.sum())} of {n} frames")
    if window < MIN_FRAMES:
        return empty(f"only {window} frames with a face in the correlation window")
    finite_speech = target[:n][np.isfinite(target[:n])]
    if finite_speech.size == 0 or np.ptp(finite_speech) <= 1e-6:
        return empty("the speech track is flat (silence?)")

    curves = [_curve(_normalise(m, fps), _normalise(s, fps), shift) for m, s, _ in channels]
    curve = curves[0]                            # the opening channel places the offset ...
    k = int(np.argmax(curve))
    peak = float(curve[k])
    exact = float(k)
    if 0 < k < curve.shape[0] - 1:               # parabola through the peak and its neighbours
        den = curve[k - 1] - 2 * peak + curve[k + 1]
        if den < 0:
            exact = k + 0.5 * float(curve[k - 1] - curve[k + 1]) / float(den)
    exact = exact - shift - MOUTH_LAG_S * fps
    offset = int(round(exact))
    combined = None                              # ... with the width channel it says how sure
    if with_width:
        combined = sum(w * c for c, (_, _, w) in zip(curves, channels)) / sum(w for _, _, w in channels)
    scored = curve if combined is None else combined
    return SyncEstimate(offset_frames=offset, offset_ms=1000.0 * offset / fps, offset_exact=exact,
                        confidence=float(scored.max() - np.median(scored)), correlation=peak,
                        curve=curve, curve_combined=combined, fps=float(fps), max_shift=shift,
                        chance=chance_confidence(window, fps, with_width=with_width),
                        window_frames=window)


# --- measuring a video file --------------------------------------------------------------------
@dataclass(frozen=True)
class SyncReport:
    """Sync check of one video file (see :func:`measure_video_sync`).

    estimate       the :class:`SyncEstimate`.
    mouth_open, mouth_width  [shape=(T,)] the video's mouth tracks (NaN: no face).
    speech_open, speech_width, envelope  [shape=(T,)] the speech tracks at the video's fps.
    audio_shift_s  seconds the video's own audio track starts after its picture (container
                   start times, applied before measuring); 0 for a separate ``audio`` file.
    """

    video: Path
    audio: Path | None
    estimate: SyncEstimate
    fps: float
    n_frames: int
    frames_no_face: int
    mouth_open: np.ndarray = field(repr=False)
    mouth_width: np.ndarray = field(repr=False)
    speech_open: np.ndarray = field(repr=False)
    speech_width: np.ndarray = field(repr=False)
    envelope: np.ndarray = field(repr=False)
    audio_shift_s: float = 0.0
    plot: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"video": str(self.video), "audio": None if self.audio is None else str(self.audio),
                "fps": float(self.fps), "n_frames": int(self.n_frames),
                "frames_no_face": int(self.frames_no_face), "audio_shift_s": round(self.audio_shift_s, 4),
                "plot": None if self.plot is None else str(self.plot), **self.estimate.to_dict()}


def _own_speech(video: Path, shift: float):
    """The video's own audio track as a Speech, aligned to its first picture.

    ``shift``: seconds the sound starts after the first picture (``VideoInfo.audio_delay``).
    """
    from . import audio as audio_mod
    wav = audio_mod.load_audio(video)
    samples = int(round(abs(shift) * audio_mod.SAMPLE_RATE))
    if shift > 0:
        wav = np.concatenate([np.zeros(samples, np.float32), wav])
    elif samples:
        wav = wav[samples:]
        if wav.shape[0] < audio_mod.SAMPLE_RATE // 10:
            raise MediaError(f"{video}: its audio track ends before the picture starts")
    return audio_mod.speech_from_wav(wav, sr=audio_mod.SAMPLE_RATE, path=str(video)), shift


def measure_video_sync(video: str | Path, *, audio: str | Path | None = None,
                       max_shift: int = MAX_SHIFT, plot: str | Path | None = None,
                       detector: str = "mediapipe", speech=None, track=None) -> SyncReport:
    """Measure the audio/video offset of any video from its mouth landmarks.

    ``audio`` None: the video's own audio track (its container start time applied, as a player
    would); otherwise that file, starting with the first frame (as ``heygem run`` muxes it).
    ``speech`` may be a precomputed :class:`heygem_kernel.audio.Speech` of ``audio``, ``track``
    a precomputed :class:`heygem_kernel.landmarks.FaceTrack` of ``video`` (raw, unsmoothed).
    ``plot``: write the mouth-track/sync-curve PNG there. Raises InputError/MediaError for
    missing or unreadable files, NoFaceError when no frame has a face.
    """
    from . import audio as audio_mod
    from . import landmarks, media

    video = Path(video)
    info = media.probe_video(video)
    if info.is_image:
        raise InputError(f"{video} is a photo: a sync check needs a video with a moving mouth")
    shift_s = 0.0
    if speech is None:
        if audio is None:
            if not info.has_audio:
                raise MediaError(f"{video} has no audio track: pass the speech with --audio")
            speech, shift_s = _own_speech(video, info.audio_delay)
        else:
            speech = audio_mod.load_speech(audio)
    if track is None:
        track = landmarks.track_video(video, detector=detector)
    fps = float(track.fps)
    n = min(track.n_frames, speech.n_frames_at(fps))
    feats = speech.features(fps=fps, n_frames=n)
    mouth, width = track.mouth_open()[:n], track.mouth_width()[:n]
    estimate = estimate_offset(mouth, feats.visemes["open"], fps=fps, max_shift=max_shift,
                               mouth_width=width, speech_width=feats.visemes["width"])
    plot_path = None
    if plot is not None:
        from . import diagnostics
        plot_path = diagnostics.plot_mouth_track(
            mouth_open=mouth, speech_open=feats.visemes["open"], envelope=feats.envelope, fps=fps,
            path=plot, sync=estimate, title=f"Sync check: {video.name}")
    return SyncReport(video=video, audio=None if audio is None else Path(audio), estimate=estimate,
                      fps=fps, n_frames=n, frames_no_face=int(np.count_nonzero(~np.isfinite(mouth))),
                      mouth_open=mouth, mouth_width=width, speech_open=feats.visemes["open"],
                      speech_width=feats.visemes["width"], envelope=feats.envelope,
                      audio_shift_s=float(shift_s), plot=plot_path)
