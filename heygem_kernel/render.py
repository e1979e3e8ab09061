"""The render stage: decode -> synthesise -> composite -> encode, overlapped, memory bounded.

Each step is one small class, so changing one step's threading never touches the others::

    media.FrameSource   decode (ffmpeg + reader thread), the loop plan's frames     "decode"
    Synthesiser         the backend's new mouths, a batch ahead, on its own thread  "synthesise"
    Compositor          each new mouth blended into its frame (feathered mask)      "composite"
    job.enhancer        optional face restoration where a new mouth went in          "enhance"
    MouthMeter          the output's own mouth, measured for the sync check         "measure"
    Encoder             resize to the output size, H.264 + AAC (writer thread)      "encode"

At most ``INFLIGHT_BATCHES`` batches of ``options.batch_size`` frames are held, plus the
decoder's and encoder's small queues, so memory does not depend on the video's length.
The names in quotes are the keys of the busy times this stage adds to ``RunResult.timings``.
"""
from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from . import backends, compositing, media
from .options import RunOptions

if TYPE_CHECKING:
    from .pipeline import Job, Stopwatch

LOG = logging.getLogger("heygem")
INFLIGHT_BATCHES = 2    # one being synthesised while one is composited and written
LANDMARK_SAMPLES = 6    # frames kept for the landmark diagnostic plot


@dataclass
class Rendered:
    """What the render stage hands on: counts, the output's measured mouth, plot samples."""

    no_face: int
    mouth_open: np.ndarray           # [T] output mouth opening (NaN: no face, or not measured)
    mouth_width: np.ndarray          # [T] output mouth width (NaN: no face, or not measured)
    samples: list                    # [(out_index, frame, output landmarks, source landmarks)]
    enhanced: int = 0                # frames whose new mouth went through face restoration
    covered: list = field(default_factory=list)   # output frames passed through: mouth covered (occlusion.py)


def output_size(info: media.VideoInfo, options: RunOptions) -> tuple[int, int]:
    """(width, height) of the output: the input's, or scaled to ``options.out_height`` (even)."""
    if not options.out_height or options.out_height == info.height:
        return info.width, info.height
    h = int(options.out_height) // 2 * 2
    return max(2, int(round(info.width * h / info.height / 2)) * 2), h


def written_size(info: media.VideoInfo, options: RunOptions) -> tuple[int, int]:
    """(width, height) of the output file's frames: :func:`output_size`, except that an input with
    non-square pixels kept at its own size is written at its stored width with its pixel aspect
    (``VideoInfo.pixel_aspect``; PAL DV 720x576 at 16:15 is rendered at 768x576 and stored 720x576)."""
    size = output_size(info, options)
    if info.pixel_aspect and size == (info.width, info.height):
        return info.stored_width, info.height
    return size


def render(job: "Job") -> Rendered:
    """Decode the source frames the output needs, synthesise, composite, measure and encode them.

    Returns once every frame is handed to the encoder; ``job.encoder`` is then still finishing
    the last ones (x264's lookahead), so the caller can check sync and draw plots meanwhile and
    must :meth:`Encoder.close` it (or :meth:`Encoder.abort` on failure).
    """
    opts, track = job.options, job.analysis.track
    compositor = Compositor(opts)
    meter = (job.meter or make_meter(job)) if opts.sync_check else None
    samples = PlotSamples(job.n_out)
    no_face = enhanced = 0
    covered = job.analysis.covered             # [N_src] bool: the mouth is hidden, leave the frame alone
    hidden: list[int] = []

    def finish(synth: Synthesiser, encoder: Encoder) -> None:
        nonlocal no_face, enhanced
        batch, patches = synth.next()
        with job.watch("composite"):
            for out_i, src_i, frame, lm, patch in zip(batch.out_index, batch.src_index, batch.frames,
                                                      batch.landmarks, patches):
                if lm is None and is_covered(covered, src_i):
                    hidden.append(int(out_i))
                else:
                    no_face += lm is None
                compositor(frame, lm, patch)
        if job.enhancer is not None:  # face restoration, only where a new mouth went in
            with job.watch("enhance"):
                enhanced += job.enhancer.enhance(
                    batch.frames, [lm if p is not None else None for lm, p in zip(batch.landmarks, patches)],
                    mask_scale=opts.mask_scale, feather=opts.feather, color_match=opts.color_match)
        for i, src_i, frame, lm in zip(batch.out_index, batch.src_index, batch.frames, batch.landmarks):
            seen = None
            if meter is not None and not is_covered(covered, src_i):   # no mouth to measure under a hand
                with job.watch("measure"):
                    seen = meter.measure(int(i), frame, near=lm)
            samples.offer(int(i), frame, seen if seen is not None else lm, lm)
            encoder.write(frame)
        job.report("render", int(batch.out_index[-1]) + 1, job.n_out)

    batch_size = max(1, opts.batch_size)
    encoder = job.encoder = Encoder(job)
    with source_frames(job) as source, \
            Synthesiser(job.backend, track, plan=job.plan, watch=job.watch, covered=covered) as synth:
        pending: list = []
        for out_i, (src_i, frame) in enumerate(_timed(source, job.watch, "decode")):
            pending.append((out_i, src_i, frame))
            if len(pending) >= batch_size:
                job.check_cancel()
                synth.submit(pending)
                pending = []
                if synth.full():
                    finish(synth, encoder)
        if pending:
            synth.submit(pending)
        while synth.busy():
            job.check_cancel()
            finish(synth, encoder)
    if meter is not None:
        mouth_open, mouth_width = meter.result(job.n_out)
    else:
        mouth_open = mouth_width = np.full(job.n_out, np.nan, np.float32)
    return Rendered(no_face=no_face, mouth_open=mouth_open, mouth_width=mouth_width, samples=samples.kept,
                    enhanced=enhanced, covered=hidden)


