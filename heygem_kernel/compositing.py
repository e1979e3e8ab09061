"""Blend new mouth pixels into a frame: feathered elliptical mask, colour matched, no box.

The mask is an ellipse in the face's own frame (rotated with the eye line) centred a little
below the lips, so it covers the lips, the mouth cavity and the part of the chin that moves
when the jaw opens, and fades to zero well before the nose and the jaw outline. On a head
turned to three-quarter view the ellipse reaches past the cheek into the background, which must
stay as recorded: the mask is also multiplied by the patch's own ``alpha`` (where the backend's
pixels are the person's face: the reuse backend's library mouths), or, for a patch without one,
clipped to the frame's face outline (:func:`face_alpha`). Everything outside the mask keeps the
input's pixels exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backends.base import MouthPatch
from .face68 import LEFT_EYE, MOUTH_CORNERS, OUTER_LIPS, RIGHT_EYE
from .mouthlib import smoothstep

# iBUG-68 indices used here (the table: heygem_kernel.face68)
MOUTH_LEFT, MOUTH_RIGHT = (int(i) for i in MOUTH_CORNERS)

# Ellipse geometry in units of the mouth width w (measured on real faces: the chin's lowest
# point sits ~0.9 w below the lip centre, the nose base ~0.45 w above it).
MASK_CENTER_DOWN = 0.22   # centre shift towards the chin
MASK_HALF_WIDTH = 0.75    # semi-axis along the eye line
MASK_HALF_HEIGHT = 0.68   # semi-axis across it
# A patch without its own alpha is blended only inside the frame's face outline (the convex hull
# of the 68 landmarks), fading to zero at the outline over this fraction of the ellipse's
# half-width. On faces towards the camera the ellipse stays inside the outline (<= 5% of its
# weight outside, at the chin, on the shared clips); on a three-quarter view 20-37% of it lay
# over the background (fetched interview / TED / lectern clips).
FACE_EDGE = 0.25
COLOR_SHIFT_LIMIT = 40.0  # never shift a channel by more than this (8-bit levels)


@dataclass(frozen=True)
class MaskGeometry:
    """Ellipse of the mouth mask in frame pixels."""

    cx: float
    cy: float
    half_w: float
    half_h: float
    angle: float  # radians, rotation of the eye line

    def bbox(self, height: int, width: int) -> tuple[int, int, int, int]:
        r = max(self.half_w, self.half_h) + 2
        x0, y0 = max(0, int(self.cx - r)), max(0, int(self.cy - r))
        x1, y1 = min(width, int(np.ceil(self.cx + r)) + 1), min(height, int(np.ceil(self.cy + r)) + 1)
        return x0, y0, x1, y1

    def outline(self, n: int = 48) -> np.ndarray:
        """Polygon [shape=(n, 2)] of the ellipse edge, for drawing."""
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        u, v = self.half_w * np.cos(t), self.half_h * np.sin(t)
        c, s = np.cos(self.angle), np.sin(self.angle)
        return np.stack([self.cx + c * u - s * v, self.cy + s * u + c * v], axis=1).astype(np.float32)


def mask_geometry(landmarks: np.ndarray, *, scale: float = 1.0) -> MaskGeometry:
    """Mouth-mask ellipse from 68-point ``landmarks`` [shape=(68, 2)]."""
    pts = np.asarray(landmarks, dtype=np.float64)
    eye_l, eye_r = pts[LEFT_EYE].mean(0), pts[RIGHT_EYE].mean(0)
    angle = float(np.arctan2(eye_r[1] - eye_l[1], eye_r[0] - eye_l[0]))
    width = float(np.linalg.norm(pts[MOUTH_RIGHT] - pts[MOUTH_LEFT]))
    # guard against a degenerate mouth (profile views): never smaller than 40% of the eye distance
    width = max(width, 0.4 * float(np.linalg.norm(eye_r - eye_l)), 4.0)
    down = np.array([-np.sin(angle), np.cos(angle)])
    centre = pts[OUTER_LIPS].mean(0) + down * MASK_CENTER_DOWN * width
    return MaskGeometry(float(centre[0]), float(centre[1]), MASK_HALF_WIDTH * width * scale,
                        MASK_HALF_HEIGHT * width * scale, angle)


def mask_alpha(geom: MaskGeometry, box: tuple[int, int, int, int], *, feather: float) -> np.ndarray:
    """Soft mask [shape=(y1-y0, x1-x0)] float32 in [0, 1] over ``box`` = (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    xs = np.arange(x0, x1, dtype=np.float32) - geom.cx
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] - geom.cy
    c, s = np.cos(geom.angle), np.sin(geom.angle)
    u = (c * xs + s * ys) / geom.half_w
    v = (-s * xs + c * ys) / geom.half_h
    r = np.sqrt(u * u + v * v)
    f = float(np.clip(feather, 0.02, 0.95))
    return smoothstep((1.0 - r) / f).astype(np.float32)


