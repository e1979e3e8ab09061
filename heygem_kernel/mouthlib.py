"""The person's own mouths: a bounded library of mouth images in a face-aligned frame.

During the analysis pass every frame's lower face is warped into a *canonical* frame (eye
centres at fixed points, ``CANON_EYE_DIST`` pixels apart) and filed by mouth shape (opening,
width) and head yaw. Each bin keeps its sharpest example, so memory is bounded by the number
of bins, not by the video's length. The default backend picks entries from here and bends
them with :func:`warp_mouth` when no entry opens exactly as wide as the speech asks; a gap it
opens is filled with real interior pixels (:func:`fill_interior`), or for a photo with an
interior built from the person's own face (:func:`synthetic_interior`).

:func:`interior_stats` measures open-mouth interiors on real footage (the figure issue 8 asks to
keep >= 0.8 of the recording's in self-reenactment).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import face68
from .face68 import INNER_LIPS, LEFT_EYE, OUTER_LIPS, RIGHT_EYE

# Canonical frame: eye centres at (+-CANON_EYE_DIST/2, 0). Face proportions measured on the
# shared clips: nose base ~0.75 D below the eye line, lip centre ~1.1 D, chin ~1.6 D.
CANON_EYE_DIST = 128.0
PATCH_X = (-1.05, 1.05)    # patch extent in units of D (x), covers the mask at mask_scale 1.3
# ... and in y (eye line = 0, downwards positive) for a nose base at NOSE_BASE_Y or higher and a
# mouth centred within MOUTH_X_FREE of the eye midpoint. A lower nose base (head tilted down, or
# turned: the eye distance D foreshortens) moves the patch down with it, a mouth further to one
# side (a turned head) moves it sideways (:func:`patch_shift`): on a three-quarter interview view
# the nose base sits 1.0-1.6 D below the eyes and the lips reach 1.1-1.5 D to the side, outside a
# fixed patch. The mouth mask's lowest point lies <= 1.3 D below the nose base on the shared
# clips, <= 1.6 D on the fetched lectern / TED / webcam clips (<= 1.9 D on the three-quarter
# view); the compositor also takes only the pixels a patch really has
# (:attr:`~heygem_kernel.backends.MouthPatch.alpha`).
PATCH_Y = (0.35, 2.3)
NOSE_BASE_Y = 0.75
MOUTH_X_FREE = 0.15
PATCH_W = int(round((PATCH_X[1] - PATCH_X[0]) * CANON_EYE_DIST))
PATCH_H = int(round((PATCH_Y[1] - PATCH_Y[0]) * CANON_EYE_DIST))

# Library bins (units: fraction of D). Inner-lip gap rarely exceeds 0.45 D, mouth width spans
# ~0.7-1.1 D, yaw (nose offset from the eye midpoint) +-0.3 D for usable frames.
OPEN_BIN, WIDTH_BIN, YAW_BIN = 0.02, 0.05, 0.06
# A more strongly turned head (yaw: the nose tip's offset, D) gives no library mouth. Tried on the
# fetched three-quarter interview (2026-12-02, turned-head fix in): 0.35 / 0.5 / 0.65 -> render
# follows its targets r 0.69 / 0.80 / 0.75, but self-reenactment lag-0 r 0.38 / 0.28 / 0.20.
MAX_LIBRARY_YAW = 0.35
MAX_ENTRIES = 160          # hard memory bound: 160 x 269 x 250 x 3 B ~ 32 MB


def eye_centres(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return face68.eye_centres(lm)


def to_canonical(lm: np.ndarray) -> np.ndarray:
    """2x3 similarity matrix mapping frame pixels to canonical pixels for landmarks ``lm``."""
    left, right = eye_centres(np.asarray(lm, dtype=np.float64))
    vec = right - left
    dist = max(float(np.hypot(*vec)), 1e-6)
    scale = CANON_EYE_DIST / dist
    c, s = vec / dist
    rot = scale * np.array([[c, s], [-s, c]])
    mid = (left + right) / 2
    return np.hstack([rot, (-rot @ mid)[:, None]])


def apply(matrix: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ matrix[:, :2].T + matrix[:, 2]


def invert(matrix: np.ndarray) -> np.ndarray:
    import cv2
    return cv2.invertAffineTransform(matrix)


def mouth_features(lm: np.ndarray) -> tuple[float, float, float, float]:
    """(opening, width, yaw, pitch) of 68-point landmarks, in units of the eye-centre distance.

    yaw: sideways offset of the nose tip from the eye midpoint; pitch: depth of the nose base
    below the eye line (a nodding head shortens it).
    """
    lm = np.asarray(lm, dtype=np.float64)
    dist = max(float(face68.eye_centre_distance(lm)), 1e-6)
    opening = float(face68.inner_lip_gap(lm)) / dist        # the one opening measure, in units of D
    width = float(face68.corner_width(lm)) / dist
    canon = apply(to_canonical(lm), lm[[30, 33]])
    return opening, width, float(canon[0, 0] / CANON_EYE_DIST), float(canon[1, 1] / CANON_EYE_DIST)


def patch_origin_matrix(shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Translation from canonical coordinates to the pixel coordinates of a patch moved by
    ``shift`` = (right, down) (units of D, :func:`patch_shift`)."""
    dx, dy = (float(v) for v in shift)
    return np.array([[1.0, 0.0, -(PATCH_X[0] + dx) * CANON_EYE_DIST],
                     [0.0, 1.0, -(PATCH_Y[0] + dy) * CANON_EYE_DIST]])


