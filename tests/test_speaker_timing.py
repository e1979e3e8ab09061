"""Per-speaker mouth timing (heygem_kernel.speaker_timing) on real in-sync clips: the reading is
the untouched ``heygem sync`` reading, a sound that does not belong to the frames changes
nothing, a run records it, and rendering with it moves the output's mouth (tracked on the
output with landmarks, against the recorded mouth) by the applied lead."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from heygem_kernel import RunOptions, landmarks, media, run, speaker_timing, sync, visemes
from heygem_kernel.audio import load_audio

from heygem_cli import heygem


def ffmpeg(*args) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


@pytest.fixture(scope="module")
def tracks(media_dir) -> dict:
    return {name: landmarks.track_video(media_dir / name) for name in ("talking_590.mp4", "talking_524.mp4")}


def timing_of(video, track, *, wav=None) -> speaker_timing.SpeakerTiming:
    """The presenter's timing from ``track`` and the video's own sound (or ``wav``, 16 kHz, picture time)."""
    info = media.probe_video(video)
    phones = (speaker_timing.own_phones(info, n_frames=track.n_frames) if wav is None
              else visemes.recognize_phone_variants(wav))
    return speaker_timing.measure(landmarks=track.landmarks, valid=track.valid, phones=phones, info=info)


# --- the reading --------------------------------------------------------------------------------
def test_reading_is_the_untouched_sync_reading(tracks, media_dir):
    """talking_524's lips trail the calibrated zero (heygem sync reads it +2.79 frames at the -25 ms
    zero, a screen capture whose pictures are late; its halves agree): its shapes move later by that
    much, at most the clamp (MAX_LAG_S, 112.5 ms: 2.8 frames)."""
    name = "talking_524.mp4"
    untouched = sync.measure_video_sync(media_dir / name, track=tracks[name]).estimate
    timing = timing_of(media_dir / name, tracks[name])
    print(f"{name}: sync {untouched.offset_exact:+.2f} frames, speaker {timing.to_dict()}")
    assert timing.applied and timing.note == ""
    assert timing.offset_frames == pytest.approx(untouched.offset_exact, abs=0.05) and timing.offset_frames > 0.5
    assert timing.lead_ms == pytest.approx(-min(timing.offset_ms, 1000 * speaker_timing.MAX_LAG_S), abs=0.1)
    assert -1000 * speaker_timing.MAX_LAG_S <= timing.lead_ms <= -15
    assert timing.confidence > timing.chance
    assert all(abs(h - timing.offset_frames) <= speaker_timing.AGREE_FRAMES for h in timing.halves)
    assert timing.measured_on == "talking_524.mp4's own audio track, frames 0-121 (4.9 s)"


def test_halves_that_disagree_correct_nothing(tracks, clip_590):
    """talking_590, a camera clip the zero is calibrated on, reads within the calibration's error as
    recorded (+1.00 frame at the -25 ms zero, halves +1.24 / +1.59 agree: a correction of ~40 ms; at
    -12.5 ms +0.64, ~26 ms); with frames and sound rotated by half (the self-reenactment source)
    the reading is too weak or its halves do not agree with it: too noisy, no correction."""
    track = tracks["talking_590.mp4"]
    info = media.probe_video(clip_590)
    recorded = timing_of(clip_590, track)
    assert recorded.applied and abs(recorded.lead_ms) <= 1000 * sync.CALIBRATION_ERROR_FRAMES / info.fps
    half = track.n_frames // 2
    wav = speaker_timing.own_wav(info, seconds=track.n_frames / info.fps)
    rotated = speaker_timing.measure(landmarks=np.roll(track.landmarks, -half, axis=0),
                                     valid=np.roll(track.valid, -half), info=info,
                                     phones=visemes.recognize_phone_variants(np.roll(wav, -round(half / info.fps * 16000))))
    print(recorded.to_dict(), rotated.to_dict())
    assert not rotated.applied and rotated.lead_s == 0.0
    if rotated.confidence > rotated.chance:        # one segmentation: +1.5 frames, halves disagreeing
        assert "halves" in rotated.note            # (both, or one with the whole under ONE_HALF_MIN_RATIO x chance)
        assert max(abs(h - rotated.offset_frames) for h in rotated.halves) > speaker_timing.AGREE_FRAMES
    else:                                          # the dithered reference: below chance (0.40 vs 0.42)
        assert "does not clearly follow" in rotated.note


def test_one_half_agreeing_applies_the_median(tracks, media_dir, monkeypatch):
    """talking_524's real reading (+2.79 frames at the -25 ms zero, halves agreeing) with its halves' readings replaced:
    one half within AGREE_FRAMES of the whole and one far off -> the median of the three is applied
    (an outlying half moves it at most to the agreeing half) if the whole is clear of chance
    (ONE_HALF_MIN_RATIO); both far off -> nothing applied."""
    name = "talking_524.mp4"
    whole = timing_of(media_dir / name, tracks[name])
    fps = media.probe_video(media_dir / name).fps
    w = whole.offset_frames
    monkeypatch.setattr(speaker_timing, "_half_readings", lambda *a, **k: (w - 0.6, w - 2.5))
    one = timing_of(media_dir / name, tracks[name])
    assert one.applied and one.note == "" and one.halves == (w - 0.6, w - 2.5)
    assert whole.applied_from == "whole" and one.to_dict()["applied_from"] == "median of the whole and its halves"
    assert one.lead_ms == pytest.approx(-1000.0 * (w - 0.6) / fps, abs=0.1)     # the median: the agreeing half
    assert abs(one.lead_ms) < abs(whole.lead_ms)
    assert one.confidence >= speaker_timing.ONE_HALF_MIN_RATIO * one.chance
    shipped = speaker_timing.ONE_HALF_MIN_RATIO
    monkeypatch.setattr(speaker_timing, "ONE_HALF_MIN_RATIO", one.confidence / one.chance + 0.01)
    weak = timing_of(media_dir / name, tracks[name])       # the same, not clear enough of chance: refused
    assert not weak.applied and "too noisy to correct" in weak.note and weak.applied_from == ""
    monkeypatch.setattr(speaker_timing, "ONE_HALF_MIN_RATIO", shipped)
    monkeypatch.setattr(speaker_timing, "_half_readings", lambda *a, **k: (w + 1.5, w - 2.5))
    none = timing_of(media_dir / name, tracks[name])
    assert not none.applied and none.lead_s == 0.0 and "too noisy to correct" in none.note


def test_a_half_without_the_face_confirms_nothing(tracks, clip_590):
    """A source whose face is off screen for most of the span is read on its face frames
    (sync.MIN_FACE_S), but a half with no face has no reading of its own. Before (helper-44):
    that half counted as a reading of 0.0 and "agreed" with a whole reading near 0, so the lead
    was applied on a split-half check that checked nothing. Here: talking_590 six times over
    (30 s, frames and sound together), the face seen for the first 13.6 s only."""
    track = tracks["talking_590.mp4"]
    info = media.probe_video(clip_590)
    wav = speaker_timing.own_wav(info, seconds=track.n_frames / info.fps)
    seen = np.tile(track.valid, 6)
    seen[340:] = False                                      # the rest: a cut to the audience
    timing = speaker_timing.measure(landmarks=np.tile(track.landmarks, (6, 1, 1)), valid=seen, info=info,
                                    phones=visemes.recognize_phone_variants(np.tile(wav, 6)))
    print(timing.to_dict())
    assert timing.measured and abs(timing.offset_frames) <= 1      # the whole span is read: in sync
    assert np.isfinite(timing.halves[0]) and np.isnan(timing.halves[1])
    assert not timing.applied and timing.lead_s == 0.0
    assert timing.note == "half of the source shows the face too little to confirm its reading " \
                          f"({timing.offset_frames:+.2f} frames): not corrected"
    assert timing.to_dict()["halves"][1] is None                  # JSON: no NaN


def test_container_start_offset_is_applied(tmp_path, tracks, clip_524):
    """The same streams with the sound starting later than the picture in the container: a player
    plays it that much late, so the file reads that much earlier (mouth before the sound). 0.1 s:
    a presenter whose lips lead their sound 100 ms more than talking_524's, inside what lips and
    viewers allow (MAX_EARLY_S): the render's shapes move 100 ms earlier than for the recording.
    0.28 s: a file out of step, not a speaker (beyond MAX_EARLY_S): no correction."""
    plain = timing_of(clip_524, tracks["talking_524.mp4"])
    shifted = {}
    for delay in (0.1, 0.28):
        late = tmp_path / f"audio_late_{delay}.mp4"
        ffmpeg("-i", clip_524, "-itsoffset", delay, "-i", clip_524, "-map", "0:v", "-map", "1:a", "-c", "copy", late)
        assert media.probe_video(late).audio_delay == pytest.approx(delay, abs=0.03)
        shifted[delay] = timing_of(late, tracks["talking_524.mp4"])
        print(delay, shifted[delay].to_dict())
        assert shifted[delay].offset_frames == pytest.approx(plain.offset_frames - delay * 25, abs=0.6)
    assert plain.applied and plain.lead_ms < 0                     # a screen capture: its picture late
    leading = shifted[0.1]
    assert leading.applied and leading.lead_ms == pytest.approx(plain.lead_ms + 100, abs=25), leading
    far = shifted[0.28]         # reads ~196 ms early; the shift also costs it confidence on a 4.9 s clip
    assert far.offset_ms < -1000 * speaker_timing.MAX_EARLY_S and not far.applied and far.lead_s == 0.0 and far.note


# --- a sound that does not belong to the frames changes nothing -----------------------------------
def test_mismatched_sound_gets_no_correction(tracks, media_dir, clip_524):
    track = tracks["talking_524.mp4"]
    own = speaker_timing.own_wav(media.probe_video(clip_524), seconds=track.n_frames / 25.0)
    assert timing_of(clip_524, track, wav=own).applied            # the frames' own sound: corrected
    other = load_audio(media_dir / "talking_590.mp4")
    en = load_audio(media_dir / "speech_en_60s.wav")
    cases = {"own sound rotated by half": np.roll(own, own.size // 2),
             "talking_590's sound": np.resize(other, own.size),
             "speech_en_60s 8-13 s": en[8 * 16000:8 * 16000 + own.size],
             "silence": np.zeros_like(own)}
    for label, wav in cases.items():
        timing = timing_of(clip_524, track, wav=wav)
        print(f"{label}: {timing.to_dict()}")
        assert not timing.applied and timing.lead_s == 0.0 and timing.note, label


def test_photo_and_silent_video_get_none(tmp_path, photo_524, clip_524):
    from heygem_kernel.backends import create
    reuse = create("reuse")
    photo = speaker_timing.reason_not_to_measure(media.probe_video(photo_524), enabled=True, backend=reuse)
    mute = tmp_path / "mute.mp4"
    ffmpeg("-i", clip_524, "-map", "0:v", "-c", "copy", mute)
    silent = speaker_timing.reason_not_to_measure(media.probe_video(mute), enabled=True, backend=reuse)
    off = speaker_timing.reason_not_to_measure(media.probe_video(clip_524), enabled=False, backend=reuse)
    assert (photo, silent, off) == ("the source is a photo", "the source video has no audio track",
                                    "turned off (--speaker-timing off)")
    assert speaker_timing.reason_not_to_measure(media.probe_video(clip_524), enabled=True, backend=reuse) is None


def test_own_phones_are_cached_by_content(tmp_path, clip_524, monkeypatch):
    info = media.probe_video(clip_524)
    first = speaker_timing.own_phones(info, n_frames=100, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("speaker-*.npz"))) == 1
    assert len(first) == len(visemes.DITHER_SAMPLES) and all(len(v) > 10 for v in first)

    def recognise(*_, **__):
        raise AssertionError("recomputed although cached")
    monkeypatch.setattr(visemes, "recognize_phones", recognise)
    assert speaker_timing.own_phones(info, n_frames=100, cache_dir=tmp_path) == first


def test_cli_refuses_a_bad_value_in_one_line(tmp_path, clip_524, speech_5s):
    proc = heygem("run", "--audio", speech_5s, "--video", clip_524, "--speaker-timing", "maybe", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--speaker-timing" in proc.stderr and "maybe" in proc.stderr


# --- runs -----------------------------------------------------------------------------------------
def rotated_source(tmp_path, clip, *, sound: str, delay_s: float = 0.0):
    """The clip's frames rotated by half; ``sound`` "rotated" (an in-sync recording of the presenter)
    or "original" (the sound no longer belongs to the frames). ``delay_s``: the presenter's sound
    that much later (in the source and the driving speech alike: a presenter whose lips lead their
    sound by that much more). Returns (source, own speech wav)."""
    from scipy.io import wavfile
    info = media.probe_video(clip)
    frames = list(media.iter_frames(info))
    half = len(frames) // 2
    speech, _ = sync._own_speech(clip, info.audio_delay)
    wav = speech.wav[:int(round(len(frames) / info.fps * 16000))]
    wav = np.concatenate([np.zeros(int(round(delay_s * 16000)), wav.dtype), wav])[:wav.size]
    driving = tmp_path / "own.wav"
    wavfile.write(driving, 16000, (wav * 32767).astype(np.int16))
    track_sound = tmp_path / f"{sound}.wav"
    cut = int(round(half / info.fps * 16000))
    wavfile.write(track_sound, 16000, ((np.roll(wav, -cut) if sound == "rotated" else wav) * 32767).astype(np.int16))
    source = tmp_path / f"source_{sound}.mp4"
    with media.VideoWriter(source, width=info.width, height=info.height, fps=info.fps, audio=track_sound) as w:
        for frame in frames[half:] + frames[:half]:
            w.write(frame)
    return source, driving


def best_lag(recorded: np.ndarray, output: np.ndarray, max_lag: int = 4) -> float:
    """Sub-frame lag (frames, positive = output late) at which the output's mouth best matches the recording's."""
    n = min(len(recorded), len(output))
    rec, out = np.asarray(recorded[:n], float), np.asarray(output[:n], float)
    r = []
    for k in range(-max_lag, max_lag + 1):     # corr(recorded[t], output[t + k])
        a, b = (rec[:n - k], out[k:]) if k >= 0 else (rec[-k:], out[:n + k])
        ok = np.isfinite(a) & np.isfinite(b)
        r.append(np.corrcoef(a[ok], b[ok])[0, 1])
    i = int(np.argmax(r))
    den = r[i - 1] - 2 * r[i] + r[i + 1] if 0 < i < len(r) - 1 else 0.0
    return i - max_lag + (0.5 * (r[i - 1] - r[i + 1]) / den if den < 0 else 0.0)


def test_self_reenactment_moves_the_mouth_by_the_speakers_lead(tmp_path, tracks, clip_524):
    """talking_524 driven by its own speech from its rotated frames (and sound): with the speaker
    timing the run records the source's reading and the output's mouth (tracked on the output)
    meets the recorded mouth later, by about the applied lead (it was ~1.3 frames early); off, the
    record says so; a source whose sound was not rotated with its frames gets no correction."""
    source, driving = rotated_source(tmp_path, clip_524, sound="rotated")
    results = {on: run(driving, source, runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache",
                       options=RunOptions(sync_check=False, speaker_timing=on)) for on in (True, False)}
    on = json.loads((results[True].run_dir / "result.json").read_text())["extra"]["speaker_timing"]
    params = json.loads((results[True].run_dir / "params.json").read_text())
    off = json.loads((results[False].run_dir / "result.json").read_text())["extra"]["speaker_timing"]
    print(on, off)
    assert on["applied"] and on["measured"] and -1000 * speaker_timing.MAX_LAG_S <= on["applied_ms"] <= -15
    assert on["offset_frames"] > 0.5
    assert params["speaker_timing"] == on and params["options"]["speaker_timing"] is True
    assert not off["applied"] and off["note"] == "turned off (--speaker-timing off)"
    assert list((tmp_path / "cache").glob("speaker-*.npz"))

    recorded = tracks["talking_524.mp4"].mouth_open()
    lags = {k: best_lag(recorded, landmarks.track_video(r.output).mouth_open()) for k, r in results.items()}
    moved = lags[True] - lags[False]                     # frames the output's mouth moved later
    print(f"best lag off {lags[False]:+.2f}, on {lags[True]:+.2f} frames; applied {on['applied_ms']:+.0f} ms")
    assert lags[False] < -0.5                            # without it: ~3 frames early (bench_reenactment)
    assert abs(lags[True]) < abs(lags[False]) and abs(lags[True]) <= 1.0
    # measured at the -12.5 ms zero: off -3.16, on -0.64, moved 2.52 frames for 1.87 applied (why
    # more than applied is not verified; at the 7.5 ms zero it moved within 0.5 of the applied)
    assert moved == pytest.approx(-on["applied_ms"] / 40.0, abs=0.75)

    (tmp_path / "wrong").mkdir()
    wrong, _ = rotated_source(tmp_path / "wrong", clip_524, sound="original")
    mismatched = run(driving, wrong, runs_root=tmp_path / "runs", options=RunOptions(sync_check=False, use_cache=False))
    record = json.loads((mismatched.run_dir / "result.json").read_text())["extra"]["speaker_timing"]
    assert not record["applied"] and record["applied_ms"] == 0.0 and record["note"]


def test_a_presenter_whose_lips_lead_more_is_followed(tmp_path, tracks, clip_524):
    """A presenter whose lips lead their sound 200 ms more than talking_524's (its self-reenactment
    with the sound 0.2 s later in the source and in the driving speech): the source reads ~3.1
    frames early, inside MAX_EARLY_S, so the render draws its shapes that much earlier and the
    output's mouth meets the recorded mouth within a frame; with a fixed zero (speaker timing off)
    it is ~3 frames late, as the acceptance speakers' renders were (issue 8: +2..+5). Before the
    early range was widened (a 120 ms gate) this reading was refused as a file out of step."""
    source, driving = rotated_source(tmp_path, clip_524, sound="rotated", delay_s=0.2)
    results = {on: run(driving, source, runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache",
                       options=RunOptions(sync_check=False, speaker_timing=on)) for on in (True, False)}
    spk = json.loads((results[True].run_dir / "result.json").read_text())["extra"]["speaker_timing"]
    recorded = tracks["talking_524.mp4"].mouth_open()
    lags = {k: best_lag(recorded, landmarks.track_video(r.output).mouth_open(), max_lag=6) for k, r in results.items()}
    print(spk, f"best lag off {lags[False]:+.2f}, on {lags[True]:+.2f} frames")
    assert spk["applied"] and 100 <= spk["applied_ms"] <= 1000 * speaker_timing.MAX_EARLY_S
    assert lags[False] > 2.0
    assert abs(lags[True]) <= 1.0


def test_an_output_as_late_as_its_source_says_so(tmp_path, clip_524):
    """talking_524 (a screen capture: its picture reads +2.4 frames late) driven by its own sound:
    speaker timing follows the presenter, so the output reads as late as the source, and the run
    says that ('as in the source video'), not a bare 'video lags audio' that looks like its fault.
    With speaker timing off the output is on the calibrated zero and no such words appear."""
    on = heygem("run", "--audio", clip_524, "--video", clip_524, "--out", tmp_path / "on.mp4",
                "--runs-root", tmp_path / "on", "--no-cache", "--quiet")
    assert on.returncode == 0, on.stderr[-2000:]
    extra = json.loads(next((tmp_path / "on").glob("*/result.json")).read_text())["extra"]
    print(on.stdout, extra["sync_verdict"], extra["speaker_timing"])
    assert extra["speaker_timing"]["applied"] and extra["sync_follows_source"] is True
    assert extra["sync_verdict"].startswith("video lags audio by")
    assert extra["sync_verdict"].endswith(", as in the source video (speaker timing follows its presenter, whose "
                                          f"reading is {extra['speaker_timing']['offset_frames']:+.1f} frames)")
    assert "frames as in the source video (confidence" in on.stdout.splitlines()[0]
    off = heygem("run", "--audio", clip_524, "--video", clip_524, "--out", tmp_path / "off.mp4",
                 "--runs-root", tmp_path / "off", "--no-cache", "--quiet", "--speaker-timing", "off")
    assert off.returncode == 0, off.stderr[-2000:]
    extra = json.loads(next((tmp_path / "off").glob("*/result.json")).read_text())["extra"]
    assert extra["sync_follows_source"] is False and "source video" not in extra["sync_verdict"]
    assert "source video" not in off.stdout
    zh = heygem("run", "--audio", clip_524, "--video", clip_524, "--out", tmp_path / "zh.mp4",
                "--runs-root", tmp_path / "zh", "--quiet", lang="zh")
    assert zh.returncode == 0 and "与源视频相同" in zh.stdout, zh.stdout + zh.stderr[-2000:]


def test_a_source_whose_sound_ends_early_is_read_where_it_has_sound(tmp_path, clip_590, speech_5s):
    """Before: talking_590 with its sound stopped at 3 s was read over all its 125 frames, the last 2 s
    against a reference of silence (confidence 0.53 against chance 0.42), where `heygem sync` compares
    the 3 s with sound (0.51 against 0.61). Now both read the frames the sound covers."""
    short = tmp_path / "short sound.mp4"
    ffmpeg("-i", clip_590, "-map", "0:v", "-map", "0:a", "-c:v", "copy", "-af", "atrim=0:3", "-c:a", "aac", short)
    result = run(speech_5s, short, runs_root=tmp_path / "runs", options=RunOptions(sync_check=False, use_cache=False))
    spk = result.extra["speaker_timing"]
    print(spk)
    report = sync.measure_video_sync(short)
    check = report.estimate
    # the same frames as heygem sync compares (before: ceil here, round-half-up there: one frame apart)
    assert spk["measured"] and spk["measured_on"].endswith(f"frames 0-{report.n_frames - 1} (3.0 s)"), (spk, report.n_frames)
    assert spk["confidence"] == pytest.approx(check.confidence, abs=0.05)
    assert spk["chance"] == pytest.approx(check.chance, abs=0.01)


def test_the_reading_uses_the_runs_language(tracks, clip_590):
    """A run with --language zh reads its presenter as ``heygem sync --language zh`` reads the video
    (the spectral closure cue joins the reference): talking_590 +0.26 frames there, +0.64 with the
    English phone model at the -12.5 ms zero (English +1.00 at -25 ms). Before, the speaker timing always used the English reading and its record
    did not say which."""
    track = tracks["talking_590.mp4"]
    info = media.probe_video(clip_590)
    phones = speaker_timing.own_phones(info, n_frames=track.n_frames)
    readings = {}
    for language in ("auto", "zh"):
        cue = speaker_timing.own_constriction(info, n_frames=track.n_frames, language=language)
        timing = speaker_timing.measure(landmarks=track.landmarks, valid=track.valid, phones=phones, info=info,
                                        language=language, constriction=cue)
        heard = sync.measure_video_sync(clip_590, track=track, language=language).estimate
        print(f"{language}: speaker {timing.offset_frames:+.2f}, heygem sync {heard.offset_exact:+.2f}")
        assert timing.offset_frames == pytest.approx(heard.offset_exact, abs=0.05)
        assert timing.to_dict()["language"] == language
        # its split halves too: for zh without the English phones' closure channel (helper 58: the
        # whole reading dropped it, the halves that confirm it did not)
        closures = [sync.closure_channel(r, cue) is None for r in [{"closure": np.ones(3)}]]
        assert closures == [language != "auto"]
        seen = []
        real = sync.estimate_offset

        def spy(*args, **kwargs):
            seen.append(kwargs.get("speech_closure") is None)
            return real(*args, **kwargs)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(sync, "estimate_offset", spy)
            speaker_timing._half_readings(track, phones, info.fps, whole=timing.offset_frames, constriction=cue)
        assert seen == [language != "auto"] * 2, seen
        readings[language] = timing.offset_frames
        alone = speaker_timing.measure(landmarks=track.landmarks, valid=track.valid, phones=phones, info=info,
                                       language=language)           # the cue computed by measure itself
        assert alone.offset_frames == pytest.approx(timing.offset_frames, abs=1e-9)
    assert speaker_timing.own_constriction(info, n_frames=track.n_frames, language="en") is None
    assert abs(readings["zh"] - readings["auto"]) > 0.3
