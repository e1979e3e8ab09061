"""Default backend "reuse": the person's own mouths, re-timed to the speech. No model weights.

For each output frame the speech asks for a mouth shape (``AudioFeatures.visemes``: opening,
spread, rounding in [0, 1]). That shape is mapped into this person's range of openings seen in
the video, the closest mouth of the :class:`~heygem_kernel.mouthlib.MouthLibrary` (same head
yaw preferred, and an interior that looks like the speaker's typical open mouth) is bent by the
landmark warp to the exact opening, aligned to the target frame by eyes and nose, and handed to
the compositor. A gap the warp opens is filled with real teeth and tongue: the chosen mouth's
own interior, or a donor mouth's when the chosen one is closed; targets never open wider than
the widest real mouth. A photo has one mouth: the warp does it all, onto an interior
synthesised from the person's own face (:func:`~heygem_kernel.mouthlib.synthetic_interior`)
when it is closed; when its lips part on teeth, those teeth open with the jaw, a cavity between
the rows (``InteriorSource.jaw``).
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .. import mouthlib
from ..compositing import face_alpha, mask_geometry
from ..errors import BackendError
from ..face68 import OUTER_LIPS
from .base import Backend, FrameBatch, JobContext, MouthPatch

# Selection cost scales (units of the eye distance D): how far apart two mouths may be in
# opening / width / yaw before they count as "one unit" different.
OPEN_SCALE, WIDTH_SCALE, YAW_SCALE, PITCH_SCALE = 0.03, 0.08, 0.10, 0.05
STICKINESS = 0.3            # keep the previous mouth unless another is this much better (no flicker)
# A library mouth whose own frame ends before this frame's lips do (a face cut by the frame's
# edge) costs this much: it has no pixels there, and the frame's own, differently timed, lips
# would show through (talking_590 cut at 340 px: 12% of the lips on 78 of 125 frames).
CUT_MOUTH_COST = 100.0
# Changing to a mouth that *looks* different (teeth showing vs a dark cavity, a different
# lip shine) costs ((mean abs difference of the two mouths) / APPEARANCE_SCALE)^2, so
# consecutive frames prefer similar-looking mouths and teeth do not blink on and off.
APPEARANCE_SCALE = 0.06
# Open mouths are also chosen by what they show inside: a library mouth whose interior (25th
# percentile grey inside the inner lips, 0-255) is this far from the speaker's typical interior
# (the median over every open-mouth frame of the video) costs one unit, like OPEN_SCALE of opening.
INTERIOR_SCALE = 20.0
# A person whose mouth barely moves in the video (or a photo) gets this opening range (D units):
# a relaxed speaking mouth opens its lips ~0.25-0.35 D (measured on the shared clips), from lips
# that meet (CLOSED_OPEN: the inner-lip gap of closed lips reads ~0-0.02 D), so a photo taken with
# parted lips still closes them for M/B/P and pauses (it stayed at least as open as the photo).
DEFAULT_OPEN_RANGE = 0.25
CLOSED_OPEN = 0.02
MIN_OPEN_RANGE = 0.08
# Largest opening change the warp may make (D units): small when the video offers real mouths
# (they look better than a painted cavity), large for a photo or a mouth that never opens.
MAX_WARP_VIDEO, MAX_WARP_STILL = 0.08, 0.30
# The viseme targets are already placed where real speakers' mouths are (visemes.real_timing,
# calibrated on six filmed in-sync clips, sync.CALIBRATION_CLIPS): no extra delay.
RENDER_DELAY_S = 0.0


class ReuseBackend(Backend):
    name = "reuse"
    needs_library = True
    options_used = frozenset()   # no weights, and the mouth is placed by landmarks, not a padded face box
    uses_device = False          # numpy and OpenCV on the CPU
    timing_from_visemes = True   # the mouth follows the viseme targets (speaker_timing applies)

    def __init__(self, **_: Any) -> None:
        self._prev: int | None = None

    def prepare(self, job: JobContext) -> None:
        super().prepare(job)
        lib = job.library
        if lib is None or len(lib) == 0:
            raise BackendError("the reuse backend found no usable mouth in the video (face turned away?)")
        self.feats = np.asarray(lib.features, np.float64)
        track_feats = np.array([mouthlib.mouth_features(lm) for lm in _valid_landmarks(job.track)])
        opens, widths = track_feats[:, 0], track_feats[:, 1]
        lo, hi = np.percentile(opens, 3), np.percentile(opens, 97)
        self.max_warp = MAX_WARP_VIDEO
        if hi - lo < MIN_OPEN_RANGE:  # a still, or a person who keeps the mouth shut
            lo = min(float(np.min(opens)), CLOSED_OPEN)
            hi = lo + DEFAULT_OPEN_RANGE
            self.max_warp = MAX_WARP_STILL
        self.interior = _interior_brightness(lib)
        real = self.feats[np.isfinite(self.interior), 0]
        if self.max_warp == MAX_WARP_VIDEO and real.size:
            hi = min(hi, float(real.max()))  # never open wider than a real mouth of this person
        typical = lib.typical_interior()
        if not np.isfinite(typical) and np.isfinite(self.interior).any():
            typical = float(np.nanmedian(self.interior))
        self.donor = _pick_donor(lib, self.feats, self.interior, typical)
        self.interior_cost = np.nan_to_num(((self.interior - typical) / INTERIOR_SCALE) ** 2)
        self.looks = _appearance_distances(lib)
        w_mid, w_span = float(np.median(widths)), max(float(np.ptp(np.percentile(widths, [5, 95]))), 0.08)
        vis = {k: _delayed(v, RENDER_DELAY_S * job.audio.fps) for k, v in job.audio.visemes.items()}
        self.target_open = lo + np.clip(vis["open"], 0, 1) * (hi - lo)
        spread = np.clip(vis["width"], 0, 1) - np.clip(vis["round"], 0, 1)
        self.target_width = w_mid + 0.5 * w_span * spread
        self._prev = None
        self._alphas: dict[int, np.ndarray] = {}
        # where each library mouth's own frame lies: its nose base (patch pixels) and patch -> frame
        self._nose = np.array([np.asarray(p, np.float64)[31:36].mean(0) for p in lib.landmarks]).reshape(-1, 2)
        self._back = np.full((len(lib), 2, 3), np.nan)   # NaN: not known (nothing is refused)
        for k, m in enumerate(lib.matrices[:len(lib)]):
            if m is not None:
                self._back[k] = mouthlib.invert(np.asarray(m, np.float64))

    def synthesize(self, batch: FrameBatch) -> list[MouthPatch | None]:
        return [None if lm is None else self._one(frame, lm, int(oi))
                for frame, lm, oi in zip(batch.frames, batch.landmarks, batch.out_index)]

    def replay(self, *, upto: int, landmarks) -> None:
        """The mouth choices of output frames [0, ``upto``) (no warping): which mouth a frame gets
        depends on the one before it (``STICKINESS``, ``APPEARANCE_SCALE``)."""
        for t in range(int(upto)):
            lm = landmarks(t)
            if lm is not None:
                self._choose(lm, t)

    def _choose(self, lm: np.ndarray, out_index: int) -> tuple[int, float, float]:
        """(library mouth, target opening, target width) of output frame ``out_index``; remembered
        as the previous choice."""
        t_open = float(self.target_open[min(out_index, len(self.target_open) - 1)])
        t_width = float(self.target_width[min(out_index, len(self.target_width) - 1)])
        _, _, yaw, pitch = mouthlib.mouth_features(lm)
        cost = (((self.feats[:, 0] - t_open) / OPEN_SCALE) ** 2
                + 0.5 * ((self.feats[:, 1] - t_width) / WIDTH_SCALE) ** 2
                + ((self.feats[:, 2] - yaw) / YAW_SCALE) ** 2
                + ((self.feats[:, 3] - pitch) / PITCH_SCALE) ** 2
                + self.interior_cost)
        cost = cost + np.where(self._frame_holds_mouth(lm), 0.0, CUT_MOUTH_COST)
        if self._prev is not None:
            cost = cost + (self.looks[self._prev] / APPEARANCE_SCALE) ** 2
        k = int(np.argmin(cost))
        if self._prev is not None and cost[self._prev] <= cost[k] + STICKINESS:
            k = self._prev
        self._prev = k
        return k, t_open, t_width

    def _one(self, frame: np.ndarray, lm: np.ndarray, out_index: int) -> MouthPatch:
        import cv2
        lib = self.job.library
        k, t_open, t_width = self._choose(lm, out_index)
        d_open = float(np.clip(t_open - self.feats[k, 0], -self.max_warp, self.max_warp)) * mouthlib.CANON_EYE_DIST
        ratio = float(np.clip(t_width / max(self.feats[k, 1], 1e-3), 0.85, 1.12))
        if self.feats[k, 0] >= mouthlib.OWN_INTERIOR_MIN:
            # a still's parted lips show teeth only: opened, the jaw carries the lower ones down
            source = mouthlib.InteriorSource(lib.patches[k], lib.landmarks[k],
                                             jaw=self.max_warp == MAX_WARP_STILL)
        else:
            if self.donor is None:  # no open mouth anywhere (a photo): build one from this face
                self.donor = mouthlib.synthetic_interior(
                    lib.patches[k], lib.landmarks[k], teeth_bgr=mouthlib.teeth_colour(frame, lm))
            source = self.donor
        patch = mouthlib.warp_mouth(lib.patches[k], lib.landmarks[k], d_open=d_open, width_ratio=ratio,
                                    interior=source)

        # patch pixels -> frame pixels, nose bases aligned (pitch differences move the mouth)
        to_patch = mouthlib.patch_origin_matrix(lib.shifts[k]) @ np.vstack([mouthlib.to_canonical(lm), [0, 0, 1]])
        target_nose = mouthlib.apply(to_patch, np.asarray(lm[31:36], np.float64)).mean(0)
        delta = target_nose - lib.landmarks[k][31:36].mean(0)
        to_frame = mouthlib.invert(to_patch)
        h, w = frame.shape[:2]
        x0, y0, x1, y1 = mask_geometry(lm, scale=self.job.options.mask_scale).bbox(h, w)
        m = to_frame.copy()
        m[:, 2] += to_frame[:, :2] @ delta - np.array([x0, y0])
        image = cv2.warpAffine(patch, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(self._own_pixels(k), m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return MouthPatch(image=image, x0=x0, y0=y0, alpha=alpha.astype(np.float32) / 255.0)

    def _frame_holds_mouth(self, lm: np.ndarray) -> np.ndarray:
        """[shape=(K,)] bool: library mouth k's own frame has pixels wherever this frame's lips
        (``lm`` [shape=(68, 2)]) will take them from (its patch beyond that frame's edge is
        given no alpha: a mouth cut by the frame's edge would leave this frame's lips showing)."""
        width, height = self.job.library.frame_size
        if not width:
            return np.ones(len(self._back), bool)
        canon = mouthlib.apply(mouthlib.to_canonical(lm), np.asarray(lm, np.float64))
        lips = canon[OUTER_LIPS] - canon[31:36].mean(0)     # relative to the nose base (the alignment)
        at = lips[None] + self._nose[:, None]               # [K, 12, 2] in each mouth's patch pixels
        src = np.einsum("kij,knj->kni", self._back[:, :, :2], at) + self._back[:, None, :, 2]
        inside = (src >= 0) & (src <= [width - 1, height - 1])
        return np.all(inside | np.isnan(src), axis=(1, 2))

    def _own_pixels(self, k: int) -> np.ndarray:
        """[shape=(PATCH_H, PATCH_W)] uint8 (255 = all): where library mouth ``k``'s patch shows
        the person's face - inside its landmarks' outline, inside its own borders and inside the
        frame it was cut from - the only pixels it may give."""
        alpha = self._alphas.get(k)
        if alpha is None:
            lib = self.job.library
            patch, lm = lib.patches[k], np.asarray(lib.landmarks[k], np.float64)
            h, w = patch.shape[:2]
            face = face_alpha(lm, (0, 0, w, h), width=FACE_EDGE_PX)
            inside = _inside_frame(lib.matrices[k] if k < len(lib.matrices) else None, lib.frame_size, (h, w))
            alpha = np.round(255.0 * _coverage((h, w)) * face * inside).astype(np.uint8)
            self._alphas[k] = alpha
        return alpha

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "weights": "none (re-uses the video's own mouths)"}


# A library patch's own pixels fade out over this many canonical pixels (0.06 D) at its edges and
# at the edges of the frame it was cut from (a face cut by the frame: the patch's rows there are
# copies of the frame's last row): beyond them the output keeps its own pixels rather than a
# smear. They also fade out at the outline of the face they were taken from, over FACE_EDGE_PX
# (the compositor's compositing.FACE_EDGE at a typical mouth width of 0.85 D): on a turned head
# the patch holds background there (the fetched interview clip's dark wall stripes came in as a
# wedge beside the lips). On a three-quarter view the lips are the outline, so the fade leaves
# the front of the frame's own lips in place; giving the library mouth's lips there as well was
# tried (2026-12-02) and dropped: where the two lip lines do not meet the output showed both (a
# doubled lip front) and the interview's lag-0 r fell from 0.37 to 0.28.
COVERAGE_EDGE_PX = 8
FACE_EDGE_PX = 20


def _inside_frame(matrix: np.ndarray | None, frame_size: tuple, shape: tuple[int, int]) -> np.ndarray:
    """[shape=shape] float32: 1 where a patch cut from a frame of ``frame_size`` (width, height)
    by ``matrix`` (2x3, frame -> patch pixels) shows that frame, 0 where it shows what
    BORDER_REPLICATE made up beyond the frame's edges (faded over COVERAGE_EDGE_PX). All ones
    without a matrix (a library from before they were kept)."""
    if matrix is None or not all(frame_size):
        return np.ones(shape, np.float32)
    h, w = shape
    back = mouthlib.invert(np.asarray(matrix, np.float64))            # patch -> frame pixels
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    fx = back[0, 0] * xs + back[0, 1] * ys + back[0, 2]
    fy = back[1, 0] * xs + back[1, 1] * ys + back[1, 2]
    width, height = frame_size
    edge = np.minimum(np.minimum(fx + 0.5, width - 0.5 - fx), np.minimum(fy + 0.5, height - 0.5 - fy))
    scale = float(np.sqrt(abs(np.linalg.det(np.asarray(matrix, np.float64)[:, :2]))))  # patch px per frame px
    return mouthlib.smoothstep(edge * scale / COVERAGE_EDGE_PX).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _coverage(shape: tuple[int, int]) -> np.ndarray:
    """[shape=shape] float32: 1 inside a patch, falling to 0 at its border over COVERAGE_EDGE_PX."""
    h, w = shape
    ys = np.minimum(np.arange(h), np.arange(h)[::-1])[:, None]
    xs = np.minimum(np.arange(w), np.arange(w)[::-1])[None, :]
    return mouthlib.smoothstep(np.minimum(ys, xs) / COVERAGE_EDGE_PX).astype(np.float32)


def _interior_brightness(lib) -> np.ndarray:
    """[shape=(K,)] 25th-percentile grey level (0-255) inside each library mouth's inner lips;
    NaN for mouths too closed to show an interior."""
    import cv2
    out = np.full(len(lib), np.nan)
    for k, (patch, lm) in enumerate(zip(lib.patches, lib.landmarks)):
        if lib.features[k][0] < mouthlib.OWN_INTERIOR_MIN:
            continue
        mask = mouthlib.inner_lip_mask(patch.shape[:2], lm)
        if mask.sum() >= 20:
            out[k] = np.percentile(cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY)[mask], 25)
    return out


def _pick_donor(lib, feats: np.ndarray, interior: np.ndarray,
                typical: float) -> "mouthlib.InteriorSource | None":
    """The library mouth whose interior fills gaps opened in closed mouths: among the more open
    mouths facing the camera, the one whose interior is most like the speaker's typical one."""
    ok = ~np.isnan(interior) & (np.abs(feats[:, 2] - np.median(feats[:, 2])) < 2 * YAW_SCALE)
    if not ok.any():
        return None
    ok &= feats[:, 0] >= np.percentile(feats[ok, 0], 50)
    k = int(np.argmin(np.where(ok, np.abs(interior - typical), np.inf)))
    return mouthlib.InteriorSource(lib.patches[k], lib.landmarks[k])


