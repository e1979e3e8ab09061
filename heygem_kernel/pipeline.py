"""The streaming run: a linear pipeline of small named steps.

    probe -> analyse (face track + mouth library, cached)  |  speech features (beside it)
          -> render (decode -> backend -> composite -> encode, in bounded batches)
          -> sync check -> diagnostics -> records

Frames flow through bounded queues (decode and encode run in ffmpeg processes fed by
threads in :mod:`heygem_kernel.media`), so memory does not grow with the video's length.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import backends, cache, compositing, enhance, loops, media, mouthlib, records
from .errors import Cancelled, InputError, NoFaceError
from .i18n import N_
from .options import RunOptions

LOG = logging.getLogger("heygem")
ANALYSIS_VERSION = 7          # bump when the analysis output changes: invalidates caches (6: loop thumbnails, 7: interior histogram)
LANDMARK_SAMPLES = 6          # frames kept for the landmark diagnostic plot
Progress = Callable[[str, int, int], None]


@dataclass
class Analysis:
    """Face track of the source frames [0, n) and, for backends that need it, the mouth library."""

    track: object            # heygem_kernel.landmarks.FaceTrack
    library: mouthlib.MouthLibrary | None
    cached: bool
    thumbs: np.ndarray | None = None   # [N, 32, 32] uint8 loops.descriptor of each frame (loop planning)


class _Stopwatch:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def __call__(self, name: str):
        watch = self

        class _Span:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                watch.timings[name] = round(watch.timings.get(name, 0.0) + time.perf_counter() - self.t0, 3)
        return _Span()


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled by the user")


def _report(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


# ---------------------------------------------------------------------------------------------
def analyse(info: media.VideoInfo, *, options: RunOptions, n_frames: int, want_library: bool = True,
            cache_dir: str | Path | None = None, progress: Progress | None = None,
            cancel: threading.Event | None = None) -> Analysis:
    """Track the face over source frames [0, n_frames) and gather the person's mouths.

    Cached by the video's content hash and the options that change the result, so a second
    run on the same video (a new audio, say) skips face detection. A cached prefix that is
    too short (the new audio is longer) is extended, not recomputed.
    """
    from . import landmarks
    entry = None
    raw = np.full((n_frames, 68, 2), np.nan, np.float32)
    thumbs = np.zeros((n_frames, loops.THUMB_SIZE, loops.THUMB_SIZE), np.uint8)
    library = mouthlib.MouthLibrary() if want_library else None
    start = 0
    if cache_dir is not None and options.use_cache:
        entry = cache.entry_path(cache_dir, cache.key(
            video_hash=cache.file_hash(info.path), version=ANALYSIS_VERSION, detector=options.detector,
            fps=round(info.fps, 4), size=(info.width, info.height)))
        loaded = _load_analysis(entry, want_library)
        if loaded is not None:
            cached_raw, cached_library, cached_thumbs = loaded
            start = min(len(cached_raw), n_frames)
            raw[:start] = cached_raw[:start]
            thumbs[:start] = cached_thumbs[:start]
            library = cached_library if want_library else None
            LOG.info("analysis: re-used cached face track %s (%d frames)", entry.name, len(cached_raw))
    if start < n_frames:
        _track_frames(info, raw, library, detector=options.detector, start=start, progress=progress,
                      cancel=cancel, thumbs=thumbs)
        if entry is not None:
            arrays = {"raw_landmarks": raw, "loop_thumbs": thumbs}
            if library is not None:
                arrays.update(library.to_arrays())
            cache.atomic_save_npz(entry, **arrays)
    _report(progress, "analyse", n_frames, n_frames)
    valid = ~np.isnan(raw[:, 0, 0])
    smooth = landmarks.smooth_track(raw, valid, strength=options.smoothing)
    track = landmarks.FaceTrack(landmarks=smooth, valid=valid, width=info.width, height=info.height,
                                fps=info.fps)
    return Analysis(track=track, library=library, cached=start > 0, thumbs=thumbs)


def _track_frames(info, raw: np.ndarray, library, *, detector: str, start: int, progress, cancel,
                  thumbs: np.ndarray | None = None) -> None:
    """Fill ``raw`` [shape=(N, 68, 2)] (and ``thumbs``, loop descriptors) from frame ``start`` on
    (earlier frames are only decoded)."""
    from . import landmarks
    n_frames = len(raw)
    tracker = landmarks.FaceTracker(detector, fps=info.fps)
    frames = media.iter_frames(info)
    try:
        for i, frame in enumerate(frames):
            if i >= n_frames:
                break
            if i < start:
                continue
            if thumbs is not None:
                thumbs[i] = loops.descriptor(frame)
            lm = tracker.update(frame)
            if lm is not None:
                raw[i] = lm
                if library is not None:
                    library.observe(frame, lm, i)
            if i % 8 == 0:
                _check(cancel)
                _report(progress, "analyse", i + 1, n_frames)
    finally:
        frames.close()
        tracker.close()


def _load_analysis(entry: Path, want_library: bool):
    """(raw landmarks [shape=(N, 68, 2)], MouthLibrary or None, loop thumbnails) from a cache entry, or None."""
    if not entry.exists():
        return None
    try:
        with np.load(entry) as data:
            if "raw_landmarks" not in data or "loop_thumbs" not in data \
                    or (want_library and "lib_frames" not in data):
                return None
            raw = data["raw_landmarks"]
            thumbs = data["loop_thumbs"]
            library = mouthlib.MouthLibrary.from_arrays(data) if want_library else None
    except Exception as exc:  # a damaged cache entry is recomputed, never fatal
        LOG.warning("analysis cache %s unreadable (%s); recomputing", entry.name, exc)
        return None
    return raw, library, thumbs


# ---------------------------------------------------------------------------------------------
_MISSING = {"audio": (N_("no such audio file: {path}"), N_("{path} is a folder, expected an audio file")),
            "video": (N_("no such video file: {path}"), N_("{path} is a folder, expected a video file"))}


def _check_inputs(audio: str | Path, video: str | Path) -> tuple[Path, Path]:
    audio, video = Path(audio), Path(video)
    for kind, path in (("audio", audio), ("video", video)):
        missing, folder = _MISSING[kind]
        if not path.exists():
            raise InputError(missing, path=path)
        if path.is_dir():
            raise InputError(folder, path=path)
    return audio, video


def _backend_for(options: RunOptions):
    device = options.device
    return backends.create(options.backend, checkpoint=options.checkpoint, device=device,
                           batch_size=options.batch_size, models_dir=options.models_dir)


def _frames_for(seconds: float, info) -> int:
    """Output frames for ``seconds`` of speech at the video's rate (at least one)."""
    return max(1, int(round(seconds * info.fps)))


