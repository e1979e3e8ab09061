"""The iBUG 68-point face layout (300-W) and the mouth measures taken on it: the one table of
landmark indices and the one mouth-opening measure every module uses.

Points are pixel coordinates ``[..., 68, 2]`` (one face or a track of them); the measures return
``[...]`` (one value per face). Layout source: Sagonas et al., "300 Faces in-the-Wild Challenge",
2013 (the 68-point markup of iBUG; 0-based indices here).
"""
from __future__ import annotations

import numpy as np

JAW = np.arange(0, 17)
CHIN = np.arange(5, 12)            # the part of the jaw line that drops when the mouth opens
LEFT_BROW = np.arange(17, 22)
RIGHT_BROW = np.arange(22, 27)
NOSE_BRIDGE = np.arange(27, 31)
NOSE_BOTTOM = np.arange(31, 36)
NOSE = np.arange(27, 36)
NOSE_TIP = 30
LEFT_EYE = np.arange(36, 42)       # 36 outer corner, 39 inner corner
RIGHT_EYE = np.arange(42, 48)      # 42 inner corner, 45 outer corner
OUTER_LIPS = np.arange(48, 60)     # 48 / 54 mouth corners, 51 top, 57 bottom
INNER_LIPS = np.arange(60, 68)     # 60 / 64 inner corners
MOUTH = np.arange(48, 68)
# Inner-lip pairs (upper, lower) across the opening: 61-67, 62-66, 63-65.
INNER_LIP_PAIRS = np.array([[61, 67], [62, 66], [63, 65]])
MOUTH_CORNERS = np.array([48, 54])
EYE_OUTER_CORNERS = np.array([36, 45])   # inter-ocular distance of the 300-W benchmark
N_POINTS = 68


def inner_lip_gap(points: np.ndarray) -> np.ndarray:
    """[...] the mouth opening in pixels: mean distance of the inner-lip pairs 61-67, 62-66, 63-65."""
    pts = np.asarray(points, dtype=np.float64)
    return np.linalg.norm(pts[..., INNER_LIP_PAIRS[:, 0], :] - pts[..., INNER_LIP_PAIRS[:, 1], :], axis=-1).mean(-1)


def corner_width(points: np.ndarray) -> np.ndarray:
    """[...] mouth-corner distance (48-54) in pixels."""
    pts = np.asarray(points, dtype=np.float64)
    return np.linalg.norm(pts[..., MOUTH_CORNERS[1], :] - pts[..., MOUTH_CORNERS[0], :], axis=-1)


def inter_ocular(points: np.ndarray) -> np.ndarray:
    """[...] outer eye-corner distance (36-45) in pixels: the 300-W normaliser."""
    pts = np.asarray(points, dtype=np.float64)
    return np.linalg.norm(pts[..., EYE_OUTER_CORNERS[1], :] - pts[..., EYE_OUTER_CORNERS[0], :], axis=-1)


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """([..., 2], [..., 2]) the mean of each eye's six points."""
    pts = np.asarray(points, dtype=np.float64)
    return pts[..., LEFT_EYE, :].mean(-2), pts[..., RIGHT_EYE, :].mean(-2)


def eye_centre_distance(points: np.ndarray) -> np.ndarray:
    """[...] distance of the eye centres in pixels (about 0.7 x :func:`inter_ocular`)."""
    left, right = eye_centres(points)
    return np.linalg.norm(right - left, axis=-1)
