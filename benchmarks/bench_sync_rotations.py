"""How steady the `heygem sync` reading is on in-sync recordings, and whether container shifts read
as themselves: the side-by-side check for any change to the sync estimator.

    python benchmarks/bench_sync_rotations.py [--clips NAME ...] [--rotations N] [--shifts S ...]

Ground truth: every talking clip in ../shared/media is recorded in sync, and so is any rotation of
one (its frames and its sound rotated together by the same time, the phones recognised again), so
every rotation should read what the untouched clip reads. Per clip it prints

* ``rotations``: the readings (frames, sub-frame; positive = video lags) of the clip rotated by
  k/N of its length, k = 0..N-1 (k = 0 is the untouched clip), their SD and range. Which speech
  falls where in the clip should not move the reading;
* ``shifts``: the clip remuxed with its sound S seconds late in the container (``a+S``) or its
  picture S seconds late (``v+S``), each reading against the expected one (the untouched reading
  minus the container's start offset in frames), its error, and whether it was above chance (a
  reading below chance is reported as a guess).

Measured 2026-12-01 night (shared window, lag prior, peak refined on the frames its neighbouring
lags share, sync.REFINE_S): rotation SD 0.06 / 0.20 / 0.26 / 4.5 frames (talking_590 / 524 /
vfr_700 / portrait; the portrait is below chance and has side peaks), unrefined in the same run
0.71 / 0.32 / 0.45 / 4.4; every shift of 0.08-0.5 s of the three readable clips within 1.6 frames
of expected (unrefined 1.1; the captures' untouched readings moved more than their shifted ones).
Correlating each lag over its whole overlap (not adopted) gave SD 0.08 / 0.25 / 0.20 / 0.13 but
read talking_590 with its sound 0.45-0.5 s late at +7..+8 frames.
"""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from _cli import MEDIA, Parser, media_file, positive
from _cli import run as run_main

import numpy as np

CLIPS = ("talking_590.mp4", "talking_524.mp4", "talking_vfr_700.mp4", "portrait_1080x1920.mp4")
SHIFTS = (0.08, 0.16, 0.24, 0.5)


def rotations(clip: Path, n: int) -> list:
    """The sync estimates of ``clip`` rotated by k/n of its length, k = 0..n-1 (frames and sound)."""
    from heygem_kernel import landmarks, media, sync
    from heygem_kernel.audio import speech_from_wav
    info = media.probe_video(clip)
    track = landmarks.track_video(clip)
    own, _ = sync._own_speech(clip, info.audio_delay)
    fps, frames = float(track.fps), track.n_frames
    wav = own.wav[:int(round(frames / fps * own.sr))]
    out = []
    for k in range(n):
        cut = int(round(k * frames / n))
        speech = speech_from_wav(np.roll(wav, -int(round(cut / fps * own.sr))), sr=own.sr)
        out.append(sync.estimate_from_speech(np.roll(track.mouth_open(), -cut), speech=speech, fps=fps,
                                             mouth_width=np.roll(track.mouth_width(), -cut)))
    return out


def shifted(clip: Path, tmp: Path, *, which: str, seconds: float) -> tuple[float, object]:
    """(the container's start offset in frames, the sync estimate) of ``clip`` remuxed with its sound
    (``which`` = "a") or its picture ("v") ``seconds`` late."""
    from heygem_kernel import media, sync
    out = tmp / f"{clip.stem}_{which}{seconds}.mp4"
    late = ["-itsoffset", str(seconds), "-i", str(clip)]
    inputs = (["-i", str(clip)] + late) if which == "a" else (late + ["-i", str(clip)])
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-y", *inputs, "-map", "0:v", "-map", "1:a", "-c", "copy",
                    str(out)], check=True)
    report = sync.measure_video_sync(out)
    return report.audio_shift_s * report.estimate.fps, report.estimate


def main() -> None:
    parser = Parser(__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="*", type=media_file, default=[MEDIA / c for c in CLIPS])
    parser.add_argument("--rotations", type=positive(int), default=8, help="rotations per clip (k/N, k = 0..N-1)")
    parser.add_argument("--shifts", nargs="*", type=positive(float), default=list(SHIFTS),
                        help="seconds the sound, then the picture, is made late in the container")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        for clip in args.clips:
            clip = Path(clip)
            rot = rotations(clip, args.rotations)
            values = np.array([e.offset_exact for e in rot])
            print(f"{clip.stem}: rotations " + " ".join(f"{v:+.2f}" for v in values)
                  + f"  SD {values.std():.2f}, range {np.ptp(values):.2f} frames, above chance "
                  f"{sum(e.reliable for e in rot)}/{len(rot)}", flush=True)
            for which in ("a", "v"):
                for seconds in args.shifts:
                    offset, est = shifted(clip, Path(tmp_name), which=which, seconds=seconds)
                    expected = values[0] - offset
                    print(f"  {which}+{seconds:g} s: reads {est.offset_exact:+6.2f}, expected {expected:+6.2f}, "
                          f"error {est.offset_exact - expected:+5.2f} "
                          f"({'above chance' if est.reliable else 'a guess'})", flush=True)


if __name__ == "__main__":
    run_main(main)
