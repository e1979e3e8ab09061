"""Sync check on real clips recorded in sync (ground truth: offset 0), on copies with the sound
moved by 0.2 s in the container, against unrelated speech; the ``heygem sync`` command; the
diagnostic plots."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from heygem_kernel import diagnostics, landmarks, sync, visemes
from heygem_kernel.audio import load_speech, speech_from_wav

CLIPS = ("talking_590.mp4", "talking_524.mp4", "talking_vfr_700.mp4")
UNRELATED = ("speech_en_5s.wav", "speech_zh_8s.wav", "speech_en_60s.wav")
SHIFT_S = 0.16           # 4 frames at 25 fps (issue 8: a 4-frame delay reads +4 +-1)


def heygem(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "heygem_kernel", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def ffmpeg(*args) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


@pytest.fixture(scope="module")
def tracks(media_dir) -> dict:
    return {name: landmarks.track_video(media_dir / name) for name in CLIPS}


@pytest.fixture(scope="module")
def own(tracks, media_dir) -> dict:
    """Each clip measured against its own audio track."""
    return {name: sync.measure_video_sync(media_dir / name, track=tracks[name]) for name in CLIPS}


@pytest.fixture(scope="module")
def unrelated_speech(media_dir) -> dict:
    return {name: load_speech(media_dir / name) for name in UNRELATED}


def shifted(x: np.ndarray, frames: int) -> np.ndarray:
    """The track as if the video lagged by ``frames`` (NaN where nothing was seen)."""
    x = np.asarray(x, dtype=np.float64)
    pad = np.full(abs(frames), np.nan)
    return np.concatenate([pad, x[:-frames]]) if frames > 0 else np.concatenate([x[-frames:], pad])


# --- recorded in sync ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", CLIPS)
def test_clip_recorded_in_sync_reads_zero(own, name):
    """The camera recording reads 0 +- 1 frame (talking_590 +1.00 at the -25 ms zero, within the
    calibration's left-out error); the screen captures (held out of the calibration, sync.py
    CALIBRATION) read their pictures late, 0.5-3 frames (+2.79 / +2.85 at -25 ms, ~0.3 frames more
    than at -12.5 ms), and the report says they look like captures."""
    report = own[name]
    est = report.estimate
    print(f"{name}: offset {est.offset_frames:+d} ({est.offset_exact:+.2f}) confidence "
          f"{est.confidence:.2f} chance {est.chance:.2f} r {est.correlation:.2f}")
    assert est.reliable and est.confidence > est.chance
    if name.removesuffix(".mp4") in sync.SCREEN_CAPTURE_CLIPS:
        assert 0.5 <= est.offset_exact <= 3.0
        assert report.cadence is not None and report.cadence.note()
    else:
        assert abs(est.offset_frames) <= 1 and abs(est.offset_exact) <= sync.CALIBRATION_ERROR_FRAMES
        assert report.cadence is not None and not report.cadence.note()
    assert (est.verdict() == "in sync") == (abs(est.offset_frames) <= sync.IN_SYNC_FRAMES)
    assert est.curve.shape == (2 * sync.max_shift_frames(est.fps) + 1,)   # 0.6 s either way
    assert report.frames_no_face == 0


@pytest.mark.parametrize("name", CLIPS)
def test_unrelated_speech_gives_low_confidence(own, tracks, unrelated_speech, media_dir, name):
    """The same mouth against speech it was not recorded with: well below its own audio."""
    true = own[name].estimate
    for speech_name, speech in unrelated_speech.items():
        est = sync.measure_video_sync(media_dir / name, audio=media_dir / speech_name, speech=speech,
                                      track=tracks[name]).estimate
        print(f"{name} + {speech_name}: confidence {est.confidence:.2f} (own audio {true.confidence:.2f})")
        assert not est.reliable
        assert est.verdict().startswith("low confidence")
        assert true.confidence > est.confidence + 0.1


@pytest.mark.parametrize("name", CLIPS)
@pytest.mark.parametrize("frames", [4, -4])
def test_shifted_tracks_read_the_shift(own, name, frames):
    """The recording's track delayed or advanced by 4 frames reads 4 frames more or less than the
    recording itself (the screen captures read +1.4 untouched: their pictures are late)."""
    report = own[name]
    est = sync.estimate_offset(shifted(report.mouth_open, frames), report.speech_open, fps=report.fps,
                               mouth_width=shifted(report.mouth_width, frames),
                               speech_width=report.speech_width, speech_closure=report.speech_closure)
    assert abs(est.offset_exact - (report.estimate.offset_exact + frames)) <= 1, est.offset_exact


def test_frames_without_a_face_are_ignored(own):
    report = own["talking_590.mp4"]
    rng = np.random.default_rng(0)
    holes = rng.random(report.n_frames) < 0.15
    holes[40:52] = True                            # and one 0.5 s gap
    mouth = np.where(holes, np.nan, report.mouth_open)
    width = np.where(holes, np.nan, report.mouth_width)
    est = sync.estimate_offset(shifted(mouth, 3), report.speech_open, fps=report.fps,
                               mouth_width=shifted(width, 3), speech_width=report.speech_width,
                               speech_closure=report.speech_closure)
    assert abs(est.offset_frames - 3) <= 1
    assert est.window_frames < report.n_frames - 2 * sync.MAX_SHIFT


def test_leave_one_out_calibration_error_is_bounded(own, clip_portrait, monkeypatch):
    """The shipped zero (visemes.MOUTH_DELAY, -25 ms) is fitted on six filmed recordings
    (sync.CALIBRATION_CLIPS; benchmarks/calibrate_sync.py --extra: four of them are fetched, not in
    ../shared). Here, on the two shared camera clips: at the shipped zero both round to within a
    frame (in-sample +1.00 / +0.63, within sync.CALIBRATION_ERROR_FRAMES), and fitted on one the zero reads the other within
    CALIBRATION_LOO_ERROR_FRAMES (+0.32 / -0.42), so the fitting generalises between speakers; the
    pair alone wants 7.5 ms (the shipped zero until the fetched clips joined: three of the four read
    early at it, the lectern speaker -1.67), 32.5 ms later than the six. The screen captures, never
    fitted on, read their late pictures: +2.79 / +2.85 frames. (With all four shared clips fitted, the zero was 42 ms and
    talking_590 read -1.16 left out; with one undithered segmentation, -0.44 / +0.53.)"""
    from heygem_kernel import media
    reports = dict(own)
    reports["portrait"] = sync.measure_video_sync(clip_portrait)
    phones = {name: sync._own_speech(r.video, media.probe_video(r.video).audio_delay)[0].phone_variants
              for name, r in reports.items()}              # as measured: container start times applied
    clips = {r.video.stem: (r.mouth_open, r.mouth_width, phones[name], r.fps) for name, r in reports.items()}
    fitted = {k: v for k, v in clips.items() if k in sync.CALIBRATION_CLIPS}
    assert sorted(fitted) == sorted(sync.SHARED_CALIBRATION_CLIPS)
    for name, (mouth, width, phones_, fps) in fitted.items():
        shipped = sync.estimate_from_speech(mouth, phones=phones_, fps=fps, mouth_width=width).offset_exact
        print(f"{name}: at the shipped zero reads {shipped:+.2f} frames")
        assert round(shipped) in (-1, 0, 1) and abs(shipped) <= sync.CALIBRATION_ERROR_FRAMES
    memo: dict = {}
    pair = sync.calibrate_mouth_delay(list(fitted.values()), memo=memo)
    assert pair == pytest.approx(0.0075, abs=0.005)
    assert pair - visemes.MOUTH_DELAY == pytest.approx(0.0325, abs=0.003)   # the fetched filmed clips read earlier
    errors = {}
    for name, (mouth, width, phones_, fps) in fitted.items():
        left_out = sync.calibrate_mouth_delay([v for k, v in fitted.items() if k != name], memo=memo)
        monkeypatch.setattr(visemes, "MOUTH_DELAY", left_out)
        errors[name] = sync.estimate_from_speech(mouth, phones=phones_, fps=fps, mouth_width=width).offset_exact
        print(f"{name}: left out, zero {left_out * 1000:.0f} ms, reads {errors[name]:+.2f} frames")
        assert visemes.MOUTH_DELAY == left_out
    assert max(abs(e) for e in errors.values()) <= sync.CALIBRATION_LOO_ERROR_FRAMES, errors
    monkeypatch.undo()
    for name in sync.SCREEN_CAPTURE_CLIPS:
        mouth, width, phones_, fps = clips[name]
        held_out = sync.estimate_from_speech(mouth, phones=phones_, fps=fps, mouth_width=width).offset_exact
        print(f"{name}: held out, reads {held_out:+.2f} frames")
        assert 1.5 <= held_out <= 3.0


def test_one_bilabial_does_not_outweigh_the_opening(own):
    """talking_590 has a single bilabial (a B after a rounded W that the inner-lip gap reads as
    shut): its closure channel alone reads ~-1.9 frames, the opening ~-0.8. Counted in
    proportion to its one closure it moves the reading by well under a frame; at full weight it
    moved it to -1.15."""
    report = own["talking_590.mp4"]
    assert sync.closure_events(report.speech_closure) == 1
    kw = dict(fps=report.fps, mouth_width=report.mouth_width, speech_width=report.speech_width)
    opening = sync.estimate_offset(report.mouth_open, report.speech_open, **kw).offset_exact
    closure = sync.estimate_offset(report.mouth_open, -report.speech_closure, **kw).offset_exact
    both = sync.estimate_offset(report.mouth_open, report.speech_open, speech_closure=report.speech_closure,
                                **kw).offset_exact
    print(f"opening {opening:+.2f}, closure {closure:+.2f}, both {both:+.2f} frames")
    assert closure < opening - 0.7                     # the one closure disagrees ...
    assert abs(both - opening) < 0.25 * abs(closure - opening)     # ... and counts a third (full: 0.34)


def test_verdict_agrees_with_the_number():
    """"in sync" only within one frame; -3 frames is reported as such even inside ITU's window."""
    base = dict(offset_exact=0.0, confidence=0.9, correlation=0.5, curve=np.zeros(31), fps=25.0,
                max_shift=15, chance=0.3, window_frames=100)
    for frames, words in ((0, "in sync"), (1, "in sync"), (-1, "in sync"),
                          (-3, "video leads audio by 3 frames (120 ms) (inside the ITU-R BT.1359"),
                          (4, "video lags audio by 4 frames (160 ms)")):
        est = sync.SyncEstimate(offset_frames=frames, offset_ms=40.0 * frames, **base)
        assert est.verdict().startswith(words), (frames, est.verdict())
        assert est.in_sync == (abs(frames) <= 1)