def patch_shift(lm: np.ndarray) -> tuple[float, float]:
    """(right, down) move (units of D) of the patch of landmarks ``lm`` [shape=(68, 2)], so the
    mouth stays inside it: down by as much as the nose base lies below ``NOSE_BASE_Y`` (never
    up), sideways by as much as the mouth's centre lies beyond ``MOUTH_X_FREE`` of the eye
    midpoint. (0, 0) for a face towards the camera."""
    canon = apply(to_canonical(lm), np.asarray(lm, np.float64)) / CANON_EYE_DIST
    nose = float(canon[face68.NOSE_BOTTOM, 1].mean())
    mouth = float(canon[OUTER_LIPS, 0].mean())
    return mouth - float(np.clip(mouth, -MOUTH_X_FREE, MOUTH_X_FREE)), max(0.0, nose - NOSE_BASE_Y)


@dataclass
class MouthLibrary:
    """Mouth images [shape=(K, PATCH_H, PATCH_W, 3)] uint8 with their canonical landmarks
    [shape=(K, 68, 2)] (patch pixel coordinates), features [shape=(K, 4)] (open, width, yaw, pitch),
    sharpness [shape=(K,)], source frame numbers [shape=(K,)], patch shifts [shape=(K, 2)] (units
    of D: :func:`patch_origin_matrix` of entry k is ``patch_origin_matrix(shifts[k])``) and the
    matrices that cut each patch from its frame [shape=(K, 2, 3)] (frame pixels -> patch pixels)
    with that frame's size ``frame_size`` (width, height): where a patch shows no frame at all."""

    patches: list = field(default_factory=list)
    landmarks: list = field(default_factory=list)
    features: list = field(default_factory=list)
    sharpness: list = field(default_factory=list)
    frames: list = field(default_factory=list)
    shifts: list = field(default_factory=list)
    matrices: list = field(default_factory=list)
    frame_size: tuple = (0, 0)
    # [shape=(256,)] how many open-mouth frames (OPEN_MOUTH_MIN) had each interior brightness
    # (25th-percentile grey inside the inner lips): the speaker's real interiors, all frames counted
    interior_hist: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int64))
    _bins: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.patches)

    def observe(self, frame: np.ndarray, lm: np.ndarray, index: int) -> None:
        """Offer one analysed frame [shape=(H, W, 3)] with its landmarks to the library."""
        import cv2
        feats = mouth_features(lm)
        if abs(feats[2]) > MAX_LIBRARY_YAW:
            return
        if feats[0] >= OPEN_MOUTH_MIN:
            level = _frame_interior(frame, lm)
            if level is not None:
                self.interior_hist[level] += 1
        key = _bin_key(feats)
        slot = self._bins.get(key)
        if slot is None and len(self.patches) >= MAX_ENTRIES:
            return
        shift = patch_shift(lm)
        matrix = patch_origin_matrix(shift) @ np.vstack([to_canonical(lm), [0, 0, 1]])
        self.frame_size = (int(frame.shape[1]), int(frame.shape[0]))
        patch = cv2.warpAffine(frame, matrix, (PATCH_W, PATCH_H), flags=cv2.INTER_AREA
                               if matrix[0, 0] < 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        plm = apply(matrix, np.asarray(lm, np.float64)).astype(np.float32)
        x0, x1 = int(plm[OUTER_LIPS, 0].min()), int(plm[OUTER_LIPS, 0].max()) + 1
        y0, y1 = int(plm[OUTER_LIPS, 1].min()), int(plm[OUTER_LIPS, 1].max()) + 1
        roi = cv2.cvtColor(patch[max(y0, 0):y1, max(x0, 0):x1], cv2.COLOR_BGR2GRAY)
        sharp = float(cv2.Laplacian(roi, cv2.CV_32F).var()) if roi.size else 0.0
        if slot is not None:
            if sharp <= self.sharpness[slot]:
                return
            self.patches[slot], self.landmarks[slot] = patch, plm
            self.features[slot], self.sharpness[slot], self.frames[slot] = feats, sharp, index
            self.shifts[slot], self.matrices[slot] = shift, matrix[:2]
            return
        self._bins[key] = len(self.patches)
        self.patches.append(patch)
        self.landmarks.append(plm)
        self.features.append(feats)
        self.sharpness.append(sharp)
        self.frames.append(index)
        self.shifts.append(shift)
        self.matrices.append(matrix[:2])

    def typical_interior(self) -> float:
        """Median interior brightness (grey 0-255) of the open-mouth frames seen; NaN if none."""
        n = int(self.interior_hist.sum())
        if n == 0:
            return float("nan")
        return float(np.searchsorted(np.cumsum(self.interior_hist), (n + 1) / 2))

    # ---- persistence (the analysis cache) -------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        k = len(self)
        return {
            "lib_patches": np.stack(self.patches) if k else np.zeros((0, PATCH_H, PATCH_W, 3), np.uint8),
            "lib_landmarks": np.stack(self.landmarks) if k else np.zeros((0, 68, 2), np.float32),
            "lib_features": np.asarray(self.features, np.float64).reshape(k, 4),
            "lib_sharpness": np.asarray(self.sharpness, np.float64),
            "lib_frames": np.asarray(self.frames, np.int64),
            "lib_shifts": np.asarray(self.shifts, np.float64).reshape(k, 2),
            "lib_matrices": np.asarray([np.full((2, 3), np.nan) if m is None else m for m in self.matrices],
                                       np.float64).reshape(k, 2, 3),
            "lib_frame_size": np.asarray(self.frame_size, np.int64),
            "lib_interior_hist": self.interior_hist,
        }

    @classmethod
    def from_arrays(cls, arrays) -> "MouthLibrary":
        # read each array once: indexing an NpzFile re-reads (and re-checks) the whole array
        patches, landmarks = arrays["lib_patches"], arrays["lib_landmarks"]
        features, sharpness, frames = arrays["lib_features"], arrays["lib_sharpness"], arrays["lib_frames"]
        lib = cls()
        names = getattr(arrays, "files", arrays)
        if "lib_interior_hist" in names:   # caches from before it existed lack it
            lib.interior_hist = np.asarray(arrays["lib_interior_hist"], np.int64)
        shifts = np.asarray(arrays["lib_shifts"]).reshape(-1, 2) if "lib_shifts" in names else np.zeros((len(frames), 2))
        matrices = np.asarray(arrays["lib_matrices"]) if "lib_matrices" in names else None
        if "lib_frame_size" in names:
            lib.frame_size = tuple(int(v) for v in arrays["lib_frame_size"])
        for i in range(len(frames)):
            feats = tuple(float(v) for v in features[i])
            lib._bins[_bin_key(feats)] = i
            lib.patches.append(patches[i])
            lib.landmarks.append(landmarks[i])
            lib.features.append(feats)
            lib.sharpness.append(float(sharpness[i]))
            lib.frames.append(int(frames[i]))
            lib.shifts.append((float(shifts[i, 0]), float(shifts[i, 1])))
            lib.matrices.append(None if matrices is None or not np.isfinite(matrices[i]).all() else matrices[i])
        return lib


# ---- measuring mouth interiors on real footage ---------------------------------------------
# A frame counts as "open mouth" when its inner-lip gap (mean of the pairs 61-67, 62-66, 63-65)
# is at least this fraction of the eye-centre distance D (the unit of :func:`mouth_features`).
# On the shared clips closed/relaxed lips measure 0.00-0.05 D and clearly parted speaking lips
# 0.10-0.35 D; at 0.10 D the inner-lip polygon is a few pixels tall even on a 100 px face, so
# its pixels are interior (teeth, tongue, cavity) rather than lip.
OPEN_MOUTH_MIN = 0.10
INTERIOR_PERCENTILE = 25.0   # of the pooled grey levels: the dark part of the interior


def inner_lip_mask(shape: tuple[int, int], lm: np.ndarray) -> np.ndarray:
    """bool mask [shape=shape (H, W)] of the inner-lip polygon (iBUG points 60-67) of ``lm``
    [shape=(68, 2)] pixel (x, y)."""
    import cv2
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(lm, np.float64)[INNER_LIPS]).astype(np.int32)], 1)
    return mask.astype(bool)


