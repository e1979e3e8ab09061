"""The streaming run: a short sequence of named stages over one per-job context, :class:`Job`.

    probe           what the inputs are                       -> job.info, job.backend, job.enhancer
    analyse_inputs  face track + mouth library (:func:`heygem_kernel.analysis.analyse`, cached by
                    the video's content hash) beside the speech; the loop plan      -> job.analysis, job.speech, job.feats, job.plan
    render          decode -> synthesise -> composite -> encode, overlapped (:mod:`heygem_kernel.render`)
                                                              -> job.rendered, job.encoder
    check           the output's own mouth against the speech -> job.sync
    draw_plots      mouth track and landmark plots            -> job.plots
                    (check and draw_plots run while the encoder finishes its last frames)
    check_mux       the written file's sound against the speech (once the file is complete):
                    a mux fault moves the sync offset           -> job.mux, job.sync
    record          params.json, result.json                  -> RunResult

Each stage is a function of the :class:`Job`: it reads what earlier stages filled in and adds
its own part. Frames flow through bounded queues, so memory does not grow with the video.
"""
from __future__ import annotations

import contextlib
import glob
import logging
import math
import os
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from . import backends, cache, compositing, enhance, loops, media, occlusion, records
from .analysis import Analysis, Progress, _check, _report, analyse   # analyse: also pipeline.analyse
from .errors import InputError, NoFaceError, record_of
from .i18n import N_, Text, _
from .options import RunOptions, check_device, option_label
from .render import Rendered, make_meter, output_size, render, written_size

LOG = logging.getLogger("heygem")


class Stopwatch:
    """Seconds spent per named step, summed over calls: ``with watch("encode"): ...``.

    Steps on different threads overlap, so their seconds may add up to more than the run's.
    """

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    def add(self, name: str, seconds: float) -> None:
        self._seconds[name] = self._seconds.get(name, 0.0) + seconds

    @property
    def timings(self) -> dict[str, float]:
        """Seconds per step, rounded to ms."""
        return {name: round(sec, 3) for name, sec in self._seconds.items()}


@dataclass
class Job:
    """One run: its inputs and settings, and what each stage found (filled in stage order)."""

    audio: Path
    video: Path
    output: Path
    run_dir: Path
    options: RunOptions
    cache_dir: Path
    progress: Progress | None = None
    cancel: threading.Event | None = None
    speech: Any = None                 # audio.Speech: given (a batch loads it once) or loaded by analyse_inputs
    watch: Stopwatch = field(default_factory=Stopwatch)
    started: float = field(default_factory=time.perf_counter)
    # filled by the stages
    info: media.VideoInfo | None = None    # probe
    expected_s: float = 0.0                # probe: the speech's length from its header, in s
    notes: list = field(default_factory=list)  # probe: what the H.264 output cannot carry, one plain line each
    backend: backends.Backend | None = None  # probe
    enhancer: Any = None                   # probe: enhance.Enhancer, or None without face restoration
    analysis: Analysis | None = None       # analyse_inputs
    feats: backends.AudioFeatures | None = None  # analyse_inputs: speech features at the video's rate
    n_out: int = 0                         # analyse_inputs: output frames
    plan: Any = None                       # analyse_inputs: loops.LoopPlan, the source frame of each output frame
    speech_job: Future | None = None       # probe: the speech analysis, running beside the video work
    meter: Any = None                      # analyse_inputs: render.MouthMeter, made while the speech is analysed
    decoded: media.FrameSpool | None = None  # analyse_inputs: the frames the face analysis decoded, for the render
    rendered: Rendered | None = None       # render
    encoder: Any = None                    # render: render.Encoder, finishing the file until closed
    plots: dict = field(default_factory=dict)  # draw_plots: name -> PNG path
    sync: Any = None                       # check: sync.SyncEstimate, or None when not checked
    silent: Any = None                     # analyse_inputs: the note (i18n.Text) when the speech holds no sound
    mux: Any = None                        # check_mux: mux_check.MuxCheck of the written file
    sync_targets: Any = None               # check: the render's targets against the same reference
    speaker_job: Future | None = None      # analyse_inputs: the source's own speech (phones), beside the faces
    speaker: Any = None                    # analyse_inputs: speaker_timing.SpeakerTiming of the presenter
    tools_job: Future | None = None        # probe: records.tool_versions() (git, ffmpeg), for params.json

    @property
    def log_path(self) -> Path:
        return self.run_dir / "run.log"

    def check_cancel(self) -> None:
        _check(self.cancel)

    def report(self, stage: str, done: int, total: int) -> None:
        _report(self.progress, stage, done, total)


