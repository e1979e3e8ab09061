"""A new user's tour, the mouth_track.png of a presenter's photo driven by a silent speech.

Before: the mouth never moves (its opening 0.1213-0.1221 inter-ocular units over the 150 frames), but
the plot scales each track to its own 2nd..98th percentile, so 0.0008 of landmark jitter became
spikes 34x the plot's height at the start and end: "mouth opening (video)" looked as if the mouth
flew open. The mouth track is now scaled over at least 0.05 (a talking mouth spans 0.15-0.3, its
plot unchanged): the still mouth is drawn flat.
"""
from __future__ import annotations

import subprocess

import numpy as np

from heygem_kernel import RunOptions, diagnostics, run


def test_a_still_mouth_is_drawn_flat(tmp_path, clip_590, clip_524, speech_5s, monkeypatch):
    photo = tmp_path / "照片 讲师.jpg"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "1", "-i", str(clip_590), "-frames:v", "1", "-q:v", "2",
                    str(photo)], check=True)
    silent = tmp_path / "静音 讲解.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "4",
                    str(silent)], check=True)
    drawn = []
    real_scale = diagnostics._unit_scale

    def spy(x, **kw):
        out = real_scale(x, **kw)
        drawn.append(out)
        return out

    monkeypatch.setattr(diagnostics, "_unit_scale", spy)
    run(silent, photo, out=tmp_path / "静音.mp4", runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache")
    still = drawn[-1]                                   # the video's mouth (drawn after the speech target)
    assert np.nanmax(np.abs(still)) < 0.2, np.nanmax(np.abs(still))

    drawn.clear()                                       # a talking clip keeps its full 0..1 scale
    run(speech_5s, clip_524, out=tmp_path / "说话.mp4", runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache",
        options=RunOptions(speaker_timing=False))
    talking = drawn[-1]
    assert 0.95 < np.nanpercentile(talking, 98) < 1.05, np.nanpercentile(talking, 98)
