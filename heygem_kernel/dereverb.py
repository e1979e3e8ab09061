"""Reverberant speech: a blind check, and late-reverberation suppression for the phone recogniser.

A room adds to every sound a tail that decays exponentially (RT60: the time it takes to fall
60 dB). The English phone model (:func:`heygem_kernel.visemes.recognize_phones`) was trained on
close-talking speech: in a normal room with the microphone ~1 m away (RT60 0.5 s, direct-to-
reverberant ratio 10 dB) it hears other phones (T/K as P: closures that are not there; tails in
pauses as short phones or in-breaths), and the sync reference built from them lost its timing:
``heygem sync`` read the in-sync camera clip talking_590 at -14.5 frames, talking_524 at -5.6.

**The check** (:func:`decay_time`): after the fastest offsets of a dry recording (stops, phrase
ends) its level falls 20 dB within ~25-35 ms (the shared clips and speech files: 25-35 ms at the
5th percentile, speech_zh_8s 60 ms); a room's tail holds it up: RT60 0.5 s / DRR 10 dB takes 50-120
ms, DRR 5 dB 60-150 ms (synthetic rooms on the shared clips, several seeds). Noise does not (pink
noise at 20 dB SNR: unchanged): only decays that can fall 20 dB above the noise floor are timed.
:data:`REVERB_DECAY_S` separates them. Strong level compression holds offsets up too (talking_590's
sound through a -35 dB / 10:1 compressor: 59 ms; with a limiter and make-up gain 92 ms; the real
Mandarin news reading speech_zh_8s, 30 dB between its floor and its loud speech, 60 ms): such
speech takes the reverberant path as well; on the compressed clips that moved the readings by at
most 0.65 frames against the dry path (590 -0.10 / -0.32, 524 +0.90 / -5.53 vs -0.16 / -0.29, +1.30
/ -6.18), and the note names compression too.

**The suppression** (:func:`suppress_late`): the late reverberation of each STFT bin is predicted
from the power ``td`` earlier, decayed at the room's rate and scaled by its direct-to-reverberant
ratio (Lebart/Habets), and subtracted (spectral gain with a floor). The recogniser hears the
suppressed speech for a few room hypotheses (:data:`HYPOTHESES`) besides the sound itself, and the
sync reference is averaged over all of them (:func:`heygem_kernel.visemes.recognize_phone_variants`),
only when :func:`is_reverberant`: on dry speech the suppression only changes phones at random.
numpy only (no scipy.signal in the run path).
"""
from __future__ import annotations

import math

import numpy as np

SR = 16000
LEVEL_HOP_S = 0.005           # s; level frames for the decay check
LEVEL_BAND_HZ = (400.0, 4000.0)   # speech band where rooms ring and the recogniser listens
DECAY_DROP_DB = 20.0          # fall timed after each offset
DECAY_TOP_DB = 15.0           # offsets start within this of the loud speech (95th percentile)
DECAY_FLOOR_MARGIN_DB = 6.0   # the fall must end this far above the noise floor (10th percentile)
DECAY_PERCENTILE = 5.0        # the fastest offsets: what a room cannot speed up
DECAY_MAX_S = 0.6
MIN_OFFSETS = 20              # fewer timed offsets: no verdict (NaN)
# Shorter speech holds a few syllables, and its fastest offsets are one syllable's: windows of the
# dry shared recordings read over REVERB_DECAY_S in 19 of 48 timed 0.5 s windows, 18 / 115 at 1 s,
# 11 / 134 at 1.5 s, 9 / 142 at 2 s (most of those in speech_en_60s's 19-25 s, which reads 55-80 ms
# at any length); a 0.5 s speech got a run the reverberation warning. No verdict below this.
MIN_SPEECH_S = 2.0
REVERB_DECAY_S = 0.055        # s; above this the speech is reverberant (see the module docstring)
# Room hypotheses (RT60 s, DRR dB) whose suppressed speech the recogniser also hears.
HYPOTHESES = ((0.5, 10.0), (0.5, 5.0))
N_FFT = 512
HOP = 128
TD_S = 0.05                   # s; reverberation later than this is "late" (early reflections stay)
FLOOR_DB = -15.0              # most the gain takes off a bin


