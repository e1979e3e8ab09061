"""Face landmarks over a video: iBUG-68 layout, largest-face tracking, smoothing, FaceTrack.

Every landmark array in the engine is float32 pixel (x, y) in full-frame coordinates in the
iBUG 68-point layout (indices below; "left"/"right" are as seen in the image)::

    jaw 0-16 | brows 17-26 | nose 27-35 | eyes 36-47 | outer lips 48-59 | inner lips 60-67

Detectors live in :mod:`heygem_kernel.detectors` (``mediapipe`` by default).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .detectors import (DETECTORS, Box, Detector, Face, box_iou, distinct_faces, fitted_faces, get_detector,
                        presenter_order)
from .errors import Cancelled, InputError, NoFaceError

# --- iBUG 68 layout: the one table, in heygem_kernel.face68 (names kept here for callers) --------
from .face68 import (CHIN, EYE_OUTER_CORNERS, INNER_LIP_PAIRS, INNER_LIPS, JAW, LEFT_BROW,
                     LEFT_EYE, MOUTH, MOUTH_CORNERS, N_POINTS, NOSE, NOSE_BOTTOM, NOSE_BRIDGE, OUTER_LIPS,
                     RIGHT_BROW, RIGHT_EYE, corner_width, inner_lip_gap, inter_ocular)

# --- tracking ------------------------------------------------------------------------------------
# A full detection every 0.4 s (10 frames at 25 fps) costs ~1 ms/frame on average and re-centres
# the crop the fast path predicts from the previous points; between them only Face Mesh runs.
REDETECT_EVERY_S = 0.4
# Forget the tracked face after this long without it; until then a detection only counts if it
# overlaps where the face was, so a second face is never taken.
MAX_LOST_S = 2.0
REFERENCE_FPS = 25.0     # the rate the frame counts below are for, when a caller gives none


def tracker_limits(fps: float | None) -> tuple[int, int]:
    """(redetect_every, max_lost) in frames at ``fps`` (REFERENCE_FPS when None or not positive)."""
    rate = fps if fps and fps > 0 else REFERENCE_FPS
    return max(1, int(round(REDETECT_EVERY_S * rate))), max(1, int(round(MAX_LOST_S * rate)))


REDETECT_EVERY, MAX_LOST = tracker_limits(REFERENCE_FPS)   # 10 and 50 frames at 25 fps
MATCH_IOU = 0.3          # a detection is the tracked face if IoU >= this ...
MATCH_CENTRE = 0.5       # ... or its centre is within this x the face size of the last centre
FAST_PATH_IOU = 0.5      # a fast-path result that moved more than this is re-checked by detection


def _key(box) -> tuple[float, ...]:
    """A box (tuple or array of x0, y0, x1, y1) as a dict key."""
    return tuple(float(v) for v in box)


# --- smoothing -----------------------------------------------------------------------------------
# Gaussian sigma in frames at strength 1. Rigid points (eyes, brows, nose, upper jaw) only carry
# head motion, so detector jitter can be smoothed hard; lips and chin carry speech (syllables
# come at up to ~5 Hz, a 5-frame cycle at 25 fps) and get a light touch on top of the smoothed
# head motion: sigma 0.6 keeps 75% of a 5-frame cycle at strength 1, 93% at the default 0.5.
SIGMA_RIGID = 3.0
SIGMA_MOUTH = 0.6
_MOVING = np.concatenate([CHIN, MOUTH])
_RIGID = np.setdiff1d(np.arange(N_POINTS), _MOVING)

__all__ = ["FaceTracker", "FaceTrack", "smooth_track", "track_video", "get_detector", "DETECTORS",
           "Detector", "Face", "JAW", "CHIN", "LEFT_BROW", "RIGHT_BROW", "NOSE", "NOSE_BRIDGE",
           "NOSE_BOTTOM", "LEFT_EYE", "RIGHT_EYE", "OUTER_LIPS", "INNER_LIPS", "MOUTH",
           "INNER_LIP_PAIRS", "MOUTH_CORNERS", "EYE_OUTER_CORNERS"]


def _centre_distance(a: Box, b: Box) -> float:
    """Distance of the box centres in units of ``a``'s size."""
    size = max(a[2] - a[0], a[3] - a[1], 1e-6)
    return float(np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2) / size)