# result.json's extra.sync_verdict when the speech is silent (no check: nothing to hold the mouth against)
SYNC_SILENT = N_("sync not checked: {name} holds no sound")

_MISSING = {"audio": (N_("no such audio file: {path}"), N_("{path} is a folder, expected an audio file")),
            "video": (N_("no such video file: {path}"), N_("{path} is a folder, expected a video file"))}


def _check_inputs(audio: str | Path, video: str | Path) -> tuple[Path, Path]:
    # /dev/stdin (`< speech.wav`), /proc/self/fd/N name this process's files: ffmpeg, a child, opens the file itself
    for kind, given in (("audio", audio), ("video", video)):
        if not str(given).strip():   # --audio "" (an unset shell variable): Path("") is the current folder
            raise InputError("--{kind} is empty: name a file", kind=kind)
        media.refuse_web_address(given)
    audio, video = (Path(os.path.realpath(p)) if str(p).startswith(("/dev/", "/proc/"))
                    and os.path.isfile(os.path.realpath(p)) else Path(p).expanduser() for p in (audio, video))
    for kind, path in (("audio", audio), ("video", video)):
        missing, folder = _MISSING[kind]
        if not path.exists():
            raise InputError(missing, path=path)
        if path.is_dir():
            raise InputError(folder, path=path)
        if not path.is_file():   # /dev/stdin fed by a pipe: probed once, then empty for the decoder
            raise InputError("{path} is a pipe or a device, not a file: it can be read only once; save it to a "
                             "file first", path=path)
    return audio, video


OUTPUT_SUFFIXES = (".mp4", ".m4v", ".mov")   # the writer makes an MP4 (H.264 + AAC, faststart)


def _check_output(typed: str | Path, audio: Path, video: Path) -> Path:
    """The output file of ``--out typed``: ``~`` expanded, ``.mp4`` added to a name without an extension
    (as ``heygem sync --plot NAME`` adds ``.png``: ``--out result`` wrote an MP4 named ``result``, which
    no player or file manager knows as a video). Refuses, before any work, a path that cannot work: an
    input itself, a folder (also one still to be made: ``--out newdir/`` wrote ``newdir.mp4``, as
    pathlib drops the slash), a file type the MP4 writer cannot make, a name too long for the disk."""
    if str(typed) == "-":    # not standard output: the MP4's index goes at its start once it is complete
        raise InputError("--out -: an MP4 cannot be streamed to standard output; name a file, e.g. {example}",
                         example="output.mp4")
    output = Path(typed).expanduser()
    records.check_file_name(output)
    if str(typed).endswith(("/", os.sep)) and not output.is_dir():
        raise InputError("{path} ends with a slash, so it names a folder; --out needs a file name, e.g. {example}",
                         path=typed, example=output / "output.mp4")
    if output.is_dir():
        raise InputError("{path} is a folder; --out needs a file name, e.g. {example}", path=output,
                         example=output / "output.mp4")
    if output.exists() and not output.is_file():   # /dev/null, /dev/stdout: the rename would replace the device
        raise InputError("{path} is a device or a pipe, not a file; --out needs a file name, e.g. {example}",
                         path=output, example="output.mp4")
    if not output.suffix:
        output = records.check_file_name(output.with_name(output.name + ".mp4"))
    for source in (audio, video):
        if output.exists() and output.resolve() == source.resolve():
            raise InputError("{path} is an input of this run: the output would overwrite it; choose another --out",
                             path=output)
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InputError("{path}: the output is an MP4 video; name it .mp4 (or .mov, .m4v)", path=output)
    return output


def _backend_for(options: RunOptions):
    return backends.create(options.backend, checkpoint=options.checkpoint, device=options.device,
                           batch_size=options.batch_size, models_dir=options.models_dir)


def _frames_for(seconds: float, info) -> int:
    """Output frames for ``seconds`` of speech at the video's rate: what the written file holds."""
    return media.output_frames(seconds, info.exact_fps)


