"""Measuring loop joins on the frames (benchmarks/bench_loops.py, tests/test_loops.py).

* :func:`off_mouth_steps`: the output's frame-to-frame change away from the mouth (a jump cut
  shows as a step much larger than the footage's own).
* :func:`ghosting`: edge energy of the head (above the nose) lost in a mixed frame: two offset
  images mixed show every edge twice at part contrast (0.5 lost at a 50/50 mix), one image
  keeps it (~0). :func:`natural_ghosting` is the footage's own yardstick (motion blur).
* :func:`join_figures`: both, per join of a plan.
"""
from __future__ import annotations

import numpy as np

def lower_face_box(landmarks: np.ndarray | None, *, width: int, height: int) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) pixel box that the mouth re-render may touch: nose tip (33) to chin (8),
    jaw width (points 2-14), padded by 15% of that width; None without landmarks."""
    if landmarks is None or not np.all(np.isfinite(landmarks)):
        return None
    x0, x1 = float(landmarks[2:15, 0].min()), float(landmarks[2:15, 0].max())
    y0, y1 = float(landmarks[33, 1]), float(landmarks[8, 1])
    pad = 0.15 * (x1 - x0)
    return (max(0, int(x0 - pad)), max(0, int(y0 - pad)), min(width, int(np.ceil(x1 + pad)) + 1),
            min(height, int(np.ceil(y1 + pad)) + 1))


def off_mouth_steps(frames, landmarks) -> np.ndarray:
    """[shape=(T-1,)] mean absolute grey-level change (0..255) between consecutive frames,
    outside the lower-face boxes (:func:`lower_face_box`) of both; streams, two frames held.

    frames    iterable of [shape=(H, W, 3)] uint8 BGR
    landmarks iterable of [shape=(68, 2)] or None, one per frame
    """
    import cv2
    steps: list[float] = []
    prev = prev_box = None
    for frame, lm in zip(frames, landmarks):
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.int16)
        box = lower_face_box(lm, width=grey.shape[1], height=grey.shape[0])
        if prev is not None:
            keep = np.ones(grey.shape, bool)
            for b in (box, prev_box):
                if b is not None:
                    keep[b[1]:b[3], b[0]:b[2]] = False
            steps.append(float(np.abs(grey - prev)[keep].mean()))
        prev, prev_box = grey, box
    return np.asarray(steps, np.float64)


def upper_head_box(landmarks: np.ndarray | None, *, width: int, height: int) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) pixel box of the head above the nose tip (eyes, glasses, brows, hair:
    where a doubled image shows and the mouth re-render never reaches): jaw width padded 25%
    each side, from half a face width above the brows down to the nose tip (33); None without
    landmarks."""
    if landmarks is None or not np.all(np.isfinite(landmarks)):
        return None
    x0, x1 = float(landmarks[0:17, 0].min()), float(landmarks[0:17, 0].max())
    fw = x1 - x0
    y0, y1 = float(landmarks[17:27, 1].min()) - 0.5 * fw, float(landmarks[33, 1])
    box = (max(0, int(x0 - 0.25 * fw)), max(0, int(y0)), min(width, int(np.ceil(x1 + 0.25 * fw))),
           min(height, int(np.ceil(y1))))
    return box if box[2] - box[0] >= 8 and box[3] - box[1] >= 8 else None


SHARP_WIDTH = 128        # sharpness is measured on the head box shrunk to 128 px wide (noise averaged out)


def sharpness(frame: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Mean squared Sobel gradient (grey levels^2) of ``frame``'s ``box``, shrunk to ``SHARP_WIDTH``.
    A plain cross-fade of two offset images halves it at w = 0.5 (each edge kept at half
    contrast, twice); an aligned mix keeps it."""
    import cv2
    x0, y0, x1, y1 = box
    crop = frame[y0:y1, x0:x1]
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    h = max(8, round(grey.shape[0] * SHARP_WIDTH / grey.shape[1]))
    grey = cv2.resize(grey, (SHARP_WIDTH, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.mean(gx * gx + gy * gy))


def ghosting(out: np.ndarray, a: np.ndarray, b: np.ndarray, w: float, box: tuple[int, int, int, int]) -> float:
    """Edge energy the mix ``out`` of ``a`` and ``b`` (weight ``w`` of ``b``) lost in ``box``:
    1 - sharpness(out) / ((1 - w) sharpness(a) + w sharpness(b)). ~0 for one image, up to 0.5
    for a fully doubled one at w = 0.5."""
    ref = (1.0 - w) * sharpness(a, box) + w * sharpness(b, box)
    return 1.0 - sharpness(out, box) / max(ref, 1e-6)


def natural_ghosting(frames: list, landmarks: list) -> np.ndarray:
    """[shape=(N-2,)] the footage's own sharpness dips, 1 - S(k) / mean(S(k-1), S(k+1)) on frame
    k's head box (motion blur, focus): the yardstick for :func:`ghosting` at the joins."""
    out = []
    for k in range(1, len(frames) - 1):
        box = upper_head_box(landmarks[k], width=frames[k].shape[1], height=frames[k].shape[0])
        if box is None:
            continue
        ref = 0.5 * (sharpness(frames[k - 1], box) + sharpness(frames[k + 1], box))
        out.append(1.0 - sharpness(frames[k], box) / max(ref, 1e-6))
    return np.asarray(out, np.float64)


def join_figures(plan: "LoopPlan", out_frames, source: list, track) -> list[dict]:
    """Per join of ``plan``: ``step``, the largest off-mouth step (:func:`off_mouth_steps`) of
    the output from the frame before the fade to the first frame after it, and ``ghost``, the
    largest :func:`ghosting` inside its fade; streams ``out_frames`` (the rendered output,
    [shape=(H, W, 3)] uint8 each), with ``source`` the source frames at the same size."""
    joins = list(plan.joins)
    windows = [(max(1, j.at), min(len(plan) - 1, j.at + j.fade)) for j in joins]   # steps t-1 -> t
    rows = [{"at": j.at, "from": j.src_from, "to": j.src_to, "fade": j.fade, "step": 0.0, "ghost": 0.0}
            for j in joins]
    prev = None
    lms = (plan.landmarks(track, t) for t in range(len(plan)))
    for t, (frame, lm) in enumerate(zip(out_frames, lms)):
        near = [k for k, (first, last) in enumerate(windows) if first <= t <= last]
        if near and prev is not None:
            step = float(off_mouth_steps([prev[0], frame], [prev[1], lm])[0])
            a, b, w = plan.frame_sources(t)
            box = upper_head_box(lm, width=frame.shape[1], height=frame.shape[0])
            ghost = ghosting(frame, source[a], source[b], w, box) if b >= 0 and box is not None else 0.0
            for k in near:
                rows[k]["step"] = max(rows[k]["step"], step)
                rows[k]["ghost"] = max(rows[k]["ghost"], ghost)
        prev = (frame, lm)
    return rows
