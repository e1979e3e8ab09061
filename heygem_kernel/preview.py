"""One output frame as a run writes it, without the run: the panel's quick look while tuning.

A run's frame ``t`` depends on more than its own source frame, and the preview repeats each part:

* the face analysis of the frames the run analyses (its track, smoothing and mouth library),
  taken from the face-track cache a run or an earlier preview filled;
* the presenter's mouth timing (:mod:`heygem_kernel.speaker_timing`): the own speech's phones
  are cached by content hash beside the face track; uncached they cost ~1-2 s once (the span's
  phone recognition), which a user tuning sync would rather pay than see a mouth the run will
  not draw: the preview computes them, and the run then re-uses them;
* the loop plan, with the cross-fade (an aligned morph) of both source frames at a join;
* the backend's per-job state: the reuse backend's choice of mouth depends on the frame
  before (:meth:`~heygem_kernel.backends.Backend.replay`, no warping: ~0.06 ms a frame, 0.7 s
  of CPU at frame 12000, 8 min in).

Only one part is cut short: where the run would analyse more than ``PREVIEW_ANALYSIS_S`` s of
footage (footage and speech both longer, not looped) and no run or preview has put that much in
the cache yet, the preview's mouth library comes from the first ``PREVIEW_ANALYSIS_S`` s, so it
answers in seconds, not after a full face analysis (~1 min for 1 min of 1080p); it then says
(a warning in the log) that its mouth is approximate. Everything else matches the run's
frame to within H.264 noise (tests/test_preview_matches_run.py).
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np

from . import backends, cache, compositing, enhance, media, records, speaker_timing
from .errors import InputError
from .i18n import Text
from .options import RunOptions, check_device

LOG = logging.getLogger("heygem")
PREVIEW_ANALYSIS_S = 6.0   # s; uncached long footage: the preview's mouth library from its first 6 s


class PreviewImage(np.ndarray):
    """The preview's frame: an ordinary [shape=(H, W, 3)] uint8 BGR array, with ``note``: one
    user-facing line when it differs from the run's frame (approximate mouth), else "";
    ``index``: the output frame it is (a ``frame_index`` past the end shows the last one) of
    ``n_frames`` the output has."""

    note: str = ""
    index: int = 0
    n_frames: int = 0


def preview_frame(audio: str | Path, video: str | Path, *, options: RunOptions | None = None,
                  frame_index: int = 0, cache_dir: str | Path | None = None, speech=None,
                  outline: bool = True) -> PreviewImage:
    """Output frame ``frame_index`` [shape=(H, W, 3)] uint8 BGR (a :class:`PreviewImage`: its
    ``note`` says when the mouth is approximate) as :func:`heygem_kernel.pipeline.run`
    with these ``options`` writes it (before encoding; at the source's size), with the mouth mask
    outline drawn in green unless ``outline`` is False: a quick look at mask size, feather, blend
    and mouth timing before a full render. ``cache_dir``: the face-track cache (default
    :func:`heygem_kernel.cache.default_dir`, shared with runs and batches). ``speech``: an already
    analysed :class:`heygem_kernel.audio.Speech` of ``audio``. Raises
    :class:`~heygem_kernel.errors.InputError` for bad input, as a run does."""
    import cv2

    from . import audio as audio_mod, pipeline
    from .articulation import normalise_language     # an unknown --language: one line, before any work
    options = options or RunOptions()
    options = options.replace(language=normalise_language(options.language))
    check_device(options.device)
    for warning in backends.check_options(options):
        LOG.warning("%s", warning)
    audio, video = pipeline._check_inputs(audio, video)
    if cache_dir is None and options.use_cache:   # the runs' and batches' cache; a preview goes on without one
        with contextlib.suppress(InputError):
            cache_dir = records.make_folder(cache.default_dir())
    use_dir = cache_dir if cache_dir is not None and options.use_cache else None
    info = media.probe_video(video, still_fps=options.still_fps, cache_dir=use_dir)
    speech = pipeline._speech_in(speech, options.language)
    expected_s = speech.duration if speech is not None else media.probe_audio(audio).duration
    speech = speech or audio_mod.load_speech(audio, language=options.language)
    n_out = pipeline._frames_for(speech.duration, info)
    t = int(np.clip(frame_index, 0, n_out - 1))
    backend = pipeline._backend_for(options)

    # the frames the run analyses (pipeline.analyse_inputs): by the header's length, at least the output's
    n_header = min(info.n_frames, pipeline._frames_for(expected_s, info))
    n_run = max(n_header, min(info.n_frames, n_out))
    n_analysed, note = _frames_to_analyse(info, options, use_dir, n_run=n_run, looped=n_out > info.n_frames, t=t)
    analysis = pipeline.analyse(info, options=options, n_frames=n_analysed, want_library=backend.needs_library,
                                cache_dir=cache_dir)
    timing = speaker_timing.read_source(
        info, raw=analysis.raw, valid=analysis.track.valid, n_analysed=min(n_header, n_analysed),
        enabled=options.speaker_timing, backend=backend, cache_dir=use_dir, video_name=video.name,
        language=options.language)
    feats = speech.features(fps=info.fps, n_frames=n_out, speaker_lead=timing.lead_s)
    plan = pipeline._loop_plan(info, analysis, options, n_out, feats.envelope)
    a, b, w = plan.frame_sources(t)
    frame = _compose(info, plan, a, b, w)

    lm = _landmarks(plan, analysis, t)
    if lm is None:
        return _image(frame, "", index=t, n_frames=n_out)
    backend.prepare(backends.JobContext(audio=feats, track=analysis.track, library=analysis.library,
                                        width=info.width, height=info.height, options=options,
                                        cache_dir=cache_dir))
    backend.replay(upto=t, landmarks=lambda k: _landmarks(plan, analysis, k))
    patch = backend.synthesize(backends.FrameBatch(frames=[frame], landmarks=[lm], out_index=np.array([t]),
                                                   src_index=np.array([a])))[0]
    out = frame if patch is None else compositing.composite(
        frame, lm, patch, mask_scale=options.mask_scale, feather=options.feather, color_match=options.color_match)
    enhancer = enhance.from_options(options)
    if enhancer is not None and patch is not None:
        enhancer.enhance([out], [lm], mask_scale=options.mask_scale, feather=options.feather,
                         color_match=options.color_match)
    if outline:
        shape = compositing.mask_geometry(lm, scale=options.mask_scale).outline()
        cv2.polylines(out, [np.round(shape).astype(np.int32)], True, (0, 255, 0), max(1, info.width // 400),
                      cv2.LINE_AA)
    return _image(out, note, index=t, n_frames=n_out)


def _image(frame: np.ndarray, note: str, *, index: int, n_frames: int) -> PreviewImage:
    image = frame.view(PreviewImage)
    image.note, image.index, image.n_frames = note, index, n_frames
    return image


def _frames_to_analyse(info, options: RunOptions, cache_dir, *, n_run: int, looped: bool, t: int) -> tuple[int, str]:
    """(frames, note): ``n_run`` (the run's analysis: what makes the preview exact) when it is
    short, the footage loops (the plan needs every frame) or the cache already holds that many
    frames, with no note; else the first ``PREVIEW_ANALYSIS_S`` s (and frame ``t``), and a line
    saying the mouth is approximate (also logged as a warning)."""
    quick = min(n_run, max(t + 1, int(round(PREVIEW_ANALYSIS_S * info.fps))))
    if looped or info.is_image or quick >= n_run or _cached_frames(info, options, cache_dir) >= n_run:
        return n_run, ""
    note = Text("approximate mouth: this preview's mouths come from the first {first:.1f} s of {name}; a run "
                "takes them from all {seconds:.1f} s it uses (after one run, previews match it)",
                first=quick / info.fps, name=Path(info.path).name, seconds=n_run / info.fps)
    LOG.warning("preview: %s", note)
    return quick, note


def _cached_frames(info, options: RunOptions, cache_dir) -> int:
    """Frames the face-track cache holds for this video (0: none, or no cache)."""
    from .analysis import analysis_entry
    if cache_dir is None:
        return 0
    entry = analysis_entry(info, options=options, cache_dir=cache_dir)
    try:
        with np.load(entry) as data:
            return int(data["raw_landmarks"].shape[0])
    except Exception:   # missing or damaged: the analysis recomputes it
        return 0


def _landmarks(plan, analysis, t: int) -> np.ndarray | None:
    """Output frame ``t``'s landmarks as the render hands them to the backend (render.Synthesiser):
    blended across a join, None without a face or with the mouth covered."""
    from .render import is_covered
    if is_covered(analysis.covered, plan.src[t]):
        return None
    return plan.landmarks(analysis.track, t)


def _compose(info, plan, a: int, b: int, w: float) -> np.ndarray:
    """Source frame ``a``, or at a join ``a`` and ``b`` mixed as the render mixes them (weight ``w`` of b)."""
    wanted = {a} | ({b} if b >= 0 else set())
    got: dict[int, np.ndarray] = {}
    frames = media.iter_frames(info)
    try:
        for i, frame in enumerate(frames):
            if i in wanted:
                got[i] = frame.copy()
                if len(got) == len(wanted):
                    break
    finally:
        frames.close()
    return got[a] if b < 0 else plan.compose(got[a], got[b], w)
