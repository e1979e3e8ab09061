"""``heygem run``: lip-sync one video (or photo) to one speech recording."""
from __future__ import annotations

import argparse
import logging
import sys
import threading

from . import shell_word
from ..i18n import N_
from ..loops import LOOP_MODES
from ..options import RunOptions

DEFAULTS = RunOptions()


def add_option_arguments(parser: argparse.ArgumentParser) -> None:
    """The quality/engine options shared by ``run`` and ``batch`` (mirrors :class:`RunOptions`)."""
    from ..backends import available
    g = parser.add_argument_group(N_("engine options"))
    g.add_argument("--backend", default=DEFAULTS.backend, choices=available(),
                   help=N_("lip-sync backend (default: %(default)s, needs no model weights)"))
    g.add_argument("--checkpoint", help=N_("wav2lip's model file (default: under checkpoints/); for musetalk, a file inside "
                        "its models folder names that folder"))
    g.add_argument("--models-dir", metavar="DIR",
                   help=N_("MuseTalk's models/ folder for --backend musetalk (default: checkpoints/musetalk)"))
    g.add_argument("--device", default=DEFAULTS.device, help=N_("auto, cpu, cuda or cuda:N for learned backends and enhancers; a cuda "
                        "device torch does not see is refused (default: %(default)s)"))
    g.add_argument("--detector", default=DEFAULTS.detector, help=N_("landmark detector (default: %(default)s)"))
    g.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help=N_("frames per batch"))
    g.add_argument("--mask-scale", type=float, default=DEFAULTS.mask_scale, help=N_("mouth mask size factor"))
    g.add_argument("--feather", type=float, default=DEFAULTS.feather, help=N_("mask edge softness 0..1"))
    g.add_argument("--pads", type=int, nargs=4, default=DEFAULTS.pads, metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
                   help=N_("face box padding in pixels (wav2lip)"))
    g.add_argument("--smoothing", type=float, default=DEFAULTS.smoothing, help=N_("landmark smoothing 0..1"))
    g.add_argument("--no-color-match", action="store_true", help=N_("do not colour-match the new mouth"))
    g.add_argument("--fps", type=float, default=DEFAULTS.still_fps, help=N_("output frame rate for a photo input"))
    g.add_argument("--out-height", type=int, help=N_("resize the output to this height"))
    g.add_argument("--crf", type=int, default=DEFAULTS.crf, help=N_("H.264 quality, lower is better"))
    g.add_argument("--preset", default=DEFAULTS.preset, help=N_("x264 preset (default: %(default)s)"))
    g.add_argument("--no-sync-check", action="store_true", help=N_("skip the output's A/V offset measurement"))
    g.add_argument("--no-cache", action="store_true", help=N_("do not re-use cached face tracks"))
    g.add_argument("--language", default=DEFAULTS.language,
                   help=N_("language of the speech: auto (English phone model) or zh, ja, de, en, ... "
                        "(non-English: spectral closure detection on top; default: %(default)s)"))
    g.add_argument("--speaker-timing", default="on" if DEFAULTS.speaker_timing else "off", choices=("on", "off"),
                   help=N_("time the mouth by how far this presenter's lips lead their sound, measured on the video's "
                           "own audio track when it has speech (default: %(default)s)"))
    _add_enhance_arguments(g)
    g.add_argument("--loop", default=DEFAULTS.loop, choices=LOOP_MODES,
                   help=N_("speech longer than the video: seamless forward loops or ping-pong (default: %(default)s)"))


def _add_enhance_arguments(g) -> None:
    from ..enhance import available
    g.add_argument("--enhance", choices=available(),
                   help=N_("restore the new mouth with a face-restoration model you own (default: off)"))
    g.add_argument("--enhance-model", metavar="PATH",
                   help=N_("its model file, .onnx (or .pth with spandrel) (default: under checkpoints/)"))
    g.add_argument("--enhance-strength", type=float, default=DEFAULTS.enhance_strength, metavar="0..1",
                   help=N_("how much of the restored mouth to use (default: %(default)s)"))