def is_covered(covered: np.ndarray | None, src: int) -> bool:
    """Whether source frame ``src`` shows a face whose mouth is covered (see :mod:`heygem_kernel.occlusion`)."""
    return covered is not None and 0 <= int(src) < len(covered) and bool(covered[int(src)])


def source_frames(job: "Job") -> media.FrameSource:
    """The decode step: ``(source index, frame)`` for each of the ``job.n_out`` output frames,
    following the loop plan (:mod:`heygem_kernel.loops`)."""
    # the spool (up to 4 GiB for long loops) lives in the run's folder, not in a RAM-backed /tmp;
    # frames the face analysis decoded (job.decoded) are read back, not decoded again
    return media.FrameSource(job.info, n_out=job.n_out, plan=job.plan, account=job.watch.add,
                             spool_dir=job.run_dir, decoded=job.decoded)


def _timed(items, watch: "Stopwatch", name: str):
    """``items``, adding the time spent waiting for each one to ``watch[name]``."""
    it = iter(items)
    while True:
        with watch(name):
            item = next(it, _END)
        if item is _END:
            return
        yield item


_END = object()


class Synthesiser:
    """Runs ``backend.synthesize`` on a worker thread, at most ``INFLIGHT_BATCHES`` batches ahead.

    ``submit`` a list of ``(out_index, src_index, frame)``; ``next()`` returns the oldest batch
    with its patches (one :class:`~heygem_kernel.backends.MouthPatch` or None per frame).
    """

    def __init__(self, backend: backends.Backend, track, *, plan=None, watch: "Stopwatch",
                 covered: np.ndarray | None = None) -> None:
        self.backend, self.track, self.plan, self.watch = backend, track, plan, watch
        self.covered = covered
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="heygem-backend")
        self._inflight: deque[tuple[backends.FrameBatch, Future]] = deque()

    def submit(self, items: list[tuple[int, int, np.ndarray]]) -> None:
        src_idx = np.array([src for _, src, _ in items])
        if self.plan is not None:  # blended landmarks across the loop's cross-fades
            lms = [self.plan.landmarks(self.track, int(i)) for i, _, _ in items]
        else:
            lms = [self.track.landmarks[s] if self.track.valid[s] else None for s in src_idx]
        lms = [None if is_covered(self.covered, s) else lm for lm, s in zip(lms, src_idx)]  # mouth hidden
        batch = backends.FrameBatch(frames=[f for _, _, f in items], landmarks=lms,
                                    out_index=np.array([i for i, _, _ in items]), src_index=src_idx)
        self._inflight.append((batch, self._pool.submit(self._synthesize, batch)))

    def _synthesize(self, batch: backends.FrameBatch) -> list:
        with self.watch("synthesise"):
            return self.backend.synthesize(batch)

    def full(self) -> bool:
        return len(self._inflight) >= INFLIGHT_BATCHES

    def busy(self) -> bool:
        return bool(self._inflight)

    def next(self) -> tuple[backends.FrameBatch, list]:
        batch, future = self._inflight.popleft()
        return batch, future.result()

    def __enter__(self) -> "Synthesiser":
        return self

    def __exit__(self, *exc: object) -> None:
        for _, future in self._inflight:
            future.cancel()
        self._pool.shutdown(wait=True)


