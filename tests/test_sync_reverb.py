"""The sync reading of a reverberant recording: a room's tail no longer throws it off, and the
report says when the sound is reverberant.

Ground truth: the in-sync camera recordings' own mouths (talking_590, portrait_1080x1920) against
their own sound convolved with a synthetic room (direct path + an exponentially decaying noise tail,
RT60 0.5 s, direct-to-reverberant ratio 10 dB: a normal room, the microphone ~1 m away; fixed
seeds). Before heygem_kernel.dereverb seeds 1 and 3 read -14.46 (talking_590) and +9.37 frames
(the portrait) against -0.08 / +0.10 dry: the phone recogniser mishears the room's tails."""
from __future__ import annotations

import numpy as np
import pytest
from heygem_kernel import dereverb, landmarks, media, sync
from heygem_kernel.audio import SAMPLE_RATE, load_audio, speech_from_wav

ROOM = dict(rt60=0.5, drr_db=10.0)
CLIPS = ("talking_590.mp4", "portrait_1080x1920.mp4")
ROOMS = 8                        # rooms with seeds 0 .. ROOMS - 1
MAX_SHIFT_FRAMES = 1.0           # from the dry reading


def room(wav: np.ndarray, *, seed: int, rt60: float, drr_db: float) -> np.ndarray:
    """``wav`` in a synthetic room: direct path + exponentially decaying noise from 5 ms."""
    rng = np.random.default_rng(seed)
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    tail[:int(0.005 * SAMPLE_RATE)] = 0.0
    tail *= np.sqrt(1.0 / (np.sum(tail ** 2) * 10 ** (drr_db / 10)))
    tail[0] = 1.0
    x = np.asarray(wav, np.float64)
    size = 1 << int(np.ceil(np.log2(x.shape[0] + n)))
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(tail, size), size)[:x.shape[0]]
    return np.clip(y / np.abs(y).max() * np.abs(x).max(), -1, 1).astype(np.float32)


def own_speech(video):
    return sync._own_speech(video, media.probe_video(video).audio_delay)[0]


def reading(track, speech) -> sync.SyncEstimate:
    n = min(track.n_frames, speech.n_frames_at(track.fps))
    return sync.estimate_from_speech(track.mouth_open()[:n], speech=speech, fps=track.fps,
                                     mouth_width=track.mouth_width()[:n])


@pytest.mark.parametrize("name", CLIPS)
def test_reverberant_sound_reads_like_the_dry_one(media_dir, name):
    """Eight rooms (seeds): every reading the check calls reliable lies within MAX_SHIFT_FRAMES of
    the dry one, and at least half are reliable. At the -12.5 ms zero talking_590 reads +0.64 dry
    and four rooms +0.07..+0.48; the other four (seeds 1, 2, 5, 6) read +0.19..+2.16 below chance,
    i.e. reported as a guess (at 7.5 ms seed 6 read +1.87, also below chance). The portrait (its own
    sound is below chance dry too, see sync.CHANCE_K): +0.33 dry, rooms -0.11..+0.82, one of those
    below chance reading +13.4."""
    video = media_dir / name
    track = landmarks.track_video(video)
    speech = own_speech(video)
    dry = reading(track, speech)
    wet = [reading(track, speech_from_wav(room(speech.wav, seed=s, **ROOM), sr=SAMPLE_RATE))
           for s in range(ROOMS)]
    print(f"{name}: dry {dry.offset_exact:+.2f}, rooms " +
          " ".join(f"{w.offset_exact:+.2f}{'' if w.reliable else '?'}" for w in wet))
    reliable = [w for w in wet if w.reliable]
    assert len(reliable) >= ROOMS // 2
    assert all(abs(w.offset_exact - dry.offset_exact) <= MAX_SHIFT_FRAMES for w in reliable)
    assert abs(np.median([w.offset_exact for w in wet]) - dry.offset_exact) <= MAX_SHIFT_FRAMES   # guesses too


