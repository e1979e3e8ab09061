"""The analysis stage: the face track of the source frames and the person's mouth library.

:func:`analyse` tracks the face in every source frame a run needs (``landmarks.FaceTracker``,
frames in order), files each frame's loop thumbnail, mouth visibility and library mouth on a
second thread, and caches the result by the video's content hash (:mod:`heygem_kernel.cache`),
so a re-run with new speech, ``heygem sync`` or a preview on the same footage does not track the
face again. Used by :mod:`heygem_kernel.pipeline` (the run), :mod:`heygem_kernel.preview` and
:func:`heygem_kernel.sync.cached_track`; it imports none of them.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import cache, loops, media, mouthlib, occlusion
from .errors import Cancelled
from .options import RunOptions
from .detectors import NOT_COUNTED
from .workers import drain, stop_worker

LOG = logging.getLogger("heygem")
ANALYSIS_VERSION = 13         # bump when the analysis output changes: invalidates caches (6: loop thumbnails, 7: interior histogram, 8: thumbnails pre-shrunk, 9: thumbnails only where asked for, 10: taller mouth patches moved with the nose base, 11: and with the mouth sideways, the frame's edges kept, 12: faces seen per detection, 13: a blurred copy of the face is not tracked nor counted, and a detection that found no face is told from none)
Progress = Callable[[str, int, int], None]


@dataclass
class Analysis:
    """Face track of the source frames [0, n) and, for backends that need it, the mouth library."""

    track: object            # heygem_kernel.landmarks.FaceTrack
    library: mouthlib.MouthLibrary | None
    cached: bool
    thumbs: np.ndarray | None = None   # [N, 32, 32] uint8 loops.descriptor of each frame (loop planning);
                                       # None unless asked for (``analyse(thumbs_needed=)``)
    covered: np.ndarray | None = None  # [N] bool: a face, but its mouth is covered (occlusion.py)
    raw: np.ndarray | None = None      # [N, 68, 2] unsmoothed landmarks (NaN: no face): what ``heygem sync`` reads
    faces_seen: np.ndarray | None = None   # [N] uint8 distinct faces the tracker's full detection found in
                                           # frame i (detectors.NOT_COUNTED: the fast path ran there); >1: several people

def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled by the user")


def _report(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


def analyse(info: media.VideoInfo, *, options: RunOptions, n_frames: int, want_library: bool = True,
            cache_dir: str | Path | None = None, progress: Progress | None = None,
            cancel: threading.Event | None = None, account: media.Account | None = None,
            spool: media.FrameSpool | None = None, thumbs_needed: bool = True,
            covered_warning: bool = True) -> Analysis:
    """Track the face over source frames [0, n_frames) and gather the person's mouths.

    Cached by the video's content hash and the options that change the result, so a second
    run on the same video (a new audio, say) skips face detection. A cached prefix that is
    too short (the new audio is longer) is extended, not recomputed. The result never depends
    on what the cache held: the mouth library is always the one frames [0, n_frames) give, so
    a cache of another length has its library rebuilt from the cached landmarks (decoding,
    no face detection). ``spool`` (empty) receives every frame decoded here, so the render can
    read them back instead of decoding the video a second time.

    ``covered_warning``: log the frames whose mouth is covered, as a run passes them through.
    ``thumbs_needed``: also the loop thumbnails (only a run whose speech outlasts the footage
    plans loops; a 1080p thumbnail costs ~1.7 ms of CPU per frame). Frames analysed without
    them are cached without them; a later run that needs them decodes those frames again
    (filling ``spool``, which its render then reads) and adds them to the entry.
    """
    from . import landmarks
    entry = None
    raw = np.full((n_frames, 68, 2), np.nan, np.float32)
    thumbs = np.zeros((n_frames, loops.THUMB_SIZE, loops.THUMB_SIZE), np.uint8)
    thumbs_valid = np.zeros(n_frames, bool)          # frames whose thumbnail is in ``thumbs``
    mouth_grids = np.zeros((n_frames, occlusion.GRID[1], occlusion.GRID[0], 3), np.uint8)
    lip_contrast = np.full(n_frames, np.nan, np.float32)
    faces_seen = np.full(n_frames, NOT_COUNTED, np.uint8)
    library = mouthlib.MouthLibrary() if want_library else None
    start, relearn, rethumb = 0, False, False
    if cache_dir is not None and options.use_cache:
        entry = analysis_entry(info, options=options, cache_dir=cache_dir)
        loaded = _load_analysis(entry, want_library)
        if loaded is not None:
            cached_raw, cached_library, cached_thumbs, cached_valid, cached_grids, cached_contrast, cached_faces = loaded
            start = min(len(cached_raw), n_frames)
            raw[:start] = cached_raw[:start]
            thumbs[:start], thumbs_valid[:start] = cached_thumbs[:start], cached_valid[:start]
            rethumb = thumbs_needed and not thumbs_valid[:start].all()
            mouth_grids[:start], lip_contrast[:start] = cached_grids[:start], cached_contrast[:start]
            faces_seen[:start] = cached_faces[:start]
            relearn = want_library and len(cached_raw) != n_frames
            if want_library and not relearn:
                library = cached_library
            LOG.info("analysis: re-used cached face track %s (%d frames)%s%s", entry.name, len(cached_raw),
                     "; mouth library rebuilt for this length" if relearn else "",
                     "; loop thumbnails added" if rethumb else "")
    if start < n_frames or relearn or rethumb:
        _track_frames(info, raw, library, detector=options.detector, start=start, progress=progress,
                      cancel=cancel, thumbs=(thumbs, thumbs_valid) if thumbs_needed else None, account=account,
                      mouth=(mouth_grids, lip_contrast), relearn=relearn, rethumb=rethumb, spool=spool,
                      faces=faces_seen)
        # a longer entry is kept as it is (a run that needs thumbnails analyses the whole video: never longer)
        if entry is not None and (start < n_frames or rethumb and len(cached_raw) == n_frames):
            arrays = {"raw_landmarks": raw, "loop_thumbs": thumbs, "thumbs_valid": thumbs_valid,
                      "mouth_grids": mouth_grids, "lip_contrast": lip_contrast, "faces_seen": faces_seen}
            if library is not None:
                arrays.update(library.to_arrays())
            try:
                cache.atomic_save_npz(entry, **arrays)
            except OSError as exc:   # a full or read-only cache disk costs the next run time, not this run
                LOG.warning("face-track cache not written (%s): %s", exc.strerror or exc, entry.parent)
    _report(progress, "analyse", n_frames, n_frames)
    valid = ~np.isnan(raw[:, 0, 0])
    smooth = landmarks.smooth_track(raw, valid, strength=options.smoothing)
    track = landmarks.FaceTrack(landmarks=smooth, valid=valid, width=info.width, height=info.height,
                                fps=info.fps)
    covered = occlusion.covered_frames(mouth_grids, lip_contrast, valid, fps=info.fps)
    if covered.any() and covered_warning:   # a run's words (heygem sync says its own)
        # times and counts of the video's own frames (a looped or cut output shows them elsewhere, or
        # not at all); the detector sees a mouth unlike the video's usual ones, which a hand or a
        # microphone makes, and so can a fade from black or a head turned to profile
        LOG.warning("mouth covered or unlike the rest of the video (a hand, a microphone; also a fade or a "
                    "head turned away) in %d of the video's frames, at %s of it: those frames are passed "
                    "through untouched", int(covered.sum()), ", ".join(f"{a / info.fps:.2f}-{(b + 1) / info.fps:.2f} s"
                                                  for a, b in occlusion.spans(covered)))
        library = occlusion.drop_from_library(library, covered)
    return Analysis(track=track, library=library, cached=start > 0, thumbs=thumbs if thumbs_valid.all() else None,
                    covered=covered, raw=raw, faces_seen=faces_seen)


def analysis_entry(info: media.VideoInfo, *, options: RunOptions, cache_dir: str | Path) -> Path:
    """The face-track cache entry of ``info``'s video under these options (it may not exist)."""
    from .detectors import detector_version
    return cache.entry_path(cache_dir, cache.key(
        video_hash=cache.file_hash(info.path), version=ANALYSIS_VERSION, detector=options.detector,
        detector_version=detector_version(options.detector), fps=round(info.fps, 4), size=(info.width, info.height)))


