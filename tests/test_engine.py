"""End-to-end behaviour of the engine on real clips: output format, length, sync, untouched
background, pass-through of face-less frames, photos, caching, cancel."""
from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from heygem_kernel import RunOptions, media, run, sync
from heygem_kernel.compositing import mask_geometry, mouth_flicker
from heygem_kernel.errors import Cancelled

pytestmark = pytest.mark.slow


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def frames_of(path: Path, limit: int | None = None) -> list[np.ndarray]:
    return media.read_frames(path, limit=limit)


def cut_audio(src: Path, dst: Path, *, start: float = 0.0, seconds: float | None = None) -> Path:
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-ss", str(start), "-i", str(src), "-vn", "-ac", "1"]
    if seconds:
        cmd += ["-t", str(seconds)]
    subprocess.run(cmd + [str(dst)], check=True)
    return dst


def corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = ~(np.isnan(a) | np.isnan(b))
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


@pytest.fixture(scope="module")
def basic_run(tmp_path_factory, clip_590, speech_5s):
    root = tmp_path_factory.mktemp("runs")
    return run(speech_5s, clip_590, runs_root=root, name="basic")


def test_output_is_browser_ready_mp4_of_input_geometry_and_audio_length(basic_run, speech_5s):
    probe = ffprobe(basic_run.output)
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    audio = next(s for s in probe["streams"] if s["codec_type"] == "audio")
    assert (video["codec_name"], video["pix_fmt"], audio["codec_name"]) == ("h264", "yuv420p", "aac")
    assert (video["width"], video["height"]) == (590, 590)
    assert video["r_frame_rate"] == "25/1"
    audio_len = media.probe_audio(speech_5s).duration
    assert abs(float(probe["format"]["duration"]) - audio_len) < 1.5 / 25
    assert abs(int(video["nb_frames"]) - round(audio_len * 25)) <= 1
    head = basic_run.output.read_bytes()[:4096]
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))


def test_run_record_has_params_log_result_and_plots(basic_run, clip_590, speech_5s):
    d = basic_run.run_dir
    params = json.loads((d / "params.json").read_text())
    assert params["video"] == str(clip_590) and params["audio"] == str(speech_5s)    # as given (../shared: a link)
    assert params["video_resolved"] == str(clip_590.resolve()) and params["audio_resolved"] == str(speech_5s.resolve())
    assert params["options"]["backend"] == "reuse" and "numpy" in params["versions"]
    result = json.loads((d / "result.json").read_text())
    assert result["n_frames"] == basic_run.n_frames and result["frames_no_face"] == 0
    assert "render" in (d / "run.log").read_text()
    for name in ("mel", "landmarks", "mouth_track"):
        png = basic_run.plots[name]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert basic_run.sync_offset_frames is not None and abs(basic_run.sync_offset_frames) <= 1
    # measured against the calibrated real-speech reference, not the targets that drove the render
    assert result["extra"]["sync_method"].startswith("mouth landmarks vs the calibrated real-speech reference")
    # the targets sit on the reference, moved by the presenter's own lead (talking_590, a camera clip the
    # zero is calibrated on: within the calibration's error; +1.00 frame at the -25 ms zero, so a ~40 ms lead)
    lead = result["extra"]["speaker_timing"]["applied_ms"] * basic_run.fps / 1000.0
    assert abs(result["extra"]["sync_targets_offset_frames"] + lead) < 0.5 and result["extra"]["speech_language"] == "auto"
    assert result["extra"]["speaker_timing"]["applied"] and abs(lead) <= sync.CALIBRATION_ERROR_FRAMES


def test_only_the_mouth_region_changes(basic_run, clip_590):
    from heygem_kernel.landmarks import track_video
    src = frames_of(clip_590, limit=100)
    out = frames_of(basic_run.output, limit=100)
    track = track_video(clip_590, max_frames=100)
    far, near = [], []
    for i in range(0, 100, 5):
        if not track.valid[i]:
            continue
        g = mask_geometry(track.landmarks[i], scale=1.0)
        yy, xx = np.mgrid[:590, :590]
        r = np.hypot(xx - g.cx, yy - g.cy) / max(g.half_w, g.half_h)
        diff = np.abs(src[i].astype(np.int16) - out[i].astype(np.int16)).mean(axis=2)
        far.append(diff[r > 1.6].mean())
        near.append(diff[r < 0.6].mean())
    assert np.mean(far) < 2.5, f"background changed: mean abs diff {np.mean(far):.2f}"
    assert np.mean(near) > 3 * np.mean(far), (np.mean(near), np.mean(far))