class FaceTracker:
    """Follow one face through consecutive frames: ``update(frame) -> [shape=(68, 2)] | None``.

    The first face seen is the largest one (not a blurred copy of a smaller one:
    :func:`heygem_kernel.detectors.presenter_order`); after that the tracker keeps to that face (box
    overlap / centre distance with its last position) even when another face appears or grows.
    Between full detections (every ``redetect_every`` frames, or when Face Mesh loses the face)
    only the landmark model runs, on a crop predicted from the previous frame's points.
    """

    def __init__(self, detector: str | Detector = "mediapipe", *, fps: float | None = None,
                 redetect_every: int | None = None, max_lost: int | None = None,
                 **detector_kwargs) -> None:
        self._owns_detector = isinstance(detector, str)   # close() leaves a shared one open
        self.detector = get_detector(detector, **detector_kwargs) if self._owns_detector \
            else detector
        every, lost = tracker_limits(fps)      # REDETECT_EVERY_S / MAX_LOST_S at the video's rate
        self.redetect_every = max(1, int(every if redetect_every is None else redetect_every))
        self.max_lost = int(lost if max_lost is None else max_lost)
        self.stats = {"frames": 0, "detections": 0, "fast": 0, "lost": 0}
        # distinct faces the last update's full detection saw (None: it used the fast path)
        self.faces_seen: int | None = None
        self.reset()

    def reset(self) -> None:
        """Forget the tracked face (the next update picks one again: the largest, not a blurred copy)."""
        self._box: Box | None = None          # detector-convention box of the tracked face
        self._points: np.ndarray | None = None  # its points in the previous frame (None: lost)
        self._since_detect = 0
        self._lost = 0
        self._searches = 0                     # detections in a row without a tracked face

    @property
    def box(self) -> Box | None:
        """Box of the tracked face in the last frame it was seen (None before the first face)."""
        return self._box

    def update(self, frame: np.ndarray) -> np.ndarray | None:
        """68 points [shape=(68, 2)] float32 of the tracked face in ``frame`` [shape=(H, W, 3)]
        uint8 BGR, or None when it is not in this frame."""
        self.stats["frames"] += 1
        self.faces_seen = None
        points = None
        if self._points is not None and self._since_detect < self.redetect_every:
            guess = self.detector.box_from_landmarks(self._points)
            points = self.detector.landmarks(frame, guess)
            if points is not None and box_iou(guess, self.detector.box_from_landmarks(points)) \
                    < FAST_PATH_IOU:
                points = None                  # jumped (another face in the crop?): detect
            if points is not None:
                self.stats["fast"] += 1
                self._since_detect += 1
        if points is None:
            points = self._detect(frame)
        if points is None:
            self.stats["lost"] += 1
            self._points = None
            self._lost += 1
            if self._lost > self.max_lost:
                self._box = None               # gone for good: pick a face again next (presenter_order)
            return None
        self._points, self._lost = points, 0
        self._box = self.detector.box_from_landmarks(points)
        return points

    def _detect(self, frame: np.ndarray) -> np.ndarray | None:
        self.stats["detections"] += 1
        self._since_detect = 1                 # frames since the last detection, this one included
        if self._box is None:
            # Nothing tracked: also look for faces too small for the whole-frame pass (tiles),
            # but only every ``redetect_every`` searches, as it is slower.
            thorough = self._searches % self.redetect_every == 0
            self._searches += 1
            found = self.detector.boxes(frame, thorough=thorough)
        else:
            found = self.detector.boxes(frame)
        # faces_seen: the distinct faces of this full detection. With several boxes each gets its
        # landmarks once, shared by the count, the choice of face and the result (it was two passes
        # per box and one more for the chosen face when nothing was tracked).
        faces = fitted_faces(self.detector, frame, found) if len(found) >= 2 else None
        self.faces_seen = len(found) if faces is None else distinct_faces(self.detector, frame, found, faces=faces)
        fitted = {} if faces is None else {_key(box): None for box, _ in found} | {_key(f[0]): f[2] for f in faces}
        if self._box is None:
            candidates = [box for box, _ in found[:2]] if faces is None else \
                [f[0] for f in presenter_order(frame, faces)[:2]]
        else:
            prev = self._box
            found = [f for f in found if box_iou(prev, f[0]) >= MATCH_IOU
                     or _centre_distance(prev, f[0]) <= MATCH_CENTRE]
            found.sort(key=lambda f: (-box_iou(prev, f[0]), _centre_distance(prev, f[0])))
            candidates = [box for box, _ in found[:2]]
            if self._points is not None:
                # The detector may miss a face the landmark model still sees where it was.
                candidates.append(self.detector.box_from_landmarks(self._points))
        for box in candidates:
            points = fitted[_key(box)] if _key(box) in fitted else self.detector.landmarks(frame, box)
            if points is not None:
                self._searches = 0
                return points
        return None

    def close(self) -> None:
        """Free the detector's models if this tracker created it."""
        if self._owns_detector:
            self.detector.close()

    def __enter__(self) -> "FaceTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- smoothing -----------------------------------------------------------------------------------