def test_report_says_the_sound_is_reverberant(media_dir):
    video = media_dir / "talking_590.mp4"
    track = landmarks.track_video(video)
    speech = own_speech(video)
    dry = sync.measure_video_sync(video, speech=speech, track=track)
    wet = sync.measure_video_sync(video, speech=speech_from_wav(room(speech.wav, seed=1, **ROOM), sr=SAMPLE_RATE),
                                  track=track)
    assert not dry.reverb_note and dry.to_dict()["reverb_note"] == ""
    assert "reverberant" in wet.reverb_note and wet.reverb_note in wet.notes()
    assert wet.to_dict()["reverb_decay_ms"] > 1000 * dereverb.REVERB_DECAY_S > dry.to_dict()["reverb_decay_ms"]


@pytest.mark.parametrize("name", ("talking_590.mp4", "talking_524.mp4", "talking_vfr_700.mp4",
                                  "portrait_1080x1920.mp4", "speech_en_60s.wav", "speech_en_5s.wav"))
def test_dry_recordings_are_not_called_reverberant(media_dir, name):
    """Dry speech keeps the plain reference (its reading unchanged); noise does not make it a room."""
    wav = load_audio(media_dir / name)
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(wav.shape[0])
    noise = np.fft.irfft(np.fft.rfft(noise) / np.sqrt(np.maximum(np.arange(wav.shape[0] // 2 + 1), 1)), wav.shape[0])
    loud = wav[np.abs(wav) > 0.02 * np.abs(wav).max()]
    noisy = wav + noise * np.sqrt(np.mean(loud ** 2) / np.mean(noise ** 2) / 10 ** 2.0)   # pink, 20 dB SNR
    assert not dereverb.is_reverberant(wav), dereverb.decay_time(wav)
    assert not dereverb.is_reverberant(noisy.astype(np.float32)), dereverb.decay_time(noisy)
    assert dereverb.is_reverberant(room(wav, seed=1, **ROOM)) or name == "speech_en_5s.wav"


def test_a_run_on_reverberant_speech_says_so(tmp_path, media_dir):
    """The render's mouth shapes come from the same phones: a run whose speech rings like a room
    says so in its log's warnings and result.json (it said nothing before; only heygem sync did)."""
    import soundfile as sf
    from heygem_kernel import pipeline
    wav = load_audio(media_dir / "talking_590.mp4")        # its own 5 s of speech
    dry, wet = tmp_path / "dry.wav", tmp_path / "room.wav"
    sf.write(dry, wav, SAMPLE_RATE)
    sf.write(wet, room(wav, seed=1, **ROOM), SAMPLE_RATE)
    results = {p.stem: pipeline.run(p, media_dir / "talking_590.mp4", run_dir=tmp_path / p.stem,
                                    cache_dir=tmp_path / "cache") for p in (dry, wet)}
    decay = {k: r.extra["speech_reverb_decay_ms"] for k, r in results.items()}
    assert decay["dry"] < 1000 * dereverb.REVERB_DECAY_S < decay["room"], decay
    assert not [n for n in results["dry"].extra["input_notes"] if "reverberant" in str(n)]
    note = [str(n) for n in results["room"].extra["input_notes"] if "reverberant" in str(n)]
    assert len(note) == 1 and note[0].startswith("room.wav sounds reverberant") and "mouth shapes" in note[0], note
    saved = (tmp_path / "room" / "result.json").read_text()
    assert "sounds reverberant" in saved and '"speech_reverb_decay_ms"' in saved


def test_a_few_syllables_get_no_verdict(media_dir):
    """0.5 s of the dry speech_en_5s (its fastest offsets one syllable's) read 100 ms, 'reverberant',
    and a run on it warned so; under dereverb.MIN_SPEECH_S there is no verdict."""
    wav = load_audio(media_dir / "speech_en_5s.wav")
    assert np.isnan(dereverb.decay_time(wav[:SAMPLE_RATE // 2]))
    assert not dereverb.is_reverberant(wav[:SAMPLE_RATE // 2])
    assert dereverb.decay_time(wav[:int(dereverb.MIN_SPEECH_S * SAMPLE_RATE)]) < dereverb.REVERB_DECAY_S
