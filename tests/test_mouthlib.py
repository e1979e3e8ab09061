"""Mouth interiors measured on real footage (issue 8 part 4)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from heygem_kernel import media, mouthlib
from heygem_kernel.landmarks import track_video


@pytest.fixture(scope="module")
def clip_590_frames(clip_590):
    frames = list(media.iter_frames(media.probe_video(clip_590)))
    return frames, track_video(clip_590)


def test_interior_brightness_sees_a_painted_cavity(clip_590, clip_590_frames):
    frames, track = clip_590_frames
    stats = mouthlib.interior_stats(clip_590, track)
    # the speaker opens her mouth in about half the frames; teeth and tongue are not black
    assert 40 <= stats.open_frames <= 100 and stats.frames == 125
    assert 40 < stats.brightness < 120
    # the recording against itself (frames given as arrays this time): exactly 1
    assert mouthlib.interior_ratio(frames, track.landmarks, clip_590, track) == pytest.approx(1.0)
    # the same frames with a dark painted cavity inside the inner lips read far darker
    painted = []
    for frame, lm in zip(frames, track.landmarks):
        frame = frame.copy()
        cv2.fillPoly(frame, [np.round(lm[60:68]).astype(np.int32)], (30, 28, 60))
        painted.append(frame)
    assert mouthlib.interior_ratio(painted, track, frames, track) < 0.6
    # a track without open mouths (every mouth closed) has no figure, not a made-up one
    closed = track.landmarks.copy()
    closed[:, 65:68] = closed[:, [63, 62, 61]]
    assert np.isnan(mouthlib.interior_brightness(frames, closed))