def test_run_check_sees_mistimed_targets(media_dir):
    """check_targets reads the render's own targets against the real-speech reference: on
    time they read 0, delayed by 4 frames they read +4 (the old check could not see this)."""
    speech = load_speech(media_dir / "talking_590.mp4")
    feats = speech.features(fps=25.0)
    on_time = sync.check_targets(feats.visemes, phones=speech.phones, fps=25.0)
    late = sync.check_targets({k: shifted(v, 4) for k, v in feats.visemes.items()}, phones=speech.phones,
                              fps=25.0)
    assert abs(on_time.offset_exact) < 0.5 and on_time.method == sync.METHOD_REFERENCE
    assert abs(late.offset_exact - 4) < 0.5


def test_audio_delayed_in_the_container_reads_video_leading(tmp_path, clip_590):
    """The sound starts 0.16 s after the picture: the mouth moves 4 frames before the sound."""
    late = tmp_path / "audio_late.mp4"
    ffmpeg("-i", clip_590, "-itsoffset", SHIFT_S, "-i", clip_590,
           "-map", "0:v", "-map", "1:a", "-c", "copy", late)
    report = sync.measure_video_sync(late)
    est = report.estimate
    assert report.audio_shift_s == pytest.approx(SHIFT_S, abs=0.03)
    assert abs(est.offset_frames - (-4)) <= 1, est.offset_exact
    assert est.verdict().startswith("video leads audio by")