def options_from_args(args: argparse.Namespace) -> RunOptions:
    return RunOptions(backend=args.backend, checkpoint=args.checkpoint, models_dir=args.models_dir,
                      device=args.device,
                      detector=args.detector, batch_size=args.batch_size, mask_scale=args.mask_scale,
                      feather=args.feather, pads=tuple(args.pads), smoothing=args.smoothing,
                      color_match=not args.no_color_match, still_fps=args.fps, out_height=args.out_height,
                      crf=args.crf, preset=args.preset, sync_check=not args.no_sync_check,
                      use_cache=not args.no_cache, enhance=args.enhance, enhance_model=args.enhance_model,
                      enhance_strength=args.enhance_strength, loop=args.loop, language=args.language,
                      speaker_timing=args.speaker_timing == "on")


def add_parser(sub) -> None:
    p = sub.add_parser("run", help=N_("lip-sync a video or photo to a speech recording"),
                       description=N_("Lip-sync VIDEO (or a photo) to AUDIO and write an H.264/AAC MP4."))
    p.add_argument("--audio", help=N_("speech: wav, mp3, m4a, aac, flac, ogg or a video's audio (required, unless --from)"))
    p.add_argument("--video", help=N_("video (mp4, mov, avi, mkv, webm, flv) or photo (jpg, png) (required, unless "
                   "--from)"))
    p.add_argument("--from", dest="from_record", metavar="RUN",
                   help=N_("re-run a recorded run: audio, video and every option from RUN (a run folder, a batch "
                        "item's folder, or their params.json); --audio, --video and options given here replace "
                        "the recorded ones"))
    p.add_argument("--out", help=N_("output MP4 (default: <run dir>/output.mp4; .mp4 is added to a name without an "
                                    "extension)"))
    p.add_argument("--run-dir", help=N_("folder for this run's records: a new or empty one, or an earlier run's "
                                        "(default: runs/<time>-<name>)"))
    p.add_argument("--runs-root", default="runs", help=N_("parent of run folders (default: %(default)s)"))
    p.add_argument("--cache-dir", help=N_("face-track cache, shared with heygem batch and the panel (default: "
                   "$HEYGEM_CACHE_DIR or ~/.cache/heygem)"))
    p.add_argument("--quiet", action="store_true", help=N_("no progress bar"))
    add_option_arguments(p)
    p.set_defaults(func=main, parser=p)


CONSOLE_LEVEL = logging.WARNING   # the console: progress bars, warnings, one result or error line


# `heygem run` flags whose RunOptions field has another name
FLAG_FIELDS = {"no_color_match": "color_match", "fps": "still_fps", "no_sync_check": "sync_check",
               "no_cache": "use_cache"}


