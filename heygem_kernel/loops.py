"""Loop planning: which source frame each output frame shows when the speech outlasts the footage.

A *plan* maps output frame ``t`` to a source frame (and, across a join, a second source frame
and a blend weight). It is only indices: the frames themselves still stream through
:class:`heygem_kernel.media.FrameSource`.

* ``seamless`` (default): a "video texture" (Schoedl et al., SIGGRAPH 2000). The footage is
  played forward in segments joined where a later frame looks like an earlier one: frames are
  compared by a small grey thumbnail (:func:`descriptor`, computed in the analysis pass and
  cached with the face track) with the lower face masked out (the mouth is re-rendered
  anyway), by the rigid face landmarks (head position and pose) and by eye openness. Each join
  is a short cross-fade, scored by simulating it on the thumbnails and the landmarks so that
  no step of the output is larger than the footage's own ordinary frame step, and no join
  fades an open eye into a blink. The two frames of a fade are first warped to their
  in-between pose by optical flow (:func:`~heygem_kernel.loop_morph.morph_frames`), so a head that moved between them
  slides over instead of showing twice (``LoopPlan.blend``). Segments last at least
  ``MIN_SEGMENT_S`` (footage under 4 s: a share of it, ``SHORT_SEGMENT``). A beam search over
  join sequences prefers joins in pauses of the speech (low loudness envelope) and penalises
  each reuse of the same join, so the loop does not beat at a fixed period where the footage
  offers alternatives.
  A natural step of the footage much larger than its ordinary step (a jerk, a frame the
  camera dropped) is played with in-between blends, one output frame longer.
* ``pingpong``: forward, backward, forward ... (:func:`pingpong_plan`).

Plans are deterministic given the footage descriptors, the track, the length and the envelope.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InputError
from .i18n import Text
from .loop_morph import focus_box, morph_frames, shrink

LOOP_MODES = ("seamless", "pingpong")

THUMB_SIZE = 32                # descriptor: 32x32 grey thumbnail, 1 KiB a frame (60 s at 25 fps: 1.5 MB)
# Footage steps: "ordinary" is the 95th percentile of the clip's own frame-to-frame change.
STEP_PERCENTILE = 95
# Smoothness tiers, in ordinary steps: the plan is built with the lowest limit that works; at a
# limit L no join's simulated step exceeds L (acceptance: the output's largest step <= 1.5x).
STEP_LIMITS = (1.1, 1.2, 1.3, 1.4, 1.5, 1.75, 2.0, 2.5)
FADES_S = (0.24, 0.48)         # cross-fade lengths tried at each join (6 or 12 frames at 25 fps)
MIN_JUMP_S = 1.0               # a join skips at least 1 s (shorter jumps read as a stutter)
BLEND_ABOVE = 1.2              # natural steps above 1.2 ordinary steps get in-between blends (whatever the tier)
CUT_STEP = 8.0                 # ... up to this: a larger one is a cut (an edit, a title card) and plays as cut;
                               # blending it (talking_524 after 1 s of black: 70 ordinary steps) inserted 89
                               # frames, a 3.6 s dissolve that stretched the clip's first 36 frames over 5 s
                               # (the shared clips' largest natural steps: 1.4-2.0)
MIN_SEGMENT_S = (2.0, 1.6)     # seconds between joins, tried in turn: 2 s allows <= 1 backward step per 50 frames
MAX_BACKWARD = 0.02            # ... and a plan with more than 2% backward steps is not taken
MIN_LOOP_S = 1.2               # shorter footage is played forth and back (below, a segment, a jump and a
                               # fade leave the loop beating faster than the speech's own phrases)
SHORT_SEGMENT = (0.5, 0.35)    # footage under 4 s: segments of at least half of it, else 0.35 (not
SHORT_JUMP = 0.3               # MIN_SEGMENT_S), and jumps of at least 0.3 of it (not MIN_JUMP_S): a 2 s clip
                               # loops forward, a join every >= 0.7 s, where ping-pong played half of it backwards
MAX_CANDIDATES = 2000          # joins kept per fade length after the coarse search (simulated exactly)
PER_SOURCE_FRAME = 6           # ... at most this many leaving each source frame (spread over the clip)
MAX_SEARCH_FRAMES = 2000       # longer footage loops within its first 2000 frames (matrices <= 16 MB each)
W_PAUSE = 2.0                  # join score: + 2 x mean loudness (0..1) across its fade: prefer pauses
W_REPEAT = 1.0                 # + 1 per earlier use of the same join (within half a second)
BEAM = 16                      # join sequences kept by the search ...
BRANCH = 6                     # ... each grown by its best next joins
JITTER = 0.15                  # + deterministic noise in [0, 0.15): varied, reproducible choices
GHOST_FLOOR = 0.03             # head offsets under 3% of the eye distance (~2-3 px) do not show in a fade
MORPH_GAIN = 4.0               # a head offset shows ~4x less through the aligned morph than in a plain
                               # fade (bench_loops --joins: ghosting 0.33 -> 0.08 on the same joins), so
                               # it costs a quarter; the head's speed through the fade is simulated instead
EYE_UNIT = 0.05                # eye openness (aspect ratio, ~0.3 open, ~0.1 shut) mismatch costing one
                               # ordinary step: an open eye faded into a blink (0.15-0.2) costs >= 3,
                               # above every tier: no flow can align an eyelid that is there and not there
# Landmarks that carry head position and pose only (jaw sides, brows, nose, eyes), not speech.
RIGID_POINTS = np.r_[0:5, 12:17, 17:48]
EYE_POINTS = ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47))   # corners 0 and 3, lids 1, 2 / 5, 4
RECORD_SHOWN = 20              # segments and joins listed in full in a plan's record (LoopPlan.to_dict);
                               # past that, counts, and every join as [output frame, kind]


def check_mode(mode: str) -> None:
    """Raise :class:`~heygem_kernel.errors.InputError` unless ``mode`` is one of ``LOOP_MODES``."""
    if mode not in LOOP_MODES:
        raise InputError("--loop must be one of {choices}, got {value}", choices=", ".join(LOOP_MODES),
                         value=repr(mode))


PRESHRINK_MARGIN = 4    # the exact pre-shrink keeps >= 4 source pixels per thumbnail pixel


def descriptor(frame: np.ndarray) -> np.ndarray:
    """A frame's loop descriptor: [shape=(32, 32)] uint8 grey thumbnail (area-averaged)."""
    import cv2
    # Averaging a 1080p frame straight down to 32 px takes OpenCV's slow fractional-area path
    # (~4 ms); an exact integer-factor shrink first (fast path), then the rest, ~1.5 ms.
    grey = shrink(frame, THUMB_SIZE * PRESHRINK_MARGIN)
    grey = cv2.cvtColor(grey, cv2.COLOR_BGR2GRAY) if grey.ndim == 3 else grey
    return cv2.resize(grey, (THUMB_SIZE, THUMB_SIZE), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class Join:
    """One join: after source frame ``src_from`` the output cross-fades over ``fade`` frames into
    ``src_to`` (the fade starts at output frame ``at``). ``cost``: the fade's worst simulated
    step in units of the footage's ordinary (95th-percentile) step."""

    at: int
    src_from: int
    src_to: int
    fade: int
    cost: float


@dataclass(frozen=True, eq=False)
class LoopPlan:
    """Source frames of ``n_out`` output frames.

    mode      "seamless" | "pingpong" | "trim" (footage long enough) | "still" (a photo)
    src       [shape=(n_out,)] int32 source frame shown (the heavier one inside a cross-fade)
    blend_src [shape=(n_out,)] int32 the other frame of a cross-fade, -1 outside fades
    blend_w   [shape=(n_out,)] float32 weight of ``blend_src`` in [0, 1]
    joins     the joins, in output order
    blend     how two frames are mixed (:meth:`compose`): "morph" (aligned by optical flow,
              then faded) or "fade" (a plain cross-fade: a moving head shows twice)
    focus     (x0, y0, x1, y1) in 0..1 of the frame: the part the morph aligns (the head and
              shoulders wherever they go in the clip, :func:`~heygem_kernel.loop_morph.focus_box`); None: the whole frame
    note      one line on a fallback (photo, short clip, no join found), else None
    """

    mode: str
    src: np.ndarray = field(repr=False)
    blend_src: np.ndarray = field(repr=False)
    blend_w: np.ndarray = field(repr=False)
    fps: float = 25.0
    joins: tuple[Join, ...] = ()
    note: str | None = None
    stats: dict = field(default_factory=dict)
    blend: str = "morph"
    focus: tuple[float, float, float, float] | None = None

    def __len__(self) -> int:
        return int(self.src.shape[0])

    @property
    def n_out(self) -> int:
        return len(self)

    @property
    def max_source(self) -> int:
        """Highest source frame the plan reads (-1 for an empty plan)."""
        if not len(self):
            return -1
        return int(max(self.src.max(), self.blend_src.max()))

    def frame_sources(self, t: int) -> tuple[int, int, float]:
        """(source frame A, source frame B or -1, weight of B) of output frame ``t``."""
        b = int(self.blend_src[t])
        if b < 0:
            return int(self.src[t]), -1, 0.0
        w = float(self.blend_w[t])
        return (int(self.src[t]), b, w)

    def compose(self, a: np.ndarray, b: np.ndarray, w: float, *, out: np.ndarray | None = None) -> np.ndarray:
        """Output frame mixing source frames ``a`` and ``b`` [shape=(H, W, 3)] uint8 with weight
        ``w`` of ``b`` (see :func:`~heygem_kernel.loop_morph.morph_frames`), written into ``out``
        (which may be ``a``: no frame is allocated) or a new array."""
        if self.blend == "fade" or w <= 0.0:
            import cv2
            return cv2.addWeighted(a, 1.0 - w, b, w, 0.0, dst=out)
        return morph_frames(a, b, w, focus=self.focus, out=out)

    def landmarks(self, track, t: int) -> np.ndarray | None:
        """Landmarks [shape=(68, 2)] of output frame ``t`` (blended inside a cross-fade), or None."""
        a, b, w = self.frame_sources(t)
        if not track.valid[a]:
            return None
        if b < 0 or not track.valid[b]:
            return track.landmarks[a]
        return ((1.0 - w) * track.landmarks[a] + w * track.landmarks[b]).astype(np.float32)

    def backward_steps(self) -> int:
        """Output frames whose (primary) source frame is earlier than the previous one's."""
        return int(np.count_nonzero(np.diff(self.src.astype(np.int64)) < 0))

    def backward_fraction(self) -> float:
        """:meth:`backward_steps` / output frames (ping-pong: ~0.5 once past the first pass)."""
        return self.backward_steps() / max(1, len(self))

    def segments(self) -> list[tuple[int, int, int, int]]:
        """Runs of the output that step through the source one frame at a time, forward or
        backward, or hold one frame (a photo: one run however long the speech):
        ``(out_first, out_last, src_first, src_last)``, inclusive."""
        if not len(self):
            return []
        d = np.diff(self.src.astype(np.int64))
        out: list[tuple[int, int, int, int]] = []
        start, step = 0, None
        for t in range(1, len(self)):
            s = int(d[t - 1])
            if s == 0 and max(self.blend_src[t], self.blend_src[t - 1]) >= 0:   # an in-between blend: same run
                continue
            if s in (1, -1, 0) and step in (None, s):
                step = s
                continue
            out.append((start, t - 1, int(self.src[start]), int(self.src[t - 1])))
            start, step = t, (None if s not in (1, -1) else None)
        out.append((start, len(self) - 1, int(self.src[start]), int(self.src[-1])))
        return out

    def to_dict(self) -> dict[str, Any]:
        """The plan for ``result.json`` (and a batch's manifest): mode, note, source ranges and
        joins (times in s), its size bounded by the number of *different* joins, not by the
        speech's length (a 2 s clip under 8 min of speech joins ~460 times over ~12 kinds).

        ``segments`` and ``joins`` list the first ``RECORD_SHOWN`` in full, ``segments_total`` and
        ``joins_total`` count them all. Past ``RECORD_SHOWN`` joins, every join is also named:
        ``join_kinds`` [{from, to, fade, cost, uses}] (each different join once, in order of first
        use) and ``joins_at``, one line: ``"AT:KIND AT:KIND ..."``, the output frame where each join's
        fade starts and its index into ``join_kinds`` (a line, not a list: ``result.json`` is
        indented, and a list of pairs took ~50 bytes a join there)."""
        segs = self.segments()
        record = {
            "mode": self.mode, "note": self.note, "n_out": len(self), "fps": self.fps,
            # a note with numbers keeps its template and values: a batch report shows it in the reader's language
            **({"note_i18n": {"template": self.note.msgid, "values": self.note.values}}
               if isinstance(self.note, Text) and self.note.values else {}),
            "backward_steps": self.backward_steps(), "backward_fraction": round(self.backward_fraction(), 4),
            "segments": [{"out": [a, b], "src": [c, d], "start_s": round(a / self.fps, 3),
                          **({"held": True} if c == d and b > a else {})} for a, b, c, d in segs[:RECORD_SHOWN]],
            "segments_total": len(segs),
            "blend": self.blend, "focus": None if self.focus is None else [round(v, 4) for v in self.focus],
            "joins": [{"at": j.at, "at_s": round(j.at / self.fps, 3), "from": j.src_from, "to": j.src_to,
                       "fade": j.fade, "cost": round(j.cost, 3)} for j in self.joins[:RECORD_SHOWN]],
            "joins_total": len(self.joins),
            **{k: v for k, v in self.stats.items()},
        }
        if len(self.joins) > RECORD_SHOWN:
            kinds: dict[tuple[int, int, int], int] = {}
            table: list[dict[str, Any]] = []
            at = []
            for j in self.joins:
                k = kinds.setdefault((j.src_from, j.src_to, j.fade), len(kinds))
                if k == len(table):
                    table.append({"from": j.src_from, "to": j.src_to, "fade": j.fade, "cost": round(j.cost, 3),
                                  "uses": 0})
                table[k]["uses"] += 1
                at.append(f"{j.at}:{k}")
            record.update(join_kinds=table, joins_at=" ".join(at))
        return record

    def summary(self) -> str:
        """One line for the log: mode, joins, source ranges (at most 8 shown)."""
        if self.mode == "still":   # every frame is the one picture: no ranges to list
            return f"loop: still, {len(self)} frames of one picture" + (f" ({self.note})" if self.note else "")
        segs = self.segments()
        ranges = ", ".join(f"{c}-{d}" for _, _, c, d in segs[:8]) + (" ..." if len(segs) > 8 else "")
        head = f"loop: {self.mode}, {len(self)} frames from source {ranges}"
        if self.mode == "seamless":
            head += f"; {len(self.joins)} joins at " + ", ".join(f"{j.at / self.fps:.1f}s" for j in self.joins[:8])
            head += " ..." if len(self.joins) > 8 else ""
        return head + (f" ({self.note})" if self.note else "")


def _plan(mode: str, src: np.ndarray, *, fps: float, note: str | None = None, joins=(), blend=None,
          stats: dict | None = None, focus=None) -> LoopPlan:
    src = np.asarray(src, np.int32)
    if blend is None:
        blend = (np.full(src.shape, -1, np.int32), np.zeros(src.shape, np.float32))
    return LoopPlan(mode=mode, src=src, blend_src=blend[0], blend_w=blend[1], fps=float(fps),
                    joins=tuple(joins), note=note, stats=dict(stats or {}), focus=focus)


def pingpong_index(i: int, n: int) -> int:
    """Source frame of output frame ``i`` when looping ``n`` frames forth and back: 0..n-1, n-2..1, 0, ..."""
    if n <= 1:
        return 0
    r = i % (2 * (n - 1))
    return r if r < n else 2 * (n - 1) - r


def pingpong_plan(*, n_out: int, n_src: int, fps: float, note: str | None = None) -> LoopPlan:
    """Forward, backward, forward ... over ``n_src`` frames (a trim if the footage is long enough)."""
    t = np.arange(n_out)
    if n_out <= n_src:
        return _plan("trim", t, fps=fps, note=note)
    period = 2 * (n_src - 1)
    if period <= 0:
        return _plan("still", np.zeros(n_out), fps=fps, note=note)
    r = t % period
    return _plan("pingpong", np.where(r < n_src, r, period - r), fps=fps, note=note)


def still_plan(*, n_out: int, fps: float) -> LoopPlan:
    """A photo: every output frame shows frame 0."""
    return _plan("still", np.zeros(n_out), fps=fps, note=Text("a photo: nothing to loop, the one frame is repeated"))


# ---------------------------------------------------------------------------------------------
def plan_loop(*, n_out: int, fps: float, mode: str = "seamless", thumbs: np.ndarray | None = None,
              landmarks: np.ndarray | None = None, valid: np.ndarray | None = None,
              envelope: np.ndarray | None = None, frame_size: tuple[int, int] | None = None,
              is_image: bool = False, n_src: int | None = None) -> LoopPlan:
    """Plan ``n_out`` output frames over the footage.

    thumbs    [shape=(N, 32, 32)] uint8 :func:`descriptor` of every source frame
    landmarks [shape=(N, 68, 2)] float32 face track (NaN rows where ``valid`` is False)
    valid     [shape=(N,)] bool
    envelope  [shape=(n_out,)] speech loudness in [0, 1] per output frame (None: no preference)
    frame_size (width, height) in pixels of the frames the landmarks refer to
    n_src     number of source frames (default: ``len(thumbs)``)

    Footage at least as long as the speech is trimmed (``mode == "trim"``). Otherwise
    ``pingpong`` loops forth and back; ``seamless`` plans forward segments and joins and falls
    back to ping-pong, with a one-line ``note``, when the footage is a photo, is shorter than
    ``MIN_LOOP_S`` or allows no plan within the last of ``STEP_LIMITS``. Raises
    :class:`~heygem_kernel.errors.InputError` on an unknown mode.
    """
    check_mode(mode)
    n_out = int(n_out)
    if is_image:
        return still_plan(n_out=n_out, fps=fps)
    n = int(n_src if n_src is not None else len(thumbs))
    if n_out <= n or mode == "pingpong":
        return pingpong_plan(n_out=n_out, n_src=n, fps=fps)
    if n < MIN_LOOP_S * fps:
        return pingpong_plan(n_out=n_out, n_src=n, fps=fps,
                             note=Text("footage of {seconds:.1f} s is too short for seamless loops (needs "
                                       "{needed:g} s): ping-pong", seconds=n / fps, needed=MIN_LOOP_S))
    if thumbs is None or len(thumbs) < n:
        raise ValueError(f"seamless loops need the descriptors of all {n} source frames")
    n = min(n, MAX_SEARCH_FRAMES)   # long footage: loop within its first MAX_SEARCH_FRAMES frames
    span = n / fps
    graph = _JoinGraph.build(thumbs[:n], None if landmarks is None else landmarks[:n],
                             None if valid is None else valid[:n], fps=fps, frame_size=frame_size,
                             min_jump_s=min(MIN_JUMP_S, SHORT_JUMP * span))
    env = np.zeros(n_out, np.float32) if envelope is None else np.resize(np.asarray(envelope, np.float32), n_out)
    segment_tiers = sorted({min(s, SHORT_SEGMENT[0] * span) for s in MIN_SEGMENT_S}
                           | ({SHORT_SEGMENT[1] * span} if SHORT_SEGMENT[0] * span < MIN_SEGMENT_S[0] else set()),
                           reverse=True)
    for limit in STEP_LIMITS:
        for seconds in segment_tiers:
            min_seg = max(1, int(round(seconds * fps)))
            plan = graph.plan(n_out, env, limit=limit, min_seg=min_seg)
            # a join steps back once a segment: short footage's shorter segments step back more often
            if plan is not None and plan.backward_fraction() <= max(MAX_BACKWARD, 1.0 / min_seg):
                return plan
    return pingpong_plan(n_out=n_out, n_src=n, fps=fps,
                         note=Text("no seamless join found in {seconds:.1f} s of footage: ping-pong", seconds=n / fps))


def _lower_face_cells(landmarks: np.ndarray | None, valid: np.ndarray | None, n: int) -> np.ndarray:
    """[shape=(32, 32)] bool mask of the thumbnail cells to compare: all but the lower face
    (nose tip to chin, jaw width, padded 15%) wherever it is in the clip. ``landmarks`` are
    normalised to 0..1 of the frame."""
    keep = np.ones((THUMB_SIZE, THUMB_SIZE), bool)
    if landmarks is None or valid is None or not np.any(valid):
        return keep
    lm = landmarks[valid]
    x0, x1 = np.nanmin(lm[:, 2:15, 0]), np.nanmax(lm[:, 2:15, 0])
    y0, y1 = np.nanmin(lm[:, 33, 1]), np.nanmax(lm[:, 8, 1])
    pad = 0.15 * (x1 - x0)
    r0, r1 = int(np.floor((y0 - pad) * THUMB_SIZE)), int(np.ceil((y1 + pad) * THUMB_SIZE))
    c0, c1 = int(np.floor((x0 - pad) * THUMB_SIZE)), int(np.ceil((x1 + pad) * THUMB_SIZE))
    keep[max(0, r0):max(0, r1), max(0, c0):max(0, c1)] = False
    return keep


@dataclass
class _JoinGraph:
    """Candidate joins of one clip, scored; plans sequences over them."""

    n: int
    fps: float
    nat: np.ndarray               # [N-1] natural step k -> k+1, in ordinary steps
    joins: np.ndarray             # [J, 3] (i, j, fade): after pure frame i, fade into j over `fade` frames
    cost: np.ndarray              # [J] worst simulated step of the fade, in ordinary steps
    seed: int
    stats: dict
    focus: tuple[float, float, float, float] | None = None

    @classmethod
    def build(cls, thumbs: np.ndarray, landmarks: np.ndarray | None, valid: np.ndarray | None, *,
              fps: float, frame_size: tuple[int, int] | None, min_jump_s: float = MIN_JUMP_S) -> "_JoinGraph":
        n = len(thumbs)
        have_face = landmarks is not None and valid is not None and frame_size is not None and bool(np.any(valid))
        norm = landmarks / np.array(frame_size, np.float32) if have_face else None
        cells = _lower_face_cells(norm, valid, n)
        x = thumbs.reshape(n, -1)[:, cells.ravel()].astype(np.float32)
        # mean absolute grey difference, like the off-mouth step it predicts (r = 0.98 at full size)
        nat = np.abs(np.diff(x, axis=0)).mean(axis=1)                 # nat[k]: step k -> k+1
        ordinary = max(float(np.percentile(nat, STEP_PERCENTILE)), 0.25)  # 0.25 grey: a still clip
        head = _HeadCosts.build(landmarks, valid) if have_face else None
        found = [_candidate_joins(x, head, ordinary, fade=max(2, int(round(f * fps))),
                                  min_jump=max(2, int(round(min_jump_s * fps)))) for f in FADES_S]
        joins = np.concatenate([f[0] for f in found])
        cost = np.concatenate([f[1] for f in found])
        seed = zlib.crc32(np.ascontiguousarray(thumbs[:, ::4, ::4]).tobytes()) ^ n
        stats = {"ordinary_step": round(ordinary, 3), "candidate_joins": int(len(joins))}
        focus = focus_box(landmarks, valid, frame_size=frame_size) if have_face else None
        return cls(n=n, fps=fps, nat=nat / ordinary, joins=joins, cost=cost, seed=seed, stats=stats, focus=focus)

    # -----------------------------------------------------------------------------------------
    def plan(self, n_out: int, env: np.ndarray, *, limit: float, min_seg: int) -> LoopPlan | None:
        """A plan whose joins all stay within ``limit`` and whose segments last at least
        ``min_seg`` source frames (but the last), or None. A natural step larger than
        ``BLEND_ABOVE`` (a jerk, a frame the camera dropped) is played with in-between blends.

        Beam search over join sequences: each join scores its cost + ``W_PAUSE`` x the speech
        loudness across its fade + ``W_REPEAT`` x its earlier uses + deterministic jitter; the
        sequence with the lowest total wins (fewer, smoother joins, in pauses, varied)."""
        ok = self.cost <= limit
        joins, cost = self.joins[ok], self.cost[ok]
        if not len(joins):
            return None
        resume = joins[:, 1] + joins[:, 2]                  # first pure frame after the fade
        live = self._live(joins, resume, min_seg)
        if self.n < n_out and not live[0]:
            return None
        blend_limit = min(limit, BLEND_ABOVE)
        extra = np.zeros(self.n, np.int64)                  # in-between blends before frame k
        extra[1:] = _blends(self.nat, blend_limit)
        ext_cum = np.concatenate([[0], np.cumsum(extra)])
        loud_cum = np.concatenate([[0.0], np.cumsum(env, dtype=np.float64)])
        rng = np.random.default_rng(self.seed ^ n_out)
        keys = [self._key(j) for j in joins]
        typical = float(np.median(cost)) + W_PAUSE * float(np.mean(env)) if len(env) else float(np.median(cost))
        beam: list[tuple[float, int, int, tuple, dict]] = [(0.0, 0, 0, (), {})]   # (score, t, p, path, uses)
        finished: list[tuple[float, tuple]] = []
        while beam:
            grown = []
            for score, t, p, path, uses in beam:
                left = n_out - t
                if self.n - p >= left:                      # the rest of the footage covers it
                    finished.append((score, path))
                    continue
                seg_len = joins[:, 0] - p + 1
                seg_out = seg_len + ext_cum[np.maximum(joins[:, 0] + 1, 0)] - ext_cum[min(p + 1, self.n)]
                onward = live[resume] | (self.n - resume >= left - seg_out - joins[:, 2])
                cand = (seg_len >= min_seg) & onward
                if not cand.any():   # only near the very end: a shorter last-but-one segment
                    cand = (seg_len >= 1) & onward
                idx = np.flatnonzero(cand)
                if not len(idx):
                    continue
                first = np.minimum(t + seg_out[idx], n_out)
                last = np.minimum(first + joins[idx, 2], n_out)
                loud = (loud_cum[last] - loud_cum[first]) / np.maximum(last - first, 1)
                local = cost[idx] + W_PAUSE * loud + JITTER * rng.random(len(idx))
                local += W_REPEAT * np.array([uses.get(keys[k], 0) for k in idx])
                for r in np.argsort(local, kind="stable")[:BRANCH]:
                    k = int(idx[r])
                    grown.append((score + float(local[r]), int(first[r] + joins[k, 2]), int(resume[k]),
                                  path + (k,), {**uses, keys[k]: uses.get(keys[k], 0) + 1}))
            # rank by the score so far plus the typical cost of the joins still to come
            grown.sort(key=lambda g: g[0] + typical * (n_out - g[1]) / max(1, self.n))
            beam = grown[:BEAM]
        if not finished:
            return None
        path = min(finished, key=lambda f: f[0])[1]
        out: list[tuple[int, int, float]] = []              # (frame A, frame B or -1, weight of B)
        out_joins: list[Join] = []
        self._inserted, p = 0, 0
        for k in path:
            i, j, fade = (int(v) for v in joins[k])
            self._play(out, p, i, blend_limit, n_out)
            if len(out) < n_out:
                out_joins.append(Join(at=len(out), src_from=i, src_to=j, fade=fade, cost=float(cost[k])))
            for q in range(fade):
                w = (q + 1) / (fade + 1)                    # weight of the new segment's frame
                out.append((i + 1 + q, j + q, w) if w < 0.5 else (j + q, i + 1 + q, 1.0 - w))
            p = j + fade
        self._play(out, p, self.n - 1, blend_limit, n_out)
        out = out[:n_out]
        src = np.array([o[0] for o in out], np.int32)
        bsrc = np.array([o[1] for o in out], np.int32)
        bw = np.array([o[2] for o in out], np.float32)
        stats = dict(self.stats, step_limit=limit, min_segment_s=round(min_seg / self.fps, 2),
                     inserted_frames=self._inserted)
        return _plan("seamless", src, fps=self.fps, joins=out_joins, blend=(bsrc, bw), stats=stats, focus=self.focus)

    def _play(self, out: list, first: int, last: int, limit: float, n_out: int) -> None:
        """Append source frames first..last; across a natural step larger than ``limit`` append
        ceil(step / limit) - 1 evenly weighted blends of its two frames first (none across a cut:
        ``CUT_STEP``)."""
        for k in range(first, last + 1):
            if len(out) >= n_out:
                return
            extra = int(_blends(self.nat[k - 1], limit)) if k > first else 0
            if extra:
                self._inserted += extra
                for e in range(extra):
                    w = (e + 1) / (extra + 1)
                    out.append((k - 1, k, w) if w < 0.5 else (k, k - 1, 1.0 - w))
            out.append((k, -1, 0.0))

    def _key(self, join: np.ndarray) -> tuple[int, int]:
        half = max(1, int(round(self.fps / 2)))
        return int(join[0]) // half, int(join[1]) // half

    def _live(self, joins: np.ndarray, resume: np.ndarray, min_seg: int) -> np.ndarray:
        """[N] bool: from this frame the plan can go on forever (a join at least ``min_seg``
        frames on lands on a frame that is itself live)."""
        live = np.ones(self.n, bool)
        for _ in range(self.n):
            usable = live[resume]
            last_i = int(joins[usable, 0].max()) if usable.any() else -1
            new = np.arange(self.n) + min_seg - 1 <= last_i
            if np.array_equal(new, live):
                break
            live = new
        return live


def _blends(nat: np.ndarray | float, limit: float) -> np.ndarray:
    """In-between blends played before a natural step of ``nat`` ordinary steps: enough to keep each
    within ``limit``; none above ``CUT_STEP`` (a cut stays a cut)."""
    nat = np.asarray(nat, np.float64)
    return np.where((nat > limit) & (nat <= CUT_STEP), np.ceil(nat / limit) - 1, 0).astype(np.int64)


def _rms_matrix(x: np.ndarray) -> np.ndarray:
    """[N, N] root-mean-square difference of the rows of ``x`` [shape=(N, D)]."""
    sq = np.einsum("ij,ij->i", x, x)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    return np.sqrt(np.maximum(d2, 0.0) / x.shape[1]).astype(np.float32)


def eye_openness(landmarks: np.ndarray) -> np.ndarray:
    """[shape=(N,)] mean eye aspect ratio of both eyes (lid gap / eye width; Soukupova & Cech
    2016) from 68-point landmarks [shape=(N, 68, 2)]: ~0.3 open, ~0.1 in a blink."""
    ratios = []
    for c0, l1, l2, c3, l4, l5 in EYE_POINTS:
        gap = np.linalg.norm(landmarks[:, l1] - landmarks[:, l5], axis=-1) + \
            np.linalg.norm(landmarks[:, l2] - landmarks[:, l4], axis=-1)
        ratios.append(gap / np.maximum(2.0 * np.linalg.norm(landmarks[:, c0] - landmarks[:, c3], axis=-1), 1e-6))
    return (0.5 * (ratios[0] + ratios[1])).astype(np.float32)


@dataclass
class _HeadCosts:
    """What the face track says about joining two frames.

    offset [N, N] rigid-landmark distance (pixels RMS per point) in ``unit``s: the head's pose
           difference (pairs where a face is missing are 0: the thumbnail decides there)
    eyes   [N, N] eye-openness difference in ``EYE_UNIT``s (0 where a face is missing)
    rigid  [N, P * 2] the rigid landmarks (0 where missing), to simulate the head's path
    unit   the track's ordinary (95th-percentile) step, at least ``GHOST_FLOOR`` x the eye
           distance for a head that hardly moves
    """

    offset: np.ndarray
    eyes: np.ndarray
    rigid: np.ndarray
    valid: np.ndarray
    unit: float

    @classmethod
    def build(cls, landmarks: np.ndarray, valid: np.ndarray) -> "_HeadCosts | None":
        pts = np.where(valid[:, None, None], landmarks[:, RIGID_POINTS], 0.0).astype(np.float32).reshape(len(valid), -1)
        d = _rms_matrix(pts) * np.float32(np.sqrt(2.0))   # per point, not per coordinate
        d[~valid] = 0.0
        d[:, ~valid] = 0.0
        steps = np.diag(d, 1)[valid[:-1] & valid[1:]]
        if not len(steps):
            return None
        eye_distance = np.linalg.norm(landmarks[valid, 36] - landmarks[valid, 45], axis=-1)
        unit = max(float(np.percentile(steps, STEP_PERCENTILE)), GHOST_FLOOR * float(np.median(eye_distance)), 1e-3)
        ear = np.where(valid, eye_openness(np.nan_to_num(landmarks)), 0.0).astype(np.float32)
        eyes = np.abs(ear[:, None] - ear[None, :]) / np.float32(EYE_UNIT)
        eyes[~valid] = 0.0
        eyes[:, ~valid] = 0.0
        return cls(offset=d / np.float32(unit), eyes=eyes, rigid=pts, valid=np.asarray(valid, bool), unit=unit)

    def path_step(self, i: int, j: int, fade: int) -> float:
        """Largest step (in ``unit``s) of the head along the morph i, (i+1 -> j), ..., (i+F -> j+F-1),
        j+F: how much faster than its ordinary pace the head slides to the new pose."""
        if not (self.valid[i:i + fade + 1].all() and self.valid[j:j + fade + 1].all()):
            return 0.0
        return _simulate(self.rigid, i, j, fade, norm="point") / self.unit


def _candidate_joins(x: np.ndarray, head: _HeadCosts | None, ordinary: float, *, fade: int,
                     min_jump: int) -> tuple[np.ndarray, np.ndarray]:
    """Joins (i, j, fade) [shape=(J, 3)] and their cost [shape=(J,)], in ordinary steps.

    Coarse: the mean over the fade window of the distance of frames i+1+q and j+q, q < fade
    (RMS thumbnail difference / its ordinary step, or the rigid-landmark distance if larger).
    Fine: the best ``PER_SOURCE_FRAME`` per frame i, at most ``MAX_CANDIDATES``, are
    cross-faded on the thumbnails and scored by the largest mean absolute step from frame i
    (pure) to frame j+fade (pure), or the landmark window mean (ghosting of the head) if larger.
    """
    n = len(x)
    m = n - fade                                    # i, j in [0, m): i+fade and j+fade exist
    if m < 2:
        return np.zeros((0, 3), np.int64), np.zeros(0, np.float32)
    d_rms = _rms_matrix(x)
    d_rms /= max(float(np.percentile(np.diag(d_rms, 1), STEP_PERCENTILE)), 1e-3)

    def window(c: np.ndarray) -> np.ndarray:        # w[i, j] = mean_q c[i+1+q, j+q]
        w = np.zeros((m, m), np.float32)
        for q in range(fade):
            w += c[1 + q:1 + q + m, q:q + m]
        return w / fade

    def window_max(c: np.ndarray) -> np.ndarray:  # w[i, j] = max_q c[i+1+q, j+q]
        w = np.zeros((m, m), np.float32)
        for q in range(fade):
            np.maximum(w, c[1 + q:1 + q + m, q:q + m], out=w)
        return w

    if head is not None:   # the pose offset as the morph shows it, and any eye mismatch in the fade
        win_lm = np.maximum(window(head.offset) / np.float32(MORPH_GAIN), window_max(head.eyes))
    else:
        win_lm = np.zeros((m, m), np.float32)
    coarse = np.maximum(window(d_rms), win_lm)
    del d_rms
    ar = np.arange(m)
    for off in range(-min_jump + 1, min_jump):       # too short a jump: a stutter, not a loop
        k = np.arange(max(0, -off), min(m, m - off))
        coarse[k, k + off] = np.inf
    per_row = min(PER_SOURCE_FRAME, m)
    cols = np.argpartition(coarse, per_row - 1, axis=1)[:, :per_row].ravel()   # best j per i
    rows = np.repeat(ar, per_row)
    score = coarse[rows, cols]
    keep = np.isfinite(score)
    rows, cols, score = rows[keep], cols[keep], score[keep]
    order = np.lexsort((cols, rows, score))[:MAX_CANDIDATES]                  # stable: deterministic
    if not len(order):
        return np.zeros((0, 3), np.int64), np.zeros(0, np.float32)
    pairs = np.stack([rows[order], cols[order], np.full(len(order), fade)], axis=1).astype(np.int64)
    sim = np.array([_simulate(x, a, b, fade) / ordinary for a, b, _ in pairs], np.float32)
    if head is not None:   # the head's pace along the morph
        sim = np.maximum(sim, np.array([head.path_step(a, b, fade) for a, b, _ in pairs], np.float32))
    return pairs, np.maximum(sim, win_lm[pairs[:, 0], pairs[:, 1]])


def _simulate(x: np.ndarray, i: int, j: int, fade: int, *, norm: str = "mean_abs") -> float:
    """Largest step of the output i, blend(i+1, j, 1/(F+1)), ..., blend(i+F, j+F-1, F/(F+1)), j+F
    over rows of ``x``: mean absolute difference ("mean_abs", thumbnails) or RMS distance of
    (x, y) points ("point", flattened landmarks)."""
    seq = [x[i]]
    for q in range(fade):
        w = (q + 1) / (fade + 1)
        seq.append((1.0 - w) * x[i + 1 + q] + w * x[j + q])
    seq.append(x[j + fade])
    d = np.diff(np.stack(seq), axis=0)
    if norm == "point":
        return float(np.sqrt((d * d).reshape(len(d), -1, 2).sum(axis=2).mean(axis=1)).max())
    return float(np.abs(d).mean(axis=1).max())