def _segments(valid: np.ndarray) -> np.ndarray:
    """Segment id per frame: consecutive valid frames share one id; invalid frames get -1."""
    starts = valid & ~np.concatenate([[False], valid[:-1]])
    ids = np.cumsum(starts) - 1
    return np.where(valid, ids, -1)


def _gaussian(x: np.ndarray, seg: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian filter along axis 0 of x [shape=(N, ...)] within each segment (edges renormalised)."""
    if sigma <= 0.05:
        return x.copy()
    radius = int(np.ceil(3 * sigma))
    n = x.shape[0]
    acc = np.zeros_like(x, dtype=np.float64)
    norm = np.zeros(n, dtype=np.float64)
    xz = np.nan_to_num(x.astype(np.float64))
    for k in range(-radius, radius + 1):
        w = np.exp(-0.5 * (k / sigma) ** 2)
        lo, hi = max(0, -k), min(n, n - k)        # t in [lo, hi) reads t + k
        if hi <= lo:                               # a track shorter than the kernel's reach
            continue
        same = (seg[lo:hi] >= 0) & (seg[lo:hi] == seg[lo + k:hi + k])
        wt = w * same
        acc[lo:hi] += wt.reshape(-1, *([1] * (x.ndim - 1))) * xz[lo + k:hi + k]
        norm[lo:hi] += wt
    out = acc / np.maximum(norm, 1e-12).reshape(-1, *([1] * (x.ndim - 1)))
    out[seg < 0] = np.nan
    return out.astype(x.dtype)


def smooth_track(landmarks: np.ndarray, valid: np.ndarray, *, strength: float = 0.5) -> np.ndarray:
    """Temporally smoothed copy of ``landmarks`` [shape=(N, 68, 2)] (``valid`` [shape=(N,)] bool).

    ``strength`` in [0, 1]: 0 returns the input unchanged. Rigid points get a Gaussian of
    ``SIGMA_RIGID * strength`` frames; lips and chin first follow the smoothed head motion (the
    mean shift of the rigid points) and then get only ``SIGMA_MOUTH * strength``, so mouth motion
    survives. Invalid frames stay NaN and break the smoothing: no frame borrows across a gap.
    """
    lm = np.asarray(landmarks, dtype=np.float32)
    valid = np.asarray(valid, dtype=bool)
    if lm.ndim != 3 or lm.shape[1:] != (N_POINTS, 2) or valid.shape != lm.shape[:1]:
        raise InputError("smooth_track: expected landmarks (N, 68, 2) and valid (N,), got {shape} and {valid_shape}", shape=lm.shape,
                         valid_shape=valid.shape)
    strength = float(np.clip(strength, 0.0, 1.0))
    out = lm.copy()
    out[~valid] = np.nan
    if strength == 0.0 or not valid.any():
        return out
    seg = _segments(valid)
    rigid = _gaussian(out[:, _RIGID], seg, SIGMA_RIGID * strength)
    head_shift = (rigid - out[:, _RIGID]).mean(axis=1, keepdims=True)   # [N, 1, 2]
    moving = _gaussian(out[:, _MOVING] + head_shift, seg, SIGMA_MOUTH * strength)
    out[:, _RIGID] = rigid
    out[:, _MOVING] = moving
    return out


# --- the track of one video ----------------------------------------------------------------------
@dataclass
class FaceTrack:
    """Landmarks of one video.

    landmarks [shape=(N, 68, 2)] float32 pixel (x, y), NaN rows where ``valid`` is False.
    valid     [shape=(N,)] bool, a face was found in that frame.
    width, height, fps of the video the track belongs to.
    """

    landmarks: np.ndarray
    valid: np.ndarray
    width: int
    height: int
    fps: float
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.landmarks = np.asarray(self.landmarks, dtype=np.float32)
        self.valid = np.asarray(self.valid, dtype=bool)
        if self.landmarks.ndim != 3 or self.landmarks.shape[1:] != (N_POINTS, 2) \
                or self.valid.shape != self.landmarks.shape[:1]:
            raise InputError("FaceTrack: expected landmarks (N, 68, 2) and valid (N,), got {shape} and {valid_shape}",
                             shape=self.landmarks.shape, valid_shape=self.valid.shape)

    @property
    def n_frames(self) -> int:
        return int(self.valid.shape[0])

    @property
    def frames_without_face(self) -> int:
        return int(self.n_frames - np.count_nonzero(self.valid))

    def _points(self) -> np.ndarray:
        lm = self.landmarks.astype(np.float64)
        lm[~self.valid] = np.nan
        return lm

    def inter_ocular(self) -> np.ndarray:
        """[shape=(N,)] distance of the outer eye corners (36, 45) in pixels; NaN where invalid."""
        return inter_ocular(self._points())

    def mouth_open(self) -> np.ndarray:
        """[shape=(N,)] inner-lip opening (mean distance of the pairs 61-67, 62-66, 63-65) /
        inter-ocular distance; NaN where invalid. ~0 closed, ~0.3 wide open."""
        return (inner_lip_gap(self._points()) / self.inter_ocular()).astype(np.float32)

    def mouth_width(self) -> np.ndarray:
        """[shape=(N,)] mouth-corner distance (48-54) / inter-ocular distance; NaN where invalid."""
        return (corner_width(self._points()) / self.inter_ocular()).astype(np.float32)

    def face_boxes(self) -> np.ndarray:
        """[shape=(N, 4)] float32 (x0, y0, x1, y1) bounding box of the 68 points; NaN if invalid."""
        lm = self._points()
        boxes = np.concatenate([lm.min(axis=1), lm.max(axis=1)], axis=1)
        return boxes.astype(np.float32)

    def smoothed(self, strength: float = 0.5) -> "FaceTrack":
        """A copy with :func:`smooth_track` applied."""
        return FaceTrack(landmarks=smooth_track(self.landmarks, self.valid, strength=strength),
                         valid=self.valid.copy(), width=self.width, height=self.height,
                         fps=self.fps, meta=dict(self.meta))

    def save(self, path: str | Path) -> Path:
        """Write a compressed .npz (the suffix is added if missing); returns the path."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        np.savez_compressed(path, landmarks=self.landmarks, valid=self.valid,
                            size=np.array([self.width, self.height]), fps=np.array(self.fps),
                            format=np.array(1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "FaceTrack":
        """Read a track written by :meth:`save`."""
        path = Path(path)
        try:
            with np.load(path) as data:
                width, height = (int(v) for v in data["size"])
                return cls(landmarks=data["landmarks"], valid=data["valid"], width=width,
                           height=height, fps=float(data["fps"]))
        except FileNotFoundError:
            raise InputError("{path}: face track file not found", path=path) from None
        except (OSError, KeyError, ValueError) as exc:
            raise InputError("{path} is not a face track .npz written by FaceTrack.save ({kind}: {exc})", path=path,
                             kind=type(exc).__name__, exc=exc) from None


Progress = Callable[[int, int], None]
PROGRESS_EVERY = 10   # frames between progress callbacks


def track_video(path: str | Path, *, detector: str | Detector = "mediapipe",
                max_frames: int | None = None, progress: Progress | None = None,
                cancel: threading.Event | None = None, require_face: bool = True,
                redetect_every: int | None = None) -> FaceTrack:
    """Raw (unsmoothed) landmarks of every frame of a video or photo.

    ``progress(done, total)`` is called every few frames; setting ``cancel`` stops the run with
    :class:`Cancelled`. With ``require_face`` a video without any face raises :class:`NoFaceError`.
    The track's ``meta`` holds the tracker's counters and ``ms_per_frame`` (tracking only).
    """
    import time

    from . import media

    info = media.probe_video(path)
    total = info.n_frames if max_frames is None else min(info.n_frames, int(max_frames))
    points = np.full((total, N_POINTS, 2), np.nan, dtype=np.float32)
    spent = 0.0
    tracker = FaceTracker(detector, fps=info.fps, redetect_every=redetect_every)
    frames = media.iter_frames(info)
    try:
        for i, frame in enumerate(frames):
            if i >= total:
                break
            if cancel is not None and cancel.is_set():
                raise Cancelled("{path}: face tracking cancelled at frame {frame}", path=path, frame=i)
            start = time.perf_counter()
            found = tracker.update(frame)
            spent += time.perf_counter() - start
            if found is not None:
                points[i] = found
            if progress is not None and (i + 1) % PROGRESS_EVERY == 0:
                progress(i + 1, total)
    finally:
        frames.close()
        tracker.close()
    if progress is not None:
        progress(total, total)
    valid = ~np.isnan(points[:, 0, 0])
    if require_face and not valid.any():
        raise NoFaceError("{path}: no face found in any of its {total} frames", path=path, total=total)
    meta = dict(tracker.stats, ms_per_frame=1e3 * spent / max(1, total))
    return FaceTrack(landmarks=points, valid=valid, width=info.width, height=info.height,
                     fps=info.fps, meta=meta)
