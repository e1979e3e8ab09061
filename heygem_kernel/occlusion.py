"""Is the mouth visible? Frames where a hand, a microphone or another object covers it.

Face Mesh keeps reporting a face, with plausible lips, while a skin-coloured hand covers the
mouth and chin, so "a face was found" is not enough to paste a new mouth. Two pieces of
evidence per frame, judged against the person's *own* mouths in the same video:

* **lip contrast**: how much redder (CIELAB a*) the lips are than the skin around them. A real
  mouth is clearly redder; a hand or a microphone over both reads ~0 or negative.
* **appearance**: the lower face in a face-aligned grid (``GRID`` cells of CIELAB), compared
  with the nearest of the video's typical frames (the half closest to the median appearance,
  so a covering object, seen in a minority of frames, is not its own reference).

A frame is *covered* when its lip contrast falls below ``CONTRAST_RATIO`` x the video's median
(only where the median contrast is at least ``MIN_CONTRAST``: some faces have pale lips), or its
appearance distance exceeds ``APPEARANCE_RATIO`` x the median distance; decisions are then
cleaned over ``MIN_RUN_S`` (a hand stays longer than a frame). The pipeline passes covered
frames through untouched and lists them (``result.json``: ``frames_mouth_covered``,
``extra.mouth_covered``).

Calibration (``benchmarks/bench_occlusion.py``, first 150 frames of each shared clip; a
hand-shaped patch of the person's own cheek skin or of another person's forehead skin, or a dark
microphone, pasted over mouth and chin for frames 40-69). Thresholds tuned on talking_590 and
talking_524: clean contrast >= 0.61 x median, covered <= 0.30 x; clean appearance <= 2.85 x.
Held out: talking_vfr_700 (pale lips, median contrast ~2, so only the appearance test counts:
clean <= 2.89 x, covered >= 3.14 x) and portrait_1080x1920 (contrast: clean >= 0.73 x, covered
<= 0.27 x). All 16 cases: no false alarm, no covered frame missed. The appearance margin on
talking_vfr_700 is narrow (2.89 vs 3.0): a real clip with big pose changes may read a few
frames covered; the ``MIN_RUN_S`` cleaning drops isolated ones.

A looped or re-cut video holds the same moment several times: those copies are not references
(``COPY_RATIO``, ``MIN_NEAREST_RATIO``; inactive on the 16 cases above, whose figures are unchanged).
talking_590 looped 6 times to 30 s had read 313 of 900 frames covered; now none.
"""
from __future__ import annotations

import numpy as np

from . import mouthlib
from .face68 import INNER_LIPS, OUTER_LIPS, corner_width

# Lower face in the canonical frame (units of the eye-centre distance D, eye line y = 0): the
# lips sit ~1.1 D below the eye line and the chin ~1.6 D, so this box holds mouth and chin.
REGION_X = (-0.8, 0.8)
REGION_Y = (0.8, 1.9)
GRID = (20, 14)              # cells (x, y) of the appearance descriptor: 840 bytes per frame
CONTRAST_RATIO = 0.5         # covered below this x the median lip contrast ...
MIN_CONTRAST = 4.0           # ... when the median contrast (CIELAB a* units) is at least this
APPEARANCE_RATIO = 3.0       # covered above this x the median appearance distance
MIN_TYPICAL_DISTANCE = 1.0   # grid levels (0-255): the median distance is taken as at least this
MIN_RUN_S = 0.12             # covered/visible runs shorter than this are smoothed away (3 frames at 25 fps)
MIN_FRAMES = 10              # fewer frames with a face: too few of the person's own mouths to judge
MAX_REFERENCES = 256         # typical frames compared against (bounds the time on long videos)
# A typical frame closer to this one than COPY_RATIO x the median distance from the median appearance
# is the same moment again (a looped or re-cut video), not another of the person's mouths: with it,
# a clip looped 6 times (talking_590 at 1080p) read its nearest typical frame at 1.19 grid levels
# (its copies; 5.93 for one pass) and 313 of its 900 frames "covered". The nearest other moment
# sits at 0.82-0.94 x that median on the shared clips and 20 re-encodings of them (copies: 0.16 x
# median, 90 % below 0.27 x).
COPY_RATIO = 0.35
MIN_NEAREST_RATIO = 0.75     # below the shared clips' 0.83-0.94: not reached on them
NEIGHBOUR_GAP_S = 0.5        # a frame is not compared with its own neighbours
LOWER_FACE = np.r_[3:14, 31:36, 48:68]   # iBUG-68: jaw below the ears, nose base, lips


