"""Covered-mouth detector (heygem_kernel.occlusion) on real clips with pasted occluders.

For each shared clip (first 150 frames): the clip as recorded, and the clip with frames 40-69
covered by a hand-shaped patch of the person's own cheek skin, of another person's forehead
skin (talking_524), or a dark microphone. Prints, per case, false alarms on the uncovered frames,
covered frames missed, and the evidence ratios the thresholds act on. The thresholds were tuned
on talking_590 and talking_524 only; talking_vfr_700 and portrait_1080x1920 are held out.

    python benchmarks/bench_occlusion.py [MEDIA_DIR]
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from _cli import MEDIA, Parser, existing_dir
from _cli import run as run_main

from heygem_kernel import landmarks, media, occlusion

CLIPS = {"talking_590.mp4": "tuned", "talking_524.mp4": "tuned", "talking_vfr_700.mp4": "held out",
         "portrait_1080x1920.mp4": "held out"}
COVER = (40, 70)
N = 150


def hand_mask(shape, lm) -> np.ndarray:
    d = float(np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)))
    cx, cy = lm[48:60].mean(0) + (0, 0.15 * d)
    m = np.zeros(shape[:2], np.float32)
    cv2.ellipse(m, (int(cx), int(cy + 0.25 * d)), (int(0.55 * d), int(0.45 * d)), 0, 0, 360, 1, -1)
    for k in range(4):
        y = int(cy - 0.35 * d + k * 0.2 * d)
        cv2.line(m, (int(cx - 0.9 * d), y), (int(cx + 0.4 * d), y), 1, max(2, int(0.17 * d)))
    return cv2.GaussianBlur(m, (0, 0), 2)[..., None]


def mic_mask(shape, lm) -> np.ndarray:
    d = float(np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)))
    cx, cy = (lm[48:60].mean(0) + (0, 0.2 * d)).astype(int)
    m = np.zeros(shape[:2], np.float32)
    cv2.circle(m, (int(cx), int(cy)), int(0.45 * d), 1, -1)
    cv2.line(m, (int(cx), int(cy)), (int(cx + 0.2 * d), shape[0]), 1, int(0.3 * d))
    return cv2.GaussianBlur(m, (0, 0), 1.5)[..., None]


def cheek(frame, lm) -> np.ndarray:
    return frame[int(lm[29, 1]):int(lm[33, 1]), int(lm[1, 0] + 0.1 * (lm[31, 0] - lm[1, 0])):int(lm[31, 0]) - 5]


def forehead(frame, lm) -> np.ndarray:
    top = int(lm[17:27, 1].min())
    return frame[max(0, top - 50):top, int(lm[19, 0]):int(lm[24, 0])]


def frames_of(path: Path) -> tuple[float, list]:
    info = media.probe_video(path)
    out = []
    for i, f in enumerate(media.iter_frames(info)):
        if i >= N:
            break
        out.append(f)
    return info.fps, out


def main() -> None:
    ap = Parser(__doc__)
    ap.add_argument("media", nargs="?", type=existing_dir, default=MEDIA, metavar="MEDIA_DIR",
                    help=f"folder holding {', '.join(CLIPS)} (default: {MEDIA})")
    media_dir = ap.parse_args().media
    missing = [name for name in CLIPS if not (media_dir / name).is_file()]
    if missing:
        ap.error(f"no {', '.join(missing)} in {media_dir}")
    with landmarks.FaceTracker("mediapipe") as t:
        _, other = frames_of(media_dir / "talking_524.mp4")
        other_skin = forehead(other[0], t.update(other[0])).copy()
    print(f"{'clip':24} {'set':9} {'case':11} {'false':>5} {'missed':>6}  contrast clean-min / covered-max "
          f"(x median)  appearance clean-max / covered-min")
    for name, split in CLIPS.items():
        fps, frames = frames_of(media_dir / name)
        for case in ("clean", "own skin", "other skin", "microphone"):
            grids, contrast, valid = [], [], []
            with landmarks.FaceTracker("mediapipe", fps=fps) as tracker:
                own = None
                for i, f in enumerate(frames):
                    lm = tracker.update(f)
                    if own is None and lm is not None:
                        own = cheek(f, lm).copy()
                    if case != "clean" and COVER[0] <= i < COVER[1] and lm is not None:
                        if case == "microphone":
                            mask, tex = mic_mask(f.shape, lm), np.full_like(f, 60)
                        else:
                            mask = hand_mask(f.shape, lm)
                            tex = cv2.resize(own if case == "own skin" else other_skin, f.shape[1::-1])
                        f = (f * (1 - mask) + tex * mask).astype(np.uint8)
                        lm = tracker.update(f)       # what Face Mesh reports on the covered frame
                    if lm is None:
                        grids.append(np.zeros((occlusion.GRID[1], occlusion.GRID[0], 3), np.uint8))
                        contrast.append(np.nan), valid.append(False)
                        continue
                    g, c = occlusion.describe(f, lm)
                    grids.append(g), contrast.append(c), valid.append(True)
            grids, contrast, valid = np.array(grids), np.array(contrast), np.array(valid)
            covered = occlusion.covered_frames(grids, contrast, valid, fps=fps)
            truth = np.zeros(len(covered), bool)
            if case != "clean":
                truth[COVER[0]:COVER[1]] = True
            ok = valid & np.isfinite(contrast)
            c = contrast / np.median(contrast[ok])
            app = np.zeros(len(c))
            app[ok] = occlusion._appearance_scores(grids[ok], np.flatnonzero(ok), fps)
            cov_c = f"{np.nanmax(c[truth]):.2f}" if truth.any() else "-"
            cov_a = f"{app[truth].min():.2f}" if truth.any() else "-"
            print(f"{name:24} {split:9} {case:11} {int((covered & ~truth).sum()):5d} "
                  f"{int((~covered & truth).sum()):6d}  {np.nanmin(c[~truth & ok]):.2f} / {cov_c}"
                  f"{'':18}{app[~truth & ok].max():.2f} / {cov_a}")


if __name__ == "__main__":
    run_main(main)
