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


def mouth_features(lm: np.ndarray) -> tuple[float, float, float]:
    """(opening, width, yaw) of 68-point landmarks, in units of the eye-centre distance."""
    lm = np.asarray(lm, dtype=np.float64)
    left, right = eye_centres(lm)
    dist = max(float(np.hypot(*(right - left))), 1e-6)
    opening = float(np.mean([np.hypot(*(lm[a] - lm[b])) for a, b in INNER_PAIRS])) / dist
    width = float(np.hypot(*(lm[54] - lm[48]))) / dist
    canon = apply(to_canonical(lm), lm[30:31])[0]
    return opening, width, float(canon[0] / CANON_EYE_DIST)


def patch_origin_matrix() -> np.ndarray:
    """Translation from canonical coordinates to patch pixel coordinates."""
    return np.array([[1.0, 0.0, -PATCH_X[0] * CANON_EYE_DIST], [0.0, 1.0, -PATCH_Y[0] * CANON_EYE_DIST]])


@dataclass
class MouthLibrary:
    """Mouth images [shape=(K, PATCH_H, PATCH_W, 3)] uint8 with their canonical landmarks
    [shape=(K, 68, 2)] (patch pixel coordinates), features [shape=(K, 3)] (open, width, yaw),
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
        key = (int(feats[0] / OPEN_BIN), int(feats[1] / WIDTH_BIN), int(round(feats[2] / YAW_BIN)))
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
            "lib_features": np.asarray(self.features, np.float32).reshape(k, 3),
            "lib_sharpness": np.asarray(self.sharpness, np.float32),
            "lib_frames": np.asarray(self.frames, np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays) -> "MouthLibrary":
        lib = cls()
        for i in range(len(arrays["lib_frames"])):
            lib.patches.append(arrays["lib_patches"][i])
            lib.landmarks.append(arrays["lib_landmarks"][i])
            lib.features.append(tuple(float(v) for v in arrays["lib_features"][i]))
            lib.sharpness.append(float(arrays["lib_sharpness"][i]))
            lib.frames.append(int(arrays["lib_frames"][i]))
        return lib


def warp_mouth(patch: np.ndarray, lm: np.ndarray, *, d_open: float, width_ratio: float = 1.0) -> np.ndarray:
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
    wx = np.exp(-(((xs - cx) / (half * 1.05)) ** 4))                         # flat over the lips
    below = _smoothstep((ys - seam) / 3.0 + 0.5) * (1 - _smoothstep((ys - chin) / (0.25 * (chin - seam) + 1)))
    above = _smoothstep((ys - nose) / max(seam - nose, 1.0)) * (1 - _smoothstep((ys - seam) / 3.0 + 0.5))
    dy = d_open * wx * (below - 0.15 * above)
    shrink = (1.0 - width_ratio) * wx * (1 - _smoothstep(np.abs(ys - seam) / max(chin - seam, 1.0)))
    map_x = (xs + (xs - cx) * shrink / max(width_ratio, 0.5)).astype(np.float32) + np.zeros_like(dy)
    map_y = (ys - dy).astype(np.float32) + np.zeros_like(map_x)
    out = cv2.remap(patch, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if d_open > 0.5:
        out = _paint_cavity(out, lm, cx=cx, half=half, d_open=d_open, width_ratio=width_ratio)
    return out


def _smoothstep(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


# Mouth interior colours (BGR): a dark, warm cavity with a hint of upper teeth.
CAVITY_BGR = np.array([38, 36, 70], np.float32)
TEETH_BGR = np.array([186, 190, 204], np.float32)


def _paint_cavity(img: np.ndarray, lm: np.ndarray, *, cx: float, half: float, d_open: float,
                  width_ratio: float) -> np.ndarray:
    """Fill the gap between the moved inner lips with a soft-edged mouth cavity."""
    import cv2
    def squeeze(p):
        return np.stack([cx + (p[:, 0] - cx) * width_ratio, p[:, 1]], 1)
    upper = squeeze(lm[[60, 61, 62, 63, 64]].astype(np.float32))
    lower = squeeze(lm[[64, 65, 66, 67, 60]].astype(np.float32))
    wx_u = np.exp(-(((upper[:, 0] - cx) / (half * 1.05)) ** 4))
    wx_l = np.exp(-(((lower[:, 0] - cx) / (half * 1.05)) ** 4))
    upper[:, 1] -= 0.15 * d_open * wx_u
    lower[:, 1] += d_open * wx_l
    poly = np.concatenate([upper, lower]).astype(np.float32)
    ss = 4  # supersampling for a smooth edge
    mask = np.zeros((img.shape[0] * ss, img.shape[1] * ss), np.uint8)
    cv2.fillPoly(mask, [np.round(poly * ss).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    mask = cv2.resize(mask, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    mask = cv2.GaussianBlur(mask, (0, 0), 0.8)
    top = float(upper[:, 1].min())
    gap = max(float(lower[:, 1].max()) - top, 1.0)
    ys = (np.arange(img.shape[0], dtype=np.float32)[:, None] - top) / gap
    teeth = np.clip(1.0 - ys / 0.28, 0, 1) * min(1.0, d_open / 10.0)   # upper teeth show once open
    colour = CAVITY_BGR + teeth[..., None] * (TEETH_BGR - CAVITY_BGR)
    out = img.astype(np.float32)
    out = out + mask[..., None] * (colour - out)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
