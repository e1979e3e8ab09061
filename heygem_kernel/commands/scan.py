"""``heygem scan``: the batch pre-flight for some videos, as a table (or JSON)."""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from ..i18n import N_, Text
from ..scan import DEFAULT_SAMPLES, MAX_SAMPLES


def add_parser(sub) -> None:
    p = sub.add_parser("scan", help=N_("pre-flight check of videos: readable, fps, faces, length, estimated time"),
                       description=N_("Scan each VIDEO (readable, duration and fps, variable frame rate, faces in "
                                   "sampled frames, no-face / multi-face stretches, length against the speech, "
                                   "estimated time). Exit status 1 when a video cannot work."))
    p.add_argument("videos", nargs="+", metavar="VIDEO", help=N_("video or photo files, or folders of them"))
    p.add_argument("--audio", help=N_("the speech the videos will be driven by (length check and estimate)"))
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES,
                   help=Text("frames checked for faces per video, 1 to {most} (default: {default})", most=MAX_SAMPLES,
                             default=DEFAULT_SAMPLES))
    from ..backends import available
    p.add_argument("--backend", default="reuse", choices=available(),
                   help=N_("backend the estimate is for (default: %(default)s)"))
    p.add_argument("--detector", default="mediapipe", help=N_("face detector (default: %(default)s)"))
    p.add_argument("--json", action="store_true", help=N_("print the reports as JSON instead of a table"))
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..batch import expand_videos
    from ..errors import InputError
    from ..media import probe_audio
    from ..scan import check_samples, format_table, scan_video

    check_samples(args.samples)   # options first, before any work
    from ..media import refuse_web_address
    for typed in args.videos:     # a mistyped path: one line, exit 2, as heygem run and batch say it (it was
        refuse_web_address(typed)  # a table row 'NO ... no such file', exit 1)
        if not Path(typed).expanduser().exists():
            raise InputError("no such video file: {path}", path=typed)
    audio_duration = probe_audio(args.audio).duration if args.audio else None
    silent = None
    if args.audio:   # a silent speech leaves every mouth closed: each readable row says so
        from ..audio import SAMPLE_RATE, load_audio, silence_note
        wav = load_audio(args.audio)
        silent = silence_note(wav, name=Path(args.audio).name)
        audio_duration = wav.shape[0] / SAMPLE_RATE   # what a run plays: a VBR .mp3's header-less length is a guess
    videos = expand_videos(args.videos)
    if not videos:   # a folder of sub-folders: an empty table and exit 0 said nothing was wrong
        raise InputError("no videos found in {videos}", videos=" ".join(args.videos))
    reports = [scan_video(v, audio_duration=audio_duration, samples=args.samples, detector=args.detector,
                          backend=args.backend) for v in videos]
    if silent is not None:
        reports = [dataclasses.replace(r, problems=(*r.problems, silent)) if r.readable else r for r in reports]
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2, ensure_ascii=False))
    else:
        print(format_table(reports))
    return 0 if all(r.ok for r in reports) else 1
