"""Where the written file's sound sits against its picture (the mux), measured on the file.

The run's sync check compares the output's mouth - measured on the rendered frames before
they are encoded - with the speech the run analysed, placed at the first frame. It cannot see
a fault after that point: the sound track muxed into the file early or late (a container start
offset, an encoder delay, a trimmed or padded speech). :func:`sound_offset` decodes the
finished file's first audio track as a player presents it (its start time against the first
picture applied) and finds the lag of its loudness curve against the analysed speech's
(Pearson correlation of the dB levels, ``HOP_S`` steps, sub-step parabolic peak). The run adds
that lag to its mouth-vs-speech offset (:func:`apply`): a file whose sound plays 4 frames late
shows the mouth 4 frames before its sound and reads 4 frames less; result.json records the lag
as ``sync_mux``.

Measured on an output of ``heygem run`` (talking_590 + speech_en_5s, AAC in MP4): 0.0 ms, r
1.00; its sound moved 0.2 s later in the container (``-itsoffset``): +198.5 ms; delayed 120 ms
in the samples (``adelay``, re-encoded): +120.0 ms; cut 0.1 s at the start: -100.0 ms; another
speech: r 0.27, no reading (tests/test_mux_check.py). Cost: one light ffprobe (stream start times) and
one ffmpeg decode of at most ``MAX_SPAN_S`` of the sound, ~0.1 s.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HOP_S = 0.005           # s; loudness step: 1/8 of a frame at 25 fps
WINDOW_S = 0.020        # s; RMS window of each loudness value
MAX_SPAN_S = 20.0       # s of sound compared (from the start): plenty for one lag, cheap to decode
MAX_LAG_S = 1.0         # s searched either way: a mux fault is a few frames, never seconds
MIN_CORRELATION = 0.6   # below: the file's sound is not the analysed speech (replaced, silent):
                        # no reading. The engine's own AAC reads >= 0.99, another speech 0.27.
MIN_APPLY_S = 0.010     # s; smaller lags are left out of the offset (the measure's own error is ~2 ms)
FLOOR_DB = -60.0        # dBFS floor of the levels (silence between words reads alike in both)


@dataclass(frozen=True)
class MuxCheck:
    """offset_s  seconds the file's sound plays after where the analysed speech was placed
                 (positive = sound late = the picture leads it); NaN when not measured.
    correlation  Pearson r of the two loudness curves at that lag (0 when not measured).
    note         why there is no reading ("" when there is one)."""

    offset_s: float
    correlation: float
    note: str = ""

    @property
    def measured(self) -> bool:
        return not self.note

    def to_dict(self) -> dict:
        return {"offset_ms": None if not self.measured else round(1000.0 * self.offset_s, 1) + 0.0,
                "correlation": round(float(self.correlation), 3), "note": self.note}


def _levels(wav: np.ndarray, sr: int) -> np.ndarray:
    """dB level [shape=(len(wav) / (sr * HOP_S),)] of ``WINDOW_S`` windows every ``HOP_S``."""
    hop, win = int(round(HOP_S * sr)), int(round(WINDOW_S * sr))
    n = max(0, (len(wav) - win) // hop + 1)
    if n == 0:
        return np.zeros(0)
    power = np.concatenate([[0.0], np.cumsum(np.asarray(wav, np.float64) ** 2)])
    starts = np.arange(n) * hop
    mean = (power[starts + win] - power[starts]) / win
    return np.maximum(10.0 * np.log10(mean + 1e-12), FLOOR_DB)


def lag_of(sound: np.ndarray, reference: np.ndarray, *, sr: int) -> tuple[float, float]:
    """(lag in s, r): how much later ``sound`` [shape=(S,)] plays than ``reference`` [shape=(R,)],
    both mono at ``sr`` Hz, by their loudness curves within +-``MAX_LAG_S``."""
    a, b = _levels(sound, sr), _levels(reference, sr)
    max_lag = int(round(MAX_LAG_S / HOP_S))
    scores = np.full(2 * max_lag + 1, -1.0)
    for k, lag in enumerate(range(-max_lag, max_lag + 1)):   # sound[t + lag] ~ reference[t]
        lo, hi = max(0, -lag), min(len(b), len(a) - lag)
        if hi - lo < int(1.0 / HOP_S):                        # less than 1 s overlapping
            continue
        x, y = a[lo + lag:hi + lag], b[lo:hi]
        if x.std() > 1e-6 and y.std() > 1e-6:
            scores[k] = float(np.corrcoef(x, y)[0, 1])
    k = int(np.argmax(scores))
    frac = 0.0
    if 0 < k < len(scores) - 1:                                # parabola through the peak
        left, mid, right = scores[k - 1], scores[k], scores[k + 1]
        denom = left - 2 * mid + right
        frac = 0.0 if abs(denom) < 1e-12 else float(np.clip(0.5 * (left - right) / denom, -0.5, 0.5))
    return (k - max_lag + frac) * HOP_S, float(scores[k])


def sound_offset(path: str | Path, *, speech: np.ndarray, sr: int) -> MuxCheck:
    """The file's sound against ``speech`` [shape=(S,)] (mono, ``sr`` Hz) placed at its first picture.

    Decodes the first ``MAX_SPAN_S`` of the file's first audio track (as a player presents it:
    the audio stream's start time after the video stream's is added). Never raises for a file
    it cannot read: the reason is the note."""
    from .audio import decode_pcm
    path = Path(path)
    starts = _start_times(path)
    if starts is None:
        return MuxCheck(float("nan"), 0.0, note="the file could not be probed")
    if "audio" not in starts:
        return MuxCheck(float("nan"), 0.0, note="the file has no audio track")
    proc = decode_pcm(path, "-t", str(MAX_SPAN_S), "-ac", "1", sr=sr)
    sound = np.frombuffer(proc.stdout, dtype="<f4")
    if proc.returncode != 0:
        return MuxCheck(float("nan"), 0.0, note="the file's sound could not be decoded")
    if sound.size < sr:   # decoded, but lag_of compares at least 1 s
        return MuxCheck(float("nan"), 0.0, note=f"the file's sound is too short to place ({sound.size / sr:.2f} s, "
                                                f"1 s needed)")
    reference = np.asarray(speech, np.float32)[:int(MAX_SPAN_S * sr)]
    lag, r = lag_of(sound, reference, sr=sr)
    if not r >= MIN_CORRELATION:
        return MuxCheck(float("nan"), r, note="the file's sound does not match the speech")
    return MuxCheck(lag + starts["audio"] - starts.get("video", starts["audio"]), r)


def _start_times(path: Path) -> dict[str, float] | None:
    """First video and audio streams' start times (s), one light ffprobe; None if unreadable."""
    import json
    from . import media
    proc = subprocess.run([media.ffprobe_exe(), "-v", "error", "-of", "json", "-show_entries",
                           "stream=codec_type,start_time", media._ff_path(path)], capture_output=True, text=True)
    try:
        streams = json.loads(proc.stdout)["streams"] if proc.returncode == 0 else None
    except (ValueError, KeyError):
        streams = None
    if streams is None:
        return None
    starts: dict[str, float] = {}
    for stream in streams:
        kind = stream.get("codec_type")
        if kind in ("audio", "video") and kind not in starts:
            try:
                starts[kind] = float(stream.get("start_time", 0.0))
            except (TypeError, ValueError):
                starts[kind] = 0.0
    return starts


def apply(estimate, mux: MuxCheck):
    """``estimate`` (:class:`heygem_kernel.sync.SyncEstimate` of the mouth against the speech at
    the first frame) with the file's own sound lag added: sound ``m`` s late moves the offset by
    ``-m * fps`` frames (the mouth then comes before its sound). Unchanged when the lag is not
    measured or under ``MIN_APPLY_S``."""
    from dataclasses import replace
    if not mux.measured or abs(mux.offset_s) < MIN_APPLY_S or estimate.note:
        return estimate
    exact = float(estimate.offset_exact) - mux.offset_s * float(estimate.fps)
    frames = int(round(exact))
    return replace(estimate, offset_exact=exact, offset_frames=frames, offset_ms=1000.0 * frames / float(estimate.fps))
