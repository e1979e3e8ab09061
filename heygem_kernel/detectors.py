"""Face detectors: boxes + iBUG-68 landmarks for one BGR frame.

Every detector has the same two-step protocol, so the tracker can skip the (costly) detection
step on most frames::

    boxes(frame, *, thorough=False) -> list[(box, score)]      # find faces
    landmarks(frame, box) -> [shape=(68, 2)] float32 | None    # fit points inside one box
    box_from_landmarks(points) -> box                          # predict the next frame's box
    detect(frame) -> list[Face]                                # both steps, every face

``box`` is ``(x0, y0, x1, y1)`` in full-frame pixels, in the detector's own convention;
``frame`` is ``[shape=(H, W, 3)] uint8`` BGR. Heavy libraries (cv2, mediapipe, torch,
face_alignment) load inside the classes, so importing this module is cheap.
"""
from __future__ import annotations

import abc
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import InputError
from .i18n import N_

Box = tuple[float, float, float, float]

# --- MediaPipe Face Mesh (468/478 points) -> iBUG 68 -------------------------------------------
# Mesh indices chosen along the mesh's own contours (face oval, brow, eye and lip loops) at the
# positions where the iBUG annotation puts its points; checked by drawing both numbered on real
# frames. iBUG order: jaw from the image-left ear (0) over the chin (8) to the image-right ear (16).
_MP_JAW = [127, 234, 93, 132, 58, 172, 150, 176, 152, 400, 379, 397, 288, 361, 323, 454, 356]
_MP_BROWS = [70, 63, 105, 66, 107, 336, 296, 334, 293, 300]      # outer -> inner, inner -> outer
_MP_NOSE = [168, 197, 5, 4, 75, 97, 2, 326, 305]                # bridge top->tip, nostrils l->r
_MP_EYES = [33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380]  # corner, upper, corner, lower
_MP_OUTER_LIPS = [61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91]
_MP_INNER_LIPS = [78, 81, 13, 311, 308, 402, 14, 178]
MEDIAPIPE_TO_IBUG68 = np.array(
    _MP_JAW + _MP_BROWS + _MP_NOSE + _MP_EYES + _MP_OUTER_LIPS + _MP_INNER_LIPS, dtype=np.int64)
assert MEDIAPIPE_TO_IBUG68.shape == (68,)


@dataclass(frozen=True)
class Face:
    """One detected face: ``box`` (x0, y0, x1, y1) pixels, detector ``score`` in [0, 1],
    ``landmarks`` [shape=(68, 2)] float32 pixel (x, y), iBUG-68 order."""

    box: Box
    score: float
    landmarks: np.ndarray

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def points_box(points: np.ndarray) -> Box:
    """Bounding box of points [shape=(K, 2)]."""
    x0, y0 = np.min(points, axis=0)
    x1, y1 = np.max(points, axis=0)
    return float(x0), float(y0), float(x1), float(y1)


SAME_FACE_IOU = 0.5   # two detections whose landmarks' boxes overlap this much are one face
NOT_COUNTED = 255     # a per-frame face count (``Analysis.faces_seen``) where no full detection ran
# A copy of the picture's face elsewhere in the frame (the same video enlarged and blurred behind
# the presenter, a stage screen): its 68 points have the presenter's shape in the same frame.
# Procrustes distance (unit-norm, similarity-aligned points) of talking_590 over its own enlarged,
# blurred copy: 0.010-0.048 (every third frame, boxblur 6, 8 and 12); of two different people side
# by side (talking_590 beside 524, beside vfr_700): 0.052-0.244, under 0.06 in 1 frame of 83.
COPY_SHAPE_DISTANCE = 0.05
# ... and a copy is the one to skip when it is this much less detailed than the smaller face:
# variance of the Laplacian of the inner face at a common 96 px (presenter / blurred copy: median
# 5.5-17x, least 1.3-1.7x; two people: 0.09-1.66x either way).
COPY_BLUR_RATIO = 1.5
DETAIL_PX = 96