def _track_frames(info, raw: np.ndarray, library, *, detector: str, start: int, progress, cancel,
                  thumbs: tuple | None = None, account: media.Account | None = None,
                  mouth: tuple | None = None, relearn: bool = False, rethumb: bool = False,
                  spool: media.FrameSpool | None = None, faces: np.ndarray | None = None) -> None:
    """Fill ``raw`` [shape=(N, 68, 2)] (and ``thumbs`` = (loop descriptors, which are valid), when
    given) from frame ``start`` on (earlier frames are only decoded; with ``relearn`` they are
    offered to the mouth library with their known landmarks, exactly as the pass that found them
    did; with ``rethumb`` those without a thumbnail get one).

    Two threads share the work, so the second core helps once the speech is done: this one
    tracks the face (in frame order, each frame's crop predicted from the last), a describer
    files each tracked frame's loop thumbnail, mouth visibility and library mouth, in order,
    at most ``ANALYSIS_QUEUE`` frames behind.
    """
    from . import landmarks
    n_frames = len(raw)
    describer = _Describer(thumbs=thumbs, mouth=mouth, library=library)
    tracker = None                      # made when a frame needs it (a relearn pass may not)
    frames = media.iter_frames(info, account=account, spool=spool,   # buffers re-used: see media.FramePool
                               pool=media.FramePool((info.height, info.width, 3)))
    try:
        for i, frame in enumerate(frames):
            if i >= n_frames:
                break
            if i < start:
                learn = relearn and library is not None and not np.isnan(raw[i, 0, 0])
                thumb = rethumb and thumbs is not None and not thumbs[1][i]
                if learn or thumb:
                    describer.put(i, frame, raw[i] if learn else None, known=(learn, thumb))
                continue
            if tracker is None:
                tracker = landmarks.FaceTracker(detector, fps=info.fps)
            lm = tracker.update(frame)
            if lm is not None:
                raw[i] = lm
            if faces is not None and tracker.faces_seen is not None:
                faces[i] = min(tracker.faces_seen, NOT_COUNTED - 1)
            describer.put(i, frame, lm)
            if i % 8 == 0:
                _check(cancel)
                _report(progress, "analyse", i + 1, n_frames)
    finally:
        frames.close()
        if tracker is not None:
            tracker.close()
        describer.close()