def test_self_reenactment_mouth_follows_recorded_mouth(tmp_path, clip_590):
    """Frames shifted in time (their own mouth no longer matches), driven by the clip's own
    speech: the output's mouth must move like the recorded one."""
    from heygem_kernel.landmarks import track_video
    info = media.probe_video(clip_590)
    frames = frames_of(clip_590)
    shift = len(frames) // 2
    shifted = tmp_path / "shifted.mp4"
    with media.VideoWriter(shifted, width=info.width, height=info.height, fps=info.fps, audio=clip_590) as w:
        for frame in frames[shift:] + frames[:shift]:
            w.write(frame)
    speech = cut_audio(clip_590, tmp_path / "own.wav")
    result = run(speech, shifted, runs_root=tmp_path / "runs")
    recorded = track_video(clip_590).mouth_open()
    produced = track_video(result.output).mouth_open()
    n = min(len(recorded), len(produced))
    c = corr(recorded[:n], produced[:n])
    before = corr(recorded[:n], track_video(shifted).mouth_open()[:n])
    assert c >= 0.3, f"self-reenactment correlation {c:.2f} (shifted input alone: {before:.2f})"
    assert c > before + 0.15


def test_longer_audio_ping_pongs_without_jump_cuts(tmp_path, clip_524, speech_60s):
    speech = cut_audio(speech_60s, tmp_path / "eight.wav", seconds=8.0)
    result = run(speech, clip_524, runs_root=tmp_path / "runs", options=RunOptions(sync_check=False, loop="pingpong"))
    assert result.extra["loop"]["mode"] == "pingpong"
    n_src = media.probe_video(clip_524).n_frames
    assert result.n_frames == round(8.0 * 25) and result.n_frames > n_src
    out = frames_of(result.output)
    src = frames_of(clip_524)
    assert abs(len(out) - result.n_frames) <= 1
    # output frame n_src + k shows source frame n_src - 2 - k (background: top rows, away from the face)
    for k in (0, 10, 40):
        i = n_src + k
        band_out, band_src = out[i][:60].astype(int), src[media.pingpong_index(i, n_src)][:60].astype(int)
        assert np.abs(band_out - band_src).mean() < 3
    # no jump: consecutive frames never differ more than the source's own largest step
    step_src = max(np.abs(src[j + 1][:60].astype(int) - src[j][:60].astype(int)).mean() for j in range(n_src - 1))
    step_out = max(np.abs(out[j + 1][:60].astype(int) - out[j][:60].astype(int)).mean() for j in range(len(out) - 1))
    assert step_out < step_src + 2


def test_shorter_audio_trims_the_video(tmp_path, clip_590, speech_5s):
    speech = cut_audio(speech_5s, tmp_path / "two.wav", seconds=2.0)
    result = run(speech, clip_590, runs_root=tmp_path / "runs", options=RunOptions(sync_check=False))
    assert abs(float(ffprobe(result.output)["format"]["duration"]) - 2.0) < 0.08


def test_variable_frame_rate_clip_stays_in_sync(tmp_path, clip_vfr):
    speech = cut_audio(clip_vfr, tmp_path / "own.wav")
    result = run(speech, clip_vfr, runs_root=tmp_path / "runs")
    assert 20.0 < result.fps < 24.0, result.fps     # the real rate, not the header's 30
    probe = ffprobe(result.output)
    assert abs(float(probe["format"]["duration"]) - media.probe_audio(speech).duration) < 0.1
    # a VFR clip read at its header's 30 fps would drift seconds out of step by the end. It is a screen
    # capture whose picture reads ~2 frames late against its own sound (sync.py CALIBRATION), and the
    # speaker timing follows that presenter: the output then reads as late as its source, and says so
    spk = result.extra["speaker_timing"]
    assert abs(result.sync_offset_frames) <= 1 or (
        result.extra["sync_follows_source"] and abs(result.sync_offset_frames - spk["offset_frames"]) <= 1), \
        (result.sync_offset_frames, spk)


