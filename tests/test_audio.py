"""audio.py: decoding through ffmpeg, Wav2Lip mel conformance, mel windows, envelope, Speech."""
from __future__ import annotations

import pickle
import subprocess

import numpy as np
import pytest

from heygem_kernel import audio
from heygem_kernel.errors import InputError, MediaError

SR = 16000


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def wav_5s(speech_5s):
    return audio.load_audio(speech_5s)


# --- Wav2Lip mel: an independent plain-numpy implementation of spec section 4 ---------------
def reference_mel(wav: np.ndarray) -> np.ndarray:
    import librosa

    x = wav.astype(np.float64)
    y = np.empty_like(x)                      # pre-emphasis, zero initial state
    y[0] = x[0]
    y[1:] = x[1:] - 0.97 * x[:-1]
    padded = np.pad(y, (400, 400))            # center=True, zero ("constant") padding
    n_cols = 1 + (len(padded) - 800) // 200
    idx = np.arange(800)[None, :] + 200 * np.arange(n_cols)[:, None]
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(800) / 800)   # periodic Hann
    mag = np.abs(np.fft.rfft(padded[idx] * hann, axis=1)).T        # (401, T)
    basis = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    db = 20 * np.log10(np.maximum(1e-5, basis @ mag)) - 20
    return np.clip(8 * (db + 100) / 100 - 4, -4, 4)