class Compositor:
    """Blends a backend's patch into its frame in place (``frame`` changes), inside the mouth mask.

    A frame without a face or without a patch passes through untouched.
    """

    def __init__(self, options: RunOptions) -> None:
        self.options = options

    def __call__(self, frame: np.ndarray, landmarks: np.ndarray | None, patch) -> np.ndarray:
        if landmarks is None or patch is None:
            return frame
        o = self.options
        return compositing.composite(frame, landmarks, patch, mask_scale=o.mask_scale, feather=o.feather,
                                     color_match=o.color_match, inplace=True)


def make_meter(job: "Job") -> "MouthMeter":
    """The sync check's meter for ``job`` (loads the detector's models: the pipeline makes it
    while the speech is still being analysed, off the critical path)."""
    return MouthMeter(options=job.options, size=(job.info.width, job.info.height), fps=job.info.fps)


class MouthMeter:
    """The output's own 68 points, measured on the composited frames with the run's detector.

    Its mouth track is what the sync check compares with the speech: measured on the output's
    pixels exactly as ``heygem sync OUTPUT`` measures a file, never taken from the backend.
    ``near`` (the landmarks the frame was composited with) only says where to look: the
    landmark model then fits the output's own face in that crop, so no full-frame detection is
    needed while the face stays there; where it finds none, the tracker searches the frame.
    """

    def __init__(self, *, options: RunOptions, size: tuple[int, int], fps: float | None = None) -> None:
        from . import landmarks
        self.size = size
        self.seen: dict[int, np.ndarray] = {}
        self.tracker = landmarks.FaceTracker(options.detector, fps=fps)

    def measure(self, index: int, frame: np.ndarray, near: np.ndarray | None = None) -> np.ndarray | None:
        seen = None
        if near is not None:
            detector = self.tracker.detector
            seen = detector.landmarks(frame, detector.box_from_landmarks(near))
        if seen is None:
            seen = self.tracker.update(frame)
        if seen is not None:
            self.seen[index] = seen
        return seen

    def result(self, n_out: int) -> tuple[np.ndarray, np.ndarray]:
        """(mouth_open, mouth_width) of output frames [0, n_out), each [shape=(n_out,)], NaN where
        no face was seen."""
        from . import landmarks
        self.close()
        points = np.full((n_out, 68, 2), np.nan, np.float32)
        for i, lm in self.seen.items():
            if i < n_out:
                points[i] = lm
        seen = landmarks.FaceTrack(landmarks=points, valid=~np.isnan(points[:, 0, 0]),
                                   width=self.size[0], height=self.size[1], fps=0.0)
        return seen.mouth_open(), seen.mouth_width()

    def close(self) -> None:
        """Free the detector's models (safe to call twice)."""
        if self.tracker is not None:
            self.tracker.close()
            self.tracker = None


class PlotSamples:
    """Keeps ``LANDMARK_SAMPLES`` evenly spaced output frames for the landmark plot."""

    def __init__(self, n_out: int) -> None:
        self.at = set(np.linspace(0, n_out - 1, LANDMARK_SAMPLES).round().astype(int).tolist())
        self.kept: list = []

    def offer(self, index: int, frame: np.ndarray, seen, source_lm) -> None:
        if index in self.at:  # the output's own landmarks when measured, and the mask's landmarks
            self.kept.append((index, frame, seen, source_lm))


class Encoder:
    """Resizes frames to the output size and encodes them (:class:`media.VideoWriter`).
    :meth:`close` waits for the file; :meth:`abort` deletes the partial one (safe after close)."""

    def __init__(self, job: "Job") -> None:
        self.size = output_size(job.info, job.options)
        self.native = (job.info.width, job.info.height)
        self.watch = job.watch
        info = job.info
        keep_aspect = (info.stored_width, info.pixel_aspect) if written_size(info, job.options) != self.size else None
        self.writer = media.VideoWriter(job.output, width=self.size[0], height=self.size[1], fps=info.exact_fps,
                                        audio=job.audio, duration=job.speech.duration, crf=job.options.crf,
                                        preset=job.options.preset, colour=media.output_colour_tags(info),
                                        account=job.watch.add, pixel_aspect=keep_aspect)

    def write(self, frame: np.ndarray) -> None:
        import cv2
        with self.watch("encode"):
            if self.size != self.native:
                frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
            self.writer.write(frame)

    def close(self) -> None:
        with self.watch("encode_finish"):
            self.writer.close()

    def abort(self) -> None:
        self.writer.abort()