ANALYSIS_QUEUE = 4   # frames the describer may lag behind the tracker (~6 MB each at 1080p)


class _Describer:
    """Per-frame analysis that needs the frame's landmarks but not the next frame's: the loop
    thumbnail (:func:`loops.descriptor`), mouth visibility (:func:`occlusion.describe`) and the
    mouth library, on a thread of its own, frames in order."""

    def __init__(self, *, thumbs, mouth, library) -> None:
        import queue
        self.thumbs, self.mouth, self.library = thumbs, mouth, library
        self.queue: queue.Queue = queue.Queue(maxsize=ANALYSIS_QUEUE)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="heygem-describe", daemon=True)
        self.thread.start()

    def put(self, i: int, frame: np.ndarray, lm: np.ndarray | None, *, known: tuple[bool, bool] | None = None
            ) -> None:
        """Describe frame ``i``; ``known=(learn, thumb)``: a frame described before (cached), of
        which only the library learns it and/or only its missing loop thumbnail is made."""
        import queue
        while True:
            if self.error is not None:
                raise self.error
            try:
                self.queue.put((i, frame, lm, known), timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        try:
            while (item := self.queue.get()) is not None:
                i, frame, lm, known = item
                if known is not None:        # described before (cached)
                    learn, thumb = known
                    if learn:
                        self.library.observe(frame, lm, i)
                    if thumb:
                        self._thumb(i, frame)
                    continue
                if self.thumbs is not None:
                    self._thumb(i, frame)
                if lm is None:
                    continue
                if self.mouth is not None:   # is the mouth visible? (grids, lip contrast) for occlusion.py
                    self.mouth[0][i], self.mouth[1][i] = occlusion.describe(frame, lm)
                if self.library is not None:
                    self.library.observe(frame, lm, i)
        except BaseException as exc:  # handed to the tracking thread (put / close raise it)
            self.error = exc
            drain(self.queue)                    # so put() and close() never block

    def _thumb(self, i: int, frame: np.ndarray) -> None:
        thumbs, valid = self.thumbs
        thumbs[i], valid[i] = loops.descriptor(frame), True

    def close(self) -> None:
        """Wait until every frame put is described; raise what the describer raised."""
        stop_worker(self.queue, self.thread)
        self.thread.join()
        if self.error is not None:
            raise self.error


def _load_analysis(entry: Path, want_library: bool):
    """(raw landmarks [shape=(N, 68, 2)], MouthLibrary or None, loop thumbnails, which thumbnails are
    valid, mouth grids, lip contrast, faces seen) from a cache entry, or None."""
    if not entry.exists():
        return None
    try:
        with np.load(entry) as data:
            if "raw_landmarks" not in data or "loop_thumbs" not in data or "lip_contrast" not in data \
                    or "thumbs_valid" not in data or "faces_seen" not in data \
                    or (want_library and "lib_frames" not in data):
                return None
            raw = data["raw_landmarks"]
            thumbs, valid = data["loop_thumbs"], data["thumbs_valid"]
            grids, contrast, faces = data["mouth_grids"], data["lip_contrast"], data["faces_seen"]
            library = mouthlib.MouthLibrary.from_arrays(data) if want_library else None
    except Exception as exc:  # a damaged cache entry is recomputed, never fatal
        LOG.warning("analysis cache %s unreadable (%s); recomputing", entry.name, exc)
        return None
    return raw, library, thumbs, valid, grids, contrast, faces


# ---------------------------------------------------------------------------------------------
