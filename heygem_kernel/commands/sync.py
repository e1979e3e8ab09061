"""``heygem sync``: measure the audio/video offset of any video from its mouth landmarks."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ..articulation import language_label
from ..i18n import N_, Text, _, ljust
from ..sync import MAX_SHIFT_LIMIT_S, MAX_SHIFT_S, MIN_SHIFT_S, MIN_WINDOW_S, min_shift_frames

LABEL_WIDTH = 13    # "correlation: " and its Chinese: the values start in one column
CONSOLE_LEVEL = logging.WARNING   # the report is on stdout; INFO (e.g. "re-used cached face track") only with -v


def add_parser(sub) -> None:
    p = sub.add_parser(
        "sync", help=N_("measure a video's audio/video offset from its mouth movement"),
        description=N_("Track the mouth of VIDEO, correlate its opening with the speech (the video's own "
                    "audio track, or --audio) and report the offset, the confidence and a verdict. "
                    "Positive offsets mean the video lags the audio (the mouth moves after the sound)."))
    p.add_argument("video", help=N_("video to check (a source clip or a lip-sync output)"))
    p.add_argument("--audio", help=N_("speech to check against (default: the video's own audio track)"))
    plot = p.add_mutually_exclusive_group()   # --plot X --no-plot wrote nothing, in silence
    plot.add_argument("--plot", help=N_("mouth-track + sync-curve PNG to write (default: <video stem>_sync.png "
                                     "in the current folder)"))
    plot.add_argument("--no-plot", action="store_true", help=N_("do not write the plot"))
    p.add_argument("--json", action="store_true", help=N_("print the result as one JSON object"))
    p.add_argument("--max-shift", type=int, default=None,
                   help=Text("largest offset searched, in frames either way (default: {seconds} s worth; at least "
                             "{low:g} s worth, at most {limit:g} s worth, and less on a clip too short to keep "
                             "{window:g} s to correlate)", seconds=MAX_SHIFT_S, low=MIN_SHIFT_S,
                             limit=MAX_SHIFT_LIMIT_S, window=MIN_WINDOW_S))
    p.add_argument("--detector", default="mediapipe", help=N_("landmark detector (default: %(default)s)"))
    p.add_argument("--cache-dir", help=N_("face-track cache, shared with heygem run, heygem batch and the panel "
                                       "(default: $HEYGEM_CACHE_DIR or ~/.cache/heygem)"))
    p.add_argument("--no-cache", action="store_true", help=N_("track the face again; do not read or write the "
                                                              "face-track cache"))
    p.add_argument("--language", default="auto",
                   help=N_("language of the speech, as for heygem run: auto (English phone model) or zh, ja, de, "
                        "en, ... (non-English speech gets the language-independent closure cue)"))
    p.set_defaults(func=main)


def method_label(method: str) -> str:
    """``SyncEstimate.method`` (English, as the records keep it) in the user's language, part by part."""
    import re
    from .. import sync
    labels = {sync.METHOD_REFERENCE: _("mouth landmarks vs the calibrated real-speech reference "
                                       "(sync.speech_reference: phones at real-speaker timing, opening + "
                                       "bilabial closures)"),
              sync.METHOD_TRACKS: _("mouth landmarks vs caller-supplied speech tracks")}
    language = re.compile(re.escape(sync.METHOD_LANGUAGE).replace(re.escape("{language}"), "(?P<language>.+)"))
    parts = []
    for part in method.split("; "):
        match = language.fullmatch(part)
        parts.append(labels.get(part) or (_("language {language}: opening shut by the spectral closure cue "
                                            "(articulation.constriction), no closure channel from the English "
                                            "phones", language=match["language"])
                                          if match else part))
    return _("; ").join(parts)


PLOT_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".pdf")   # what the plot can be written as


def _plot_path(name: str) -> Path:
    """--plot checked before the measurement: a folder or an unknown extension is one line (exit 2),
    not an internal error after it (matplotlib), nor a plot silently written to ``NAME.png``."""
    from ..errors import InputError
    from ..records import check_file_name, make_folder
    path = check_file_name(Path(name).expanduser())
    if path.is_dir():
        raise InputError("--plot {path} is a folder; name an image file, e.g. {example}", path=path,
                         example=path / "sync.png")
    make_folder(path.parent)    # a read-only folder: one line now, not an internal error after the measurement
    if not path.suffix:
        return path.with_name(path.name + ".png")       # what matplotlib would write; now also what is said
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise InputError("--plot {path}: the plot is an image; name it {suffixes}", path=path,
                         suffixes=", ".join(PLOT_SUFFIXES))
    return path


