"""Mixing two frames at a loop join (:mod:`heygem_kernel.loops`).

A plain cross-fade of two poses shows two heads (glasses, hair and ears doubled) for the whole
fade; warping both frames to the in-between pose first (the motion that optical flow finds
between them) shows one head moving from one pose to the other. The flow is OpenCV's DIS
(Kroeger et al., ECCV 2016) on small grey copies of the head-and-shoulders box of the clip.
"""
from __future__ import annotations

import threading

import numpy as np

FLOW_PRESET = "MEDIUM"   # OpenCV DIS preset
FLOW_SIDE = 192          # flow on grey frames shrunk to a 192 px longer side (DIS medium ~2 ms a pair; at 256
                         # px ~5 ms for the same ghosting, bench_loops --joins: 0.081 vs 0.086 on talking_524)
FLOW_SMOOTH = 0.005      # Gaussian sigma on the flow, x the longer side (~1 px at 192): removes the
                         # flow's speckle; more smoothing bends glasses that move unevenly (a turn)
FLOW_MAX = 0.08          # displacements clipped at 8% of the longer side: joins differ by a few
                         # pixels; anything larger is a flow error, better faded than smeared
FLOW_TAPER = 0.1         # the flow fades to 0 over the outer 10% of the focus box: no seam where the
                         # morph meets the plain fade of the (still) rest of the frame
SWITCH_LEVEL = 16.0      # grey levels: where the aligned frames still differ (what the flow could not
SWITCH_GAIN = 3.0        # align: a lens rim, a lock of hair) they are not shown both at once: the local
                         # weight is pushed away from 1/2 by SWITCH_GAIN x (difference / SWITCH_LEVEL), a
                         # switch near the middle of the fade instead of a double image. bench_loops
                         # --joins, 60 s, gain 0 / 2 / 3 / 4: worst ghosting 0.116 / 0.095 / 0.086 / 0.082
                         # (talking_524), 0.128 / 0.046 / 0.035 / 0.030 (talking_590); worst join step
                         # 1.05 / 1.22 / 1.29 / 1.34x (524): the switch is a quicker change, not two heads.
                         # Spreading the switch over >= 2 frames (slope capped at 3) brings the ghosting
                         # back (0.125 on both): it sits in the one or two frames nearest w = 1/2
FOCUS_PAD = (0.6, 0.9, 0.6, 0.6)   # focus: the face box grown by 0.6 face widths left and right, 0.9 face
                                   # heights up (hair), 0.6 down (neck, shoulders)
_FLOW = threading.local()          # a DIS instance and pixel grid per thread


def focus_box(landmarks: np.ndarray, valid: np.ndarray, *, frame_size: tuple[int, int]) -> tuple[float, ...] | None:
    """(x0, y0, x1, y1) in 0..1 of the frame: every valid frame's face box (landmarks
    [shape=(N, 68, 2)] pixels of a ``frame_size`` (width, height) frame) grown by ``FOCUS_PAD``,
    united; None without a face. The flow of a small face (a full-body shot) is found on this
    crop at ``FLOW_SIDE``, not on the whole frame where the face would be a few flow pixels."""
    if landmarks is None or valid is None or not np.any(valid):
        return None
    lm = landmarks[valid]
    x0, y0 = lm[..., 0].min(axis=1), lm[..., 1].min(axis=1)
    x1, y1 = lm[..., 0].max(axis=1), lm[..., 1].max(axis=1)
    fw, fh = x1 - x0, y1 - y0
    width, height = frame_size
    box = (float(np.min(x0 - FOCUS_PAD[0] * fw)) / width, float(np.min(y0 - FOCUS_PAD[1] * fh)) / height,
           float(np.max(x1 + FOCUS_PAD[2] * fw)) / width, float(np.max(y1 + FOCUS_PAD[3] * fh)) / height)
    return tuple(float(np.clip(v, 0.0, 1.0)) for v in box)


