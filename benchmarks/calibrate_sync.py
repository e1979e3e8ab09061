"""Calibrate the sync zero (visemes.MOUTH_DELAY) on in-sync recordings, leave-one-out.

    python benchmarks/calibrate_sync.py [--clips NAME ...] [--extra [DIR]] [--tracks DIR]

For every clip (default: the four talking clips in ../shared/media, all recorded in sync; with
--extra also the nine in-sync recordings benchmarks/extra_clips.py fetches from PyPI) the
mouth is tracked (cached as .npz in --tracks when given). The zero is the MOUTH_DELAY at which
the farthest calibration clip reads nearest 0 against the real-speech reference
(sync.calibrate_mouth_delay); the calibration clips are the filmed recordings
(sync.CALIBRATION_CLIPS: the two shared camera clips and, with --extra, the four filmed fetched
ones: the shipped zero is fitted on all six), the screen captures and webcam recordings are read
at that zero but not fitted on (a recorder shows its pictures late: sync.py CALIBRATION). "own
zero" is the zero each clip would want on its own, "reads" its reading at the zero fitted here
(in-sample for a calibration clip). Leaving each calibration clip out in turn, the zero fitted on
the others is what it would have got, and its reading at that zero is the left-out error printed
here (a clip never fitted on is read at the fitted zero). "conf/chance" is its reading's
confidence and chance level at the fitted zero ("!": not above chance, a guess). Also prints the lag-0 and best-lag
correlation of the render targets with the recorded mouth.
"""
from __future__ import annotations

import sys
from pathlib import Path

from _cli import Parser, media_file
from _cli import run as run_main

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_reenactment import CLIPS, MEDIA, lag_curve, peak_lag  # noqa: E402

from heygem_kernel import audio, landmarks, media, sync, visemes  # noqa: E402
import extra_clips  # noqa: E402


def load(clip: Path, tracks: Path | None):
    cached = tracks / f"{clip.stem}.npz" if tracks else None
    if cached is not None and cached.exists():
        track = landmarks.FaceTrack.load(cached)
    else:
        track = landmarks.track_video(clip)
        if cached is not None:
            tracks.mkdir(parents=True, exist_ok=True)
            track.save(cached)
    speech, _ = sync._own_speech(clip, media.probe_video(clip).audio_delay)
    return track, speech


def estimate(track, speech) -> sync.SyncEstimate:
    return sync.estimate_from_speech(track.mouth_open(), phones=speech.phone_variants, fps=track.fps,
                                     mouth_width=track.mouth_width())


def reading(track, speech) -> float:
    return estimate(track, speech).offset_exact


def main() -> None:
    parser = Parser(__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="*", type=media_file, default=list(CLIPS))
    parser.add_argument("--extra", type=Path, nargs="?", const=extra_clips.DEST,
                        help="also the clips of benchmarks/extra_clips.py, fetched into DIR first when missing "
                             f"(default {extra_clips.DEST})")
    parser.add_argument("--tracks", type=Path, help="folder caching the face tracks (.npz)")
    args = parser.parse_args()
    shipped = visemes.MOUTH_DELAY
    clips = [MEDIA / c if not Path(c).exists() else Path(c) for c in args.clips]
    if args.extra is not None:
        clips += list(extra_clips.fetch(args.extra).values())   # extra_clips.FetchError: one line, exit 2
    data = {Path(c).stem: load(c, args.tracks) for c in clips}
    inputs = {k: (t.mouth_open(), t.mouth_width(), s.phone_variants, t.fps) for k, (t, s) in data.items()}
    fitted = {k: v for k, v in inputs.items() if k in sync.CALIBRATION_CLIPS} or inputs
    memo: dict = {}   # readings per (clip, delay), shared by every fit below
    zero = sync.calibrate_mouth_delay(list(fitted.values()), memo=memo)
    missing = [c for c in sync.CALIBRATION_CLIPS if c not in fitted]
    print(f"zero fitted here ({', '.join(fitted)}): {zero * 1000:.1f} ms; shipped visemes.MOUTH_DELAY "
          f"{shipped * 1000:.1f} ms" + (f" (also fitted on {', '.join(missing)}: --extra)" if missing else ""))
    print(f"{'clip':20} {'own zero':>8} {'reads':>13} {'LOO zero':>9} {'left-out reads':>15} "
          f"{'conf/chance':>12} {'target r0':>10} {'best lag':>9}")
    errors = []
    for name, (track, speech) in data.items():
        alone = sync.calibrate_mouth_delay([inputs[name]], memo=memo)
        visemes.MOUTH_DELAY = zero
        at_zero = estimate(track, speech)
        own = at_zero.offset_exact
        # a reading near its chance level is a guess: it should not set an end of the fit (RESULTS.md)
        sure = f"{at_zero.confidence:.2f}/{at_zero.chance:.2f}" + ("" if at_zero.reliable else "!")
        others = [v for k, v in fitted.items() if k != name]
        loo = sync.calibrate_mouth_delay(others, memo=memo) if others and name in fitted else zero
        visemes.MOUTH_DELAY = loo
        error = reading(track, speech)
        visemes.MOUTH_DELAY = shipped
        if name in fitted:
            errors.append(error)
        env = audio.envelope(speech.wav, sr=speech.sr, fps=track.fps, n_frames=track.n_frames)
        targets = visemes.viseme_track(speech.phones, envelope=env, fps=track.fps, n_frames=track.n_frames)
        curve = lag_curve(track.mouth_open(), targets["open"])
        best, exact = peak_lag(curve)
        held = "" if name in fitted else "  (held out: not calibrated on)"
        print(f"{name:20} {alone * 1000:+5.0f} ms {own:+10.2f} fr {loo * 1000:6.0f} ms {error:+12.2f} fr {sure:>12} "
              f"{curve[0]:10.2f} {best:+9d} "
              f"({exact:+.2f}){held}")
    print(f"largest left-out error of the calibration clips: {max(abs(e) for e in errors):.2f} frames "
          f"(shipped: sync.CALIBRATION_ERROR_FRAMES = {sync.CALIBRATION_ERROR_FRAMES})")


if __name__ == "__main__":
    run_main(main)