@dataclass(frozen=True)
class InteriorStats:
    """Open-mouth interior brightness of one video.

    brightness: the :data:`INTERIOR_PERCENTILE` percentile of the grey levels (BT.601 luma,
    0-255) pooled over the inner-lip polygons of the open-mouth frames; NaN when none is open.
    open_frames / frames: frames counted as open (see :data:`OPEN_MOUTH_MIN`) / frames with a face.
    pixels: pooled interior pixels.
    """

    brightness: float
    open_frames: int
    frames: int
    pixels: int


def interior_stats(frames, landmarks, *, open_min: float = OPEN_MOUTH_MIN,
                   percentile: float = INTERIOR_PERCENTILE) -> InteriorStats:
    """Measure how bright open mouths are inside: a real interior (teeth, tongue) is much
    brighter than a painted dark cavity.

    frames: a video/photo path (decoded with :func:`heygem_kernel.media.iter_frames`) or an
    iterable of BGR uint8 frames [shape=(H, W, 3)]. landmarks: a
    :class:`heygem_kernel.landmarks.FaceTrack` or an array [shape=(N, 68, 2)] of pixel (x, y)
    with NaN rows where no face was found, one per frame (extra frames are ignored). The
    landmarks must come from tracking *these* frames (for an output, track the output: never
    use the targets that drove a render). Frames whose inner-lip gap is below ``open_min`` x the
    eye-centre distance are skipped. Streams: memory is one frame plus the pooled pixels.
    """
    import cv2
    if isinstance(frames, (str, bytes)) or hasattr(frames, "__fspath__"):
        from . import media
        frames = media.iter_frames(media.probe_video(frames))
    pts = np.asarray(getattr(landmarks, "landmarks", landmarks), np.float64)
    if pts.ndim != 3 or pts.shape[1:] != (68, 2):
        raise ValueError(f"interior_stats: landmarks must be (N, 68, 2), got {pts.shape}")
    if hasattr(landmarks, "valid"):
        pts = pts.copy()
        pts[~np.asarray(landmarks.valid, bool)] = np.nan
    pooled, n_face, n_open = [], 0, 0
    for i, frame in enumerate(frames):
        if i >= len(pts):
            break
        lm = pts[i]
        if not np.all(np.isfinite(lm)):
            continue
        n_face += 1
        if mouth_features(lm)[0] < open_min:
            continue
        mask = inner_lip_mask(frame.shape[:2], lm)
        if not mask.any():
            continue
        n_open += 1
        pooled.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)[mask])
    if hasattr(frames, "close"):
        frames.close()
    pix = np.concatenate(pooled) if pooled else np.zeros(0, np.uint8)
    value = float(np.percentile(pix, percentile)) if pix.size else float("nan")
    return InteriorStats(brightness=value, open_frames=n_open, frames=n_face, pixels=int(pix.size))