def test_a_half_second_late_sound_reads_video_leading(tmp_path, clip_590):
    """The sound starts 0.5 s after the picture (12.5 frames; the container keeps 0.476 s of it):
    the reading is about -12 frames and says the video leads, never the opposite. Correlating each
    lag over its own overlap (tried 2026-12-01, not adopted) read +6.8, 'video lags audio by 7
    frames', above chance: with the first 0.5 s unheard, a far lag the other way won."""
    late = tmp_path / "audio_half_second_late.mp4"
    ffmpeg("-i", clip_590, "-itsoffset", "0.5", "-i", clip_590, "-map", "0:v", "-map", "1:a", "-c", "copy", late)
    report = sync.measure_video_sync(late)
    est = report.estimate
    expected = -report.audio_shift_s * est.fps
    print(f"reads {est.offset_exact:+.2f}, expected {expected:+.2f} (+ the clip's own ~0)")
    assert est.offset_exact < 0 and abs(est.offset_exact - expected) <= 1.5, est.offset_exact
    assert est.verdict().startswith("video leads audio by")


def test_video_delayed_in_the_container_reads_video_lagging(tmp_path, clip_590):
    """The picture starts 0.16 s after the sound: the mouth moves 4 frames after the sound."""
    late = tmp_path / "video_late.mp4"
    ffmpeg("-itsoffset", SHIFT_S, "-i", clip_590, "-i", clip_590,
           "-map", "0:v", "-map", "1:a", "-c", "copy", late)
    est = sync.measure_video_sync(late).estimate
    assert abs(est.offset_frames - 4) <= 1, est.offset_exact
    assert est.verdict().startswith("video lags audio by")