def _levels(wav: np.ndarray, sr: int) -> np.ndarray:
    """Band level (dB) per LEVEL_HOP_S frame [shape=(T,)] (in blocks: an hour of speech needs no GB)."""
    h = max(1, int(round(LEVEL_HOP_S * sr)))
    x = np.asarray(wav, np.float64)
    n = x.shape[0] // h
    if n < 2:
        return np.zeros(0)
    win = np.hanning(2 * h)
    f = np.fft.rfftfreq(2 * h, 1.0 / sr)
    band = (f >= LEVEL_BAND_HZ[0]) & (f < LEVEL_BAND_HZ[1])
    padded = np.pad(x, (0, 2 * h))
    out = np.empty(n)
    block = 4096
    for a in range(0, n, block):
        b = min(n, a + block)
        frames = np.lib.stride_tricks.sliding_window_view(padded[a * h:b * h + h], 2 * h)[::h][:b - a] * win
        out[a:b] = 10.0 * np.log10((np.abs(np.fft.rfft(frames, axis=1)[:, band]) ** 2).sum(axis=1) + 1e-12)
    return out


def decay_time(wav: np.ndarray, *, sr: int = SR) -> float:
    """Seconds the fastest offsets of ``wav`` [shape=(S,)] take to fall ``DECAY_DROP_DB`` (the
    ``DECAY_PERCENTILE`` of all offsets near full level that can fall that far above the noise
    floor); NaN with fewer than ``MIN_OFFSETS`` such offsets or under ``MIN_SPEECH_S`` of sound (too
    little speech to tell)."""
    if np.asarray(wav).shape[0] < MIN_SPEECH_S * sr:
        return float("nan")
    lv = _levels(wav, sr)
    if lv.size < 10:
        return float("nan")
    floor, top = np.percentile(lv, 10), np.percentile(lv, 95)
    hop = LEVEL_HOP_S
    look = int(round(DECAY_MAX_S / hop))
    starts = np.flatnonzero((lv >= top - DECAY_TOP_DB) & (lv - DECAY_DROP_DB >= floor + DECAY_FLOOR_MARGIN_DB))
    starts = starts[(starts + 1 < lv.size)]
    starts = starts[lv[starts + 1] < lv[starts]]
    if starts.size < MIN_OFFSETS:
        return float("nan")
    times = np.empty(starts.size)
    for i, t in enumerate(starts):
        below = np.flatnonzero(lv[t:t + look] <= lv[t] - DECAY_DROP_DB)
        times[i] = below[0] * hop if below.size else DECAY_MAX_S
    return float(np.percentile(times, DECAY_PERCENTILE))


def is_reverberant(wav: np.ndarray, *, sr: int = SR) -> bool:
    """The speech rings like a room (:func:`decay_time` above :data:`REVERB_DECAY_S`)."""
    return rings(decay_time(wav, sr=sr))


def rings(d: float) -> bool:
    """A :func:`decay_time` ``d`` (seconds; NaN: no verdict) of reverberant or compressed speech."""
    return bool(math.isfinite(d) and d > REVERB_DECAY_S)