def interior_brightness(frames, landmarks, *, open_min: float = OPEN_MOUTH_MIN,
                        percentile: float = INTERIOR_PERCENTILE) -> float:
    """Open-mouth interior brightness (grey level 0-255) of a video: see :func:`interior_stats`.
    NaN when no frame's mouth is open."""
    return interior_stats(frames, landmarks, open_min=open_min, percentile=percentile).brightness


def interior_ratio(output, output_landmarks, recording, recording_landmarks, *,
                   open_min: float = OPEN_MOUTH_MIN) -> float:
    """Interior brightness of ``output`` / that of ``recording`` (the same speaker's real,
    in-sync footage: the ground truth). ~1 means real-looking interiors; a dark painted cavity
    reads 0.3-0.7. Arguments as for :func:`interior_stats` (paths or frames, FaceTrack or
    (N, 68, 2) arrays tracked on each video). NaN if either has no open-mouth frame."""
    out = interior_brightness(output, output_landmarks, open_min=open_min)
    ref = interior_brightness(recording, recording_landmarks, open_min=open_min)
    return out / ref if ref > 0 else float("nan")


def _frame_interior(frame: np.ndarray, lm: np.ndarray) -> int | None:
    """25th-percentile grey level inside the inner lips of one frame (None: too few pixels)."""
    import cv2
    pts = np.asarray(lm, np.float64)[INNER_LIPS]
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int), 0)
    x1, y1 = np.ceil(pts.max(0)).astype(int) + 1
    crop = frame[y0:y1, x0:x1]
    if crop.size == 0:
        return None
    mask = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(pts - [x0, y0]).astype(np.int32)], 1)
    mask = mask.astype(bool)
    if mask.sum() < 12:
        return None
    return int(np.percentile(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)[mask], INTERIOR_PERCENTILE))


def _bin_key(feats) -> tuple[int, int, int]:
    return int(feats[0] / OPEN_BIN), int(feats[1] / WIDTH_BIN), int(round(feats[2] / YAW_BIN))