def _output_size(info, options: RunOptions) -> tuple[int, int]:
    if not options.out_height or options.out_height == info.height:
        return info.width, info.height
    h = int(options.out_height) // 2 * 2
    return max(2, int(round(info.width * h / info.height / 2)) * 2), h


def _return_big_buffers_to_the_os() -> None:
    """Make glibc map every buffer >= 256 KiB separately and unmap it on free.

    Frames are allocated on several threads (decode, backend, blend, encode); with glibc's
    default, freed 6 MB frames stay in per-thread heaps and the process slowly grows with the
    video's length. A fixed mmap threshold keeps peak RSS flat. No-op off glibc.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD (fixing it also stops its upward drift)
    except (OSError, AttributeError):
        pass


_MALLOC_TUNED = False


def run(audio: str | Path, video: str | Path, *, out: str | Path | None = None,
        options: RunOptions | None = None, run_dir: str | Path | None = None,
        runs_root: str | Path = "runs", name: str | None = None, speech=None,
        progress: Progress | None = None, cancel: threading.Event | None = None,
        cache_dir: str | Path | None = None) -> records.RunResult:
    """Lip-sync ``video`` (or a photo) to ``audio`` and write an H.264/AAC MP4.

    Returns a :class:`~heygem_kernel.records.RunResult`; raises a
    :class:`~heygem_kernel.errors.HeyGemError` for bad input. A failed or cancelled run leaves
    no output file behind (the encoder writes to a temporary name).
    """
    options = options or RunOptions()
    from .articulation import normalise_language     # an unknown --language: one line, before any work
    options = options.replace(language=normalise_language(options.language))
    audio, video = _check_inputs(audio, video)
    _return_big_buffers_to_the_os()
    run_dir = Path(run_dir) if run_dir else records.new_run_dir(runs_root, name or video.stem)
    run_dir.mkdir(parents=True, exist_ok=True)
    output = Path(out) if out else run_dir / "output.mp4"
    output.parent.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(cache_dir) if cache_dir else Path(runs_root) / ".cache"
    log_path = run_dir / "run.log"
    with records.run_log(log_path):
        try:
            return _run(audio, video, output, options, run_dir, log_path, speech, progress, cancel, cache_dir)
        except Exception as exc:
            LOG.error("run failed: %s", exc)
            raise


def _run(audio: Path, video: Path, output: Path, options: RunOptions, run_dir: Path, log_path: Path,
         speech, progress, cancel, cache_dir) -> records.RunResult:
    watch = _Stopwatch()
    t_start = time.perf_counter()
    LOG.info("run: audio=%s video=%s backend=%s", audio, video, options.backend)
    with watch("probe"):
        info = media.probe_video(video, still_fps=options.still_fps)
        audio_info = None if speech is not None else media.probe_audio(audio)
        expected = speech.duration if speech is not None else audio_info.duration
    notes = media.conversion_notes(info)   # what the H.264 output cannot carry, one plain line each
    if audio_info is not None and audio_info.tracks > 1:
        notes.append(f"{audio.name} has {audio_info.tracks} audio tracks: only the first is used as the speech")
    for note in notes:
        LOG.warning("%s", note)
    LOG.info("video: %dx%d, %.3f fps%s, %d frames%s", info.width, info.height, info.fps,
             " (variable rate, resampled)" if info.is_vfr else "", info.n_frames, " (photo)" if info.is_image else "")
    backend = _backend_for(options)
    enhancer = enhance.from_options(options)  # a bad model file fails here, before any heavy work
    # Speech analysis (pocketsphinx, mel) runs beside the face analysis: they are independent,
    # and on two cores the overlap saves most of the speech time.
    _report(progress, "audio", 0, 1)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="heygem-speech") as pool:
        speech_job = pool.submit(_speech_with_mel_plot, audio, speech, run_dir / "mel.png", options.language)
        with watch("analyse"):
            analysis = analyse(info, options=options, n_frames=min(info.n_frames, _frames_for(expected, info)),
                               want_library=backend.needs_library, cache_dir=cache_dir, progress=progress,
                               cancel=cancel)
        with watch("audio"):  # what is left to wait for once the faces are done
            speech = speech_job.result()
    n_out = _frames_for(speech.duration, info)
    feats = speech.features(fps=info.fps, n_frames=n_out)
    _report(progress, "audio", 1, 1)
    LOG.info("speech: %.2f s -> %d output frames (%s)", speech.duration, n_out,
             f"{options.loop} loop" if n_out > info.n_frames and not info.is_image
             else "trim" if n_out < info.n_frames else "1:1")
    n_src = min(info.n_frames, n_out)
    if analysis.track.n_frames < n_src:  # the decoded speech ran a little longer than its header said
        analysis = analyse(info, options=options, n_frames=n_src, want_library=backend.needs_library,
                           cache_dir=cache_dir, cancel=cancel)
    _check(cancel)
    track = analysis.track
    if not np.any(track.valid):
        raise NoFaceError(f"no face found in {video} ({n_src} frames checked)")
    LOG.info("analysis: face in %d/%d source frames%s", int(track.valid.sum()), n_src,
             f", {len(analysis.library)} mouths in the library" if analysis.library is not None else "")

    plan = _loop_plan(info, analysis, options, n_out, feats.envelope)
    backend.prepare(backends.JobContext(audio=feats, track=track, library=analysis.library,
                                        width=info.width, height=info.height, options=options,
                                        cache_dir=cache_dir))
    with watch("render"):
        rendered = _render(info, output, audio, speech.duration, n_out, track, backend, options, progress, cancel,
                           plan=plan)
    LOG.info("render: %d frames, %d without a face passed through", n_out, rendered.no_face)

    sync = None
    if options.sync_check:
        from . import sync as sync_mod
        with watch("sync"):
            # against the calibrated real-speech reference, not the targets that drove the render
            sync = sync_mod.estimate_from_speech(rendered.mouth_open, phones=speech.phones, fps=info.fps,
                                                 mouth_width=rendered.mouth_width)
            targets = sync_mod.check_targets(feats.visemes, phones=speech.phones, fps=info.fps)
        LOG.info("sync: offset %+d frames, confidence %.2f, correlation %.2f", sync.offset_frames,
                 sync.confidence, sync.correlation)
    extra = {"input_notes": notes, "analysis_cached": analysis.cached, "source_frames": info.n_frames,
             "is_vfr": info.is_vfr,
             "is_image": info.is_image, "frames_enhanced": rendered.enhanced,
             "loop": plan.to_dict()}
    if sync is not None:
        extra.update(sync_chance=float(sync.chance), sync_reliable=bool(sync.reliable), sync_verdict=sync.verdict(),
                     sync_method=sync.method, sync_targets_offset_frames=targets.offset_exact,
                     speech_language=speech.language)
    extra.update(_backend_scores(backend, output, feats, info))

    with watch("plots"):
        plots = _plots(run_dir, feats, rendered, sync, info.fps, mask_scale=options.mask_scale)
    watch.timings["total"] = round(time.perf_counter() - t_start, 3)
    params_path = run_dir / "params.json"
    records.write_json(params_path, {
        "audio": str(audio.resolve()), "video": str(video.resolve()), "output": str(output.resolve()),
        "options": options.to_dict(), "backend": backend.describe(), "versions": records.versions(),
        "video_info": {k: str(v) if isinstance(v, Path) else v for k, v in vars(info).items()},
        "audio_duration": speech.duration, "command": sys.argv if "heygem" in " ".join(sys.argv[:1]) else None,
        "enhance": enhancer.describe() if enhancer else None,
    })
    out_w, out_h = _output_size(info, options)
    result = records.RunResult(
        output=output, run_dir=run_dir, params_path=params_path, log_path=log_path, plots=plots,
        width=out_w, height=out_h, fps=info.fps, n_frames=n_out, duration=speech.duration,
        frames_no_face=rendered.no_face,
        sync_offset_frames=None if sync is None else int(sync.offset_frames),
        sync_confidence=None if sync is None else float(sync.confidence),
        sync_correlation=None if sync is None else float(sync.correlation),
        timings=watch.timings, backend=options.backend, extra=extra)
    records.write_json(run_dir / "result.json", result.to_dict())
    LOG.info("done in %.1f s: %s", watch.timings["total"], output)
    return result


@dataclass
class _Rendered:
    no_face: int
    mouth_open: np.ndarray           # [T] output mouth opening (NaN: no face)
    mouth_width: np.ndarray          # [T] output mouth width (NaN: no face)
    samples: list                    # [(out_index, frame, output landmarks, source landmarks)]
    enhanced: int = 0                # frames whose new mouth went through face restoration


def _loop_plan(info, analysis: Analysis, options: RunOptions, n_out: int, envelope) -> "loops.LoopPlan":
    """Which source frame each output frame shows (see :mod:`heygem_kernel.loops`); logged."""
    track = analysis.track
    plan = loops.plan_loop(n_out=n_out, fps=info.fps, mode=options.loop, thumbs=analysis.thumbs,
                           landmarks=track.landmarks, valid=track.valid, envelope=envelope,
                           frame_size=(info.width, info.height), is_image=info.is_image, n_src=info.n_frames)
    if plan.mode not in ("trim",):
        LOG.info("%s", plan.summary())
    if plan.note:
        LOG.warning("loop: %s", plan.note)
    return plan


def _render(info, output: Path, audio: Path, duration: float, n_out: int, track, backend, options,
            progress, cancel, *, plan: "loops.LoopPlan | None" = None) -> _Rendered:
    """Decode -> synthesise -> composite -> encode, ``options.batch_size`` frames at a time.

    Four stages run at once: ffmpeg decodes ahead (reader thread), the backend synthesises
    batch k+1 on a worker thread (on the GPU for learned backends) while this thread blends
    and checks batch k, and ffmpeg encodes behind (writer thread). At most
    ``INFLIGHT_BATCHES`` batches are held, so memory does not depend on the video's length.
    """
    from collections import deque
    out_w, out_h = _output_size(info, options)
    state = _RenderState(n_out=n_out, options=options, size=(out_w, out_h), native=(info.width, info.height),
                         fps=info.fps)
    inflight: deque = deque()

    def submit(pool, pending: list) -> None:
        out_idx = np.array([p[0] for p in pending])
        src_idx = np.array([p[1] for p in pending])
        lms = [plan.landmarks(track, int(o)) if plan is not None else track.landmarks[s] if track.valid[s] else None
               for o, s in zip(out_idx, src_idx)]
        frames = [p[2] for p in pending]
        batch = backends.FrameBatch(frames=frames, landmarks=lms, out_index=out_idx, src_index=src_idx)
        inflight.append((batch, pool.submit(backend.synthesize, batch)))

    def finish(writer) -> None:
        batch, future = inflight.popleft()
        state.blend_and_write(batch, future.result(), writer)
        _report(progress, "render", int(batch.out_index[-1]) + 1, n_out)

    with media.FrameSource(info, n_out=n_out, plan=plan) as source, \
            media.VideoWriter(output, width=out_w, height=out_h, fps=info.exact_fps, audio=audio, duration=duration,
                              crf=options.crf, preset=options.preset,
                              colour=media.output_colour_tags(info)) as writer, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="heygem-backend") as pool:
        pending: list = []
        for out_i, (src_i, frame) in enumerate(source):
            pending.append((out_i, src_i, frame))
            if len(pending) >= max(1, options.batch_size):
                _check(cancel)
                submit(pool, pending)
                pending = []
                if len(inflight) >= INFLIGHT_BATCHES:
                    finish(writer)
        if pending:
            submit(pool, pending)
        while inflight:
            _check(cancel)
            finish(writer)
    return state.result()


INFLIGHT_BATCHES = 2   # one being synthesised while one is blended and written


class _RenderState:
    """Blends backend patches into frames, measures the output's mouth, keeps plot samples."""

    def __init__(self, *, n_out: int, options: RunOptions, size: tuple[int, int], native: tuple[int, int],
                 fps: float | None = None):
        from . import landmarks
        self.options, self.size, self.native = options, size, native
        self.sample_at = set(np.linspace(0, n_out - 1, LANDMARK_SAMPLES).round().astype(int).tolist())
        self.samples: list = []
        self.seen = np.full((n_out, 68, 2), np.nan, np.float32)   # the output's own landmarks
        self.checker = landmarks.FaceTracker(options.detector, fps=fps) if options.sync_check else None
        self.no_face = 0
        self.enhancer, self.enhanced = enhance.from_options(options), 0   # loaded once, in _run

    def blend_and_write(self, batch: backends.FrameBatch, patches: list, writer) -> None:
        import cv2
        opts = self.options
        for frame, lm, patch in zip(batch.frames, batch.landmarks, patches):
            if lm is None:
                self.no_face += 1
            elif patch is not None:
                compositing.composite(frame, lm, patch, mask_scale=opts.mask_scale, feather=opts.feather,
                                      color_match=opts.color_match, inplace=True)
        if self.enhancer is not None:  # face restoration, only where a new mouth went in
            self.enhanced += self.enhancer.enhance(
                batch.frames, [lm if p is not None else None for lm, p in zip(batch.landmarks, patches)],
                mask_scale=opts.mask_scale, feather=opts.feather, color_match=opts.color_match)
        for i, frame, lm in zip(batch.out_index, batch.frames, batch.landmarks):
            seen = self.checker.update(frame) if self.checker is not None else None
            if seen is not None:
                self.seen[i] = seen
            if int(i) in self.sample_at:  # the output's own landmarks when measured, and the mask used
                self.samples.append((int(i), frame, seen if seen is not None else lm, lm))
            if self.size != self.native:
                frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
            writer.write(frame)

    def result(self) -> _Rendered:
        from . import landmarks
        if self.checker is not None:
            self.checker.close()
        # measured exactly as `heygem sync OUTPUT` measures it, so both report the same figures
        seen = landmarks.FaceTrack(landmarks=self.seen, valid=~np.isnan(self.seen[:, 0, 0]),
                                   width=self.native[0], height=self.native[1], fps=0.0)
        return _Rendered(no_face=self.no_face, mouth_open=seen.mouth_open(), mouth_width=seen.mouth_width(),
                         samples=self.samples, enhanced=self.enhanced)


