"""Face detection, iBUG-68 landmarks, tracking and smoothing on real clips."""
from __future__ import annotations

import subprocess
import threading
from itertools import islice

import cv2
import numpy as np
import pytest

from heygem_kernel import detectors, landmarks, media
from heygem_kernel.errors import Cancelled, InputError, NoFaceError
from heygem_kernel.landmarks import (INNER_LIPS, LEFT_EYE, MOUTH, NOSE, OUTER_LIPS, RIGHT_EYE,
                                     FaceTrack, FaceTracker, smooth_track, track_video)


@pytest.fixture(scope="module")
def detector():
    with detectors.get_detector("mediapipe") as det:
        yield det


def frames_of(path, *, start=0, stop=None, step=1):
    info = media.probe_video(path)
    gen = media.iter_frames(info)
    try:
        return list(islice(gen, start, stop, step))
    finally:
        gen.close()


def grace_hopper() -> np.ndarray:
    from matplotlib import cbook
    return cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))


def assert_plausible(points: np.ndarray, box=None) -> None:
    """Eyes above the nose tip above the mouth, eyes side by side, all inside the box."""
    assert points.shape == (68, 2) and points.dtype == np.float32
    eye_l, eye_r = points[LEFT_EYE].mean(0), points[RIGHT_EYE].mean(0)
    nose_tip, mouth = points[30], points[MOUTH].mean(0)
    iod = np.linalg.norm(eye_r - eye_l)
    assert iod > 5
    assert eye_l[0] < eye_r[0]                         # image-left eye comes first (36-41)
    assert max(eye_l[1], eye_r[1]) < nose_tip[1] < mouth[1]
    assert eye_l[0] < nose_tip[0] < eye_r[0]
    assert points[54, 0] - points[48, 0] > 0.4 * iod    # mouth corners left-to-right, wide
    assert points[8, 1] > mouth[1]                      # chin below the mouth
    if box is not None:
        x0, y0, x1, y1 = box
        margin = 0.15 * max(x1 - x0, y1 - y0)
        assert np.all(points[:, 0] > x0 - margin) and np.all(points[:, 0] < x1 + margin)
        assert np.all(points[:, 1] > y0 - margin) and np.all(points[:, 1] < y1 + margin)


# --- detector ------------------------------------------------------------------------------------
def test_mapping_is_68_distinct_mesh_points():
    idx = detectors.MEDIAPIPE_TO_IBUG68
    assert idx.shape == (68,) and len(set(idx.tolist())) == 68 and idx.max() < 468


@pytest.mark.parametrize("fixture", ["clip_590", "clip_524", "clip_vfr", "clip_portrait"])
def test_detect_gives_plausible_points_inside_the_box(request, detector, fixture):
    for frame in frames_of(request.getfixturevalue(fixture), stop=60, step=20):
        faces = detector.detect(frame)
        assert len(faces) == 1
        assert 0.5 <= faces[0].score <= 1
        assert_plausible(faces[0].landmarks, faces[0].box)