def _stft(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    win = np.hanning(N_FFT + 1)[:-1]
    padded = np.pad(x, (N_FFT // 2, N_FFT // 2 + HOP))
    n = 1 + (padded.shape[0] - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:n]
    return np.fft.rfft(frames * win, axis=1), win


def _istft(spec: np.ndarray, win: np.ndarray, length: int) -> np.ndarray:
    frames = np.fft.irfft(spec, N_FFT, axis=1) * win
    total = HOP * (frames.shape[0] - 1) + N_FFT
    out = np.zeros(total)
    norm = np.zeros(total)
    for i in range(frames.shape[0]):
        out[i * HOP:i * HOP + N_FFT] += frames[i]
        norm[i * HOP:i * HOP + N_FFT] += win * win
    out /= np.maximum(norm, 1e-8)
    return out[N_FFT // 2:N_FFT // 2 + length]


def suppress_late(wav: np.ndarray, *, rt60: float, drr_db: float, sr: int = SR,
                  floor_db: float = FLOOR_DB) -> np.ndarray:
    """``wav`` [shape=(S,)] with its late reverberation (a room of ``rt60`` s and direct-to-
    reverberant ratio ``drr_db``) suppressed: float32, same length."""
    x = np.asarray(wav, np.float64)
    if x.shape[0] < N_FFT:
        return x.astype(np.float32)
    spec, win = _stft(x)
    power = np.abs(spec) ** 2
    late = _late(power, rt60=rt60, drr_db=drr_db, sr=sr)
    gain = np.maximum(1.0 - late / np.maximum(power, 1e-20), 10.0 ** (floor_db / 10.0))
    return _istft(spec * np.sqrt(gain), win, x.shape[0]).astype(np.float32)


# Frames where the room's late reverberation carries at least TAIL_SHARE of the speech band's
# energy (predicted as in suppress_late for TAIL_ROOM) say little about the mouth: the recogniser
# hears the tail there (a stop's closure, a pause filled with the previous sound), so the sync
# reference leaves them out of the correlation.
TAIL_ROOM = (0.5, 10.0)
TAIL_SHARE = 0.5
TAIL_BAND_HZ = (300.0, 4000.0)


def _late(power: np.ndarray, *, rt60: float, drr_db: float, sr: int) -> np.ndarray:
    """Late-reverberation power [shape=power.shape] predicted from the STFT power [shape=(T, F)]."""
    hop_s = HOP / sr
    # per hop, as tuned on the synthetic rooms (tests/test_sync_reverb.py): exp(-6.9 t / rt60) is
    # the *amplitude* decay of a 60 dB RT60, so this power model falls only 30 dB over rt60 (its
    # tail rings twice as long as the room's); the power-correct exp(-13.8 t / rt60) was not tried
    a = math.exp(-6.9 * hop_s / rt60)
    k = max(1, int(round(TD_S / hop_s)))
    c = 10.0 ** (-drr_db / 10.0) * (1.0 - a)      # tail energy = direct / DRR, spread over the decay
    late = np.zeros_like(power)
    acc = np.zeros(power.shape[1])
    for t in range(k, power.shape[0]):
        acc = a * acc + c * a ** k * power[t - k]
        late[t] = acc
    return late


def tail_frames(wav: np.ndarray, *, fps: float, n_frames: int, sr: int = SR) -> np.ndarray:
    """[shape=(n_frames,)] bool: video frames (at ``fps``) where the late reverberation of a
    :data:`TAIL_ROOM` carries at least :data:`TAIL_SHARE` of the speech band's energy."""
    x = np.asarray(wav, np.float64)
    if x.shape[0] < N_FFT or n_frames <= 0:
        return np.zeros(max(n_frames, 0), bool)
    spec, _ = _stft(x)
    f = np.fft.rfftfreq(N_FFT, 1.0 / sr)
    power = np.abs(spec[:, (f >= TAIL_BAND_HZ[0]) & (f < TAIL_BAND_HZ[1])]) ** 2
    late = _late(power, rt60=TAIL_ROOM[0], drr_db=TAIL_ROOM[1], sr=sr)
    share = late.sum(axis=1) / np.maximum(power.sum(axis=1), 1e-20)
    return np.interp(np.arange(n_frames) / fps, np.arange(share.shape[0]) * HOP / sr, share) >= TAIL_SHARE


def note(wav: np.ndarray, *, sr: int = SR) -> str:
    """One line for people when ``wav`` [shape=(S,)] sounds reverberant (:func:`is_reverberant`),
    else "": the phones the sync reference and the render's mouth shapes are built from are then
    less sure, and readings of in-sync recordings made reverberant strayed by several frames."""
    return note_for(decay_time(wav, sr=sr))


def note_for(d: float) -> str:
    """:func:`note` of a :func:`decay_time` ``d`` (seconds) already measured."""
    from .i18n import Text
    if not rings(d):
        return ""
    return Text("the speech sounds reverberant or strongly compressed (a room, a distant microphone or broadcast-style "
                "level compression: after it stops, its sound takes {ms:.0f} ms to fall 20 dB, dry speech under "
                "{dry:.0f} ms); the phone recogniser mishears such speech, so the reading may be off by several "
                "frames", ms=1000.0 * d, dry=1000.0 * REVERB_DECAY_S)


def run_note(d: float, *, name: str) -> str:
    """The note a run adds (``result.json``'s ``extra.input_notes``, a warning in its log) when its
    speech ``name`` has a :func:`decay_time` ``d`` (seconds) of reverberant or compressed speech,
    else "": the render's mouth shapes come from the same phones, not only the sync reading."""
    from .i18n import Text
    if not rings(d):
        return ""
    return Text("{name} sounds reverberant or strongly compressed (after it stops, its sound takes {ms:.0f} ms to fall "
                "20 dB, dry speech under {dry:.0f} ms): the phone recogniser mishears such speech, so mouth shapes "
                "may be mistimed and the sync reading may be off by several frames; a dry recording (a close "
                "microphone, no heavy level compression) avoids this", name=name, ms=1000.0 * d, dry=1000.0 * REVERB_DECAY_S)