def _backend_scores(backend, output: Path, feats, info) -> dict:
    """Backend-specific quality figures (e.g. SyncNet LSE for wav2lip), when it offers them."""
    scorer = getattr(backend, "score_output", None)
    if scorer is None:
        return {}
    try:
        return dict(scorer(output, feats=feats, fps=info.fps) or {})
    except Exception as exc:  # a score is a bonus: never fail the run over it
        LOG.warning("backend score skipped: %s", exc)
        return {}


def _speech_with_mel_plot(audio: Path, speech, mel_png: Path, language: str = "auto"):
    """Speech features (unless given) and their mel plot: runs beside the face analysis."""
    from . import audio as audio_mod, diagnostics
    speech = speech if speech is not None else audio_mod.load_speech(audio, language=language)
    diagnostics.plot_mel(speech.mel, mel_png, title="Mel spectrogram of the driving speech")
    return speech


def _plots(run_dir: Path, feats, rendered: _Rendered, sync, fps: float, *, mask_scale: float) -> dict[str, Path]:
    """The landmark and mouth-track plots (the mel plot was drawn beside the face analysis)."""
    from . import diagnostics
    plots = {"mel": run_dir / "mel.png", "landmarks": run_dir / "landmarks.png",
             "mouth_track": run_dir / "mouth_track.png"}
    frames = [s[1] for s in rendered.samples]
    lms = [s[2] for s in rendered.samples]
    outlines = [None if s[3] is None else compositing.mask_geometry(s[3], scale=mask_scale).outline()
                for s in rendered.samples]
    diagnostics.plot_landmarks(frames, lms, plots["landmarks"],
                               titles=[f"frame {s[0]} ({s[0] / fps:.2f} s)" for s in rendered.samples],
                               mask_polygons=outlines)
    diagnostics.plot_mouth_track(mouth_open=rendered.mouth_open, speech_open=feats.visemes["open"],
                                 envelope=feats.envelope, fps=fps, path=plots["mouth_track"], sync=sync)
    return plots