def _cache_dir(args: argparse.Namespace) -> Path | None:
    """The face-track cache this check reads and fills (runs' and batches' own), or None: --no-cache,
    or the default folder cannot be made (a read-only home: the check goes on without it). A folder
    named with --cache-dir or $HEYGEM_CACHE_DIR that cannot be written is one line, before any work."""
    import contextlib
    import os

    from .. import cache
    from ..errors import InputError
    from ..records import make_folder
    if args.no_cache:
        from .run import warn_unused_cache_dir
        warn_unused_cache_dir(args.cache_dir, use_cache=False)
        return None
    if args.cache_dir or os.environ.get(cache.CACHE_ENV):
        return make_folder(Path(args.cache_dir).expanduser().absolute() if args.cache_dir else cache.default_dir())
    with contextlib.suppress(InputError):
        return make_folder(cache.default_dir())
    return None


def _silent(path: str) -> bool:
    """Whether the speech at ``path`` (an audio file or a video's own track) holds no sound."""
    from ..audio import load_audio, silence_note
    try:
        return silence_note(load_audio(path), name="") is not None
    except Exception:  # noqa: BLE001 - the measurement read it already; a second decode only adds a note
        return False


def main(args: argparse.Namespace) -> int:
    from ..audio import ENV_SILENT_DBFS
    from ..errors import InputError
    from ..sync import MIN_EYE_DISTANCE_PX, measure_video_sync

    if args.max_shift is not None and args.max_shift < 1:   # before the probe; the clip's own range after it
        raise InputError("--max-shift must be at least {low:g} s worth of frames either way ({frames} at 25 fps), got "
                         "{max_shift}", low=MIN_SHIFT_S, frames=min_shift_frames(25.0), max_shift=args.max_shift)
    plot = None if args.no_plot else _plot_path(args.plot or f"{Path(args.video).stem}_sync.png")
    report = measure_video_sync(args.video, audio=args.audio, max_shift=args.max_shift, plot=plot,
                                detector=args.detector, language=args.language, cache_dir=_cache_dir(args))
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    est = report.estimate
    shift_ms = report.audio_shift_s * 1000
    if abs(shift_ms) < 0.5:
        own = _("its own audio track")
    elif shift_ms > 0:         # container start times differ: the sound was aligned as a player does
        own = _("its own audio track (it starts {ms:.0f} ms after the first frame)", ms=abs(shift_ms))
    else:
        own = _("its own audio track (it starts {ms:.0f} ms before the first frame)", ms=abs(shift_ms))
    lines = [
        (_("video"), _("{video} ({n_frames} frames at {fps:.3f} fps, {no_face} without a face)",
                       video=report.video, n_frames=report.n_frames, fps=report.fps, no_face=report.frames_no_face)
         if report.video_frames <= report.n_frames else   # the sound ends first: what was compared, too
         _("{video} ({video_frames} frames at {fps:.3f} fps, the first {n_frames} compared, {no_face} of them "
           "without a face)", video=report.video, video_frames=report.video_frames, n_frames=report.n_frames,
           fps=report.fps, no_face=report.frames_no_face)),
        (_("audio"), str(report.audio) if report.audio is not None else own),
        (_("language"), language_label(report.language)),
        (_("face"), _("eyes {px:.0f} px apart (lips are read from {needed:.0f} px)",
                      px=est.eye_distance_px, needed=MIN_EYE_DISTANCE_PX)),
        (_("offset"), _("not measured (see the verdict)") if est.note else   # not a reading of 0 frames
         _(N_("{frames:+d} frame ({ms:+.0f} ms; sub-frame {exact:+.2f}); positive = video lags audio")
           if abs(est.offset_frames) == 1 else
           N_("{frames:+d} frames ({ms:+.0f} ms; sub-frame {exact:+.2f}); positive = video lags audio"),
           frames=est.offset_frames, ms=est.offset_ms, exact=est.offset_exact + 0.0)),
        (_("confidence"), _("{confidence:.2f} (chance level for this length: {chance:.2f})",
                            confidence=est.confidence, chance=est.chance)),
        (_("correlation"), _("{r:.2f} (mouth opening vs the reference's opening, at the offset)",
                             r=est.correlation)),
        (_("verdict"), est.verdict().localized()),
        (_("method"), method_label(est.method)),
    ]
    for note in report.notes():      # the picture cadence (a screen capture), a reverberant sound
        lines.append((_("note"), note.localized() if hasattr(note, "localized") else note))
    if _silent(args.audio or args.video):   # a muted track read "the mouth does not clearly follow this speech"
        lines.append((_("note"), _("{name} holds no sound (quieter than {limit:.0f} dBFS throughout): there is no "
                                   "speech to check the mouth against", name=Path(args.audio).name, limit=ENV_SILENT_DBFS)
                      if args.audio else
                      _("the audio track of {name} holds no sound (quieter than {limit:.0f} dBFS throughout): there is "
                        "no speech to check the mouth against", name=Path(args.video).name, limit=ENV_SILENT_DBFS)))
    if report.plot is not None:
        lines.append((_("plot"), str(report.plot)))
    for key, value in lines:
        print(ljust(_("{label}:", label=key), LABEL_WIDTH) + value)
    return 0