def join_flow(a: np.ndarray, b: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """[shape=(H, W, 2)] float32 optical flow (pixels) from frame ``a`` to ``b`` [shape=(H, W, 3)]
    uint8, ``a`` at p ~ ``b`` at p + flow(p): OpenCV DIS on grey copies shrunk to ``FLOW_SIDE``,
    smoothed, clipped, tapered to 0 at the border (``FLOW_TAPER``), enlarged (into ``out`` when given)."""
    import cv2
    h, w = a.shape[:2]
    scale = min(1.0, FLOW_SIDE / max(h, w))
    size = (max(16, round(w * scale)), max(16, round(h * scale)))
    grey = [cv2.cvtColor(cv2.resize(shrink(f, min(size)), size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
            for f in (a, b)]
    dis = getattr(_FLOW, "dis", None)
    if dis is None:
        _FLOW.dis = dis = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{FLOW_PRESET}"))
    flow = cv2.GaussianBlur(dis.calc(grey[0], grey[1], None), (0, 0), FLOW_SMOOTH * max(size))
    limit = FLOW_MAX * max(size)
    np.clip(flow, -limit, limit, out=flow)
    ramp = [np.clip(np.minimum(np.arange(n) + 0.5, n - 0.5 - np.arange(n)) / (FLOW_TAPER * n), 0.0, 1.0)
            for n in size]
    flow *= (ramp[1][:, None] * ramp[0][None, :]).astype(np.float32)[..., None]
    flow = cv2.resize(flow, (w, h), dst=out, interpolation=cv2.INTER_LINEAR)
    flow[..., 0] *= np.float32(w / size[0])
    flow[..., 1] *= np.float32(h / size[1])
    return flow


def _grid(width: int, height: int) -> np.ndarray:
    """[shape=(height, width, 2)] float32 (x, y) of every pixel (cached per thread and size)."""
    grid = getattr(_FLOW, "grid", None)
    if grid is None or grid.shape[:2] != (height, width):
        xs, ys = np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
        _FLOW.grid = grid = np.dstack(np.meshgrid(xs, ys))
    return grid


def _scratch(name: str, shape: tuple[int, ...], dtype=np.uint8) -> np.ndarray:
    """A per-thread buffer for one of a join's temporaries, re-used from one morphed frame to the
    next. Fresh ones (up to ~3 MB each for a 1080p focus box, many below glibc's mmap threshold)
    fragmented the heap: a 60 s looped 1080x1920 run's main heap grew ~60 MB, a 8 s one's not."""
    buffers = getattr(_FLOW, "scratch", None)
    if buffers is None:
        _FLOW.scratch = buffers = {}
    buf = buffers.get(name)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buffers[name] = buf = np.empty(shape, dtype)
    return buf


def morph_frames(a: np.ndarray, b: np.ndarray, w: float, *,
                 focus: tuple[float, float, float, float] | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Frames ``a`` and ``b`` [shape=(H, W, 3)] uint8 warped to the pose a fraction ``w`` of the
    way from ``a`` to ``b`` (:func:`join_flow`), then mixed with weight ``w`` of ``b``: one head
    moving between the two poses, where a plain cross-fade shows both. Where the warped frames
    still differ the local weight switches faster (``SWITCH_GAIN``). Only the ``focus`` box
    (0..1 of the frame, :func:`focus_box`; None: all) is warped; the rest is plainly faded.
    Written into ``out`` when given (same shape; it may be ``a`` or ``b`` itself), else a new array."""
    import cv2
    h, wd = a.shape[:2]
    x0, y0, x1, y1 = (0, 0, wd, h) if focus is None else (
        int(focus[0] * wd), int(focus[1] * h), int(np.ceil(focus[2] * wd)), int(np.ceil(focus[3] * h)))
    if min(x1 - x0, y1 - y0) < 16:
        return cv2.addWeighted(a, 1.0 - w, b, w, 0.0, dst=out)
    ca, cb = a[y0:y1, x0:x1], b[y0:y1, x0:x1]
    box = (y1 - y0, x1 - x0)
    flow, grid = join_flow(ca, cb, out=_scratch("flow", (*box, 2), np.float32)), _grid(x1 - x0, y1 - y0)
    where = _scratch("map", (*box, 2), np.float32)
    wa, wb = (cv2.remap(frame, cv2.scaleAdd(flow, shift, grid, dst=where), None, cv2.INTER_LINEAR,
                        dst=_scratch(name, (*box, 3)), borderMode=cv2.BORDER_REPLICATE)
              for frame, shift, name in ((ca, -w, "wa"), (cb, 1.0 - w, "wb")))
    out = cv2.addWeighted(a, 1.0 - w, b, w, 0.0, dst=out)   # after the warps: out may be a or b
    grey = cv2.cvtColor(cv2.absdiff(wa, wb, dst=_scratch("diff", (*box, 3))), cv2.COLOR_BGR2GRAY,
                        dst=_scratch("grey", box))
    differ = _scratch("differ", box, np.float32)
    np.copyto(differ, cv2.GaussianBlur(grey, (0, 0), 1.5, dst=_scratch("blurred", box)))
    # local weight of b: 0.5 + (w - 0.5) (1 + gain x difference / level), within 0..1
    local = cv2.addWeighted(differ, (w - 0.5) * SWITCH_GAIN / SWITCH_LEVEL, differ, 0.0, w,
                            dst=_scratch("local", box, np.float32))
    np.clip(local, 0.0, 1.0, out=local)
    out[y0:y1, x0:x1] = cv2.blendLinear(wa, wb, np.subtract(1.0, local, out=differ),   # (differ, diff: used)
                                        local, dst=_scratch("diff", (*box, 3)))
    return out


def shrink(frame: np.ndarray, side: int) -> np.ndarray:
    """``frame`` area-averaged by the largest integer factor that divides both sides and keeps
    the shorter side >= ``side`` (OpenCV's fast path; fractional area averaging is ~3x slower)."""
    import cv2
    h, w = frame.shape[:2]
    k = min(h, w) // side
    while k > 1 and (h % k or w % k):
        k -= 1
    return cv2.resize(frame, (w // k, h // k), interpolation=cv2.INTER_AREA) if k > 1 else frame