def warp_mouth(patch: np.ndarray, lm: np.ndarray, *, d_open: float, width_ratio: float = 1.0,
               colours: tuple[np.ndarray, np.ndarray] | None = None,
               interior: "InteriorSource | None" = None) -> np.ndarray:
    """Open (``d_open`` > 0) or close the mouth of a canonical ``patch`` by ``d_open`` canonical
    pixels and scale its width by ``width_ratio``: the landmark-driven warp used for stills and
    where the library has no mouth shaped as asked.

    patch [shape=(PATCH_H, PATCH_W, 3)] uint8; lm [shape=(68, 2)] its landmarks (patch pixels).
    An opened gap is filled from ``interior`` (real teeth and tongue, see :func:`fill_interior`);
    without one, with a cavity painted in ``colours`` (cavity, teeth BGR).
    """
    import cv2
    if abs(d_open) < 0.5 and abs(width_ratio - 1.0) < 0.02:
        return patch
    h, w = patch.shape[:2]
    lm = np.asarray(lm, np.float32)
    cx = float((lm[48, 0] + lm[54, 0]) / 2)
    half = max(float(lm[54, 0] - lm[48, 0]) / 2, 4.0)
    seam = float(lm[INNER_LIPS, 1].mean())
    chin = float(lm[8, 1])
    nose = float(lm[33, 1])
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    inner_half = max(float(lm[64, 0] - lm[60, 0]) / 2, 2.0)
    wx = _lens(xs, float((lm[60, 0] + lm[64, 0]) / 2), inner_half)  # lips part most at the centre
    below = smoothstep((ys - seam) / 3.0 + 0.5) * (1 - smoothstep((ys - chin) / (0.25 * (chin - seam) + 1)))
    above = smoothstep((ys - nose) / max(seam - nose, 1.0)) * (1 - smoothstep((ys - seam) / 3.0 + 0.5))
    dy = d_open * wx * (below - 0.15 * above)
    shrink = (1.0 - width_ratio) * wx * (1 - smoothstep(np.abs(ys - seam) / max(chin - seam, 1.0)))
    map_x = (xs + (xs - cx) * shrink / max(width_ratio, 0.5)).astype(np.float32) + np.zeros_like(dy)
    map_y = (ys - dy).astype(np.float32) + np.zeros_like(map_x)
    out = cv2.remap(patch, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if d_open > 0.5 and interior is not None:
        out = fill_interior(out, lm, cx=cx, d_open=d_open, width_ratio=width_ratio, source=interior)
    elif d_open > 0.5:
        out = _paint_cavity(out, lm, cx=cx, half=half, d_open=d_open, width_ratio=width_ratio,
                            colours=colours or (CAVITY_BGR, TEETH_BGR))
    return out


def _lens(x, cx: float, half: float):
    """Opening profile across the mouth: 1 at the centre, 0 at the corners (a lens shape)."""
    return np.clip(1.0 - ((x - cx) / (half * 1.08)) ** 2, 0.0, 1.0) ** 0.75


def smoothstep(t):
    """Hermite ramp 3t^2 - 2t^3 of ``t`` clipped to [0, 1] (array or scalar, same shape): the
    soft edge of every mask and fade here and in the compositor (zero slope at both ends, so a
    blend shows no visible line)."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


# Mouth interior colours (BGR): a dark, warm cavity with a hint of upper teeth.
CAVITY_BGR = np.array([38, 36, 70], np.float32)
TEETH_BGR = np.array([186, 190, 204], np.float32)


def _paint_cavity(img: np.ndarray, lm: np.ndarray, *, cx: float, half: float, d_open: float,
                  width_ratio: float, colours: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Fill the gap between the parted inner lips with a soft-edged mouth cavity.

    The gap follows the inner-lip contour column by column and closes at the inner corners
    (a lens), with a band of upper teeth under the upper lip and a darker throat below.
    """
    import cv2
    left, right = lm[60].astype(np.float64), lm[64].astype(np.float64)
    xs_in = np.linspace(left[0], right[0], 33)
    upper_pts = lm[[60, 61, 62, 63, 64]].astype(np.float64)
    lower_pts = lm[[60, 67, 66, 65, 64]].astype(np.float64)
    y_up = np.interp(xs_in, upper_pts[:, 0], upper_pts[:, 1])
    y_lo = np.interp(xs_in, lower_pts[:, 0], lower_pts[:, 1])
    half_in = max((right[0] - left[0]) / 2, 2.0)
    cx_in = (left[0] + right[0]) / 2
    lens = np.clip(1.0 - ((xs_in - cx_in) / half_in) ** 2, 0.0, 1.0) ** 0.6
    y_up = y_up - 0.15 * d_open * lens
    y_lo = np.maximum(y_lo + d_open * lens, y_up)
    xs_sq = cx + (xs_in - cx) * width_ratio
    poly = np.concatenate([np.stack([xs_sq, y_up], 1), np.stack([xs_sq, y_lo], 1)[::-1]])
    ss = 4  # supersampling for a smooth edge
    mask = np.zeros((img.shape[0] * ss, img.shape[1] * ss), np.uint8)
    cv2.fillPoly(mask, [np.round(poly * ss).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    mask = cv2.resize(mask, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    mask = cv2.GaussianBlur(mask, (0, 0), 0.7)
    # depth t in [0, 1] from the upper lip (0) to the lower lip (1), per column
    cols = np.arange(img.shape[1], dtype=np.float64)
    top = np.interp(cols, xs_sq, y_up)[None, :]
    gap = np.maximum(np.interp(cols, xs_sq, y_lo)[None, :] - top, 1.0)
    t = np.clip((np.arange(img.shape[0], dtype=np.float64)[:, None] - top) / gap, 0, 1).astype(np.float32)
    cavity, teeth_bgr = (np.asarray(c, np.float32) for c in colours)
    teeth = 0.75 * smoothstep((0.28 - t) / 0.12) * min(1.0, d_open / 10.0)
    shade = (1.0 - 0.4 * smoothstep((t - 0.3) / 0.6))[..., None]
    colour = cavity * shade + teeth[..., None] * (teeth_bgr - cavity * shade)
    out = img.astype(np.float32)
    out = out + mask[..., None] * (colour - out)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# ---- real interiors ----------------------------------------------------------------------------
# A library mouth whose lips part at least this much (D units) shows enough of its own interior
# to be stretched open; a more closed one borrows the interior of a donor mouth.
OWN_INTERIOR_MIN = 0.06
# Of the output gap, the part next to the upper lip that keeps the source's scale (upper teeth
# are fixed to the skull: opening the jaw shows more tongue and cavity, not taller teeth).
TEETH_KEEP = 0.5


@dataclass(frozen=True)
class InteriorSource:
    """Real (or, for a photo, synthesised) mouth-interior pixels to fill an opened gap with.

    image [shape=(PATCH_H, PATCH_W, 3)] uint8 canonical patch; landmarks [shape=(68, 2)] its
    iBUG points in patch pixels (the inner lips, 60-67, bound the interior).
    """

    image: np.ndarray
    landmarks: np.ndarray
    # True for a gap that shows only teeth (a photo's parted lips: no deeper mouth to borrow):
    # opened wider, its upper teeth stay with the upper lip, its lower teeth move down with the
    # jaw, and a shaded cavity and tongue open between them (stretching it drew teeth as tall
    # as the whole opening; see _open_jaw).
    jaw: bool = False


def lip_colour(patch: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Mean BGR [shape=(3,)] float32 inside the outer lips (68-point 48-59) of ``patch``."""
    import cv2
    mask = np.zeros(patch.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(lm, np.float64)[OUTER_LIPS]).astype(np.int32)], 1)
    lip = patch[mask.astype(bool)].astype(np.float32)
    return lip.mean(0) if len(lip) else np.array([90, 90, 160], np.float32)


def _gap_curves(lm: np.ndarray, *, cx: float, d_open: float, width_ratio: float, n: int = 65):
    """Columns xs [shape=(n,)] and the upper/lower edges of the inner-lip gap after opening it by
    ``d_open`` px (a lens: most at the centre) and scaling its width by ``width_ratio`` about cx."""
    lm = np.asarray(lm, np.float64)
    left, right = lm[60], lm[64]
    xs_in = np.linspace(left[0], right[0], n)
    up, lo = lm[[60, 61, 62, 63, 64]], lm[[60, 67, 66, 65, 64]]
    y_up = np.interp(xs_in, np.maximum.accumulate(up[:, 0]), up[:, 1])
    y_lo = np.interp(xs_in, np.maximum.accumulate(lo[:, 0]), lo[:, 1])
    half_in = max((right[0] - left[0]) / 2, 2.0)
    lens = np.clip(1.0 - ((xs_in - (left[0] + right[0]) / 2) / half_in) ** 2, 0.0, 1.0) ** 0.6
    y_up = y_up - 0.15 * d_open * lens
    y_lo = np.maximum(y_lo + d_open * lens, y_up)
    return cx + (xs_in - cx) * width_ratio, y_up, y_lo


def _soft_polygon(shape, poly: np.ndarray) -> np.ndarray:
    import cv2
    ss = 4  # supersampling for a smooth edge
    mask = np.zeros((shape[0] * ss, shape[1] * ss), np.uint8)
    cv2.fillPoly(mask, [np.round(poly * ss).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    mask = cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    return cv2.GaussianBlur(mask, (0, 0), 0.7)


def fill_interior(img: np.ndarray, lm: np.ndarray, *, cx: float, d_open: float, width_ratio: float,
                  source: InteriorSource) -> np.ndarray:
    """Fill the inner-lip gap of the warped mouth ``img`` with ``source``'s real interior.

    img [shape=(H, W, 3)] uint8 canonical patch after :func:`warp_mouth`'s remap; lm its landmarks
    *before* the warp. Column by column the gap is mapped onto the source's gap (inner corners to
    inner corners): the top :data:`TEETH_KEEP` of the source (upper teeth) keeps its scale, the rest
    (tongue, cavity) stretches to the new depth. Where the source's gap is thinner than the new
    one the stretched part is shaded darker, as a deeper mouth is.
    """
    import cv2
    xs, y_up, y_lo = _gap_curves(lm, cx=cx, d_open=d_open, width_ratio=width_ratio)
    slm = np.asarray(source.landmarks, np.float64)
    sxs, s_up, s_lo = _gap_curves(slm, cx=float((slm[48, 0] + slm[54, 0]) / 2), d_open=0.0, width_ratio=1.0)
    poly = np.concatenate([np.stack([xs, y_up], 1), np.stack([xs, y_lo], 1)[::-1]])
    h, w = img.shape[:2]
    x0, x1 = max(int(np.floor(xs.min())) - 2, 0), min(int(np.ceil(xs.max())) + 3, w)
    y0, y1 = max(int(np.floor(y_up.min())) - 2, 0), min(int(np.ceil(y_lo.max())) + 3, h)
    if x1 <= x0 or y1 <= y0:
        return img
    mask = _soft_polygon((h, w), poly)[y0:y1, x0:x1]
    cols = np.arange(x0, x1, dtype=np.float64)
    top = np.interp(cols, xs, y_up)
    g_out = np.maximum(np.interp(cols, xs, y_lo) - top, 1e-3)
    u = np.clip((cols - xs[0]) / max(xs[-1] - xs[0], 1e-3), 0, 1)
    x_src = sxs[0] + u * (sxs[-1] - sxs[0])
    s_top = np.interp(x_src, sxs, s_up)
    g_src = np.maximum(np.interp(x_src, sxs, s_lo) - s_top, 0.0)
    t = np.arange(y0, y1, dtype=np.float64)[:, None] - top[None, :]        # px below the upper lip
    if source.jaw:
        return _open_jaw(img, source, mask, (x0, y0, x1, y1), t, x_src, s_top, g_src, g_out)
    keep = TEETH_KEEP * np.minimum(g_src, g_out)[None, :]
    rest = np.maximum(g_out - keep[0], 1e-3)[None, :]
    stretched = keep + (t - keep) * np.maximum(g_src[None, :] - keep, 0.0) / rest
    y_src = s_top[None, :] + np.where(t < keep, t, stretched)
    map_x = np.broadcast_to(x_src[None, :], y_src.shape).astype(np.float32)
    fill = cv2.remap(source.image, map_x, y_src.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    depth = np.clip(g_src / g_out, 0.0, 1.0)[None, :]
    fill *= np.where(t < keep, 1.0, 0.55 + 0.45 * np.sqrt(depth))[..., None]
    out = img.copy()
    roi = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(roi + mask[..., None] * (fill - roi) + 0.5, 0, 255).astype(np.uint8)
    return out


# Where a teeth-only gap parts when the jaw opens (fraction of its height from the top): at the
# darkest row inside this band (the line where the upper teeth's edges meet the lower ones) when
# it is darker than both ends of the band by JAW_SPLIT_CONTRAST, else at JAW_SPLIT: the upper
# teeth show more than the lower, which the lower lip covers (talking_590's parted lips: a faint
# line at 0.6-0.65 of the gap).
JAW_SPLIT_BAND = (0.4, 0.8)
JAW_SPLIT_CONTRAST = 0.95
JAW_SPLIT = 0.6


def _teeth_split(source: InteriorSource, x_src, s_top, g_src) -> float:
    """Fraction (0..1) of the source gap's height, from its top, held by the upper teeth."""
    import cv2
    centre = slice(len(x_src) // 4, max(3 * len(x_src) // 4, len(x_src) // 4 + 1))
    fr = np.linspace(*JAW_SPLIT_BAND, 10)
    ys = (s_top[centre][None, :] + fr[:, None] * g_src[centre][None, :]).astype(np.float32)
    xs = np.broadcast_to(x_src[centre][None, :], ys.shape).astype(np.float32)
    grey = cv2.cvtColor(source.image, cv2.COLOR_BGR2GRAY)
    profile = cv2.remap(grey, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float64).mean(1)
    i = int(np.argmin(profile[1:-1])) + 1
    return float(fr[i]) if profile[i] < JAW_SPLIT_CONTRAST * min(profile[0], profile[-1]) else JAW_SPLIT


def _open_jaw(img, source: InteriorSource, mask, box, t, x_src, s_top, g_src, g_out) -> np.ndarray:
    """:func:`fill_interior` for a ``jaw`` source (column arrays as there): the source gap down to
    where its teeth rows meet (:func:`_teeth_split`) keeps its place under the upper lip, the rest
    is carried down with the lower lip, and where the output gap is the deeper the space between
    them is a cavity (the lips' colour at 30 %, a tongue rising in its lower half, as
    :func:`synthetic_interior` draws). A gap narrower than the source's is compressed evenly."""
    import cv2
    x0, y0, x1, y1 = box
    upper = _teeth_split(source, x_src, s_top, g_src) * g_src[None, :]
    extra = np.maximum(g_out - g_src, 0.0)[None, :]                        # the cavity's height
    squeeze = np.minimum(g_out / np.maximum(g_src, 1e-3), 1.0)[None, :]    # a closing gap: compressed
    opened = np.where(t < upper, t, np.maximum(t - extra, upper))          # rows of the source shown
    y_src = s_top[None, :] + np.where(extra > 0, opened, t * squeeze)
    map_x = np.broadcast_to(x_src[None, :], y_src.shape).astype(np.float32)
    fill = cv2.remap(source.image, map_x, y_src.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    lip = lip_colour(source.image, source.landmarks)
    depth = np.clip((t - upper) / np.maximum(extra, 1e-3), 0.0, 1.0)      # 0..1 down the cavity
    tongue = smoothstep((depth - 0.55) / 0.3)
    cavity = lip * 0.3 + tongue[..., None] * (lip * 0.6 - lip * 0.3)
    inside = (smoothstep((t - upper) / 1.5 + 0.5) * (1.0 - smoothstep((t - upper - extra) / 1.5 + 0.5))
              * (extra > 0.5))
    fill += inside[..., None] * (cavity - fill)
    out = img.copy()
    roi = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(roi + mask[..., None] * (fill - roi) + 0.5, 0, 255).astype(np.uint8)
    return out


# ---- a plausible interior for a photo (one closed mouth, no teeth to borrow) ---------------------
# Dimensions in units of the eye-centre distance D (adult averages: D ~ 62 mm; upper central
# incisors ~8.5 mm wide, laterals ~6.5, canines ~7.5 seen at an angle; ~8 mm of upper teeth show
# below the lip of a speaking mouth).
SYNTH_GAP = 0.34                       # how far the synthetic mouth is opened (the fill's depth)
SYNTH_TEETH_H = 0.12                   # visible height of the upper front teeth
SYNTH_TOOTH_W = (0.135, 0.105, 0.11, 0.09)   # centre outwards, each side; beyond: shadow


def eye_white_colour(frame: np.ndarray, lm: np.ndarray) -> np.ndarray | None:
    """Mean BGR of the brightest, least saturated pixels inside the eye outlines (36-47) of
    ``frame`` [shape=(H, W, 3)] uint8; None when the eyes are too small or show no white
    (closed, shaded, behind tinted glasses)."""
    import cv2
    lm = np.asarray(lm, np.float64)
    mask = np.zeros(frame.shape[:2], np.uint8)
    for eye in (LEFT_EYE, RIGHT_EYE):
        cv2.fillPoly(mask, [np.round(lm[eye]).astype(np.int32)], 1)
    px = frame[mask.astype(bool)].astype(np.float32)
    if len(px) < 30:
        return None
    luma = px @ np.array([0.114, 0.587, 0.299], np.float32)
    sat = px.max(1) - px.min(1)
    score = luma - 1.5 * sat
    white = px[score >= np.percentile(score, 80)]
    return white.mean(0) if len(white) >= 6 else None


def teeth_colour(frame: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Plausible BGR of this person's teeth under this light: their eye whites, a little darker
    and warmer, or (eyes unusable) their skin desaturated and brightened."""
    import cv2
    lm = np.asarray(lm, np.float64)
    mask = np.zeros(frame.shape[:2], np.uint8)
    cheeks = np.array([lm[1], lm[31], lm[35], lm[15], lm[12], lm[4]])
    cv2.fillPoly(mask, [np.round(cheeks).astype(np.int32)], 1)
    cv2.fillPoly(mask, [np.round(lm[OUTER_LIPS]).astype(np.int32)], 0)
    skin = frame[mask.astype(bool)].astype(np.float32)
    skin = skin.mean(0) if len(skin) else np.array([120, 140, 180], np.float32)
    skin_luma = float(skin @ np.array([0.114, 0.587, 0.299]))
    warm = np.array([0.93, 1.0, 1.04], np.float32)
    white = eye_white_colour(frame, lm)
    if white is not None and float(white @ np.array([0.114, 0.587, 0.299])) > 0.9 * skin_luma:
        return np.clip(0.9 * white * warm, 0, 235)
    grey = np.full(3, skin_luma, np.float32)
    ivory = (grey + 0.45 * (skin - grey)) * warm          # teeth pick up the light's colour, less saturated
    return np.clip(ivory * min(1.2, 215.0 / max(skin_luma, 1.0)), 0, 235)


def synthetic_interior(patch: np.ndarray, lm: np.ndarray, *, teeth_bgr: np.ndarray,
                       seed: int = 0) -> InteriorSource:
    """A plausible open-mouth interior built from one closed mouth (a photo's): upper teeth in
    ``teeth_bgr`` (see :func:`teeth_colour`), separated and receding into shadow towards the
    corners, a dark cavity tinted with the person's lip colour and a tongue below, with the
    photo's own grain. patch [shape=(PATCH_H, PATCH_W, 3)] uint8 canonical; lm [shape=(68, 2)].
    Returns the patch opened by :data:`SYNTH_GAP` D with its interior drawn, and its landmarks.
    """
    import cv2
    lm = np.asarray(lm, np.float64).copy()
    d = CANON_EYE_DIST
    left, right = lm[60], lm[64]
    cxi, half_in = (left[0] + right[0]) / 2, max((right[0] - left[0]) / 2, 4.0)
    lens_at = lambda x: np.clip(1.0 - ((x - cxi) / half_in) ** 2, 0.0, 1.0) ** 0.6  # noqa: E731
    for i in (65, 66, 67):
        lm[i, 1] = max(lm[i, 1], lm[128 - i, 1]) + SYNTH_GAP * d * lens_at(lm[i, 0])
    lip = lip_colour(patch, lm)
    xs, y_up, y_lo = _gap_curves(lm, cx=cxi, d_open=0.0, width_ratio=1.0)
    h, w = patch.shape[:2]
    cols = np.arange(w, dtype=np.float64)
    top = np.interp(cols, xs, y_up)[None, :]
    gap = np.maximum(np.interp(cols, xs, y_lo)[None, :] - top, 1.0)
    t = np.arange(h, dtype=np.float64)[:, None] - top                    # px below the upper lip
    lens = lens_at(cols)[None, :]
    # cavity: dark, lip-tinted, deepest in the middle of the gap; tongue rising from below
    img = np.broadcast_to(lip * 0.3, (h, w, 3)).astype(np.float32).copy()
    tongue_top = gap - 0.5 * gap * np.sqrt(lens)
    tongue = smoothstep((t - tongue_top) / 6.0) * (0.4 + 0.6 * lens)
    img += tongue[..., None] * (lip * (0.6 + 0.2 * smoothstep((t - tongue_top) / 12.0))[..., None] - img)
    # upper teeth: one band under the upper lip, split into teeth, each with a rounded edge
    rel = (cols - cxi) / (SYNTH_TEETH_H * d)                             # distance from the midline
    edges = np.cumsum(np.concatenate([[0.0], SYNTH_TOOTH_W])) / SYNTH_TEETH_H
    side = np.abs(rel) / (0.45 + 0.55 * lens[0])                        # the arch recedes: narrower teeth
    j = np.clip(np.searchsorted(edges, side) - 1, 0, len(SYNTH_TOOTH_W) - 1)
    s = (side - edges[j]) / np.diff(edges)[j]                            # 0..1 across one tooth
    height = SYNTH_TEETH_H * d * (0.6 + 0.4 * lens[0]) * (1.0 - 0.06 * j)
    edge = height - 2.0 * (2 * s - 1) ** 4                              # rounded incisal edges
    teeth = smoothstep((edge[None, :] - t) / 1.2) * (side < edges[-1])[None, :]
    gaps = 1.0 - 0.35 * np.exp(-((np.minimum(s, 1 - s) * np.diff(edges)[j] * SYNTH_TEETH_H * d) / 0.8) ** 2)
    shade = (0.3 + 0.7 * lens ** 1.5) * (1.0 - 0.12 * np.clip(t / (SYNTH_TEETH_H * d), 0, 1)) * gaps[None, :]
    shade *= 1.0 - 0.25 * smoothstep((2.0 - t) / 2.0)                  # shadow of the upper lip
    img += teeth[..., None] * (np.asarray(teeth_bgr, np.float32) * shade[..., None] - img)
    # the photo's own grain, so the interior is not smoother than the skin around it
    grey = cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY).astype(np.float32)
    grain = float(np.clip(np.std(grey - cv2.GaussianBlur(grey, (0, 0), 1.5)), 0.5, 6.0))
    img += np.random.default_rng(seed).normal(0, grain, img.shape[:2])[..., None]
    img = cv2.GaussianBlur(img, (0, 0), 0.6)
    inside = (t >= -1) & (t <= gap + 1)
    out = np.where(inside[..., None], np.clip(img + 0.5, 0, 255), patch).astype(np.uint8)
    return InteriorSource(out, lm.astype(np.float32))