def _appearance_distances(lib) -> np.ndarray:
    """[shape=(K, K)] mean absolute difference (0..1) between the library's mouths, compared
    as small grey thumbnails of the lip region."""
    import cv2
    thumbs = []
    for patch, lm in zip(lib.patches, lib.landmarks):
        x0, y0 = np.floor(lm[OUTER_LIPS].min(0)).astype(int) - 4
        x1, y1 = np.ceil(lm[OUTER_LIPS].max(0)).astype(int) + 4
        crop = patch[max(y0, 0):y1, max(x0, 0):x1]
        grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.size else np.zeros((16, 32), np.uint8)
        thumbs.append(cv2.resize(grey, (32, 16), interpolation=cv2.INTER_AREA).astype(np.float32) / 255)
    flat = np.stack(thumbs).reshape(len(thumbs), -1)
    return np.abs(flat[:, None, :] - flat[None, :, :]).mean(-1)


def _delayed(track: np.ndarray, frames: float) -> np.ndarray:
    """``track`` [shape=(T,)] delayed by a fraction of a frame (linear interpolation)."""
    t = np.arange(len(track), dtype=np.float64) - frames
    return np.interp(t, np.arange(len(track)), np.asarray(track, np.float64))


def _valid_landmarks(track) -> np.ndarray:
    return np.asarray(track.landmarks)[np.asarray(track.valid, bool)]