# --- weak input never crashes the estimate ------------------------------------------------------
def test_too_short_or_empty_tracks_give_no_estimate():
    rng = np.random.default_rng(1)
    short = sync.estimate_offset(rng.random(15), rng.random(15), fps=25)
    assert short.confidence == 0 and "too short" in short.note and not short.reliable
    assert sync.verdict_too_short(short.verdict())
    no_face = sync.estimate_offset(np.full(100, np.nan), rng.random(100), fps=25)
    assert "no face" in no_face.note and no_face.verdict().startswith("low confidence: no face")
    assert not sync.verdict_too_short(no_face.verdict()) and not sync.verdict_too_short("low confidence: too short")
    silent = sync.estimate_offset(rng.random(100), np.zeros(100), fps=25)
    assert "flat" in silent.note
    for est in (short, no_face, silent):
        json.dumps(est.to_dict(), allow_nan=False)


def test_a_silent_speech_gives_no_reading(own):
    """Digital silence has no phones (the recogniser heard an 'S' in 2 s of zeros, and a real mouth
    read a 'reliable' offset against it: a photo +14 frames, confidence 0.67): the reference is flat."""
    silent = speech_from_wav(np.zeros(16000 * 5, np.float32))
    assert silent.phones == [] and all(v == [] for v in silent.phone_variants)
    report = own["talking_590.mp4"]
    est = sync.estimate_from_speech(report.mouth_open, speech=silent, fps=report.fps, mouth_width=report.mouth_width)
    assert "flat" in est.note and not est.reliable and est.verdict().startswith("low confidence")


def test_to_dict_is_json_and_sign_documented(own):
    data = json.loads(json.dumps(own["talking_524.mp4"].to_dict(), allow_nan=False))
    for key in ("offset_frames", "offset_ms", "confidence", "correlation", "curve", "verdict", "video"):
        assert key in data
    assert len(data["curve"]) == len(data["lags"]) == 2 * sync.MAX_SHIFT + 1
    assert "positive" in sync.SyncEstimate.__doc__ and "video lags audio" in sync.SyncEstimate.__doc__


