"""Mouth interiors against real speakers, per clip (issue 8 part 4).

    python benchmarks/bench_interior.py [CLIP ...]   (default: the talking clips in ../shared/media)

Ground truth is real footage: the open-mouth interior brightness of each in-sync recording
(:func:`heygem_kernel.mouthlib.interior_stats`: 25th-percentile grey inside the inner lips of the
frames whose lips part >= OPEN_MOUTH_MIN). Per clip it prints that brightness for

* ``video``: self-reenactment with the default backend (the clip's frames rotated by half its
  length, driven by its own speech), output / recording; acceptance: >= 0.8;
* ``photo``: the clip's most closed-mouthed frame as a photo, driven by the same speech: the
  synthesised interior (teeth, cavity, tongue) against the speaker's real one.

Also the open-frame counts (output / recording) and the frame-to-frame change in the mouth box,
output / recording (flicker, ~1 like the recording). Which figures are in-sample: the interior
constants (reuse.INTERIOR_SCALE, mouthlib.TEETH_KEEP, OWN_INTERIOR_MIN, the SYNTH_* shapes) were
set looking at talking_590, talking_524 and portrait_1080x1920 (and matplotlib's grace_hopper.jpg);
talking_vfr_700 was held out.
"""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
from _cli import MEDIA, Parser, media_file
from _cli import run as run_main

from heygem_kernel import RunOptions, media, mouthlib, run
from heygem_kernel.compositing import mouth_flicker as flicker
from heygem_kernel.landmarks import track_video

CLIPS = ("talking_590.mp4", "talking_524.mp4", "talking_vfr_700.mp4", "portrait_1080x1920.mp4")
HELD_OUT = {"talking_vfr_700.mp4"}


def measure(clip: Path, tmp: Path) -> dict:
    import cv2
    info = media.probe_video(clip)
    frames = list(media.iter_frames(info))
    recorded = track_video(clip)
    ref = mouthlib.interior_stats(frames, recorded)
    speech = tmp / f"{clip.stem}.wav"
    subprocess.run([media.ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(clip), "-vn", "-ac", "1",
                    str(speech)], check=True)
    shift = len(frames) // 2
    shifted = tmp / f"{clip.stem}_shifted.mp4"
    with media.VideoWriter(shifted, width=info.width, height=info.height, fps=info.fps, audio=clip) as w:
        for frame in frames[shift:] + frames[:shift]:
            w.write(frame)
    opens = [mouthlib.mouth_features(lm)[0] if ok else np.inf for lm, ok in zip(recorded.landmarks, recorded.valid)]
    photo = tmp / f"{clip.stem}_still.png"
    cv2.imwrite(str(photo), frames[int(np.argmin(opens))])
    row = {"clip": clip.name, "rec": ref.brightness, "rec_open": ref.open_frames}
    for kind, source in (("video", shifted), ("photo", photo)):
        out = run(speech, source, runs_root=tmp / "runs", options=RunOptions(sync_check=False)).output
        out_frames = list(media.iter_frames(media.probe_video(out)))
        out_track = track_video(out)
        stats = mouthlib.interior_stats(out_frames, out_track)
        row[kind] = stats.brightness / ref.brightness
        row[f"{kind}_open"] = stats.open_frames
        if kind == "video":
            row["flicker"] = flicker(out_frames, out_track) / flicker(frames, recorded)
    return row


def main() -> None:
    ap = Parser(__doc__)
    ap.add_argument("clips", nargs="*", type=media_file, metavar="CLIP",
                    help=f"paths or names in {MEDIA} (default: {' '.join(CLIPS)})")
    clips = ap.parse_args().clips or [MEDIA / c for c in CLIPS]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(clip, Path(tmp)) for clip in clips]
    print(f"{'clip':24} {'tuning':9} {'rec grey':>8} {'video':>6} {'open o/r':>9} {'flicker':>8} {'photo':>6}")
    for r in rows:
        tuning = "held out" if r["clip"] in HELD_OUT else "in-sample"
        print(f"{r['clip']:24} {tuning:9} {r['rec']:8.0f} {r['video']:6.2f} {r['video_open']:4d}/{r['rec_open']:<4d} "
              f"{r['flicker']:8.2f} {r['photo']:6.2f}")
    print("interior brightness / the recording's: video is the acceptance figure (>= 0.8); "
          "photo is a synthesised interior")


if __name__ == "__main__":
    run_main(main)
