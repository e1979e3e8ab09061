"""Speech front end: decode any audio through ffmpeg, Wav2Lip mel spectrogram, loudness envelope.

``load_speech(path)`` does the expensive work once (decode, mel, phone recognition) and
returns a picklable :class:`Speech`; ``Speech.features(fps=...)`` then derives the per-frame
tracks of one video cheaply, so a batch of videos shares one analysis of the speech.

The mel follows the Wav2Lip front end exactly (``/work/shared/spec/wav2lip.md`` section 4):
the ``wav2lip`` backend feeds it to the network unchanged.
"""
from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import InputError, MediaError

if TYPE_CHECKING:  # pragma: no cover
    from .backends.base import AudioFeatures
    from .visemes import PhoneSegment

# --- Wav2Lip audio hyper-parameters (hparams.py of Rudrabha/Wav2Lip) --------------------------
SAMPLE_RATE = 16000                  # every model in the engine works on 16 kHz mono
N_FFT = 800                          # 50 ms analysis window -> 401 frequency bins
HOP = 200                            # 12.5 ms hop -> 80 mel columns per second
WIN = 800                            # Hann window as long as the FFT
N_MELS = 80
FMIN, FMAX = 55.0, 7600.0            # Hz; FMAX <= SAMPLE_RATE / 2
PREEMPHASIS = 0.97                   # y[n] = x[n] - 0.97 x[n-1]
MIN_LEVEL_DB = -100.0                # floor of the dB scale ...
AMP_FLOOR = 10 ** (MIN_LEVEL_DB / 20)  # ... i.e. amplitude 1e-5
REF_LEVEL_DB = 20.0                  # dB subtracted after log
MAX_ABS_VALUE = 4.0                  # symmetric normalisation to [-4, 4]
MEL_PER_SECOND = SAMPLE_RATE / HOP   # 80.0
MEL_STEP = 16                        # columns per network window = 0.2 s
STFT_BLOCK = 4096                    # mel columns per STFT block (51 s; bounds memory on long speech)

# --- loading ---------------------------------------------------------------------------------
MIN_DURATION = 0.1                   # s; a shorter decode that is also silent counts as "no audio"
MIN_SOUND = 0.01                     # s; real sound shorter than this cannot drive even one frame at 100 fps
TRUNCATION_TOLERANCE = 0.25          # s of declared duration we may fail to decode before calling it truncated
CANCEL_EXCERPT_S = 30.0              # s of each channel compared with the mono mix ...
CANCEL_RATIO = 0.25                  # ... which, below 0.25 x the loudest channel's RMS, cancelled out
                                     # (same channels: 1, one silent: 0.5, unrelated: 0.71, inverted: ~0)
RIFF_SLACK_BYTES = 4096              # WAV writers that mis-count a trailing chunk are not "truncated"

# --- loudness envelope ----------------------------------------------------------------------
ENV_WINDOW = 0.05                    # s of audio around each frame time (>= one frame at 20 fps)
ENV_RANGE_DB = 45.0                  # speech dynamics: quieter than peak - 45 dB counts as silence
ENV_PEAK_PERCENTILE = 95             # robust "loud speech" level (ignores clicks)
ENV_FLOOR_PERCENTILE = 5             # robust noise floor (the quietest 5 % of windows)
ENV_FLOOR_MARGIN_DB = 6.0            # noise floor + 6 dB still maps to 0
ENV_SILENT_DBFS = -60.0              # a recording whose peak level is below this is silence


def _riff_truncated(path: Path) -> bool:
    """True when a RIFF/WAVE header declares more bytes than the file holds.

    ffprobe estimates a WAV's duration from the file size, so a cut WAV looks complete to it.
    Streamed WAVs write size 0 or 0xFFFFFFFF (unknown): never "truncated".
    """
    with open(path, "rb") as fh:
        head = fh.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return False
    declared = int.from_bytes(head[4:8], "little") + 8
    actual = path.stat().st_size
    if declared <= 12 or declared >= 0xFFFFFFFF:
        return False
    return declared - actual > max(RIFF_SLACK_BYTES, 0.01 * declared)