def shape_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Procrustes distance of two point sets [shape=(K, 2)]: 0 for the same shape at any position,
    scale and rotation, up to 1."""
    a = np.asarray(a, np.float64) - np.mean(a, axis=0)
    b = np.asarray(b, np.float64) - np.mean(b, axis=0)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-9 or nb < 1e-9:
        return 1.0
    s = np.linalg.svd((a / na).T @ (b / nb), compute_uv=False)
    return float(np.sqrt(max(0.0, 1.0 - float(s.sum()) ** 2)))


def face_detail(frame: np.ndarray, points: np.ndarray) -> float:
    """Sharpness of the face whose 68 points [shape=(68, 2)] are given: variance of the Laplacian
    of the grey crop of its brows, eyes, nose and mouth (points 17-67: not the jaw line, so no
    background or overlay edge at the face's sides) scaled to DETAIL_PX square (a face's size
    does not count, only its blur)."""
    import cv2
    box = points_box(np.asarray(points)[17:])
    h, w = frame.shape[:2]
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return 0.0
    grey = cv2.cvtColor(np.ascontiguousarray(frame[y0:y1, x0:x1]), cv2.COLOR_BGR2GRAY)
    grey = cv2.resize(grey, (DETAIL_PX, DETAIL_PX), interpolation=cv2.INTER_AREA).astype(np.float32)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def fitted_faces(det: "Detector", frame: np.ndarray,
                 boxes: list[tuple[Box, float]]) -> list[tuple[Box, float, np.ndarray]]:
    """(box, score, landmarks [shape=(68, 2)]) of the boxes the landmark model fits, largest box
    first: one landmark pass per box, which :func:`presenter_order` and :func:`distinct_faces`
    can share (``faces=``)."""
    out = []
    for box, score in sorted(boxes, key=lambda f: -(f[0][2] - f[0][0]) * (f[0][3] - f[0][1])):
        points = det.landmarks(frame, box)
        if points is not None:
            out.append((box, score, points))
    return out


def _is_blurred_copy(frame: np.ndarray, big: tuple, small: tuple) -> bool:
    """True when face ``big`` ((box, score, points)) has ``small``'s 68-point shape in the same
    frame (one picture shown twice) and is less detailed by COPY_BLUR_RATIO."""
    return (shape_distance(big[2], small[2]) < COPY_SHAPE_DISTANCE
            and face_detail(frame, small[2]) > COPY_BLUR_RATIO * face_detail(frame, big[2]))


def presenter_order(frame: np.ndarray, faces: list[tuple]) -> list[tuple]:
    """``faces`` (:func:`fitted_faces`: (box, score, landmarks), largest first) in the order a face
    is chosen to lip-sync: largest first, except that a larger face which is a blurred copy of a
    smaller one goes after it (before: the blurred background copy of a presenter was lip-synced
    and the presenter not, helper-56)."""
    copies = {i for i, big in enumerate(faces) for small in faces[i + 1:] if _is_blurred_copy(frame, big, small)}
    return [f for i, f in enumerate(faces) if i not in copies] + [f for i, f in enumerate(faces) if i in copies]


def distinct_faces(det: "Detector", frame: np.ndarray, boxes: list[tuple[Box, float]], *,
                   faces: list[tuple] | None = None) -> int:
    """How many different faces ``boxes`` (``det.boxes(frame)``) hold: those with landmarks,
    counted once where the landmarks land on the same face. A presenter over a blurred, enlarged
    copy of the same video (a common landscape layout) gave a second, larger box whose landmarks
    were the presenter's own (helper-40); a larger, blurred copy shown elsewhere in the frame
    (the one :func:`presenter_order` puts last) is the same person too. A copy that is not skipped
    (sharp, or hardly blurred: it may be the face lip-synced) still counts, so the run's "several
    faces" note says which face was taken (helper 57: a copy at boxblur 2 was lip-synced, silently).
    ``faces``: :func:`fitted_faces` of these boxes, when the caller has them already."""
    found: list[tuple] = []
    for face in fitted_faces(det, frame, boxes) if faces is None else faces:
        own = det.box_from_landmarks(face[2])
        if all(box_iou(own, det.box_from_landmarks(other[2])) < SAME_FACE_IOU
               and not _is_blurred_copy(frame, other, face)     # larger ``other`` skipped for this face
               for other in found):
            found.append(face)
    return len(found)


def _nms(found: list[tuple[Box, float]], iou: float = 0.3) -> list[tuple[Box, float]]:
    """Drop boxes overlapping a higher-scored one (duplicates from overlapping tiles)."""
    kept: list[tuple[Box, float]] = []
    for box, score in sorted(found, key=lambda f: -f[1]):
        if all(box_iou(box, k) < iou for k, _ in kept):
            kept.append((box, score))
    return kept


class Detector(abc.ABC):
    """Face detector + 68-point landmark fitter (see the module docstring)."""

    name: str = ""

    @abc.abstractmethod
    def boxes(self, frame: np.ndarray, *, thorough: bool = False) -> list[tuple[Box, float]]:
        """Faces in ``frame`` as (box, score); ``thorough`` also looks for faces too small for
        the whole-frame pass (slower; the tracker asks for it only now and then)."""

    @abc.abstractmethod
    def landmarks(self, frame: np.ndarray, box: Box) -> np.ndarray | None:
        """iBUG-68 points [shape=(68, 2)] float32 of the face in ``box``, or None if lost."""

    def box_from_landmarks(self, points: np.ndarray) -> Box:
        """A box in this detector's convention predicted from 68 points [shape=(68, 2)]."""
        return points_box(points)

    def detect(self, frame: np.ndarray) -> list[Face]:
        """Every face with its landmarks, largest first."""
        faces = []
        for box, score in self.boxes(frame):
            points = self.landmarks(frame, box)
            if points is not None:
                faces.append(Face(box=box, score=score, landmarks=points))
        return sorted(faces, key=lambda f: -f.area)

    def close(self) -> None:
        """Free model resources (the detector is unusable afterwards)."""

    def __enter__(self) -> "Detector":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _check_frame(frame: np.ndarray) -> None:
    if not (isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 3
            and frame.dtype == np.uint8):
        got = getattr(frame, "shape", type(frame).__name__)
        raise InputError("expected a BGR frame of shape (H, W, 3) uint8, got {got}", got=got)


