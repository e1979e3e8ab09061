"""Speech -> phones (pocketsphinx allphone) -> per-frame mouth targets (visemes).

``recognize_phones`` runs once per recording (about 0.05 s per second of speech);
``viseme_track`` resamples the phone segments to any frame rate cheaply, so one recording
can drive videos of different fps.

Targets are three numbers in [0, 1] per frame: ``open`` (lip/jaw opening), ``width``
(spread vs. neutral) and ``round`` (protrusion/rounding). They follow the usual viseme
classes of ARPAbet phones; co-articulation is modelled by holding each phone's target over its
segment, smoothing with a Gaussian (sigma 80 ms) while keeping lip closures (M/B/P/F/V) sharp,
and sampling slightly ahead of the sound (the lips move before the sound is heard). ``open`` is scaled by the loudness envelope so that
quiet stretches, breaths and silence close the mouth.

Validation (tests/test_visemes.py): Pearson correlation of ``open`` with the real inner-lip
opening (mediapipe Face Mesh) of clips driven by their own audio track:
talking_590 0.68, talking_524 0.46, talking_vfr_700 0.66 (mean 0.60); the loudness envelope
alone reaches 0.35, 0.34, 0.56 (mean 0.42).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("heygem.visemes")

PHONE_RATE = 100            # pocketsphinx frames per second (10 ms frame shift)
DECODER_RATE = 16000        # the bundled en-us acoustic model is 16 kHz

# --- co-articulation (tuned on talking_590/524/vfr_700 against mediapipe lip distance) -------
GRID_RATE = 200             # Hz: resolution of the target curves before sampling at video fps
SMOOTH_SIGMA = 0.080        # s; Gaussian sigma (FWHM ~ 190 ms): neighbouring phones blend
LEAD = 0.020                # s; the mouth shows the phone heard LEAD seconds later
ENV_BASE = 0.6              # open = target * (ENV_BASE + (1 - ENV_BASE) * envelope)
CLOSURE_SIGMA = 0.025       # s; lip closures (M/B/P/F/V) are smoothed less, so they still close
CLOSURE_DEPTH = 0.9         # how far a closure pulls the (heavily smoothed) opening to 0
CLOSURES = frozenset({"M", "B", "P", "F", "V"})
# Smoothing and loudness scaling leave fluent speech peaking at open ~0.6 (97th percentile over
# talking_590/524/vfr_700 and speech_en_60s); the gain maps those peaks to ~1, so consumers can map
# [0, 1] linearly onto the person's own range of openings.
OPEN_GAIN = 1.6

# viseme targets (open, width, round); width 0.5 = neutral
NEUTRAL = (0.0, 0.5, 0.0)
_CLASSES: dict[tuple[float, float, float], tuple[str, ...]] = {
    (0.00, 0.50, 0.10): ("M", "B", "P"),                     # lips pressed together
    (0.05, 0.55, 0.00): ("F", "V"),                          # lower lip to upper teeth
    (0.25, 0.55, 0.00): ("TH", "DH"),                        # tongue between teeth
    (0.25, 0.65, 0.00): ("S", "Z"),                          # teeth nearly closed, spread
    (0.35, 0.55, 0.00): ("T", "D", "N", "L"),                # alveolar, jaw half open
    (0.25, 0.30, 0.60): ("SH", "ZH", "CH", "JH"),            # protruded
    (0.45, 0.50, 0.00): ("K", "G", "NG", "HH"),              # velar / glottal: follows vowels
    (0.25, 0.75, 0.00): ("Y",),
    (0.25, 0.30, 0.50): ("R",),
    (0.35, 0.35, 0.45): ("ER",),
    (0.15, 0.15, 0.95): ("W",),
    (0.85, 0.55, 0.00): ("AA",),                             # open vowels
    (0.80, 0.70, 0.00): ("AE",),
    (0.70, 0.50, 0.00): ("AH",),
    (0.75, 0.30, 0.55): ("AO",),
    (0.80, 0.40, 0.45): ("AW",),
    (0.80, 0.65, 0.00): ("AY",),
    (0.70, 0.75, 0.00): ("EH",),                             # spread vowels
    (0.65, 0.80, 0.00): ("EY",),
    (0.60, 0.80, 0.00): ("IH",),
    (0.50, 0.90, 0.00): ("IY",),
    (0.45, 0.30, 0.70): ("UH",),                             # rounded vowels
    (0.35, 0.20, 1.00): ("UW",),
    (0.60, 0.30, 0.80): ("OW",),
    (0.65, 0.40, 0.60): ("OY",),
}
VISEMES: dict[str, tuple[float, float, float]] = {p: t for t, ps in _CLASSES.items() for p in ps}


@dataclass(frozen=True)
class PhoneSegment:
    """One recognised phone: ARPAbet symbol (or SIL, +NSN+, +SPN+ ...), start/end in seconds."""

    phone: str
    start: float
    end: float


def target(phone: str) -> tuple[float, float, float]:
    """(open, width, round) of a phone; silence, noise and unknown symbols are NEUTRAL (closed)."""
    return VISEMES.get(phone.upper().rstrip("012"), NEUTRAL)


_decoder = None
_decoder_lock = threading.Lock()   # a pocketsphinx Decoder is not thread-safe


def _get_decoder():
    global _decoder
    if _decoder is None:
        import os
        import pocketsphinx
        model = pocketsphinx.get_model_path()
        _decoder = pocketsphinx.Decoder(
            hmm=os.path.join(model, "en-us", "en-us"),
            allphone=os.path.join(model, "en-us", "en-us-phone.lm.bin"),
            lw=2.0, beam=1e-20, pbeam=1e-20, loglevel="FATAL")
    return _decoder


def recognize_phones(wav: np.ndarray, *, sr: int = DECODER_RATE) -> list[PhoneSegment]:
    """Phone segmentation of mono speech ``wav`` [shape=(S,)] float in [-1, 1].

    Uses pocketsphinx's bundled English acoustic model in allphone mode (any language gives
    English phone labels, which is all a mouth needs). Audio at another rate is resampled.
    """
    wav = np.asarray(wav, dtype=np.float32)
    if sr != DECODER_RATE:
        from math import gcd
        from scipy.signal import resample_poly
        g = gcd(int(sr), DECODER_RATE)
        wav = resample_poly(wav, DECODER_RATE // g, int(sr) // g).astype(np.float32)
    if wav.shape[0] < DECODER_RATE // 10:
        return []
    pcm = (np.clip(wav, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    with _decoder_lock:
        decoder = _get_decoder()
        decoder.reinit_feat()   # reset cepstral-mean state: results must not depend on earlier calls
        decoder.start_utt()
        decoder.process_raw(pcm, no_search=False, full_utt=True)
        decoder.end_utt()
        segments = [PhoneSegment(s.word, s.start_frame / PHONE_RATE, (s.end_frame + 1) / PHONE_RATE)
                    for s in decoder.seg()]
    log.debug("recognised %d phones in %.2f s of audio", len(segments), wav.shape[0] / DECODER_RATE)
    return segments


def _smooth(curves: np.ndarray, sigma_samples: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 of curves [shape=(N, C)] (edges held)."""
    radius = max(1, int(round(3 * sigma_samples)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / max(sigma_samples, 1e-6)) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(curves, ((radius, radius), (0, 0)), mode="edge")
    return np.stack([np.convolve(padded[:, c], kernel, mode="valid")
                     for c in range(curves.shape[1])], axis=1)


def viseme_track(phones: list[PhoneSegment], *, envelope: np.ndarray, fps: float,
                 n_frames: int) -> dict[str, np.ndarray]:
    """Per-frame mouth targets for a video at ``fps``.

    phones   recognised segments (seconds); gaps count as silence.
    envelope [shape=(n_frames,)] loudness per output frame in [0, 1] (see audio.envelope).
    Returns {"open", "width", "round"}, each [shape=(n_frames,)] float32 in [0, 1].
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    envelope = np.asarray(envelope, dtype=np.float64)
    if envelope.shape != (n_frames,):
        raise ValueError(f"envelope has shape {envelope.shape}, expected ({n_frames},)")
    frame_t = np.arange(n_frames) / fps + LEAD
    span = max(n_frames / fps, max((p.end for p in phones), default=0.0)) + 2 * LEAD + 0.5
    n_grid = int(np.ceil(span * GRID_RATE)) + 1
    grid = np.tile(np.asarray(NEUTRAL, dtype=np.float64), (n_grid, 1))   # (n_grid, 3)
    closure = np.zeros((n_grid, 1))
    for seg in phones:
        a, b = max(int(round(seg.start * GRID_RATE)), 0), min(int(round(seg.end * GRID_RATE)), n_grid)
        if b > a:
            grid[a:b] = target(seg.phone)
            closure[a:b] = seg.phone.upper() in CLOSURES
    smooth = _smooth(grid, SMOOTH_SIGMA * GRID_RATE)
    smooth[:, 0] *= 1.0 - CLOSURE_DEPTH * _smooth(closure, CLOSURE_SIGMA * GRID_RATE)[:, 0]
    grid_t = np.arange(n_grid) / GRID_RATE
    sampled = np.stack([np.interp(frame_t, grid_t, smooth[:, c]) for c in range(3)], axis=1)
    # loudness sampled at the same (lead-shifted) times as the phones
    env = np.interp(frame_t * fps, np.arange(n_frames), envelope, right=0.0) if n_frames else envelope
    is_open = OPEN_GAIN * sampled[:, 0] * (ENV_BASE + (1.0 - ENV_BASE) * env)
    # shape (width, rounding) fades towards neutral as the speech gets quiet
    strength = 0.5 + 0.5 * env
    width = NEUTRAL[1] + (sampled[:, 1] - NEUTRAL[1]) * strength
    rounding = sampled[:, 2] * strength
    clip = lambda x: np.clip(x, 0.0, 1.0).astype(np.float32)  # noqa: E731
    return {"open": clip(is_open), "width": clip(width), "round": clip(rounding)}
