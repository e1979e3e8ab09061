"""Footage under ~1 s (a short cut looped, a clip trimmed to a short speech): no frame of a clean
clip may be read as 'mouth covered', which would pass it through with the recorded mouth."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from heygem_cli import heygem
from heygem_kernel import landmarks, media, occlusion


def evidence(path, n: int):
    info = media.probe_video(path)
    grids, contrast = [], []
    with landmarks.FaceTracker("mediapipe", fps=info.fps) as tracker:
        for i, frame in enumerate(media.iter_frames(info)):
            if i >= n:
                break
            g, c = occlusion.describe(frame, tracker.update(frame))
            grids.append(g), contrast.append(c)
    return np.array(grids), np.array(contrast), info.fps


@pytest.mark.parametrize("clip", ["talking_590.mp4", "talking_vfr_700.mp4"])
def test_no_covered_frames_in_short_clean_footage(media_dir, clip):
    # before: talking_590's first 12-20 frames read 3-8 covered, talking_vfr_700's first 10-16 read 4
    grids, contrast, fps = evidence(media_dir / clip, 24)
    for n in range(10, 25, 2):
        covered = occlusion.covered_frames(grids[:n], contrast[:n], np.ones(n, bool), fps=fps)
        assert not covered.any(), (clip, n, occlusion.spans(covered))


def test_a_looped_short_cut_is_lip_synced_in_every_frame(tmp_path, media_dir):
    # heygem run --audio speech_en_5s.wav --video <talking_590's first 0.6 s>: 53 of 125 frames
    # were 'mouth covered (hand, microphone...)' and kept the recorded mouth
    cut = tmp_path / "cut.mp4"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", media_dir / "talking_590.mp4", "-t", "0.6",
                    "-c:v", "libx264", "-c:a", "aac", cut], check=True)
    proc = heygem("run", "--quiet", "--no-cache", "--no-sync-check", "--audio", media_dir / "speech_en_5s.wav",
                  "--video", cut, "--out", tmp_path / "o.mp4", "--run-dir", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    assert "mouth covered" not in proc.stderr
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["frames_mouth_covered"] == 0 and result["extra"]["mouth_covered"] == []
    assert result["n_frames"] == 125