def face_alpha(landmarks: np.ndarray, box: tuple[int, int, int, int], *, width: float) -> np.ndarray:
    """Soft face mask [shape=(y1-y0, x1-x0)] float32 over ``box`` = (x0, y0, x1, y1): 1 inside
    the convex hull of ``landmarks`` [shape=(68, 2)] (pixels), 0 outside it, rising over
    ``width`` pixels inside the outline. All ones when the landmarks span no area."""
    import cv2
    x0, y0, x1, y1 = box
    pad = int(np.ceil(width)) + 1  # the outline within ``width`` of the box is drawn too
    pts = (np.asarray(landmarks, np.float64) - [x0 - pad, y0 - pad]) * 4     # quarter pixels
    hull = cv2.convexHull(np.round(pts).astype(np.int32))
    if cv2.contourArea(hull) < 16 * 16:                                       # < 16 px^2: no outline
        return np.ones((y1 - y0, x1 - x0), np.float32)
    inside = np.zeros((y1 - y0 + 2 * pad, x1 - x0 + 2 * pad), np.uint8)
    cv2.fillConvexPoly(inside, hull, 1, lineType=cv2.LINE_8, shift=2)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 3)[pad:-pad, pad:-pad]
    return smoothstep(dist / max(float(width), 1.0)).astype(np.float32)


def composite(frame: np.ndarray, landmarks: np.ndarray, patch: MouthPatch, *, mask_scale: float = 1.0,
              feather: float = 0.35, color_match: bool = True, inplace: bool = False) -> np.ndarray:
    """Blend ``patch`` into ``frame`` [shape=(H, W, 3)] uint8 inside the feathered mouth mask.

    Returns a new frame (or ``frame`` itself, changed, with ``inplace``: saves a full-frame copy
    per frame in the pipeline); pixels outside the mask, and where ``patch.alpha`` is 0 (without
    one: outside the face's outline, :func:`face_alpha`), are the input's, bit for bit.
    """
    out = frame if inplace else frame.copy()
    height, width = frame.shape[:2]
    geom = mask_geometry(landmarks, scale=mask_scale)
    mx0, my0, mx1, my1 = geom.bbox(height, width)
    ph, pw = patch.image.shape[:2]
    x0, y0 = max(mx0, patch.x0), max(my0, patch.y0)
    x1, y1 = min(mx1, patch.x0 + pw), min(my1, patch.y0 + ph)
    if x1 <= x0 or y1 <= y0:
        return out
    alpha = mask_alpha(geom, (x0, y0, x1, y1), feather=feather)
    if patch.alpha is None:
        alpha *= face_alpha(landmarks, (x0, y0, x1, y1), width=FACE_EDGE * geom.half_w)
    else:   # the backend says which pixels are the person's face: its lowered jaw may pass the frame's outline
        alpha *= patch.alpha[y0 - patch.y0:y1 - patch.y0, x0 - patch.x0:x1 - patch.x0]
    dst = out[y0:y1, x0:x1].astype(np.float32)
    src = patch.image[y0 - patch.y0:y1 - patch.y0, x0 - patch.x0:x1 - patch.x0].astype(np.float32)
    if color_match:
        src = match_colour(src, dst, alpha)
    a = alpha[..., None]
    out[y0:y1, x0:x1] = np.clip(dst + a * (src - dst) + 0.5, 0, 255).astype(np.uint8)
    return out


def match_colour(src: np.ndarray, dst: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Shift ``src`` so its mean colour on the mask's soft rim equals ``dst``'s there.

    Only the rim (skin around the mouth) is compared: the mouth itself is what changes.
    """
    rim = (alpha > 0.02) & (alpha < 0.6)
    if rim.sum() < 16:
        return src
    shift = dst[rim].mean(0) - src[rim].mean(0)
    return src + np.clip(shift, -COLOR_SHIFT_LIMIT, COLOR_SHIFT_LIMIT)


def mouth_flicker(frames, track) -> float:
    """Mean absolute frame-to-frame change (8-bit levels) inside the mouth-mask box.

    frames [shape=(T, H, W, 3)] (or a list of frames) uint8; track a
    :class:`heygem_kernel.landmarks.FaceTrack` of the *recording* (the box follows the real
    mouth, so an output and its recording are measured in the same places). Compare an
    output's figure with its recording's: ~1x is as steady as the real mouth, more is flicker.
    """
    steps = []
    for i in range(1, min(len(frames), track.n_frames)):
        if track.valid[i]:
            x0, y0, x1, y1 = mask_geometry(track.landmarks[i]).bbox(*frames[i].shape[:2])
            steps.append(np.abs(frames[i][y0:y1, x0:x1].astype(int) - frames[i - 1][y0:y1, x0:x1].astype(int)).mean())
    return float(np.mean(steps)) if steps else float("nan")