# --- MediaPipe -----------------------------------------------------------------------------------
# The full-range BlazeFace model letterboxes its input to 192x192, so feeding it more pixels only
# costs time: detect on a copy whose long side is 2x that (INTER_AREA keeps small faces crisp).
DETECT_LONG_SIDE = 384
MESH_CROP = 256              # Face Mesh runs on a square crop resized to this many pixels
# Crop side / box side. Face Mesh (static mode) re-detects the face inside the crop with its
# short-range model, which wants the face at about half the crop.
CROP_SCALE_DETECTION = 1.8   # for a BlazeFace box (brows..chin, ear to ear)
# BlazeFace box from the 68-point bounding box, to predict the next frame's crop from this
# frame's points. Measured on 10 frames each of talking_590/524/vfr_700 and the portrait:
# box side / 68-point side 1.05 (short-range model) .. 1.14 (full-range), box centre 0.02 .. 0.08
# of the 68-point height above the 68-point centre.
BOX_FROM_POINTS_SCALE = 1.1
BOX_FROM_POINTS_SHIFT = -0.05
MIN_DETECT_SCORE = 0.5
TILE_OVERLAP = 0.25          # thorough pass: tiles overlap by this fraction of their side


class MediaPipeDetector(Detector):
    """BlazeFace detection on a downscaled frame + Face Mesh on a face crop.

    Detection runs both BlazeFace models and merges their boxes: the full-range one finds small
    faces (portrait_1080x1920.mp4), but misses some large frontal faces with glasses
    (talking_524.mp4 frames 63-75) that the short-range one scores at 0.92.

    ``min_score`` is the detection confidence threshold. ``refine`` (default) uses Face Mesh's
    attention model, whose lip contours close fully on a closed mouth (talking_590: mouth_open
    min 0.001 vs 0.012 without, std 0.053 vs 0.042) for ~0.4 ms more per frame.
    """

    name = "mediapipe"

    def __init__(self, *, min_score: float = MIN_DETECT_SCORE, refine: bool = True) -> None:
        import mediapipe as mp

        self._detection = [mp.solutions.face_detection.FaceDetection(
            model_selection=model, min_detection_confidence=min_score) for model in (1, 0)]
        # Two faces at most in a crop: the one nearest the crop centre is ours.
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=2, refine_landmarks=refine,
            min_detection_confidence=min_score)

    # -- step 1: boxes
    def boxes(self, frame: np.ndarray, *, thorough: bool = False) -> list[tuple[Box, float]]:
        _check_frame(frame)
        h, w = frame.shape[:2]
        found = self._detect_region(frame, 0, 0, w, h)
        if thorough and not found:
            side = min(h, w) // 2      # each tile shrinks 2x less than the whole frame
            if side >= 2 * 96:        # below that, tiles gain nothing over the whole frame
                for x0, y0 in _tiles(w, h, side):
                    found += self._detect_region(frame, x0, y0, side, side)
        return _nms(found)

    def _detect_region(self, frame: np.ndarray, x0: int, y0: int, w: int, h: int
                       ) -> list[tuple[Box, float]]:
        import cv2

        region = frame[y0:y0 + h, x0:x0 + w]
        scale = min(1.0, DETECT_LONG_SIDE / max(w, h))
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(region, cv2.COLOR_BGR2RGB)
        found = []
        for model in self._detection:
            for det in model.process(rgb).detections or []:
                rb = det.location_data.relative_bounding_box
                box = (x0 + rb.xmin * w, y0 + rb.ymin * h,
                       x0 + (rb.xmin + rb.width) * w, y0 + (rb.ymin + rb.height) * h)
                found.append((box, float(det.score[0])))
        return found

    # -- step 2: landmarks
    def landmarks(self, frame: np.ndarray, box: Box) -> np.ndarray | None:
        import cv2

        _check_frame(frame)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = max(box[2] - box[0], box[3] - box[1]) * CROP_SCALE_DETECTION
        if side < 8:
            return None
        s = MESH_CROP / side          # frame -> crop: p_crop = s * (p - (c - side/2))
        tx, ty = MESH_CROP / 2 - s * cx, MESH_CROP / 2 - s * cy
        warp = np.array([[s, 0, tx], [0, s, ty]], dtype=np.float32)
        crop = cv2.warpAffine(frame, warp, (MESH_CROP, MESH_CROP), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        result = self._mesh.process(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
        if not result.multi_face_landmarks:
            return None
        best, best_dist = None, np.inf
        for face in result.multi_face_landmarks:
            lm = face.landmark
            pts = np.array([(lm[i].x, lm[i].y) for i in MEDIAPIPE_TO_IBUG68], dtype=np.float32)
            dist = float(np.hypot(*(pts.mean(axis=0) - 0.5)))
            if dist < best_dist:
                best, best_dist = pts, dist
        if best_dist > 0.25:          # the face found is not the one the box was about
            return None
        pts = best * MESH_CROP
        pts[:, 0] = (pts[:, 0] - tx) / s
        pts[:, 1] = (pts[:, 1] - ty) / s
        return pts.astype(np.float32)

    def box_from_landmarks(self, points: np.ndarray) -> Box:
        x0, y0, x1, y1 = points_box(points)
        w, h = x1 - x0, y1 - y0
        half = BOX_FROM_POINTS_SCALE * max(w, h) / 2
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + BOX_FROM_POINTS_SHIFT * h
        return cx - half, cy - half, cx + half, cy + half

    def close(self) -> None:
        for graph in (*self._detection, self._mesh):
            try:
                graph.close()
            except (ValueError, RuntimeError):  # already closed
                pass


def _tiles(w: int, h: int, side: int) -> list[tuple[int, int]]:
    """Top-left corners of square tiles of ``side`` px covering a w x h frame with overlap."""
    def starts(length: int) -> list[int]:
        if length <= side:
            return [0]
        n = int(np.ceil((length - side) / (side * (1 - TILE_OVERLAP)))) + 1
        return [round(v) for v in np.linspace(0, length - side, n)]
    return [(x, y) for y in starts(h) for x in starts(w)]


# --- 1adrianb/face-alignment (optional) ----------------------------------------------------------
# File names face_alignment >= 1.4 fetches with torch.hub into <hub dir>/checkpoints/; we never
# download them, we only look for them there and in the project's checkpoints/ folder.
FAN_WEIGHTS = "2DFAN4-cd938726ad.zip"
S3FD_WEIGHTS = "s3fd-619a316812.pth"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _torch_hub_dir() -> Path:
    """torch.hub.get_dir() without importing torch."""
    if os.environ.get("TORCH_HOME"):
        return Path(os.environ["TORCH_HOME"]) / "hub"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "torch" / "hub"


def _hub_dirs() -> list[Path]:
    """Folders laid out like a torch hub dir (weights under ``<dir>/checkpoints/``)."""
    return [PROJECT_ROOT, Path.cwd(), _torch_hub_dir()]


class FaceAlignmentDetector(Detector):
    """S3FD boxes + FAN 68 points from 1adrianb/face-alignment, with local weights only."""

    name = "face_alignment"

    @staticmethod
    def check() -> Path:
        """The hub folder holding both weight files, or InputError naming the missing ones (cheap:
        no torch import; ``heygem run`` asks before any heavy work)."""
        names = (FAN_WEIGHTS, S3FD_WEIGHTS)
        dirs = list(dict.fromkeys(_hub_dirs()))
        hub = next((d for d in dirs if all((d / "checkpoints" / n).is_file() for n in names)),
                   None)
        if hub is None:
            missing = [n for n in names
                       if not any((d / "checkpoints" / n).is_file() for d in dirs)] or names
            looked = ", ".join(str(d / "checkpoints") for d in dirs)
            raise InputError(N_("face_alignment detector: weights file {files} not found in {looked}; copy it "
                                "into one of them (weights are never downloaded)") if len(missing) == 1 else
                             N_("face_alignment detector: weights files {files} not found together in {looked}; "
                                "copy them into one of them (weights are never downloaded)"),
                             files=" and ".join(missing), looked=looked)
        return hub

    def __init__(self, *, device: str = "auto") -> None:
        hub = self.check()
        try:
            import face_alignment
            import torch
        except ImportError as exc:
            raise InputError("face_alignment detector: the face-alignment package is not "
                             "installed (pip install 'heygem-workbench[landmarks-fan]')") from exc
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        previous = torch.hub.get_dir()
        torch.hub.set_dir(str(hub))  # face_alignment loads <hub>/checkpoints/<name>
        try:
            self._fa = face_alignment.FaceAlignment(
                face_alignment.LandmarksType.TWO_D, device=device, face_detector="sfd")
        finally:
            torch.hub.set_dir(previous)

    def boxes(self, frame: np.ndarray, *, thorough: bool = False) -> list[tuple[Box, float]]:
        _check_frame(frame)
        found = self._fa.face_detector.detect_from_image(frame[..., ::-1].copy())
        return [((float(d[0]), float(d[1]), float(d[2]), float(d[3])), float(d[4]))
                for d in found]

    def landmarks(self, frame: np.ndarray, box: Box) -> np.ndarray | None:
        _check_frame(frame)
        d = np.array([*box, 1.0], dtype=np.float32)
        out = self._fa.get_landmarks_from_image(frame[..., ::-1].copy(), detected_faces=[d])
        return None if not out else np.asarray(out[0][:, :2], dtype=np.float32)


# --- registry -----------------------------------------------------------------------------------
DETECTORS: dict[str, Callable[..., Detector]] = {
    "mediapipe": MediaPipeDetector,
    "face_alignment": FaceAlignmentDetector,
}


# The package whose code and bundled models make each detector's points: an upgrade may move
# them, so its version is part of the face-track cache key (pipeline.analyse).
DETECTOR_PACKAGES = {"mediapipe": "mediapipe", "face_alignment": "face-alignment"}


def detector_version(name: str) -> str:
    """``"mediapipe 0.10.21"``: the installed package behind detector ``name`` (no import of it)."""
    from importlib import metadata
    package = DETECTOR_PACKAGES.get(name, name)
    try:
        return f"{package} {metadata.version(package)}"
    except metadata.PackageNotFoundError:
        return f"{package} not installed"


def check_detector(name: str) -> None:
    """InputError now, before any heavy work, when detector ``name`` cannot be made here (its local
    weights are missing): the run found out only when the face analysis started."""
    check = getattr(DETECTORS.get(name), "check", None)
    if check is not None:
        check()


def get_detector(name: str = "mediapipe", **kwargs: Any) -> Detector:
    """A new detector by registry name (see :data:`DETECTORS`); kwargs go to its constructor."""
    try:
        factory = DETECTORS[name]
    except KeyError:
        raise InputError("unknown face detector {name!r}; expected one of "
                         "{choices}", name=name, choices=", ".join(sorted(DETECTORS))) from None
    return factory(**kwargs)