def test_grace_hopper_photo_gets_landmarks(detector):
    image = grace_hopper()
    faces = detector.detect(image)
    assert len(faces) == 1
    assert_plausible(faces[0].landmarks, faces[0].box)
    tracker = FaceTracker(detector)
    points = tracker.update(image)
    assert points is not None
    assert np.abs(points - faces[0].landmarks).max() < 3     # same crop, same answer
    from matplotlib import cbook
    track = track_video(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    assert (track.n_frames, track.width, track.height) == (1, 512, 600) and track.valid.all()


def test_blank_frame_has_no_face(detector):
    blank = np.full((480, 640, 3), 128, np.uint8)
    assert detector.detect(blank) == []
    assert FaceTracker(detector).update(blank) is None


def test_bad_frame_and_unknown_detector_raise_input_error(detector):
    with pytest.raises(InputError, match="BGR frame"):
        detector.boxes(np.zeros((10, 10), np.float32))
    with pytest.raises(InputError, match="unknown face detector 'dlib'.*mediapipe"):
        detectors.get_detector("dlib")


def test_face_alignment_without_weights_names_the_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(detectors, "PROJECT_ROOT", tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        detectors.get_detector("face_alignment")
    msg = str(err.value)
    assert detectors.FAN_WEIGHTS in msg and detectors.S3FD_WEIGHTS in msg
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in msg and "\n" not in msg


# --- tracking ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fixture", ["clip_590", "clip_524", "clip_vfr"])
def test_face_on_every_frame_of_talking_clips(request, fixture):
    path = request.getfixturevalue(fixture)
    seen = []
    track = track_video(path, progress=lambda done, total: seen.append((done, total)))
    info = media.probe_video(path)
    assert track.n_frames == info.n_frames and (track.width, track.height) == (info.width, info.height)
    assert track.frames_without_face == 0 and track.valid.all()
    assert seen[-1] == (info.n_frames, info.n_frames)
    # Mostly the fast path: full detections only every REDETECT_EVERY frames.
    assert track.meta["detections"] <= info.n_frames / landmarks.tracker_limits(info.fps)[0] + 3
    for i in range(0, track.n_frames, 15):
        assert_plausible(track.landmarks[i])


def test_small_face_in_portrait_clip_is_tracked(clip_portrait):
    frames = frames_of(clip_portrait, stop=100, step=4)     # every 4th of the first 4 s
    with FaceTracker() as tracker:
        found = [tracker.update(f) for f in frames]
    hits = [p for p in found if p is not None]
    assert len(hits) >= 0.9 * len(frames)
    for points in hits:
        assert_plausible(points)
        # Small face: about a tenth of the frame width between the outer eye corners.
        assert 40 < points[45, 0] - points[36, 0] < 250


def test_tiny_face_is_found_by_the_thorough_tiled_search(detector):
    photo = grace_hopper()                               # 512 x 600, face ~280 px wide
    canvas = np.full((1920, 1080, 3), 90, np.uint8)
    small = cv2.resize(photo, (80, 94), interpolation=cv2.INTER_AREA)    # face ~45 px wide
    canvas[700:794, 300:380] = small
    assert detector.boxes(canvas) == []                  # too small for the whole-frame pass
    (box, score), = detector.boxes(canvas, thorough=True)
    assert 290 < (box[0] + box[2]) / 2 < 390 and 700 < (box[1] + box[3]) / 2 < 794
    points = FaceTracker(detector).update(canvas)        # first search is a thorough one
    assert points is not None
    assert_plausible(points, box)


def test_mouth_opening_moves_when_talking_and_not_on_a_still(clip_590):
    track = track_video(clip_590, max_frames=75)
    talking = track.mouth_open()
    assert np.isfinite(talking).all()
    assert 0 <= talking.min() < talking.max() < 0.6
    frame = frames_of(clip_590, stop=1)[0]
    with FaceTracker() as tracker:
        still = [tracker.update(frame) for _ in range(25)]
    still_track = FaceTrack(landmarks=np.stack(still), valid=np.ones(25, bool), width=590,
                            height=590, fps=25.0)
    still_open = still_track.mouth_open()
    assert talking.std() > 0.02
    assert talking.std() > 10 * still_open.std()
    width = track.mouth_width()
    assert np.all((width > 0.3) & (width < 1.0))


def side_by_side(a: np.ndarray, a_size: int, b: np.ndarray, b_size: int) -> np.ndarray:
    canvas = np.full((700, 1200, 3), 40, np.uint8)
    ra, rb = cv2.resize(a, (a_size, a_size)), cv2.resize(b, (b_size, b_size))
    canvas[:a_size, :a_size] = ra
    canvas[:b_size, 1200 - b_size:] = rb
    return canvas


def test_largest_face_is_picked_and_kept_when_the_other_grows(clip_590, clip_524, detector):
    a_frames = frames_of(clip_590, stop=30)
    b_frames = frames_of(clip_524, stop=30)
    # Face A (left) at 480 px; face B (right) grows from 360 px to 560 px, ending larger than A.
    sizes = np.linspace(360, 560, 30).round().astype(int)
    frames = [side_by_side(a, 480, b, s) for a, b, s in zip(a_frames, b_frames, sizes)]
    assert len(detector.detect(frames[0])) == 2
    assert detector.detect(frames[-1])[0].landmarks[:, 0].mean() > 600   # B is largest at the end
    tracker = FaceTracker(detector, redetect_every=3)       # re-detect often: many chances to jump
    for frame in frames:
        points = tracker.update(frame)
        assert points is not None and points[:, 0].max() < 480   # always face A, on the left
    assert tracker.stats["detections"] >= 10
    # A fresh tracker on the last frame takes the (now) largest face, B.
    assert FaceTracker(detector).update(frames[-1])[:, 0].min() > 600


def test_face_lost_on_blank_frames_then_found_again(clip_524, detector):
    frames = frames_of(clip_524, stop=8)
    blank = np.zeros_like(frames[0])
    tracker = FaceTracker(detector)
    results = [tracker.update(f) for f in frames[:4] + [blank, blank] + frames[4:]]
    assert [r is None for r in results] == [False] * 4 + [True] * 2 + [False] * 4


def test_track_video_of_a_faceless_clip_raises_no_face(tmp_path):
    path = tmp_path / "bars.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=320x240:rate=25:duration=0.4", "-pix_fmt", "yuv420p", str(path)],
                   check=True)
    with pytest.raises(NoFaceError, match="bars.mp4"):
        track_video(path)
    track = track_video(path, require_face=False)
    assert track.n_frames == 10 and track.frames_without_face == 10
    assert np.isnan(track.landmarks).all() and np.isnan(track.mouth_open()).all()