def _length_guessed(path: Path) -> bool:
    """True when ffprobe's length of ``path`` is a guess from the first frame's bitrate, not a header's:
    a raw AAC (ADTS) stream, or an MP3 without a Xing/Info/VBRI header. A variable bitrate makes the
    guess wrong (60 s of speech as ffmpeg's .aac: 76.8 s; as VBR MP3: 83.2 s), which says nothing
    about the file being cut short. Asked only when the decoded sound is shorter than the length."""
    from .media import _ff_path, ffprobe_exe
    try:
        done = subprocess.run([ffprobe_exe(), "-v", "warning", "-show_entries", "format=duration", "-of", "csv=p=0",
                               _ff_path(path)], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False
    return "Estimating duration from bitrate" in done.stderr


def decode_pcm(path: Path, *args: str, sr: int) -> subprocess.CompletedProcess:
    """ffmpeg's decode of the first audio track of ``path`` (audio or video) to float32 little-endian
    PCM at ``sr`` Hz on ``stdout`` (interleaved channels unless ``args`` say ``-ac 1``); ``args`` are
    output options before the rate (``-ac 1``, ``-t 20``, a ``-af`` filter). Callers judge
    ``returncode`` and ``stderr``: nothing is raised here."""
    from .media import _ff_path, ffmpeg_exe
    return subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-i", _ff_path(Path(path)), "-map", "0:a:0",
                           "-vn", *args, "-ar", str(sr), "-f", "f32le", "-"], capture_output=True)


def load_audio(path: str | Path, *, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Decode the first audio track of any ffmpeg-readable file (audio or video).

    Returns wav [shape=(S,)] float32 mono in [-1, 1] at ``sr`` Hz.
    Raises InputError (missing path) or MediaError (not media, no audio track, empty, truncated).
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file: {path}", path=path)
    if not path.is_file():
        raise InputError("{path} is not a file", path=path)
    from .media import _last_line, probe_audio
    probed = probe_audio(path)              # not media / no audio track / empty: one-line errors
    declared = probed.duration
    if _riff_truncated(path):
        raise MediaError("{path} is truncated: the file is shorter than its WAV header declares", path=path)
    proc = decode_pcm(path, "-ac", "1", sr=sr)
    if proc.returncode != 0:
        raise MediaError("{path} could not be decoded: {last_line}", path=path, last_line=_last_line(proc.stderr))
    wav = np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)
    duration = wav.shape[0] / sr
    if wav.shape[0] == 0 or (duration < MIN_DURATION and _peak_dbfs(wav) < ENV_SILENT_DBFS):
        raise MediaError("{path} contains no audio", path=path)
    if duration < MIN_SOUND:
        raise MediaError("{path} holds only {ms:.0f} ms of audio: at least {min_ms:.0f} ms are needed",
                         path=path, ms=duration * 1e3, min_ms=MIN_SOUND * 1e3)
    if declared - duration > TRUNCATION_TOLERANCE and not _length_guessed(path):
        raise MediaError("{path} is truncated: decoded {duration:.2f} s of the {declared:.2f} s its header declares",
                         path=path, duration=duration, declared=declared)
    if not np.all(np.isfinite(wav)):
        raise MediaError("{path} decodes to invalid (non-finite) samples", path=path)
    if probed.channels > 1:
        wav = _undo_cancellation(path, wav, channels=probed.channels, sr=sr)
    return np.clip(wav, -1.0, 1.0)


