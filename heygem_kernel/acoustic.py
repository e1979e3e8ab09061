"""Acoustic-to-articulatory inversion: the mouth opening predicted from the speech spectrum.

The phone recogniser (visemes.py) hears English phones only, and on real speech its phones are
often wrong; its targets alone correlate 0.44 with the recorded mouths of held-out in-sync
speakers. A linear model (ridge regression) maps 0.4 s of the normalised log-mel spectrum around
a moment to how open a real mouth is at that moment. It knows no phones and no language: the
spectrum shows a closure (silence before a burst, a nasal murmur), an open vowel (strong F1) and
the opening before a phrase the same way in any language. It is fitted on in-sync recordings of
real speakers (``benchmarks/fit_acoustic.py``; the clips are listed in the model file), so it
carries real speakers' timing (lips lead the sound) rather than the sound's.

The render's opening target is an equal blend of the phone targets and this prediction
(``visemes.viseme_track``, ``ACOUSTIC_WEIGHT``). Measured on the four fetched in-sync recordings
the model was not fitted on (lectern, podium, interview, webcam; benchmarks/fit_acoustic.py;
lag-0 correlation of the opening target with the recorded mouth): phones alone 0.44, this model
alone 0.44, the blend 0.50; leaving each fitting clip out in turn, 0.45 / 0.36 / 0.47. Rendered
(self-reenactment, benchmarks/bench_reenactment.py) the held-out four went from lag-0 r 0.30 to
0.44 and every best lag to within one frame. The spectrum alone does not shut the lips for a
bilabial (it cannot tell /m/ from /n/): the phones' closures still cut the blend.

Its prediction peaks with real mouths 16-120 ms later than they do (filmed clips; the phone
reference peaks with them by construction): the lead of an opening mouth over its sound, which the
spectrum of the moment cannot show. Moving the whole prediction 50 ms earlier was tried
(benchmarks/RESULTS.md, 2026-12-03): held-out renders within noise, and every bilabial closure
then read the vowel after it, since lips meet at the acoustic closure itself; not adopted.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MEL_RATE = 80.0                 # columns per second of audio.mel_magnitude (hop 200 at 16 kHz)
CONTEXT = 16                    # columns either side: 0.2 s, about a syllable
TAP_STEP = 2                    # every 25 ms within the context
TAPS = np.arange(-CONTEXT, CONTEXT + 1, TAP_STEP)       # (17,) column offsets of the inputs
N_BANDS = 80
LOUD_PERCENTILE = 95            # the speech's loud level: this percentile of the columns' peak band
FLOOR_DB = 60.0                 # dB below that level count as silence (a quiet recording is the same speech)
SPEECH_PERCENTILE = 30          # columns above this percentile of the mean level count as speech
MIN_STD = 0.05                  # per-band spread floor of the normalisation (a constant band)
MODEL_FILE = Path(__file__).with_name("assets") / "acoustic_open.npz"


@dataclass(frozen=True, eq=False)
class Model:
    """A fitted inversion model.

    weights  [shape=(len(TAPS), 80)] per context tap and mel band, on :func:`normalise`'d input.
    bias     scalar added to the weighted sum.
    trained_on  names of the recordings it was fitted on; alpha its ridge penalty.
    """

    weights: np.ndarray
    bias: float
    trained_on: tuple[str, ...] = ()
    alpha: float = 0.0

    def save(self, path: str | Path) -> None:
        np.savez(path, weights=self.weights.astype(np.float32), bias=np.float32(self.bias),
                 trained_on=np.array(self.trained_on), alpha=np.float64(self.alpha))

    @classmethod
    def load(cls, path: str | Path) -> "Model":
        with np.load(path) as z:
            return cls(weights=z["weights"].astype(np.float64), bias=float(z["bias"]),
                       trained_on=tuple(str(s) for s in z["trained_on"]), alpha=float(z["alpha"]))


@functools.lru_cache(maxsize=1)
def shipped_model() -> Model:
    """The model fitted by ``benchmarks/fit_acoustic.py``, shipped with the package."""
    return Model.load(MODEL_FILE)


def log_mel(wav: np.ndarray, *, sr: int) -> np.ndarray:
    """Log-mel spectrum of 16 kHz mono speech ``wav`` [shape=(S,)] in dB below its loud level,
    floored at -FLOOR_DB: [shape=(80, 1 + S // 200)], 80 columns per second. Without DC offset
    and mains hum (audio.highpass), so neither moves the model."""
    from . import audio
    if sr != audio.SAMPLE_RATE:
        raise ValueError(f"log_mel expects {audio.SAMPLE_RATE} Hz audio, got {sr} Hz")
    level = 20.0 * np.log10(np.maximum(audio.mel_magnitude(audio.highpass(wav, sr=sr)), 1e-10))
    loud = float(np.percentile(level.max(axis=0), LOUD_PERCENTILE))
    return np.maximum(level - loud, -FLOOR_DB)


def normalise(mel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band z-scores of a :func:`log_mel` [shape=(80, M)] over its speech columns, so neither
    the recording's loudness nor its microphone's colour matters. Returns the z-scores
    [shape=(80, M)] float64 and the z-score of silence per band [shape=(80, 1)] (the padding
    outside the speech)."""
    mel = np.asarray(mel, np.float64)
    if mel.ndim != 2 or mel.shape[0] != N_BANDS or mel.shape[1] == 0:
        raise ValueError(f"normalise expects a log-mel spectrum [80, M], got shape {mel.shape}")
    level = mel.mean(axis=0)
    speech = level > np.percentile(level, SPEECH_PERCENTILE)
    if speech.sum() < 2:
        speech = np.ones_like(speech)
    mean = mel[:, speech].mean(axis=1, keepdims=True)
    std = np.maximum(mel[:, speech].std(axis=1, keepdims=True), MIN_STD)
    return (mel - mean) / std, (-FLOOR_DB - mean) / std


def _padded(mel: np.ndarray) -> tuple[np.ndarray, int]:
    z, silent = normalise(mel)
    pad = np.repeat(silent, CONTEXT, axis=1)
    return np.concatenate([pad, z, pad], axis=1), z.shape[1]


def design(mel: np.ndarray) -> np.ndarray:
    """The model's inputs per column of a :func:`log_mel` [shape=(M, len(TAPS) * 80)] (for
    fitting; prediction never builds this matrix, so memory stays flat in the speech's length)."""
    padded, m = _padded(mel)
    return np.concatenate([padded[:, CONTEXT + o:CONTEXT + o + m].T for o in TAPS], axis=1)


def predict(mel: np.ndarray, *, model: Model | None = None) -> np.ndarray:
    """Predicted mouth opening per column of a :func:`log_mel` [shape=(M,)], z-scored over the
    speech (mean 0, standard deviation 1): a shape, not a size; the caller scales it
    (visemes.viseme_track)."""
    model = model or shipped_model()
    padded, m = _padded(mel)
    out = np.full(m, model.bias)
    for w, o in zip(model.weights, TAPS):
        out += w @ padded[:, CONTEXT + o:CONTEXT + o + m]
    sd = out.std()
    return (out - out.mean()) / sd if sd > 0 else np.zeros(m)


def at_frames(curve: np.ndarray, *, fps: float, n_frames: int, lead_s: float = 0.0) -> np.ndarray:
    """A per-column curve [shape=(M,)] (:func:`predict`) sampled at the output frames:
    [shape=(n_frames,)] float64. Frame i (time i / fps) takes the curve at i / fps + ``lead_s``
    seconds (``lead_s`` > 0: the mouth moves earlier, a presenter whose lips lead,
    speaker_timing); past either end of the speech, its first or last value."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    t = np.arange(n_frames) / float(fps) + lead_s
    return np.interp(t * MEL_RATE, np.arange(curve.shape[0]), curve)


def opening(wav: np.ndarray, *, sr: int, fps: float, n_frames: int, lead_s: float = 0.0,
            model: Model | None = None) -> np.ndarray:
    """Predicted opening of a real mouth speaking ``wav`` [shape=(S,)] (16 kHz) at the output
    frames: [shape=(n_frames,)] float64 z-scores (:func:`predict`, :func:`at_frames`)."""
    return at_frames(predict(log_mel(wav, sr=sr), model=model), fps=fps, n_frames=n_frames, lead_s=lead_s)


def fit(examples: list[tuple[np.ndarray, np.ndarray]], *, alpha: float,
        trained_on: tuple[str, ...] = ()) -> Model:
    """Ridge regression of the recorded opening on :func:`design`.

    examples  (log_mel [shape=(80, M)], opening [shape=(M,)]) per recording: the real mouth's
              opening resampled to the mel columns, NaN where no face was tracked.
    Each recording's opening is z-scored (mouths differ in size) and weighs in by the square
    root of its length, so one long recording does not decide the model alone.
    """
    if not examples:
        raise ValueError("fit needs at least one recording")
    n_in = len(TAPS) * N_BANDS
    xtx, xty = np.zeros((n_in + 1, n_in + 1)), np.zeros(n_in + 1)
    for mel, target in examples:
        x, y = design(mel), np.asarray(target, np.float64)
        ok = np.isfinite(y)
        if ok.sum() < 10:
            continue
        y = (y[ok] - y[ok].mean()) / (y[ok].std() + 1e-9)
        x = np.concatenate([x[ok], np.ones((ok.sum(), 1))], axis=1)
        weight = 1.0 / np.sqrt(ok.sum())
        xtx += weight * x.T @ x
        xty += weight * x.T @ y
    penalty = alpha * np.eye(n_in + 1)
    penalty[-1, -1] = 0.0                          # the intercept is not shrunk
    coef = np.linalg.solve(xtx + penalty, xty)
    return Model(weights=coef[:-1].reshape(len(TAPS), N_BANDS), bias=float(coef[-1]), trained_on=tuple(trained_on),
                 alpha=float(alpha))