def describe(frame: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """Evidence of one frame [shape=(H, W, 3)] uint8 BGR with its 68 landmarks [shape=(68, 2)]:
    (appearance grid [shape=(GRID[1], GRID[0], 3)] uint8 CIELAB, lip contrast in a* units)."""
    import cv2
    lm = np.asarray(landmarks, np.float64)
    gw, gh = GRID
    span_x = (REGION_X[1] - REGION_X[0]) * mouthlib.CANON_EYE_DIST
    span_y = (REGION_Y[1] - REGION_Y[0]) * mouthlib.CANON_EYE_DIST
    to_grid = np.array([[gw / span_x, 0, -REGION_X[0] * gw / (REGION_X[1] - REGION_X[0])],
                        [0, gh / span_y, -REGION_Y[0] * gh / (REGION_Y[1] - REGION_Y[0])], [0, 0, 1]])
    matrix = (to_grid @ np.vstack([mouthlib.to_canonical(lm), [0, 0, 1]]))[:2]
    grid = cv2.warpAffine(frame, matrix, (gw, gh), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    return cv2.cvtColor(grid, cv2.COLOR_BGR2LAB), lip_contrast(frame, lm)


def lip_contrast(frame: np.ndarray, landmarks: np.ndarray) -> float:
    """Mean CIELAB a* (redness) of the lips minus that of the skin ring around them (NaN if degenerate)."""
    import cv2
    lm = np.asarray(landmarks, np.float32)
    h, w = frame.shape[:2]
    lower = lm[LOWER_FACE]                                 # only the lower face is read
    x0, y0 = int(max(0, lower[:, 0].min())), int(max(0, lower[:, 1].min()))
    x1, y1 = int(min(w, lower[:, 0].max() + 1)), int(min(h, lower[:, 1].max() + 1))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return float("nan")
    crop = frame[y0:y1, x0:x1]
    pts = lambda idx: np.round(lm[idx] - (x0, y0)).astype(np.int32)  # noqa: E731
    outer = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(outer, [pts(OUTER_LIPS)], 1)
    lips = outer.copy()
    cv2.fillPoly(lips, [pts(INNER_LIPS)], 0)              # lip tissue, not the mouth opening
    mouth_w = float(corner_width(lm))
    k = max(3, int(0.5 * mouth_w) | 1)
    # dilated only around the lips (their box + the kernel's reach): zero beyond it anyway, and the
    # lower face around it is several times larger (the same pixels; ~0.4 ms less per frame)
    ring = np.zeros_like(outer)
    ys, xs = np.nonzero(outer)
    if len(ys):
        r = k // 2
        ry0, ry1 = max(0, ys.min() - r), min(outer.shape[0], ys.max() + r + 1)
        rx0, rx1 = max(0, xs.min() - r), min(outer.shape[1], xs.max() + r + 1)
        ring[ry0:ry1, rx0:rx1] = cv2.dilate(outer[ry0:ry1, rx0:rx1],
                                            cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    face = np.zeros_like(outer)                             # below the nose, inside the jaw line
    cv2.fillPoly(face, [np.vstack([pts(slice(3, 14)), pts([35, 33, 31])])], 1)
    skin = (ring > 0) & (face > 0) & (outer == 0)
    if lips.sum() < 5 or skin.sum() < 5:
        return float("nan")
    a = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB)[..., 1].astype(np.float32)
    return float(a[lips > 0].mean() - a[skin > 0].mean())


def covered_frames(grids: np.ndarray, contrast: np.ndarray, valid: np.ndarray, *, fps: float) -> np.ndarray:
    """[shape=(N,)] bool: frames whose mouth is covered, from :func:`describe`'s evidence.

    grids [shape=(N, GRID[1], GRID[0], 3)] uint8, contrast [shape=(N,)] float (NaN: not measured),
    valid [shape=(N,)] bool (a face was found). Frames without a face are never "covered".
    """
    valid = np.asarray(valid, bool) & np.isfinite(contrast)
    covered = np.zeros(valid.shape[0], bool)
    idx = np.flatnonzero(valid)
    if idx.size < MIN_FRAMES:
        return covered
    flags = np.zeros(idx.size, bool)
    c = np.asarray(contrast, np.float64)[idx]
    median_c = float(np.median(c))
    if median_c >= MIN_CONTRAST:
        flags |= c < CONTRAST_RATIO * median_c
    flags |= _appearance_scores(np.asarray(grids)[idx], idx, fps) > APPEARANCE_RATIO
    covered[idx] = flags
    return _clean_runs(covered, valid, max(1, int(round(MIN_RUN_S * fps))))


def _appearance_scores(grids: np.ndarray, frames: np.ndarray, fps: float) -> np.ndarray:
    """Distance of each frame's grid to its nearest typical frame, / the median of those distances."""
    # each grid minus its own mean colour: a change of exposure or white balance is not a hand
    cells = grids.reshape(len(grids), -1, 3).astype(np.float32)
    desc = (cells - cells.mean(axis=1, keepdims=True)).reshape(len(grids), -1)
    to_median = np.abs(desc - np.median(desc, axis=0)).mean(axis=1)
    typical = np.flatnonzero(to_median <= np.median(to_median))
    if typical.size > MAX_REFERENCES:
        typical = typical[np.linspace(0, typical.size - 1, MAX_REFERENCES).round().astype(int)]
    gap = max(1, int(round(NEIGHBOUR_GAP_S * fps)))
    if np.ptp(frames) <= 2 * gap:
        # footage shorter than two gaps (a clip under ~1 s): the middle frames would have no far
        # frame and meet themselves (distance 0), which sank the median and made both ends read
        # covered (talking_590's first 0.6 s: 7 of 15 frames); a quarter of the footage apart instead
        gap = max(1, int(np.ptp(frames)) // 4)
    refs = desc[typical]
    copy = COPY_RATIO * float(np.median(to_median))
    scores = np.empty(len(desc))
    for i in range(len(desc)):
        far = np.abs(frames[typical] - frames[i]) > gap
        pool = refs[far] if far.any() else refs
        distance = np.abs(pool - desc[i]).mean(axis=1)
        other = distance[distance > copy]              # not this moment repeated
        scores[i] = other.min() if other.size else distance.min()
    # a mouth that never changes (a photo made into a video: median 0.20) has next to no ordinary
    # distance: its landmark jitter alone read 7x it, "covered"; the shared clips' medians are 1.84-5.93.
    # Copies the COPY_RATIO test lets through (a loop's farthest copies) still pull the median down:
    # it is taken as at least MIN_NEAREST_RATIO x the median distance from the median appearance
    typical_distance = max(float(np.median(scores)), MIN_NEAREST_RATIO * float(np.median(to_median)))
    return scores / max(typical_distance, MIN_TYPICAL_DISTANCE)


def _clean_runs(covered: np.ndarray, valid: np.ndarray, min_run: int) -> np.ndarray:
    """Fill visible gaps shorter than ``min_run`` frames inside a covered stretch, then drop
    covered runs shorter than that (isolated misreads)."""
    out = covered.copy()
    for a, b in spans(~out):                       # visible gaps [a, b]
        if a > 0 and b < out.size - 1 and b - a + 1 < min_run:
            out[a:b + 1] = True
    for a, b in spans(out):
        if b - a + 1 < min_run:
            out[a:b + 1] = False
    return out & valid


def spans(flags: np.ndarray) -> list[list[int]]:
    """Runs of True in ``flags`` [shape=(N,)] as [first, last] index pairs (inclusive)."""
    flags = np.asarray(flags, bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return [[int(a), int(b) - 1] for a, b in zip(edges[::2], edges[1::2])]


def drop_from_library(library: mouthlib.MouthLibrary, covered: np.ndarray) -> mouthlib.MouthLibrary:
    """The library without entries taken from covered frames (a hand is not one of the person's mouths)."""
    if library is None or not len(library) or not np.any(covered):
        return library
    arrays = library.to_arrays()
    keep = ~np.asarray(covered, bool)[np.clip(arrays["lib_frames"], 0, len(covered) - 1)]
    if keep.all():
        return library
    per_entry = ("lib_patches", "lib_landmarks", "lib_features", "lib_sharpness", "lib_frames", "lib_shifts", "lib_matrices")
    return mouthlib.MouthLibrary.from_arrays({k: v[keep] if k in per_entry else v for k, v in arrays.items()})