def _undo_cancellation(path: Path, mix: np.ndarray, *, channels: int, sr: int) -> np.ndarray:
    """``mix`` [shape=(S,)] when the channels add up; when they cancel out (one wired in opposite phase:
    a stereo file that plays loud speech mixes to almost nothing, and every mouth stayed closed under
    'holds no sound'), the loudest single channel instead, said in one warning. Judged on the first
    ``CANCEL_EXCERPT_S`` of each channel (one short decode)."""
    import logging
    from .i18n import _

    def decode(args: list[str]) -> np.ndarray:
        proc = decode_pcm(path, *args, sr=sr)
        out = np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32) if proc.returncode == 0 else np.zeros(0)
        return out if np.all(np.isfinite(out)) else np.zeros(0)

    rms = lambda x: np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=0))  # noqa: E731
    excerpt = decode(["-t", str(CANCEL_EXCERPT_S)])            # every channel, interleaved: one decode
    if len(excerpt) < channels:
        return mix
    levels = rms(excerpt[:len(excerpt) // channels * channels].reshape(-1, channels))
    loudest = int(np.argmax(levels))
    head = mix[:int(CANCEL_EXCERPT_S * sr)]
    if levels[loudest] <= 0 or not len(head) or rms(head) >= CANCEL_RATIO * levels[loudest]:
        return mix
    one = decode(["-af", f"pan=mono|c0=c{loudest}"])
    if not len(one):
        return mix
    logging.getLogger("heygem").warning("%s", _(
        "{name}: its channels cancel out when mixed to mono (one is in opposite phase), so the speech is read "
        "from channel {channel} alone; a mono loudspeaker will play the output nearly silent", name=path.name,
        channel=loudest + 1))
    return np.pad(one[:len(mix)], (0, max(0, len(mix) - len(one))))


def _peak_dbfs(wav: np.ndarray) -> float:
    """Peak sample level in dB full scale (-inf for digital silence)."""
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else float("-inf")


def silence_note(wav: np.ndarray, *, name: str):
    """A note (:class:`~heygem_kernel.i18n.Text`) when ``wav`` [shape=(S,)] holds no sound (peak
    below ENV_SILENT_DBFS), else None: no mouth it drives moves (a video's stay closed, a photo keeps its own), which is seldom what was
    meant (a muted microphone, the wrong file or track), so run, scan and batch say so."""
    if _peak_dbfs(wav) >= ENV_SILENT_DBFS:
        return None
    from .i18n import Text
    return Text("{name} holds no sound (quieter than {limit:.0f} dBFS throughout): no mouth will move; "
                "check the file or its audio track", name=name, limit=ENV_SILENT_DBFS)


# --- Wav2Lip mel spectrogram -----------------------------------------------------------------
# Plain numpy, not librosa: importing librosa (scipy.signal, numba) costs ~2 s of CPU per
# process, more than the whole speech analysis, and every ``heygem run`` pays it. The filter
# bank and STFT below are librosa's formulas; tests/test_audio.py pins them to librosa's output.
SLANEY_LINEAR_HZ = 200.0 / 3     # Slaney mel scale: linear below 1 kHz (15 mels) ...
SLANEY_BREAK_HZ, SLANEY_BREAK_MEL = 1000.0, 15.0
SLANEY_LOG_STEP = np.log(6.4) / 27.0   # ... logarithmic above (27 mels per factor 6.4)


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney mel of frequencies in Hz (librosa.hz_to_mel with htk=False)."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / SLANEY_LINEAR_HZ
    high = hz >= SLANEY_BREAK_HZ
    return np.where(high, SLANEY_BREAK_MEL + np.log(np.maximum(hz, 1e-12) / SLANEY_BREAK_HZ) / SLANEY_LOG_STEP,
                    mel)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Frequencies in Hz of Slaney mels (librosa.mel_to_hz with htk=False)."""
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= SLANEY_BREAK_MEL,
                    SLANEY_BREAK_HZ * np.exp(SLANEY_LOG_STEP * (mel - SLANEY_BREAK_MEL)), SLANEY_LINEAR_HZ * mel)


def mel_frequencies(n_mels: int, *, fmin: float = FMIN, fmax: float = FMAX) -> np.ndarray:
    """``n_mels`` frequencies in Hz [shape=(n_mels,)], evenly spaced on the Slaney mel scale."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels))


@functools.lru_cache(maxsize=1)
def _mel_basis() -> np.ndarray:
    """Slaney mel filter bank [shape=(80, 401)] float32, area-normalised: triangles between
    neighbouring band edges of :func:`mel_frequencies` (as librosa.filters.mel, norm="slaney")."""
    edges = mel_frequencies(N_MELS + 2)
    fft_hz = np.fft.rfftfreq(N_FFT, d=1.0 / SAMPLE_RATE)
    gaps = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    weights = np.zeros((N_MELS, len(fft_hz)), np.float32)   # rounded to float32 where librosa rounds
    for i in range(N_MELS):
        weights[i] = np.maximum(0.0, np.minimum(-ramps[i] / gaps[i], ramps[i + 2] / gaps[i + 1]))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights


@functools.lru_cache(maxsize=1)
def _hann() -> np.ndarray:
    """Periodic Hann window [shape=(800,)], computed as scipy.signal.get_window("hann", 800)
    (librosa's) computes it, so the spectrogram matches librosa's bit for bit."""
    return (0.5 + 0.5 * np.cos(np.linspace(-np.pi, np.pi, WIN + 1)))[:-1]


def _stft_magnitude(segment: np.ndarray, n_frames: int) -> np.ndarray:
    """|STFT| [shape=(401, n_frames)] of ``segment`` (already padded; frames start every HOP)."""
    frames = np.lib.stride_tricks.sliding_window_view(segment, N_FFT)[::HOP][:n_frames]
    return np.abs(np.fft.rfft(frames * _hann(), axis=1)).T


def mel_magnitude(wav: np.ndarray) -> np.ndarray:
    """Mel-band magnitudes of 16 kHz mono ``wav`` [shape=(S,)] after the Wav2Lip pre-emphasis:
    [shape=(80, 1 + S // 200)] float64, 80 columns per second (column c centred on c / 80 s).
    Computed in float64 like the original (scipy's lfilter promotes to float64)."""
    wav = np.asarray(wav)
    if wav.ndim != 1 or wav.shape[0] == 0:
        raise ValueError(f"melspectrogram expects a non-empty mono waveform, got shape {wav.shape}")
    x = wav.astype(np.float64)
    emphasised = np.empty_like(x)            # y[n] = x[n] - 0.97 x[n-1], zero initial state
    emphasised[0] = x[0]
    emphasised[1:] = x[1:] - PREEMPHASIS * x[:-1]
    # center=True with zero padding, done once here so the STFT can run in blocks of frames:
    # each frame sees exactly the samples it would see in one big STFT, but the complex
    # spectrogram of a long speech (246 MB for 8 min) never exists at once.
    padded = np.pad(emphasised, N_FFT // 2, mode="constant")
    n_frames = 1 + wav.shape[0] // HOP
    basis = _mel_basis()
    mel = np.empty((N_MELS, n_frames), np.float64)
    for t0 in range(0, n_frames, STFT_BLOCK):
        t1 = min(n_frames, t0 + STFT_BLOCK)
        segment = padded[t0 * HOP:(t1 - 1) * HOP + N_FFT]
        mel[:, t0:t1] = basis @ _stft_magnitude(segment, t1 - t0)
    return mel


def melspectrogram(wav: np.ndarray) -> np.ndarray:
    """Wav2Lip-normalised mel spectrogram of 16 kHz mono ``wav`` [shape=(S,)].

    Returns [shape=(80, 1 + S // 200)] float32 in [-4, 4] (-4 is silence), 80 columns per second.
    """
    mel_db = 20.0 * np.log10(np.maximum(AMP_FLOOR, mel_magnitude(wav))) - REF_LEVEL_DB
    scaled = 2 * MAX_ABS_VALUE * (mel_db - MIN_LEVEL_DB) / (-MIN_LEVEL_DB) - MAX_ABS_VALUE
    return np.clip(scaled, -MAX_ABS_VALUE, MAX_ABS_VALUE).astype(np.float32)


def mel_windows(mel: np.ndarray, *, fps: float, n_frames: int | None = None,
                index: np.ndarray | None = None) -> np.ndarray:
    """One 0.2 s mel window per output frame, as Wav2Lip's inference.py cuts them.

    mel [shape=(80, M)] -> [shape=(n_frames, 80, 16)] for frames 0..n_frames-1, or
    [shape=(len(index), 80, 16)] for the output frames ``index`` only (streaming callers cut
    a batch at a time). Window i starts at column int(i * 80 / fps) (forward-looking);
    windows that would run past the end are the last 16 columns. A mel shorter than 16
    columns is padded with silence (-4).
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if mel.shape[1] < MEL_STEP:
        pad = np.full((mel.shape[0], MEL_STEP - mel.shape[1]), -MAX_ABS_VALUE, dtype=mel.dtype)
        mel = np.concatenate([mel, pad], axis=1)
    multiplier = MEL_PER_SECOND / fps                       # same float ops as the original
    frames = np.arange(n_frames) if index is None else np.asarray(index)
    starts = (frames.astype(np.float64) * multiplier).astype(np.int64)
    starts = np.minimum(starts, mel.shape[1] - MEL_STEP)   # past the end: the last 16 columns
    cols = starts[:, None] + np.arange(MEL_STEP)[None, :]  # (n_frames, 16)
    return np.ascontiguousarray(mel[:, cols].transpose(1, 0, 2))


# --- loudness envelope -----------------------------------------------------------------------
HIGHPASS_HZ = (55.0, 85.0)   # below speech (the recogniser's filterbank starts at 133 Hz): DC offset and mains hum


def highpass(wav: np.ndarray, *, sr: int) -> np.ndarray:
    """``wav`` [shape=(S,)] without DC offset and mains hum, float64: its spectrum is cut below
    ``HIGHPASS_HZ[0]`` and passed above ``HIGHPASS_HZ[1]`` (a raised-cosine step between), zero phase.
    One real FFT (numpy; scipy.signal would cost ~50 MB of RSS and its import time in every run)."""
    wav = np.asarray(wav, dtype=np.float64)
    if wav.shape[0] < 2:
        return wav - wav.mean() if wav.size else wav
    spectrum = np.fft.rfft(wav)
    freqs = np.fft.rfftfreq(wav.shape[0], d=1.0 / sr)
    lo, hi = HIGHPASS_HZ
    spectrum *= 0.5 - 0.5 * np.cos(np.pi * np.clip((freqs - lo) / (hi - lo), 0.0, 1.0))
    return np.fft.irfft(spectrum, n=wav.shape[0])


def envelope(wav: np.ndarray, *, sr: int, fps: float, n_frames: int) -> np.ndarray:
    """Speech loudness per output frame, [shape=(n_frames,)] float32 in [0, 1].

    RMS level (dB) of ENV_WINDOW s of audio centred on each frame time i / fps, mapped
    linearly from max(noise floor + 6 dB, peak - 45 dB) -> 0 to the 95th-percentile level -> 1.
    Frames after the end of the audio, and all frames of a silent recording, are 0. Measured after
    :func:`highpass` (a DC offset or hum is not loudness).
    """
    wav = highpass(wav, sr=sr)
    half = max(1, int(round(ENV_WINDOW * sr / 2)))
    power = np.concatenate([[0.0], np.cumsum(wav * wav)])  # prefix sums: window means in O(1)
    centres = np.round(np.arange(n_frames) * sr / fps).astype(np.int64)
    lo = np.clip(centres - half, 0, wav.shape[0])
    hi = np.clip(centres + half, 0, wav.shape[0])
    inside = hi - lo > half // 2
    mean_power = np.where(inside, (power[hi] - power[lo]) / np.maximum(hi - lo, 1), 0.0)
    level = 10.0 * np.log10(mean_power + 1e-12)
    if not inside.any():
        return np.zeros(n_frames, np.float32)
    peak = float(np.percentile(level[inside], ENV_PEAK_PERCENTILE))
    if peak < ENV_SILENT_DBFS:
        return np.zeros(n_frames, np.float32)
    floor = float(np.percentile(level[inside], ENV_FLOOR_PERCENTILE)) + ENV_FLOOR_MARGIN_DB
    floor = min(max(floor, peak - ENV_RANGE_DB), peak - ENV_FLOOR_MARGIN_DB)
    env = np.clip((level - floor) / (peak - floor), 0.0, 1.0)
    return np.where(inside, env, 0.0).astype(np.float32)


# --- the speech of one run -------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Speech:
    """A decoded speech recording with its expensive analyses (computed once, picklable).

    wav    [shape=(S,)] float32 mono at ``sr`` (16 kHz).
    mel    [shape=(80, 1 + S // 200)] Wav2Lip mel spectrogram.
    phones recognised phone segments (ARPAbet + SIL/noise), in time order.
    language  the ``--language`` code (heygem_kernel.articulation): for any language but
              en/auto the spectral constriction cue closes the mouth where the English phone
              model misses a closure.
    """

    path: str
    wav: np.ndarray = field(repr=False)
    sr: int
    mel: np.ndarray = field(repr=False)
    phones: list = field(default_factory=list, repr=False)
    language: str = "auto"

    @property
    def duration(self) -> float:
        return self.wav.shape[0] / float(self.sr)

    @functools.cached_property
    def phone_variants(self) -> list:
        """``phones`` and the phones of the same speech at the other sub-frame starts of the
        recogniser's grid (``visemes.recognize_phone_variants``): what the sync reference is
        averaged over. Computed once on first use (~3 more recognitions), kept when pickled."""
        from .visemes import recognize_phone_variants
        return recognize_phone_variants(self.wav, sr=self.sr, first=self.phones, reverberant=self.reverberant)

    @functools.cached_property
    def reverb_decay_s(self) -> float:
        """Seconds the speech's fastest offsets take to fall 20 dB (:func:`heygem_kernel.dereverb.decay_time`;
        NaN: too little speech to tell). Measured once (~40 ms per minute of speech)."""
        from .dereverb import decay_time
        return decay_time(self.wav, sr=self.sr)

    @property
    def reverberant(self) -> bool:
        """The speech rings like a room or is strongly compressed (``reverb_decay_s`` above
        ``dereverb.REVERB_DECAY_S``): its phones are less sure (:mod:`heygem_kernel.dereverb`)."""
        from .dereverb import rings
        return rings(self.reverb_decay_s)

    @functools.cached_property
    def opening_curve(self) -> np.ndarray:
        """The mouth opening a real speaker would show, predicted from the spectrum
        (:mod:`heygem_kernel.acoustic`): [shape=(1 + S // 200,)] z-scores, 80 per second.
        Computed once on first use (one more STFT of the speech), kept when pickled."""
        from .acoustic import log_mel, predict
        return predict(log_mel(self.wav, sr=self.sr))

    def n_frames_at(self, fps: float) -> int:
        """Number of output frames that cover the speech at ``fps`` (at least 1; as the output file holds)."""
        from .media import output_frames
        return output_frames(self.duration, fps)

    def features(self, *, fps: float, n_frames: int | None = None, speaker_lead: float = 0.0) -> "AudioFeatures":
        """Per-frame tracks for a video at ``fps``: envelope and visemes [shape=(n_frames,)].

        ``speaker_lead``: seconds the presenter's mouth leads the calibrated zero
        (:mod:`heygem_kernel.speaker_timing`): the viseme targets (and a non-English closure
        cue) move that much earlier; the envelope stays with the sound. The opening blends the
        phones' with the spectrum's (``opening_curve``, ``visemes.ACOUSTIC_WEIGHT``)."""
        from .backends.base import AudioFeatures
        from .visemes import viseme_track

        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        n = self.n_frames_at(fps) if n_frames is None else int(n_frames)
        env = envelope(self.wav, sr=self.sr, fps=fps, n_frames=n)
        from .acoustic import at_frames
        acoustic = at_frames(self.opening_curve, fps=fps, n_frames=n, lead_s=speaker_lead)
        tracks = viseme_track(self.phones, envelope=env, fps=fps, n_frames=n, speaker_lead=speaker_lead,
                              acoustic=acoustic)
        from . import articulation
        if articulation.uses_acoustic_closures(self.language):
            closed = articulation.constriction(self.wav, sr=self.sr, fps=fps, n_frames=n, delay_s=-speaker_lead)
            tracks["open"] = (tracks["open"] * (1.0 - articulation.DEPTH * closed)).astype(np.float32)
        return AudioFeatures(wav=self.wav, sr=self.sr, mel=self.mel, fps=float(fps),
                             envelope=env, visemes=tracks)


def speech_from_wav(wav: np.ndarray, *, sr: int = SAMPLE_RATE, path: str = "",
                    language: str = "auto") -> Speech:
    """Analyse an already decoded 16 kHz mono waveform [shape=(S,)] (mel + phones).
    ``language``: see :mod:`heygem_kernel.articulation` (InputError for an unknown code)."""
    from .articulation import normalise_language
    from .visemes import recognize_phones

    language = normalise_language(language)

    if sr != SAMPLE_RATE:
        raise ValueError(f"speech_from_wav expects {SAMPLE_RATE} Hz audio, got {sr} Hz")
    wav = np.ascontiguousarray(wav, dtype=np.float32)
    return Speech(path=str(path), wav=wav, sr=sr, mel=melspectrogram(wav),
                  phones=recognize_phones(wav, sr=sr), language=language)


def load_speech(path: str | Path, *, language: str = "auto") -> Speech:
    """Decode ``path`` (audio, or a video's audio track) and analyse it once: mel + phones.
    ``language``: "auto" (default) or a code of :data:`heygem_kernel.articulation.LANGUAGES`."""
    from .articulation import normalise_language
    language = normalise_language(language)      # bad option: one line, before the decode
    return speech_from_wav(load_audio(path, sr=SAMPLE_RATE), sr=SAMPLE_RATE, path=str(path),
                           language=language)