# ---------------------------------------------------------------------------------------------
PREVIEW_ANALYSIS_S = 6.0   # s; a preview builds its mouth library from the video's first 6 s


def preview_frame(audio: str | Path, video: str | Path, *, options: RunOptions | None = None,
                  frame_index: int = 0, cache_dir: str | Path | None = None, speech=None) -> np.ndarray:
    """One output frame [shape=(H, W, 3)] uint8 BGR with the mouth mask outline drawn in green:
    a quick look at mask size, feather and blend before a full render."""
    import cv2
    options = options or RunOptions()
    from .articulation import normalise_language     # an unknown --language: one line, before any work
    options = options.replace(language=normalise_language(options.language))
    audio, video = _check_inputs(audio, video)
    from . import audio as audio_mod
    info = media.probe_video(video, still_fps=options.still_fps)
    speech = speech or audio_mod.load_speech(audio)
    n_out = _frames_for(speech.duration, info)
    frame_index = int(np.clip(frame_index, 0, n_out - 1))
    src = media.pingpong_index(frame_index, info.n_frames)
    backend = _backend_for(options)
    n_src = min(info.n_frames, max(src + 1, int(round(PREVIEW_ANALYSIS_S * info.fps))))
    analysis = analyse(info, options=options, n_frames=n_src, want_library=backend.needs_library,
                       cache_dir=cache_dir)
    frames = media.iter_frames(info)
    try:
        for i, frame in enumerate(frames):
            if i == src:
                break
    finally:
        frames.close()
    lm = analysis.track.landmarks[src] if analysis.track.valid[src] else None
    if lm is None:
        return frame
    backend.prepare(backends.JobContext(audio=speech.features(fps=info.fps, n_frames=n_out),
                                        track=analysis.track, library=analysis.library,
                                        width=info.width, height=info.height, options=options,
                                        cache_dir=cache_dir))
    patch = backend.synthesize(backends.FrameBatch(frames=[frame], landmarks=[lm],
                                                   out_index=np.array([frame_index]), src_index=np.array([src])))[0]
    out = frame if patch is None else compositing.composite(
        frame, lm, patch, mask_scale=options.mask_scale, feather=options.feather, color_match=options.color_match)
    enhancer = enhance.from_options(options)
    if enhancer is not None and patch is not None:
        enhancer.enhance([out], [lm], mask_scale=options.mask_scale, feather=options.feather,
                         color_match=options.color_match)
    outline = compositing.mask_geometry(lm, scale=options.mask_scale).outline()
    cv2.polylines(out, [np.round(outline).astype(np.int32)], True, (0, 255, 0), max(1, info.width // 400),
                  cv2.LINE_AA)
    return out