def _return_big_buffers_to_the_os() -> None:
    """Make glibc map every frame-sized buffer (>= ``MMAP_THRESHOLD``) separately and unmap it on free,
    and keep up to ``TRIM_THRESHOLD`` of freed smaller blocks for re-use.

    Frames are allocated on several threads (decode, backend, blend, encode); with glibc's
    default, freed 6 MB frames stay in per-thread heaps and the process slowly grows with the
    video's length: a fixed mmap threshold keeps peak RSS flat (frames themselves are re-used
    through ``media.FramePool``). The threshold sits above the per-frame temporaries (the mouth
    region's float blends, crops: up to ~1 MB at 1080p), and the trim threshold keeps freed ones
    mapped: with glibc's 256 KiB / 128 KiB they were mapped and zeroed afresh for every frame,
    ~700 page faults per output frame, ~1.5 s of kernel time per 30 s of 1080p. No-op off glibc.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)   # fixing it also stops its upward drift
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    except (OSError, AttributeError):
        pass


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3     # glibc's mallopt() parameter numbers (malloc.h)
MMAP_THRESHOLD = 2 << 20    # bytes: 720p BGR frames (2.8 MB) and up are mapped on their own
TRIM_THRESHOLD = 8 << 20    # bytes of free heap kept per arena (60 s of 1080p: 32 MiB peaked 16 MB higher)

_MALLOC_TUNED = False


def run(audio: str | Path, video: str | Path, *, out: str | Path | None = None,
        options: RunOptions | None = None, run_dir: str | Path | None = None,
        runs_root: str | Path = "runs", name: str | None = None, speech=None,
        progress: Progress | None = None, cancel: threading.Event | None = None,
        cache_dir: str | Path | None = None) -> records.RunResult:
    """Lip-sync ``video`` (or a photo) to ``audio`` and write an H.264/AAC MP4.

    ``out``: the output file (default ``<run dir>/output.mp4``; ``.mp4`` is added to a name without an
    extension); ``run_dir``: this run's record
    folder (default a new ``<runs_root>/<time>-<name>``); ``speech``: an already loaded
    :class:`heygem_kernel.audio.Speech` of ``audio`` (a batch loads it once); ``progress(stage,
    done, total)`` is called as work advances; setting ``cancel`` stops the run; ``cache_dir``
    holds the face-track cache (default :func:`heygem_kernel.cache.default_dir`, ``$HEYGEM_CACHE_DIR`` or
    ``~/.cache/heygem``, shared with batches and the panel; ``<runs_root>/.cache`` if that cannot be written).

    Returns a :class:`~heygem_kernel.records.RunResult`; raises a
    :class:`~heygem_kernel.errors.HeyGemError` for bad input. A failed or cancelled run leaves
    no output file behind (the encoder writes to a temporary name).
    """
    options = options or RunOptions()
    from .articulation import normalise_language     # an unknown --language: one line, before any work
    options = options.replace(language=normalise_language(options.language))
    speech = _speech_in(speech, options.language)
    check_device(options.device)                     # --device cuda without a GPU: one line, every backend
    from .detectors import check_detector
    check_detector(options.detector)                 # --detector face_alignment without its weights: now
    warnings = backends.check_options(options)       # a missing --checkpoint: one line; unused ones: a warning
    audio, video = _check_inputs(audio, video)
    for path in (audio, video, out, run_dir or runs_root, cache_dir):   # a GBK name: one line now, not an
        if path is not None:                                            # internal error after the render
            records.check_utf8_name(Path(path).expanduser())
    run_dir = Path(run_dir).expanduser() if run_dir else None   # "~/proj": the records go where the output goes
    if out is not None:
        out = _check_output(out, audio, video)   # "~/x.mp4" from a notebook or quoted
    if run_dir:   # a folder of the user's own files: one line, before anything in it is made or replaced
        records.check_run_dir(run_dir, output_inside=out is None,
                              keep=_inside(out, run_dir) + (records.PROGRESS_JSON,))   # a batch item's progress
    if out is not None:
        records.make_folder(out.parent)   # read-only: one line, before a run folder is made
    # a file in the way: one line now, not an internal error after the face analysis
    cache_dir = cache.usable_dir(cache_dir, fallback=Path(runs_root) / ".cache", use_cache=options.use_cache)
    _return_big_buffers_to_the_os()
    swept = [Path(run_dir)] if run_dir else [p for p in Path(runs_root).glob("*") if p.is_dir()]
    run_dir = records.make_folder(run_dir) if run_dir else records.new_run_dir(runs_root, name or video.stem)
    output = Path(out) if out else run_dir / "output.mp4"
    records.make_folder(output.parent)
    job = Job(audio=audio, video=video, output=output, run_dir=run_dir, options=options,
              cache_dir=cache_dir, progress=progress, cancel=cancel, speech=speech)
    for folder in (*swept, job.cache_dir):   # frame spools and temporaries of runs that were killed
        records.sweep_stale(folder)
    records.sweep_stale(output.parent, only=f".{records.temp_stem(output.stem)}.partial{records.TMP_MARK}")   # a killed run's
    stale = records.clear_record(run_dir)   # a re-used run folder: the earlier run's result must not outlive this one
    with records.run_log(job.log_path):
        if stale:
            LOG.info("run folder re-used: removed the earlier run's %s", ", ".join(p.name for p in stale))
        for warning in warnings:
            LOG.warning("%s", warning)
        try:
            return _run(job)
        except Exception as exc:
            LOG.error("run failed: %s", exc, extra={"run_log_only": True})   # the CLI prints it once
            raise
        except KeyboardInterrupt:   # Ctrl-C, or SIGTERM/SIGHUP in the CLI: the record says why it stops
            LOG.error("run interrupted", extra={"run_log_only": True})
            raise


def _run(job: Job) -> records.RunResult:
    """The stages in order; each reads what the ones before it put into ``job``."""
    LOG.info("run: audio=%s video=%s backend=%s", job.audio, job.video, job.options.backend)
    try:
        with job.watch("probe"):
            probe(job)
        analyse_inputs(job)
        with job.watch("render"):
            job.rendered = render(job)
        LOG.info("render: %d frames, %d without a face and %d with the mouth covered passed through", job.n_out,
                 job.rendered.no_face, len(job.rendered.covered))
        if job.options.sync_check and job.silent is None:
            with job.watch("sync"):
                job.sync = check(job)
        elif job.options.sync_check:   # nothing to hold the mouth against: any "offset" would be noise
            LOG.info("sync: not checked, the speech holds no sound")
        with job.watch("plots"):
            job.plots = draw_plots(job)
        job.encoder.close()   # the file is complete from here on
        if job.sync is not None:
            with job.watch("sync"):
                check_mux(job)
    except BaseException:
        if job.encoder is not None:   # no partial output left behind
            job.encoder.abort()
        else:                         # stopped (a signal) between the writer's start and job.encoder being set
            for own in job.output.parent.glob(f".{glob.escape(records.temp_stem(job.output.stem))}.partial"
                                              f"{records.TMP_MARK}{os.getpid()}-*"):
                own.unlink(missing_ok=True)
        raise
    finally:
        if job.meter is not None:
            job.meter.close()
        if job.decoded is not None:
            job.decoded.close()
    return record(job)


def probe(job: Job) -> None:
    """What the inputs are: the speech's length, the video's geometry and rate, the backend.

    Once the audio is known to be readable its analysis starts on its own thread: it needs
    nothing of the video, so it runs beside the video probe and the face analysis.
    """
    audio_info = None if job.speech is not None else media.probe_audio(job.audio)
    job.expected_s = job.speech.duration if job.speech is not None else audio_info.duration
    job.speech_job = _in_background("heygem-speech", _timed_call, job.watch, "speech", analyse_speech, job.audio,
                                    job.speech, job.run_dir / "mel.png", job.options.language)
    # asked now, on a thread: its git and ffmpeg calls (~0.15 s) would otherwise end the run
    job.tools_job = _in_background("heygem-versions", records.tool_versions)
    info = job.info = media.probe_video(job.video, still_fps=job.options.still_fps,
                                        cache_dir=job.cache_dir if job.options.use_cache else None)
    job.notes = media.conversion_notes(info, size=written_size(info, job.options))
    if audio_info is not None and audio_info.tracks > 1:
        job.notes.append(Text("{name} has {tracks} audio tracks: only the first is used as the speech",
                              name=job.audio.name, tracks=audio_info.tracks))
    for note in job.notes:
        LOG.warning("%s", note)
    if not info.is_image and job.options.still_fps != RunOptions.still_fps:   # it was dropped in silence
        LOG.warning("%s", Text("{option} is the frame rate of a photo's output: {name} is a video and keeps its "
                               "own ({fps:.3f} fps); ignored", option=option_label("still_fps"),
                               name=job.video.name, fps=info.fps))
    asked = job.options.out_height
    if asked and asked % 2 and asked != info.height:   # it was rounded down in silence
        width, height = output_size(info, job.options)
        LOG.warning("%s", Text("{option} {asked}: H.264 (yuv420p) needs an even height, so the output is "
                               "{width}x{height}", option=option_label("out_height"), asked=asked, width=width,
                               height=height))
    LOG.info("video: %dx%d%s, %.3f fps%s, %d frames%s", info.width, info.height,
             f" (stored {info.stored_width}x{info.height}, pixel aspect {info.pixel_aspect})" if info.pixel_aspect else "",
             info.fps, " (variable rate, resampled)" if info.is_vfr else "", info.n_frames,
             " (photo)" if info.is_image else "")
    job.backend = _backend_for(job.options)
    job.enhancer = enhance.from_options(job.options)  # a bad model file fails here, before any heavy work


def analyse_inputs(job: Job) -> None:
    """Face track + mouth library of the source frames the output needs, beside the speech.

    Speech analysis (phonemes, mel; started by :func:`probe`) runs on a second thread while the
    faces are tracked: they are independent, and on two cores the overlap hides most of the
    speech's time. On cached footage the sync check's models load while the speech finishes.
    """
    info, options, backend = job.info, job.options, job.backend
    job.report("audio", 0, 1)
    n_analysed = min(info.n_frames, _frames_for(job.expected_s, info))
    job.decoded = _decode_spool(job, n_analysed)
    job.speaker_job = _start_speaker_speech(job, n_analysed)
    with job.watch("analyse"):
        job.analysis = analyse(info, options=options, n_frames=n_analysed,
                               want_library=backend.needs_library, cache_dir=job.cache_dir,
                               progress=job.progress, cancel=job.cancel, account=job.watch.add,
                               spool=job.decoded, thumbs_needed=_loops(info, options, _frames_for(job.expected_s, info)))
    if job.decoded is not None and job.decoded.count == 0:   # all cached: nothing was decoded
        job.decoded.close()
        job.decoded = None
    if options.sync_check and not job.speech_job.done():  # load the sync check's models meanwhile
        job.meter = make_meter(job)
    with job.watch("audio"):  # what is left to wait for once the faces are done
        job.speech = job.speech_job.result()
    job.n_out = n_out = _frames_for(job.speech.duration, info)
    job.speaker = _speaker_timing(job)
    job.feats = job.speech.features(fps=info.fps, n_frames=n_out, speaker_lead=job.speaker.lead_s)
    job.report("audio", 1, 1)
    LOG.info("speech: %.2f s -> %d output frames (%s)", job.speech.duration, n_out,
             "a photo, held" if info.is_image else f"{options.loop} loop" if n_out > info.n_frames
             else "trim" if n_out < info.n_frames else "1:1")
    from . import dereverb
    from .audio import silence_note
    if (silent := silence_note(job.speech.wav, name=job.audio.name)) is not None:   # said, not refused
        job.notes.append(silent)
        job.silent = silent
        LOG.warning("%s", silent)
    elif reverb := dereverb.run_note(job.speech.reverb_decay_s, name=job.audio.name):    # phones less sure
        job.notes.append(reverb)
        LOG.warning("%s", reverb)
    n_src = min(info.n_frames, n_out)
    # the decoded speech ran a little longer than its header said: more frames, or a loop after all
    if job.analysis.track.n_frames < n_src or _loops(info, options, n_out) and job.analysis.thumbs is None:
        job.analysis = analyse(info, options=options, n_frames=n_src, want_library=backend.needs_library,
                               cache_dir=job.cache_dir, cancel=job.cancel, thumbs_needed=_loops(info, options, n_out))
    job.check_cancel()
    analysis = job.analysis
    if not np.any(analysis.track.valid):
        raise NoFaceError(N_("no face found in {video} ({n} frame checked)") if n_src == 1 else
                          N_("no face found in {video} ({n} frames checked)"), video=job.video, n=n_src)
    LOG.info("analysis: face in %d/%d source frames%s", int(analysis.track.valid.sum()), n_src,
             f", {len(analysis.library)} mouths in the library" if analysis.library is not None else "")
    from .scan import several_faces
    if analysis.faces_seen is not None and (several := several_faces(analysis.faces_seen, info.fps, still=info.is_image)):
        job.notes.append(several)    # which person is lip-synced is the user's to know
        LOG.warning("%s", several)
    job.plan = _loop_plan(info, analysis, options, n_out, job.feats.envelope)
    backend.prepare(backends.JobContext(audio=job.feats, track=analysis.track, library=analysis.library,
                                        width=info.width, height=info.height, options=options,
                                        cache_dir=job.cache_dir))


def _inside(out: Path | None, run_dir: Path) -> tuple[str, ...]:
    """The name under ``run_dir`` that ``--out`` lies in or is (``rd/renders/take.mp4``: "renders"),
    compared as resolved paths (a link to the folder, ``..``); () when it lies elsewhere."""
    if out is None:
        return ()
    try:
        return out.resolve().relative_to(run_dir.resolve()).parts[:1]
    except (ValueError, OSError):
        return ()


def _start_speaker_speech(job: Job, n_analysed: int) -> Future | None:
    """The source's own speech over the analysed frames (:mod:`heygem_kernel.speaker_timing`), on a
    thread beside the face analysis; None (and ``job.speaker`` saying why) when there is none to read."""
    from . import speaker_timing
    why = speaker_timing.reason_not_to_measure(job.info, enabled=job.options.speaker_timing, backend=job.backend)
    if why is not None:
        job.speaker = speaker_timing.not_measured(why, language=job.options.language)
        return None
    n = speaker_timing.span_frames(job.info, n_analysed)
    cache_dir = job.cache_dir if job.options.use_cache else None
    return _in_background("heygem-own-speech", _timed_call, job.watch, "speaker_speech",
                          lambda: (n, speaker_timing.own_phones(job.info, n_frames=n, cache_dir=cache_dir),
                                   speaker_timing.own_constriction(job.info, n_frames=n, language=job.options.language)))


def _speaker_timing(job: Job):
    """How far this presenter's lips lead the calibrated zero (the render's per-run ``speaker_lead``)."""
    from . import speaker_timing
    from .errors import HeyGemError, os_error
    if job.speaker_job is None:
        return job.speaker
    try:
        with job.watch("audio"):
            n, phones, cue = job.speaker_job.result()   # frames [0, n) of the source, their own speech
    except (HeyGemError, OSError) as exc:     # a bad sound track costs the correction, never the run
        timing = speaker_timing.not_measured(Text("the source's own sound could not be read: {reason}",
                                                   reason=os_error(exc) if isinstance(exc, OSError) else exc))
    else:
        analysis = job.analysis
        timing = speaker_timing.measure(landmarks=analysis.raw[:n], valid=analysis.track.valid[:n], phones=phones,
                                        info=job.info, video_name=job.video.name, language=job.options.language,
                                        constriction=cue)
    if timing.applied:
        LOG.info("speaker timing: the presenter's mouth reads %+.2f frames (%+.0f ms, confidence %.2f, chance %.2f) "
                 "on %s: mouth shapes drawn %.0f ms %s (%s)", timing.offset_frames, timing.offset_ms, timing.confidence,
                 timing.chance, timing.measured_on, abs(timing.lead_ms), "earlier" if timing.lead_ms >= 0 else "later",
                 timing.applied_from)
    else:
        LOG.info("speaker timing not applied: %s", timing.note)
    return timing


def _decode_spool(job: Job, n_frames: int) -> media.FrameSpool | None:
    """A spool for the frames the face analysis decodes, so the render reads them back instead
    of decoding the video again (for 1080p HEVC ~5.5 ms of ffmpeg CPU and ~4 ms of pipe and
    conversion per frame, against ~3 ms to write and read back an I420 frame). Only while the
    frames fit ``media.RAW_SPOOL_LIMIT``: compressing them would cost more than decoding twice."""
    return media.decode_spool(job.info, n_frames=n_frames, spool_dir=job.run_dir)


def _loops(info, options: RunOptions, n_out: int) -> bool:
    """Whether ``n_out`` output frames are a seamless loop of the video (its plan reads the loop
    thumbnails); a photo, ping-pong and a trim do not need them."""
    return options.loop == "seamless" and not info.is_image and n_out > info.n_frames


def _loop_plan(info, analysis: Analysis, options: RunOptions, n_out: int, envelope) -> "loops.LoopPlan":
    """Which source frame each output frame shows (see :mod:`heygem_kernel.loops`); logged."""
    track = analysis.track
    plan = loops.plan_loop(n_out=n_out, fps=info.fps, mode=options.loop, thumbs=analysis.thumbs,
                           landmarks=track.landmarks, valid=track.valid, envelope=envelope,
                           frame_size=(info.width, info.height), is_image=info.is_image, n_src=info.n_frames)
    if plan.mode != "trim":   # one line: the plan, with the reason when seamless fell back to ping-pong
        fell_back = options.loop == "seamless" and plan.mode == "pingpong"
        LOG.log(logging.WARNING if fell_back else logging.INFO, "%s", plan.summary())
    return plan


def check(job: Job):
    """Sync check: the output's own mouth (measured while rendering) against the speech.

    The reference is the calibrated real-speech model of the speech's phones, never the
    targets that drove the render; the targets are checked against the same reference.
    """
    from . import sync as sync_mod
    r, info, speech = job.rendered, job.info, job.speech     # speech: its language's front end too
    # the undithered phones: the variants' 3 more recognitions (~1.3 CPU-s per 8 s of speech) are
    # heygem sync's, whose reading is the reference measure; a run's reading jitters ~0.4 frame more
    est = sync_mod.estimate_from_speech(r.mouth_open, speech=speech, fps=info.fps, mouth_width=r.mouth_width,
                                        eye_distance_px=sync_mod.eye_distance(job.analysis.track), dithered=False)
    job.sync_targets = sync_mod.check_targets(job.feats.visemes, speech=speech, fps=info.fps, dithered=False)
    LOG.info("sync: offset %+d frames, confidence %.2f (chance %.2f), correlation %.2f: %s", est.offset_frames,
             est.confidence, est.chance, est.correlation, est.verdict())
    return est


def check_mux(job: Job) -> None:
    """The written file's sound against the speech the check used (:mod:`heygem_kernel.mux_check`):
    a sound track muxed early or late moves the reported offset by as much."""
    from . import mux_check
    job.mux = mux_check.sound_offset(job.output, speech=job.speech.wav, sr=job.speech.sr)
    if job.mux.measured and abs(job.mux.offset_s) * job.info.fps >= 0.5:
        LOG.warning("the written file's sound plays %+.0f ms from where the speech was placed (the mux); "
                    "the sync offset includes it", 1000.0 * job.mux.offset_s)
    job.sync = mux_check.apply(job.sync, job.mux)


def draw_plots(job: Job) -> dict[str, Path]:
    """The landmark and mouth-track plots (the mel plot was drawn beside the face analysis)."""
    return _plots(job.run_dir, job.feats, job.rendered, job.sync, job.info.fps, mask_scale=job.options.mask_scale)


def _follows_source(sync, speaker) -> bool:
    """The output reads out of sync only as far as its source does: speaker timing moved the shapes by
    the presenter's own reading and the output reads within a frame of it (a capture whose picture is
    late, a presenter whose lips lead more): said so, or the verdict looks like a fault of the run."""
    from .sync import IN_SYNC_FRAMES
    return bool(speaker.applied and sync.reliable and not sync.in_sync
                and abs(sync.offset_exact - speaker.offset_frames) <= IN_SYNC_FRAMES)


def record(job: Job) -> records.RunResult:
    """``params.json`` and ``result.json``: what a person needs to judge and repeat the run."""
    info, sync, options = job.info, job.sync, job.options
    extra = {"input_notes": job.notes, "input_notes_i18n": [record_of(n) for n in job.notes],   # the report's language
             "mouth_covered": _covered_spans(job.rendered.covered, info.fps),
             "analysis_cached": job.analysis.cached, "source_frames": info.n_frames,
             "is_vfr": info.is_vfr, "is_image": info.is_image, "frames_enhanced": job.rendered.enhanced,
             "loop": job.plan.to_dict(), "speaker_timing": job.speaker.to_dict()}
    if sync is not None:
        follows, verdict = _follows_source(sync, job.speaker), sync.verdict()
        if follows:
            verdict = Text("{verdict}, as in the source video (speaker timing follows its presenter, whose reading "
                           "is {frames:+.1f} frames)", verdict=verdict, frames=job.speaker.offset_frames)
        extra.update(sync_chance=float(sync.chance), sync_reliable=bool(sync.reliable), sync_verdict=verdict,
                     sync_follows_source=follows,
                     sync_method=sync.method, sync_targets_offset_frames=job.sync_targets.offset_exact,
                     sync_eye_distance_px=sync.to_dict()["eye_distance_px"], speech_language=job.speech.language,
                     speech_reverb_decay_ms=_ms_or_none(job.speech.reverb_decay_s),
                     sync_mux=None if job.mux is None else job.mux.to_dict())
    elif job.silent is not None and options.sync_check:
        # a closed mouth against silence read as "video lags audio by 14 frames, confidence 0.67" (a photo)
        extra.update(sync_reliable=False, sync_verdict=Text(SYNC_SILENT, name=job.audio.name),
                     speech_language=job.speech.language)
    extra.update(_backend_scores(job.backend, job.output, job.feats, info))
    plots = job.plots
    job.watch.add("total", time.perf_counter() - job.started)
    params_path = job.run_dir / "params.json"
    records.write_json(params_path, {
        # the names the user gave (a link's own name: what --from re-reads), made absolute; and the files they are
        "audio": str(job.audio.absolute()), "video": str(job.video.absolute()), "output": str(job.output.absolute()),
        "audio_resolved": str(job.audio.resolve()), "video_resolved": str(job.video.resolve()),
        "options": options.to_dict(), "backend": job.backend.describe(),
        "versions": records.versions(tools=_tools(job)),
        "video_info": {k: str(v) if isinstance(v, Path) else v for k, v in vars(info).items()},
        "audio_duration": job.speech.duration, "command": sys.argv if "heygem" in " ".join(sys.argv[:1]) else None,
        "cwd": os.getcwd(),   # what the command's relative paths mean
        # which inputs exactly (a colleague's copy, a file replaced at the same path); the video's is memoised
        "audio_sha256": cache.file_hash(job.audio), "video_sha256": cache.file_hash(job.video),
        "enhance": job.enhancer.describe() if job.enhancer else None,
        "speaker_timing": job.speaker.to_dict(),   # the per-speaker lead the render used (issue 8)
    })
    out_w, out_h = media.encoded_size(*written_size(info, options))   # the file's size (even sides)
    result = records.RunResult(
        output=job.output, run_dir=job.run_dir, params_path=params_path, log_path=job.log_path, plots=plots,
        width=out_w, height=out_h, fps=info.fps, n_frames=job.n_out, duration=job.speech.duration,
        frames_no_face=job.rendered.no_face, frames_mouth_covered=len(job.rendered.covered),
        sync_offset_frames=None if sync is None else int(sync.offset_frames),
        sync_confidence=None if sync is None else float(sync.confidence),
        sync_correlation=None if sync is None else float(sync.correlation),
        timings=job.watch.timings, backend=options.backend, extra=extra)
    records.write_json(job.run_dir / "result.json", result.to_dict())
    LOG.info("done in %.1f s: %s", result.timings["total"], job.output)
    return result


def _tools(job: Job) -> dict | None:
    """What ``job.tools_job`` found, or None (then :func:`records.versions` asks again)."""
    try:
        return job.tools_job.result() if job.tools_job is not None else None
    except Exception:   # never fail a finished run over a version string
        return None


def _ms_or_none(seconds: float) -> float | None:
    return round(1000.0 * seconds, 1) if math.isfinite(seconds) else None


def _covered_spans(frames: list[int], fps: float) -> list[dict]:
    """Output frames with a covered mouth as stretches: [{"frames": [first, last], "seconds": [t0, t1]}]."""
    flags = np.zeros(max(frames) + 1 if frames else 0, bool)
    flags[frames] = True
    return [{"frames": [a, b], "seconds": [round(a / fps, 3), round((b + 1) / fps, 3)]}
            for a, b in occlusion.spans(flags)]


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


def _in_background(name: str, fn: Callable, *args: Any) -> Future:
    """``fn(*args)`` on a daemon thread (a failed run, or the CLI exiting, never waits for it)."""
    future: Future = Future()

    def work() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to whoever asks for the result
                future.set_exception(exc)
    threading.Thread(target=work, name=name, daemon=True).start()
    return future


def _timed_call(watch: Stopwatch, name: str, fn: Callable, *args: Any) -> Any:
    with watch(name):
        return fn(*args)


def _speech_in(speech, language: str):
    """``speech`` (an audio.Speech analysed once for several videos) if it was analysed for
    ``language`` (canonical code), else None: it is analysed again, not used with another phone model."""
    if speech is not None and speech.language != language:
        LOG.info("speech given for language %s, the run's is %s: analysed again", speech.language, language)
        return None
    return speech


def analyse_speech(audio: Path, speech, mel_png: Path, language: str = "auto"):
    """Speech features (unless given) and their mel plot: runs beside the face analysis."""
    from . import audio as audio_mod, diagnostics
    speech = speech if speech is not None else audio_mod.load_speech(audio, language=language)
    diagnostics.plot_mel(speech.mel, mel_png, title="Mel spectrogram of the driving speech")
    return speech


def _plots(run_dir: Path, feats, rendered: Rendered, sync, fps: float, *, mask_scale: float) -> dict[str, Path]:
    """The landmark and mouth-track plots (the mel plot was drawn beside the face analysis)."""
    from . import diagnostics
    plots = {"mel": run_dir / "mel.png", "landmarks": run_dir / "landmarks.png",
             "mouth_track": run_dir / "mouth_track.png"}
    frames = [s[1] for s in rendered.samples]
    lms = [s[2] for s in rendered.samples]
    outlines = [None if s[3] is None else compositing.mask_geometry(s[3], scale=mask_scale).outline()
                for s in rendered.samples]
    diagnostics.plot_landmarks(frames, lms, plots["landmarks"],
                               titles=[_("frame {n} ({seconds} s)", n=s[0], seconds=f"{s[0] / fps:.2f}")
                                       for s in rendered.samples],
                               mask_polygons=outlines)
    diagnostics.plot_mouth_track(mouth_open=rendered.mouth_open, speech_open=feats.visemes["open"],
                                 envelope=feats.envelope, fps=fps, path=plots["mouth_track"], sync=sync)
    return plots


# ---------------------------------------------------------------------------------------------
def preview_frame(audio: str | Path, video: str | Path, *, options: RunOptions | None = None,
                  frame_index: int = 0, cache_dir: str | Path | None = None, speech=None,
                  outline: bool = True) -> np.ndarray:
    """One output frame as the run writes it: see :func:`heygem_kernel.preview.preview_frame`."""
    from .preview import preview_frame as frame
    return frame(audio, video, options=options, frame_index=frame_index, cache_dir=cache_dir, speech=speech,
                 outline=outline)