# --- the command --------------------------------------------------------------------------------
def test_cli_prints_offset_confidence_verdict_and_writes_the_plot(tmp_path, media_dir):
    """A camera recording made in sync (a screen capture reads its late pictures: talking_524 +2)."""
    proc = heygem("sync", media_dir / "talking_590.mp4", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for field in ("offset:", "frames", " ms", "confidence:", "correlation:", "verdict:", "in sync",
                  "method:      mouth landmarks vs the calibrated real-speech reference"):
        assert field in out, out
    plot = tmp_path / "talking_590_sync.png"
    assert plot.is_file() and f"plot:        {plot.name}" in out
    assert_png(plot, min_size=(300, 900))


def test_cli_json_against_another_audio(tmp_path, clip_590, speech_zh):
    proc = heygem("sync", clip_590, "--audio", speech_zh, "--json", "--plot", tmp_path / "p.png")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["audio"] == str(speech_zh) and data["reliable"] is False
    assert data["verdict"].startswith("low confidence")
    assert (tmp_path / "p.png").is_file()


def test_cli_language_uses_the_runs_front_end(tmp_path, clip_590):
    """``heygem sync --language`` analyses the speech as ``heygem run --language`` does (the
    spectral closure cue for non-English); an English recording stays in sync under it."""
    proc = heygem("sync", clip_590, "--language", "cmn", "--json", "--no-plot", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["language"] == "zh" and "spectral closure cue" in data["method"]
    assert abs(data["offset_frames"]) <= 1 and data["reliable"], data["offset_exact"]
    _one_line_error(heygem("sync", clip_590, "--language", "klingon", cwd=tmp_path), "unknown language 'klingon'")
    assert not list(tmp_path.iterdir())                    # refused before any work: no plot


def test_mandarin_sync_needs_its_language():
    """Synthetic Mandarin (espeak-ng) with known phoneme times and a mouth that follows them as a
    real speaker's does (shut for /m b p/, open for /a/, each shape leading its sound by 40 ms,
    about what the calibrated model says): analysed as Mandarin the check is confident and on
    time, and a picture 4 frames late reads +4; the English phone model alone is below chance.
    Measured at the -25 ms zero: confidence 0.68 (reads -0.81; with the model's own 55 ms lead
    0.61, -0.95) vs the English model's below chance, chance ~0.40; at -12.5 ms 0.72 (-0.82); 0.43
    (-0.61) while the English phones' bilabial closures still counted for Mandarin. (Before the 6-clip zero the mouth sat on
    the sound itself: 0.50 vs 0.20.)"""
    from espeak_timing import synthesize
    wav, phonemes = synthesize("wo3 men5 ba3 bao1 fang4 zai4 ma3 pi3 shang4, ta1 pa4 mao1 bu4 ba1 bu4. "
                               "ma1 ma1 mai3 le5 bai2 mi3 he2 mian4 bao1, ba4 ba4 pao3 bu4 hui2 lai2.",
                               "cmn-latn-pinyin")
    pad = np.zeros(8000, np.float32)
    wav = np.concatenate([pad, wav, pad])
    fps = 25.0
    n = int(len(wav) / 16000 * fps)
    t, mouth = np.arange(n) / fps, np.zeros(n)
    lead = 0.040    # s a real mouth's shape leads its sound (the calibrated model: LEAD - MOUTH_DELAY = 55 ms)
    times = [(p.name, p.start + 0.5 - lead) for p in phonemes if not p.name.startswith("(")]
    for (name, start), (_, end) in zip(times, times[1:] + [("_", len(wav) / 16000 - 0.5)]):
        vowel = any(c in "aeiouyE@IOU" for c in name)
        mouth[(t >= start) & (t < end)] = (0.0 if name.startswith("_") or name in {"m", "b", "p", "ph"}
                                           else 1.0 if name in {"a", "A", "aI", "aU", "ai", "au"}
                                           else 0.6 if vowel else 0.3)
    zh, auto = speech_from_wav(wav, language="zh"), speech_from_wav(wav)
    on_time = sync.estimate_from_speech(mouth, speech=zh, fps=fps)
    late = sync.estimate_from_speech(shifted(mouth, 4), speech=zh, fps=fps)
    english = sync.estimate_from_speech(mouth, speech=auto, fps=fps)
    assert on_time.reliable and abs(on_time.offset_exact) < 1, on_time
    assert late.reliable and abs(late.offset_exact - 4) < 1, late
    assert not english.reliable and on_time.confidence > english.confidence           # 0.68 at -25 ms
    assert "no closure channel" in on_time.method and on_time.closure_events == 0


def _one_line_error(proc, *needles) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("heygem:")]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_cli_bad_input_is_one_line(tmp_path, clip_590):
    def heygem_in(cwd, *args):                     # default plot path: <stem>_sync.png in cwd
        return heygem("sync", *args, cwd=cwd)

    _one_line_error(heygem_in(tmp_path, tmp_path / "missing.mp4"), "missing.mp4")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip_590.read_bytes()[:50_000])
    _one_line_error(heygem_in(tmp_path, broken), "broken.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    _one_line_error(heygem_in(tmp_path, text), "notes.mp4")
    silent = tmp_path / "silent.mp4"
    ffmpeg("-i", clip_590, "-an", "-c", "copy", silent)
    _one_line_error(heygem_in(tmp_path, silent), "silent.mp4", "no audio track")
    _one_line_error(heygem_in(tmp_path, clip_590, "--audio", tmp_path / "nope.wav"), "nope.wav")
    photo = tmp_path / "face.png"
    ffmpeg("-i", clip_590, "-frames:v", "1", photo)
    _one_line_error(heygem_in(tmp_path, photo), "face.png", "photo")
    assert not list(tmp_path.glob("*_sync.png"))


# --- plots --------------------------------------------------------------------------------------
def assert_png(path, *, min_size=(200, 200), max_size=(3000, 3000)) -> np.ndarray:
    import matplotlib.image as mpimg
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(path)
    h, w = img.shape[:2]
    assert min_size[0] <= h <= max_size[0] and min_size[1] <= w <= max_size[1], (h, w)
    assert float(img[..., :3].std()) > 0.05          # not a blank canvas
    return img


def test_plot_mel(tmp_path, speech_60s):
    speech = load_speech(speech_60s)
    path = diagnostics.plot_mel(speech.mel, tmp_path / "mel.png", title="60 s of speech")
    img = assert_png(path, max_size=(600, 1500))
    assert img.shape[1] > img.shape[0]


def test_plot_landmarks_small_face_and_no_face(tmp_path, clip_portrait, clip_590):
    from heygem_kernel import compositing, media
    frames, points = [], []
    for clip, wanted in ((clip_portrait, {0, 100}), (clip_590, {30})):
        with landmarks.FaceTracker() as tracker:
            for i, frame in enumerate(media.iter_frames(media.probe_video(clip))):
                found = tracker.update(frame)
                if i in wanted:
                    frames.append(frame)
                    points.append(found)
                if i >= max(wanted):
                    break
    assert all(p is not None for p in points)
    frames.append(np.zeros((720, 1280, 3), np.uint8))
    points.append(None)
    outlines = [None if p is None else compositing.mask_geometry(p).outline() for p in points]
    path = diagnostics.plot_landmarks(frames, points, tmp_path / "lm.png", mask_polygons=outlines,
                                      titles=["portrait 0", "portrait 100", "590 frame 30", "black"])
    img = assert_png(path, min_size=(500, 700))
    # the crop around the small face fills its panel: the top-left panel is not mostly background
    assert img.shape[0] < 1000
    rgb = (img[..., :3] * 255).round().astype(int)
    def near(colour, tol=40):
        return (np.abs(rgb - np.array(colour)).sum(axis=2) < tol).sum()
    # each face panel carries its 68 cyan dots, red lips and the yellow mask outline; the black
    # frame gets the red "no face" label
    assert near(diagnostics.LM_RGB) > 3 * 48 * 5 and near(diagnostics.LIP_RGB) > 3 * 100
    assert near(diagnostics.MASK_RGB) > 3 * 150
    assert near((0xd6, 0x27, 0x28), tol=60) + near((0xde, 0x52, 0x53), tol=60) > 500


def test_plot_mouth_track_and_sync_curve(tmp_path, own):
    report = own["talking_vfr_700.mp4"]
    mouth = report.mouth_open.copy()
    mouth[20:30] = np.nan                              # a stretch without a face is drawn shaded
    path = diagnostics.plot_mouth_track(mouth_open=mouth, speech_open=report.speech_open,
                                        envelope=report.envelope, fps=report.fps,
                                        path=tmp_path / "track.png", sync=report.estimate)
    assert_png(path, min_size=(300, 900))
    assert_png(diagnostics.plot_mouth_track(mouth_open=mouth, speech_open=report.speech_open, envelope=None,
                                            fps=report.fps, path=tmp_path / "plain.png"))
    assert_png(diagnostics.plot_sync_curve(report.estimate, tmp_path / "curve.png"), min_size=(300, 450))


def test_diagnostics_leave_no_pyplot_state(tmp_path):
    code = ("import sys, numpy as np; from heygem_kernel import diagnostics, sync;"
            "e = sync.estimate_offset(np.random.rand(200), np.random.rand(200), fps=25);"
            f"diagnostics.plot_sync_curve(e, r'{tmp_path / 'c.png'}');"
            "assert 'matplotlib.pyplot' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
