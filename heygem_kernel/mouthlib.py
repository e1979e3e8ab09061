"""The person's own mouths: a bounded library of mouth images in a face-aligned frame.

During the analysis pass every frame's lower face is warped into a *canonical* frame (eye
centres at fixed points, ``CANON_EYE_DIST`` pixels apart) and filed by mouth shape (opening,
width) and head yaw. Each bin keeps its sharpest example, so memory is bounded by the number
of bins, not by the video's length. The default backend picks entries from here and bends
them with :func:`warp_mouth` when no entry opens exactly as wide as the speech asks.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Canonical frame: eye centres at (+-CANON_EYE_DIST/2, 0). Face proportions measured on the
# shared clips: nose base ~0.75 D below the eye line, lip centre ~1.1 D, chin ~1.6 D.
CANON_EYE_DIST = 128.0
PATCH_X = (-1.05, 1.05)    # patch extent in units of D (x), covers the mask at mask_scale 1.3
PATCH_Y = (0.35, 2.0)      # ... and in y (eye line = 0, downwards positive)
PATCH_W = int(round((PATCH_X[1] - PATCH_X[0]) * CANON_EYE_DIST))
PATCH_H = int(round((PATCH_Y[1] - PATCH_Y[0]) * CANON_EYE_DIST))

# Library bins (units: fraction of D). Inner-lip gap rarely exceeds 0.45 D, mouth width spans
# ~0.7-1.1 D, yaw (nose offset from the eye midpoint) +-0.3 D for usable frames.
OPEN_BIN, WIDTH_BIN, YAW_BIN = 0.02, 0.05, 0.06
MAX_ENTRIES = 160          # hard memory bound: 160 x 269 x 211 x 3 B ~ 27 MB

INNER_PAIRS = ((61, 67), (62, 66), (63, 65))
LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)
NOSE_BASE = slice(31, 36)


def eye_centres(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return lm[LEFT_EYE].mean(0), lm[RIGHT_EYE].mean(0)


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
    left, right = eye_centres(lm)
    dist = max(float(np.hypot(*(right - left))), 1e-6)
    opening = float(np.mean([np.hypot(*(lm[a] - lm[b])) for a, b in INNER_PAIRS])) / dist
    width = float(np.hypot(*(lm[54] - lm[48]))) / dist
    canon = apply(to_canonical(lm), lm[[30, 33]])
    return opening, width, float(canon[0, 0] / CANON_EYE_DIST), float(canon[1, 1] / CANON_EYE_DIST)


def patch_origin_matrix() -> np.ndarray:
    """Translation from canonical coordinates to patch pixel coordinates."""
    return np.array([[1.0, 0.0, -PATCH_X[0] * CANON_EYE_DIST], [0.0, 1.0, -PATCH_Y[0] * CANON_EYE_DIST]])


@dataclass
class MouthLibrary:
    """Mouth images [shape=(K, PATCH_H, PATCH_W, 3)] uint8 with their canonical landmarks
    [shape=(K, 68, 2)] (patch pixel coordinates), features [shape=(K, 4)] (open, width, yaw, pitch),
    sharpness [shape=(K,)] and source frame numbers [shape=(K,)]."""

    patches: list = field(default_factory=list)
    landmarks: list = field(default_factory=list)
    features: list = field(default_factory=list)
    sharpness: list = field(default_factory=list)
    frames: list = field(default_factory=list)
    _bins: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.patches)

    def observe(self, frame: np.ndarray, lm: np.ndarray, index: int) -> None:
        """Offer one analysed frame [shape=(H, W, 3)] with its landmarks to the library."""
        import cv2
        feats = mouth_features(lm)
        if abs(feats[2]) > 0.35:          # strongly turned head: a poor donor
            return
        key = _bin_key(feats)
        slot = self._bins.get(key)
        if slot is None and len(self.patches) >= MAX_ENTRIES:
            return
        matrix = patch_origin_matrix() @ np.vstack([to_canonical(lm), [0, 0, 1]])
        patch = cv2.warpAffine(frame, matrix, (PATCH_W, PATCH_H), flags=cv2.INTER_AREA
                               if matrix[0, 0] < 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        plm = apply(matrix, np.asarray(lm, np.float64)).astype(np.float32)
        x0, x1 = int(plm[48:60, 0].min()), int(plm[48:60, 0].max()) + 1
        y0, y1 = int(plm[48:60, 1].min()), int(plm[48:60, 1].max()) + 1
        roi = cv2.cvtColor(patch[max(y0, 0):y1, max(x0, 0):x1], cv2.COLOR_BGR2GRAY)
        sharp = float(cv2.Laplacian(roi, cv2.CV_32F).var()) if roi.size else 0.0
        if slot is not None:
            if sharp <= self.sharpness[slot]:
                return
            self.patches[slot], self.landmarks[slot] = patch, plm
            self.features[slot], self.sharpness[slot], self.frames[slot] = feats, sharp, index
            return
        self._bins[key] = len(self.patches)
        self.patches.append(patch)
        self.landmarks.append(plm)
        self.features.append(feats)
        self.sharpness.append(sharp)
        self.frames.append(index)

    # ---- persistence (the analysis cache) -------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        k = len(self)
        return {
            "lib_patches": np.stack(self.patches) if k else np.zeros((0, PATCH_H, PATCH_W, 3), np.uint8),
            "lib_landmarks": np.stack(self.landmarks) if k else np.zeros((0, 68, 2), np.float32),
            "lib_features": np.asarray(self.features, np.float64).reshape(k, 4),
            "lib_sharpness": np.asarray(self.sharpness, np.float64),
            "lib_frames": np.asarray(self.frames, np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays) -> "MouthLibrary":
        # read each array once: indexing an NpzFile re-reads (and re-checks) the whole array
        patches, landmarks = arrays["lib_patches"], arrays["lib_landmarks"]
        features, sharpness, frames = arrays["lib_features"], arrays["lib_sharpness"], arrays["lib_frames"]
        lib = cls()
        for i in range(len(frames)):
            feats = tuple(float(v) for v in features[i])
            lib._bins[_bin_key(feats)] = i
            lib.patches.append(patches[i])
            lib.landmarks.append(landmarks[i])
            lib.features.append(feats)
            lib.sharpness.append(float(sharpness[i]))
            lib.frames.append(int(frames[i]))
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
    cv2.fillPoly(mask, [np.round(np.asarray(lm, np.float64)[60:68]).astype(np.int32)], 1)
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


def _bin_key(feats) -> tuple[int, int, int]:
    return int(feats[0] / OPEN_BIN), int(feats[1] / WIDTH_BIN), int(round(feats[2] / YAW_BIN))


def warp_mouth(patch: np.ndarray, lm: np.ndarray, *, d_open: float, width_ratio: float = 1.0,
               colours: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Open (``d_open`` > 0) or close the mouth of a canonical ``patch`` by ``d_open`` canonical
    pixels and scale its width by ``width_ratio``: the landmark-driven warp used for stills and
    where the library has no mouth shaped as asked.

    patch [shape=(PATCH_H, PATCH_W, 3)] uint8; lm [shape=(68, 2)] its landmarks (patch pixels).
    """
    import cv2
    if abs(d_open) < 0.5 and abs(width_ratio - 1.0) < 0.02:
        return patch
    h, w = patch.shape[:2]
    lm = np.asarray(lm, np.float32)
    cx = float((lm[48, 0] + lm[54, 0]) / 2)
    half = max(float(lm[54, 0] - lm[48, 0]) / 2, 4.0)
    seam = float(lm[60:68, 1].mean())
    chin = float(lm[8, 1])
    nose = float(lm[33, 1])
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    inner_half = max(float(lm[64, 0] - lm[60, 0]) / 2, 2.0)
    wx = _lens(xs, float((lm[60, 0] + lm[64, 0]) / 2), inner_half)  # lips part most at the centre
    below = _smoothstep((ys - seam) / 3.0 + 0.5) * (1 - _smoothstep((ys - chin) / (0.25 * (chin - seam) + 1)))
    above = _smoothstep((ys - nose) / max(seam - nose, 1.0)) * (1 - _smoothstep((ys - seam) / 3.0 + 0.5))
    dy = d_open * wx * (below - 0.15 * above)
    shrink = (1.0 - width_ratio) * wx * (1 - _smoothstep(np.abs(ys - seam) / max(chin - seam, 1.0)))
    map_x = (xs + (xs - cx) * shrink / max(width_ratio, 0.5)).astype(np.float32) + np.zeros_like(dy)
    map_y = (ys - dy).astype(np.float32) + np.zeros_like(map_x)
    out = cv2.remap(patch, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if d_open > 0.5:
        out = _paint_cavity(out, lm, cx=cx, half=half, d_open=d_open, width_ratio=width_ratio,
                            colours=colours or (CAVITY_BGR, TEETH_BGR))
    return out


def _lens(x, cx: float, half: float):
    """Opening profile across the mouth: 1 at the centre, 0 at the corners (a lens shape)."""
    return np.clip(1.0 - ((x - cx) / (half * 1.08)) ** 2, 0.0, 1.0) ** 0.75


def _smoothstep(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def interior_colours(lib: "MouthLibrary") -> tuple[np.ndarray, np.ndarray]:
    """Cavity and teeth colours (BGR) taken from the person's most open mouths, so painted
    mouth interiors match theirs; defaults when no mouth in the library is open."""
    import cv2
    order = np.argsort([-f[0] for f in lib.features])[:5]
    pixels = []
    for k in order:
        if lib.features[k][0] < 0.08:
            break
        mask = np.zeros(lib.patches[k].shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(lib.landmarks[k][60:68]).astype(np.int32)], 1)
        pixels.append(lib.patches[k][mask.astype(bool)])
    if not pixels or sum(len(p) for p in pixels) < 30:
        return CAVITY_BGR, TEETH_BGR
    px = np.concatenate(pixels).astype(np.float32)
    luma = px @ np.array([0.114, 0.587, 0.299], np.float32)
    dark = px[luma <= np.percentile(luma, 25)].mean(0)
    bright = px[luma >= np.percentile(luma, 92)].mean(0)
    teeth = bright if bright @ np.array([0.114, 0.587, 0.299]) > 120 else TEETH_BGR
    return dark, teeth


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
    teeth = 0.75 * _smoothstep((0.28 - t) / 0.12) * min(1.0, d_open / 10.0)
    shade = (1.0 - 0.4 * _smoothstep((t - 0.3) / 0.6))[..., None]
    colour = cavity * shade + teeth[..., None] * (teeth_bgr - cavity * shade)
    out = img.astype(np.float32)
    out = out + mask[..., None] * (colour - out)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)