def test_track_video_cancel(clip_590):
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        track_video(clip_590, cancel=stop)


# --- smoothing -----------------------------------------------------------------------------------
def synthetic_track(n=100, seed=0):
    """A still real face with detector-like jitter and a mouth opening at 5 frames per cycle."""
    base = detectors.get_detector().detect(grace_hopper())[0].landmarks
    rng = np.random.default_rng(seed)
    lm = np.repeat(base[None], n, axis=0).astype(np.float32)
    lm += rng.normal(0, 1.5, lm.shape).astype(np.float32)
    opening = 6 * (1 + np.sin(2 * np.pi * np.arange(n) / 5))          # px, 0..12
    lm[:, [65, 66, 67, 55, 56, 57, 58, 59], 1] += opening[:, None]
    return base, lm, opening


def cycle_amplitude(x: np.ndarray, period: float = 5.0) -> float:
    """Amplitude of the sin component of x [shape=(N,)] at ``period`` frames (least squares)."""
    t = np.arange(len(x))
    basis = np.stack([np.sin(2 * np.pi * t / period), np.cos(2 * np.pi * t / period),
                      np.ones_like(t)], axis=1)
    coef = np.linalg.lstsq(basis, x, rcond=None)[0]
    return float(np.hypot(coef[0], coef[1]))


def test_smoothing_calms_rigid_points_and_keeps_mouth_motion():
    base, lm, opening = synthetic_track()
    valid = np.ones(len(lm), bool)
    rigid = np.r_[LEFT_EYE, RIGHT_EYE, NOSE, 17:27]
    jitter = lambda x: np.abs(x[:, rigid] - base[rigid]).mean()
    gap = lambda x: x[:, 66, 1] - x[:, 62, 1]
    assert abs(cycle_amplitude(gap(lm)) - 6) < 0.5
    for strength, calmer, kept in [(1.0, 2.0, 0.7), (0.5, 1.4, 0.9)]:
        out = smooth_track(lm, valid, strength=strength)
        assert jitter(out) < jitter(lm) / calmer
        assert cycle_amplitude(gap(out)) > kept * 6
        assert np.corrcoef(gap(out), opening)[0, 1] >= np.corrcoef(gap(lm), opening)[0, 1] - 0.01
    assert np.array_equal(smooth_track(lm, valid, strength=0.0), lm)


def test_smoothing_never_crosses_a_gap():
    n = 40
    lm = np.zeros((n, 68, 2), np.float32)
    lm[20:] = 100.0
    lm[:, INNER_LIPS] += 1.0
    valid = np.ones(n, bool)
    valid[18:20] = False
    out = smooth_track(lm, valid, strength=1.0)
    assert np.isnan(out[18:20]).all()
    np.testing.assert_allclose(out[:18, OUTER_LIPS], 0, atol=1e-4)
    np.testing.assert_allclose(out[20:, OUTER_LIPS], 100, atol=1e-4)
    np.testing.assert_allclose(out[20:, INNER_LIPS], 101, atol=1e-4)
    with pytest.raises(InputError, match="68, 2"):
        smooth_track(lm[:, :20], valid)


# --- FaceTrack -----------------------------------------------------------------------------------
def test_face_track_save_load_round_trip(tmp_path, detector):
    points = detector.detect(grace_hopper())[0].landmarks
    lm = np.stack([points, points + 1, points + 2])
    valid = np.array([True, False, True])
    lm[1] = np.nan
    track = FaceTrack(landmarks=lm, valid=valid, width=512, height=600, fps=29.97)
    path = track.save(tmp_path / "track")
    assert path.name == "track.npz"
    back = FaceTrack.load(path)
    assert (back.width, back.height, back.fps, back.n_frames) == (512, 600, 29.97, 3)
    np.testing.assert_array_equal(back.landmarks, track.landmarks)
    np.testing.assert_array_equal(back.valid, valid)
    assert back.frames_without_face == 1
    boxes = back.face_boxes()
    assert np.isnan(boxes[1]).all()
    np.testing.assert_allclose(boxes[2] - boxes[0], [2, 2, 2, 2], atol=1e-4)
    mo = back.mouth_open()
    assert np.isnan(mo[1]) and abs(mo[0] - mo[2]) < 1e-6
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="junk.npz"):
        FaceTrack.load(tmp_path / "junk.npz")
    with pytest.raises(InputError, match="missing.npz"):
        FaceTrack.load(tmp_path / "missing.npz")