def _given(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The destinations ``argv`` sets itself: argparse fills in a default only where the namespace
    it is handed lacks the name, so whatever keeps its placeholder was not given."""
    unset = object()
    namespace = argparse.Namespace(**{a.dest: unset for a in parser._actions if a.dest != argparse.SUPPRESS})
    parser.parse_args(argv, namespace=namespace)
    return {dest for dest, value in vars(namespace).items() if value is not unset}


def from_record(args: argparse.Namespace) -> tuple[str, str, RunOptions]:
    """Audio, video and options of ``--from RUN`` (its params.json), with what the command line gives
    instead: ``heygem run --from runs/X --audio new.wav`` is run X with the new speech."""
    import json
    from pathlib import Path
    from ..batch import make_options
    from ..errors import InputError
    path = Path(args.from_record).expanduser()
    params = path / "params.json" if path.is_dir() else path
    if params.name != "params.json" and params.is_file() and (params.parent / "params.json").is_file():
        params = params.parent / "params.json"   # the run's result.json or run.log: its folder's record
    try:
        record = json.loads(params.read_text(encoding="utf-8"))
    except OSError:
        record = None
    except ValueError as exc:
        raise InputError("{path} is not a run record ({reason})", path=params, reason=exc) from None
    batch = path.parent if path.is_file() else path
    manifest = isinstance(record, dict) and "items" in record and "video" not in record   # a batch's manifest.json
    if (record is None or manifest) and (batch / "manifest.json").is_file():   # a batch folder: its items are the runs
        raise InputError("{path} is a batch folder: re-run it with heygem batch --from {arg}, or one of its "
                         "videos with heygem run --from {item}", path=batch, arg=shell_word(batch),
                         item=shell_word(batch / "items" / "NAME"))
    if record is None:
        raise InputError("no run record at {path}: --from takes a run folder (with params.json) or its params.json",
                         path=params)
    if not (isinstance(record, dict) and record.get("audio") and record.get("video")
            and isinstance(record.get("options"), dict)):
        raise InputError("{path} is not a run record (it names no audio, video and options)", path=params)
    options = recorded_options(args, make_options(record["options"]))
    audio, video = args.audio or str(record["audio"]), args.video or str(record["video"])
    if not args.audio:
        warn_if_changed(audio, record.get("audio_sha256"))
    if not args.video:
        warn_if_changed(video, record.get("video_sha256"))
    return audio, video, options


def recorded_options(args: argparse.Namespace, recorded: RunOptions) -> RunOptions:
    """``recorded`` with the engine options the command line sets itself (``run``/``batch --from``)."""
    import dataclasses
    argv = list(args.argv)
    given = _given(args.parser, argv[argv.index(args.command) + 1:])
    fields = {f.name for f in dataclasses.fields(RunOptions)}
    flags = options_from_args(args)
    return recorded.replace(**{FLAG_FIELDS.get(d, d): getattr(flags, FLAG_FIELDS.get(d, d)) for d in given
                               if FLAG_FIELDS.get(d, d) in fields})


def warn_if_changed(path: str, recorded_sha256: str | None) -> None:
    """One warning when a recorded input's file is not the one the record was made with (sha256)."""
    from pathlib import Path
    from ..cache import file_hash
    from ..i18n import _
    if recorded_sha256 and Path(path).is_file():   # an older record, or missing (the run says so)
        if file_hash(path) != recorded_sha256:
            logging.getLogger("heygem").warning("%s", _(
                "{path} is not the file this record was made with (its sha256 differs): the re-run will not "
                "reproduce the recorded one", path=path))


def main(args: argparse.Namespace) -> int:
    from .. import pipeline
    if args.from_record:
        audio, video, options = from_record(args)
    elif args.audio is None or args.video is None:
        missing = ", ".join(f for f, v in (("--audio", args.audio), ("--video", args.video)) if v is None)
        args.parser.error(f"the following arguments are required: {missing}")
    else:
        audio, video, options = args.audio, args.video, options_from_args(args)
    warn_unused_cache_dir(args.cache_dir, use_cache=options.use_cache)
    bar = _ProgressBar(disable=args.quiet)
    try:
        result = pipeline.run(audio, video, out=args.out, options=options,
                              run_dir=args.run_dir, runs_root=args.runs_root, cache_dir=args.cache_dir,
                              progress=bar)
    finally:
        bar.close()
    from ..i18n import _
    from ..sync import VERDICT_NOTHING_COMPARED, verdict_too_short
    extra = result.extra or {}
    too_short = verdict_too_short(extra.get("sync_verdict"))
    if result.sync_offset_frames is None:   # not checked: --no-sync-check, or a silent speech (its verdict says so)
        verdict = extra.get("sync_verdict")
        sync = _(", {verdict}", verdict=verdict.localized()) if hasattr(verdict, "localized") else ""
    elif too_short:
        sync = _(", too short for a sync check")
    elif getattr(extra.get("sync_verdict"), "msgid", "") == VERDICT_NOTHING_COMPARED:
        # nothing to compare (a silent speech track, no face): say why, not "0.00 below the chance level"
        note = extra["sync_verdict"].values["note"]
        sync = _(", sync not measurable: {note}", note=note.localized() if hasattr(note, "localized") else note)
    elif extra.get("sync_reliable") is False:   # below chance: the offset is a guess, so not shown as a figure
        sync = _(", sync not measurable (confidence {confidence} below the chance level {chance})",
                 confidence=f"{result.sync_confidence:.2f}", chance=f"{extra.get('sync_chance', 0):.2f}")
    elif extra.get("sync_follows_source"):   # off only as far as the source reads: not the run's fault
        sync = _(", sync offset {offset} frames as in the source video (confidence {confidence})",
                 offset=f"{result.sync_offset_frames:+d}", confidence=f"{result.sync_confidence:.2f}")
    else:
        sync = _(", sync offset {offset} frames (confidence {confidence})",
                 offset=f"{result.sync_offset_frames:+d}", confidence=f"{result.sync_confidence:.2f}")
    covered = ("" if not getattr(result, "frames_mouth_covered", 0) else
               _(", {n} with the mouth covered", n=result.frames_mouth_covered))
    print(_("wrote {path} ({width}x{height}, {fps} fps, {seconds} s, {no_face} frames without a face{sync})",
            path=result.output, width=result.width, height=result.height, fps=f"{result.fps:.3f}",
            seconds=f"{result.duration:.2f}", no_face=result.frames_no_face, sync=covered + sync))
    print(_("run record: {path}", path=result.run_dir))
    return 0


def warn_unused_cache_dir(cache_dir: str | None, *, use_cache: bool) -> None:
    """``--cache-dir`` with ``--no-cache`` (``run`` and ``batch``): one warning line, not dropped in silence."""
    if cache_dir and not use_cache:
        from ..i18n import _
        logging.getLogger("heygem").warning("%s", _("{option} is not used with --no-cache: ignored",
                                                    option="--cache-dir"))


# the stages ``pipeline.run`` reports progress for, as the bars name them (translated)
STAGE_LABELS = {"audio": N_("speech"), "analyse": N_("faces"), "render": N_("render")}
UNITS = {"audio": N_("step"), "analyse": N_("frame"), "render": N_("frame")}
# Stages that run on a thread beside another (the speech analysis beside the face analysis): on a
# terminal they show on the bar of the stage in front, not as a bar that takes turns with it.
BESIDE = frozenset({"audio"})
RUNNING_MARK, DONE_MARK = "…", "✓"   # a stage shown beside the bar: still working / done
LINE_STEPS = 4                       # without a terminal: a line at each quarter of a stage (and its start)


class _ProgressBar:
    """Progress of a run on stderr, labelled in the user's language; safe to call from any thread.

    On a terminal: one tqdm bar at a time, for the stage in front; a stage of :data:`BESIDE` (the
    speech analysis, on its own thread while the faces are tracked) shows on that bar as ``speech …``
    then ``speech ✓``. Elsewhere (a log file, CI, a batch's log): plain lines, ``faces: 25% (31/125)``,
    at a stage's start and each quarter of it, never a carriage return.
    """

    def __init__(self, *, disable: bool, stream=None) -> None:
        self.disable = disable
        self.stream = stream or sys.stderr
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.lock = threading.Lock()
        self.bar = None
        self.stage = None
        self.beside: dict[str, bool] = {}     # BESIDE stage -> done, shown on the bar in front
        self.steps: dict[str, int] = {}       # stage -> quarters printed (no terminal)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.disable:
            return
        with self.lock:
            if self.terminal:
                self._show_bar(stage, done, total)
            else:
                self._print_line(stage, done, total)

    def _show_bar(self, stage: str, done: int, total: int) -> None:
        if stage in BESIDE:
            self.beside[stage] = done >= total
            if self.bar is not None and stage != self.stage:   # another stage is in front: its bar says it
                self.bar.set_postfix_str(self._beside_text())
                return
        if stage != self.stage:
            self._close()
            from tqdm import tqdm
            from ..i18n import _, width
            self.stage = stage
            self.beside = {s: finished for s, finished in self.beside.items() if not finished}
            label = _(STAGE_LABELS.get(stage, stage))
            # initial: the rate counts what is done while the bar is shown; a bar made at its first report
            # (16 frames, or a cached face track's 125 at once) read "1720740.10frame/s"
            self.bar = tqdm(total=total, initial=done, desc=" " * max(0, 8 - width(label)) + label,
                            unit=_(UNITS.get(stage, "frame")), postfix=self._beside_text() or None, file=self.stream,
                            leave=False, dynamic_ncols=True)
        self.bar.n = done
        self.bar.refresh()

    def _beside_text(self) -> str:
        """The stages shown beside the bar in front: "speech …" / "speech ✓"."""
        from ..i18n import _
        return " ".join(f"{_(STAGE_LABELS.get(s, s))} {DONE_MARK if finished else RUNNING_MARK}"
                        for s, finished in self.beside.items() if s != self.stage)

    def _print_line(self, stage: str, done: int, total: int) -> None:
        step = done * LINE_STEPS // total if total else LINE_STEPS
        if stage in self.steps and step <= self.steps[stage]:
            return
        self.steps[stage] = step
        from ..i18n import _
        percent = round(100 * done / total) if total else 100
        print(_("{stage}: {percent}% ({done}/{total})", stage=_(STAGE_LABELS.get(stage, stage)), percent=percent,
                done=done, total=total), file=self.stream, flush=True)

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.stage = None

    def close(self) -> None:
        with self.lock:
            self._close()