def test_mel_matches_reference_on_real_speech(wav_5s):
    mel = audio.melspectrogram(wav_5s)
    ref = reference_mel(wav_5s)
    assert mel.dtype == np.float32
    assert mel.shape == ref.shape == (80, 1 + len(wav_5s) // 200)
    rel = np.linalg.norm(mel - ref) / np.linalg.norm(ref)
    assert rel < 1e-4
    assert np.abs(mel - ref).max() < 1e-3
    assert mel.min() >= -4 and mel.max() <= 4 and mel.std() > 0.5   # real speech, not a constant


@pytest.mark.parametrize("n", [1600, 1601, 1799, 3200, 16000 + 123])
def test_mel_shape(n):
    rng = np.random.default_rng(n)
    assert audio.melspectrogram(0.1 * rng.standard_normal(n).astype(np.float32)).shape == (80, 1 + n // 200)


def test_mel_of_silence_is_floor():
    mel = audio.melspectrogram(np.zeros(8000, np.float32))
    assert mel.shape == (80, 41)
    assert np.all(mel == -4.0)


def test_mel_rejects_non_mono():
    with pytest.raises(ValueError):
        audio.melspectrogram(np.zeros((2, 800), np.float32))


# --- mel windows -----------------------------------------------------------------------------
@pytest.mark.parametrize("fps", [25.0, 30.0, 29.97, 22.13])
def test_mel_windows_follow_wav2lip_rule(fps):
    mel = np.arange(80 * 401, dtype=np.float32).reshape(80, 401)
    n = 160                                           # runs well past the end of 5 s of mel
    win = audio.mel_windows(mel, fps=fps, n_frames=n)
    assert win.shape == (n, 80, 16) and win.dtype == np.float32
    mult = 80.0 / fps
    past_end = False
    for i in range(n):
        start = int(i * mult)
        past_end = past_end or start + 16 > 401
        expected = mel[:, 401 - 16:] if past_end else mel[:, start:start + 16]
        np.testing.assert_array_equal(win[i], expected)
    assert past_end                                   # the last-window rule was exercised


def test_mel_windows_count_and_short_mel():
    mel = np.zeros((80, 10), np.float32)
    win = audio.mel_windows(mel, fps=25, n_frames=3)
    assert win.shape == (3, 80, 16)
    np.testing.assert_array_equal(win[:, :, 10:], -4.0)   # padded with silence
    assert audio.mel_windows(np.zeros((80, 100), np.float32), fps=25, n_frames=0).shape == (0, 80, 16)


# --- load_audio ------------------------------------------------------------------------------
def test_load_wav_44k_stereo(speech_5s, wav_5s):
    assert wav_5s.dtype == np.float32 and wav_5s.ndim == 1
    assert abs(len(wav_5s) / SR - 5.0155) < 0.01          # ffprobe: 5.015510 s
    assert np.abs(wav_5s).max() <= 1.0 and np.abs(wav_5s).max() > 0.1
    wav_8k = audio.load_audio(speech_5s, sr=8000)
    assert abs(len(wav_8k) / 8000 - 5.0155) < 0.01


@pytest.mark.parametrize("ext,codec", [("mp3", "libmp3lame"), ("m4a", "aac"),
                                       ("ogg", "libvorbis"), ("flac", "flac")])
def test_load_compressed_formats(tmp_path, speech_5s, wav_5s, ext, codec):
    out = tmp_path / f"speech.{ext}"
    _ffmpeg("-i", str(speech_5s), "-c:a", codec, str(out))
    wav = audio.load_audio(out)
    assert abs(len(wav) - len(wav_5s)) / SR < 0.030
    n = min(len(wav), len(wav_5s))
    if ext == "flac":                                       # lossless: the same samples
        assert np.abs(wav[:n] - wav_5s[:n]).max() < 1e-4
    else:                                                   # lossy: the same sound, roughly aligned
        env = [np.convolve(np.abs(w[:n]), np.ones(400) / 400, "valid") for w in (wav, wav_5s)]
        assert np.corrcoef(*env)[0, 1] > 0.95


def test_load_video_audio_track(clip_590):
    wav = audio.load_audio(clip_590)
    assert abs(len(wav) / SR - 5.015) < 0.03
    assert np.sqrt(np.mean(wav ** 2)) > 0.01                # a woman speaking, not silence


def test_load_relative_name_with_a_colon(tmp_path, monkeypatch, speech_5s, wav_5s):
    """ffmpeg reads 'x:y.wav' as protocol 'x:': the decode must use the same file: URL as the probe."""
    (tmp_path / "x:y.wav").write_bytes(speech_5s.read_bytes())
    monkeypatch.chdir(tmp_path)
    np.testing.assert_array_equal(audio.load_audio("x:y.wav"), wav_5s)


def _one_line(err: Exception, path) -> str:
    msg = str(err)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_missing_file(tmp_path):
    path = tmp_path / "nope.wav"
    with pytest.raises(InputError) as e:
        audio.load_audio(path)
    assert not isinstance(e.value, MediaError)
    assert _one_line(e.value, path) == f"no such file: {path}"


def test_directory_is_not_audio(tmp_path):
    with pytest.raises(InputError) as e:
        audio.load_audio(tmp_path)
    _one_line(e.value, tmp_path)


def test_not_media(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is a text file pretending to be a wav\n" * 20)
    with pytest.raises(MediaError) as e:
        audio.load_audio(path)
    assert "is not an audio or video file that ffmpeg can read" in _one_line(e.value, path)


def test_video_without_audio(tmp_path, clip_590):
    path = tmp_path / "silent.mp4"
    _ffmpeg("-i", str(clip_590), "-t", "0.5", "-an", "-c:v", "libx264", "-preset", "ultrafast", str(path))
    with pytest.raises(MediaError) as e:
        audio.load_audio(path)
    assert _one_line(e.value, path) == f"{path} has no audio track"


@pytest.mark.parametrize("seconds", [0.0, 0.05])
def test_empty_audio(tmp_path, seconds):
    import wave
    path = tmp_path / "empty.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(SR)
        w.writeframes(b"\0\0" * int(seconds * SR))
    with pytest.raises(MediaError) as e:
        audio.load_audio(path)
    assert _one_line(e.value, path) == f"{path} contains no audio"


def test_truncated_wav(tmp_path, speech_5s):
    path = tmp_path / "cut.wav"
    data = speech_5s.read_bytes()
    path.write_bytes(data[: len(data) // 2])               # header still declares 5 s
    with pytest.raises(MediaError) as e:
        audio.load_audio(path)
    assert "truncated" in _one_line(e.value, path)


@pytest.mark.parametrize("faststart", [False, True])
def test_truncated_mp4(tmp_path, clip_590, faststart):
    whole = tmp_path / "whole.mp4"          # faststart: index first, so the header declares 5 s
    _ffmpeg("-i", str(clip_590), "-c", "copy", *(["-movflags", "+faststart"] if faststart else []), str(whole))
    path = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError) as e:
        audio.load_audio(path)
    assert "truncated" in _one_line(e.value, path)


# --- envelope --------------------------------------------------------------------------------
def test_envelope_silence_speech_silence(wav_5s):
    fps = 25
    pad = np.zeros(SR, np.float32)                         # 1 s of digital silence each side
    wav = np.concatenate([pad, wav_5s, pad])
    n = int(round(len(wav) / SR * fps)) + 10               # 10 frames past the end of the audio
    env = audio.envelope(wav, sr=SR, fps=fps, n_frames=n)
    assert env.shape == (n,) and env.dtype == np.float32
    assert env.min() >= 0 and env.max() <= 1
    assert env[:20].max() < 0.05 and env[-33:].max() < 0.05   # silence (and beyond the end) ~0
    speech = env[30:30 + 5 * fps]
    assert speech.mean() > 0.3 and speech.max() > 0.9
    assert np.all(audio.envelope(np.zeros(SR, np.float32), sr=SR, fps=fps, n_frames=25) == 0)


def test_envelope_follows_loudness():
    t = np.arange(2 * SR) / SR
    tone = np.sin(2 * np.pi * 220 * t) * np.where(t < 1, 0.5, 0.02)   # loud second, then -28 dB
    env = audio.envelope(tone.astype(np.float32), sr=SR, fps=25, n_frames=50)
    assert env[5:20].mean() > env[30:45].mean() + 0.3


# --- Speech ----------------------------------------------------------------------------------
def test_speech_is_computed_once_and_picklable(speech_5s):
    speech = audio.load_speech(speech_5s)
    assert speech.sr == SR and abs(speech.duration - 5.0155) < 0.01
    assert speech.mel.shape == (80, 1 + len(speech.wav) // 200)
    assert len(speech.phones) > 20
    clone = pickle.loads(pickle.dumps(speech))
    np.testing.assert_array_equal(clone.wav, speech.wav)
    np.testing.assert_array_equal(clone.mel, speech.mel)
    assert clone.phones == speech.phones and clone.path == str(speech_5s)

    feats = clone.features(fps=25)
    assert feats.n_frames == round(speech.duration * 25) == 125
    assert feats.fps == 25.0 and feats.mel is clone.mel and feats.sr == SR
    assert set(feats.visemes) == {"open", "width", "round"}
    for track in (feats.envelope, *feats.visemes.values()):
        assert track.shape == (125,) and track.min() >= 0 and track.max() <= 1
    assert clone.features(fps=30, n_frames=200).visemes["open"].shape == (200,)


def test_speech_from_video(clip_524):
    speech = audio.load_speech(clip_524)
    assert abs(speech.duration - 4.873) < 0.03 and len(speech.phones) > 10


def test_blocked_stft_equals_one_shot_stft_across_block_edges(speech_60s):
    """60 s of speech spans two STFT blocks: the result must equal the one-shot computation."""
    import librosa
    from scipy.signal import lfilter
    wav = audio.load_audio(speech_60s)
    assert 1 + len(wav) // audio.HOP > audio.STFT_BLOCK
    e = lfilter([1.0, -audio.PREEMPHASIS], [1.0], wav.astype(np.float64))
    spec = np.abs(librosa.stft(y=e, n_fft=800, hop_length=200, win_length=800, center=True, pad_mode="constant"))
    db = 20 * np.log10(np.maximum(1e-5, audio._mel_basis() @ spec)) - 20
    one_shot = np.clip(8 * (db + 100) / 100 - 4, -4, 4).astype(np.float32)
    np.testing.assert_array_equal(audio.melspectrogram(wav), one_shot)