def test_photo_becomes_a_talking_video(tmp_path):
    import matplotlib.cbook
    from heygem_kernel.landmarks import track_video
    photo = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    speech = Path(__file__).resolve().parents[1] / "heygem_kernel" / "assets" / "sample_speech.wav"
    result = run(speech, photo, runs_root=tmp_path / "runs")
    video = next(s for s in ffprobe(result.output)["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (512, 600) and video["r_frame_rate"] == "25/1"
    opening = track_video(result.output).mouth_open()
    assert np.nanstd(opening) > 0.03, "the photo's mouth does not move"
    assert result.sync_correlation is not None and result.sync_correlation > 0.4
    assert result.extra["loop"]["mode"] == "still" and "photo" in result.extra["loop"]["note"]
    assert "loop: still" in result.log_path.read_text() and "a photo" in result.log_path.read_text()


def test_frames_without_a_face_pass_through(tmp_path, clip_590, speech_5s):
    info = media.probe_video(clip_590)
    frames = frames_of(clip_590, limit=75)
    blank = np.full_like(frames[0], 90)
    blank[::16] = 200  # some texture, still no face
    mixed = tmp_path / "mixed.mp4"
    with media.VideoWriter(mixed, width=info.width, height=info.height, fps=info.fps, audio=clip_590,
                           duration=5.0) as w:
        for frame in [blank] * 25 + frames + [blank] * 25:
            w.write(frame)
    result = run(speech_5s, mixed, runs_root=tmp_path / "runs", options=RunOptions(sync_check=False))
    assert 45 <= result.frames_no_face <= 55
    out, given = frames_of(result.output, limit=25), frames_of(mixed, limit=25)
    assert np.abs(out[10].astype(int) - given[10].astype(int)).mean() < 2


def test_largest_face_is_the_speaker(tmp_path, clip_590, clip_524, speech_5s):
    import cv2
    big, small = frames_of(clip_590, limit=50), frames_of(clip_524, limit=50)
    canvas_frames = []
    for a, b in zip(big, small):
        canvas = np.zeros((600, 900, 3), np.uint8)
        canvas[5:595, 0:590] = a
        canvas[150:412, 620:882] = cv2.resize(b, (262, 262))
        canvas_frames.append(canvas)
    two = tmp_path / "two faces.mp4"
    with media.VideoWriter(two, width=900, height=600, fps=25, audio=speech_5s, duration=2.0) as w:
        for f in canvas_frames:
            w.write(f)
    speech = cut_audio(speech_5s, tmp_path / "two.wav", seconds=2.0)
    result = run(speech, two, runs_root=tmp_path / "runs", options=RunOptions(sync_check=False))
    out, given = frames_of(result.output), frames_of(two)

    def change(y0, y1, x0, x1):
        return np.mean([np.abs(o[y0:y1, x0:x1].astype(int) - f[y0:y1, x0:x1].astype(int)).mean()
                        for o, f in zip(out, given)])
    # mouth vs eyes of each face: re-encoding alone changes both alike (ratio ~1)
    big = change(330, 500, 190, 400) / change(150, 250, 150, 450)
    small = change(320, 365, 715, 785) / change(260, 300, 700, 800)
    assert big > 2.5 and small < 1.5, (big, small)


def test_second_run_reuses_the_face_track_and_cancel_leaves_no_output(tmp_path, clip_524, speech_5s):
    first = run(speech_5s, clip_524, runs_root=tmp_path / "runs", options=RunOptions(sync_check=False))
    assert first.extra["analysis_cached"] is False
    speech = cut_audio(speech_5s, tmp_path / "other.wav", start=1.0, seconds=3.0)
    second = run(speech, clip_524, runs_root=tmp_path / "runs", options=RunOptions(sync_check=False))
    assert second.extra["analysis_cached"] is True

    cancel = threading.Event()

    def progress(stage, done, total):
        if stage == "render" and done >= 20:
            cancel.set()

    out = tmp_path / "cancelled.mp4"
    with pytest.raises(Cancelled):
        run(speech_5s, clip_524, out=out, runs_root=tmp_path / "runs", progress=progress, cancel=cancel,
            options=RunOptions(sync_check=False, use_cache=False))
    assert not out.exists() and not list(tmp_path.glob(".cancelled*"))


def test_new_mouth_changes_no_more_between_frames_than_a_real_one(basic_run, clip_590):
    """Temporal coherence: frame-to-frame change inside the mouth region stays close to the
    recorded video's own (no flicker between different-looking mouths)."""
    from heygem_kernel.landmarks import track_video
    track = track_video(clip_590)

    real = mouth_flicker(frames_of(clip_590), track)
    made = mouth_flicker(frames_of(basic_run.output), track)
    assert made < 1.12 * real, f"mouth flicker: {made:.2f} per frame vs {real:.2f} in the recording"
