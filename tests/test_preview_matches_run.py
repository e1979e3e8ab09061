"""The one-frame preview shows what the run writes: frame t of the preview against frame t of the
decoded output of a full run with the same options, on talking_524 (its own sound applies the
speaker lead, ~-29 ms) trimmed and looped (the preview at a join mixes both source frames).

Before: the preview drew the mouth without the speaker lead, chose the reuse backend's mouth as if
frame t were the first (the run's choice depends on the frame before) and showed only the primary
source frame inside a join: on the looped run below frames 90, 150 and 190 differed from the run
by 4.0 / 14.7 / 5.9 grey levels in the mouth box (99.5th percentile 41 / 104 / 59) and the join
frames 72-74 and 150-152 by 4.5-8.2 over the whole frame, against ~1.2-1.7 (99.5th percentile
6-9: the output's H.264 noise) for frames that matched.
"""
from __future__ import annotations

import json
import subprocess

import cv2
import numpy as np
import pytest
from heygem_kernel import analysis, audio, compositing, media, pipeline
from heygem_kernel.options import RunOptions

OPTIONS = RunOptions(sync_check=False)
NOISE_MEAN, NOISE_TAIL = 2.5, 15.0   # grey levels: mean and 99.5th percentile of |preview - output|


def differences(preview: np.ndarray, output: np.ndarray, box=None) -> tuple[float, float]:
    """Mean and 99.5th percentile absolute difference, leaving out the preview's green mask outline."""
    green = (preview[..., 1] > 150) & (preview[..., 0] < 120) & (preview[..., 2] < 120)
    line = cv2.dilate(green.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    d = np.abs(preview.astype(np.int16) - output.astype(np.int16)).mean(axis=2)
    if box is not None:
        x0, y0, x1, y1 = box
        d, line = d[y0:y1, x0:x1], line[y0:y1, x0:x1]
    return float(d[~line].mean()), float(np.percentile(d[~line], 99.5))


def check_frames(tmp_path, clip, speech_path, frames) -> dict:
    """Run, then preview the frames ``frames(loop record)`` names and compare each with the output's."""
    result = pipeline.run(speech_path, clip, runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache",
                          options=OPTIONS)
    record = json.loads((result.run_dir / "result.json").read_text())["extra"]
    assert record["speaker_timing"]["applied"] and record["speaker_timing"]["applied_ms"] < -15
    output = list(media.iter_frames(media.probe_video(result.output)))
    speech = audio.load_speech(speech_path)
    info = media.probe_video(clip)
    track = pipeline.analyse(info, options=OPTIONS, n_frames=info.n_frames, want_library=False,
                             cache_dir=tmp_path / "cache").track
    worst = {}
    for t in frames(record["loop"]):
        shown = pipeline.preview_frame(speech_path, clip, options=OPTIONS, frame_index=t,
                                       cache_dir=tmp_path / "cache", speech=speech)
        lm = track.landmarks[min(t, info.n_frames - 1)]
        box = compositing.mask_geometry(lm, scale=OPTIONS.mask_scale).bbox(*shown.shape[:2])
        worst[t] = (differences(shown, output[t]), differences(shown, output[t], box))
        print(t, worst[t])
    for t, ((mean, tail), (box_mean, box_tail)) in worst.items():
        assert mean < NOISE_MEAN and tail < NOISE_TAIL, (t, mean, tail)
        assert box_mean < NOISE_MEAN and box_tail < NOISE_TAIL, (t, box_mean, box_tail)
    return record


def cut(src, seconds: float, out):
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), "-t", str(seconds), "-ac", "1", str(out)],
                   check=True)
    return out


def test_preview_of_a_looped_run_matches_its_frames_at_joins_too(tmp_path, clip_524, speech_60s):
    speech = cut(speech_60s, 8, tmp_path / "eight.wav")
    fades = []   # the middle of each join's cross-fade (joins at 70 and 149, 6 frames, when written)

    def frames(loop):
        assert loop["mode"] == "seamless" and loop["joins"]
        fades.extend(j["at"] + k for j in loop["joins"] for k in range(j["fade"] // 2 - 1, j["fade"] // 2 + 2))
        return list(range(10, 200, 20)) + fades
    check_frames(tmp_path, clip_524, speech, frames)
    assert len(fades) >= 6


def test_preview_of_a_run_on_its_own_sound_matches_its_frames(tmp_path, clip_524):
    """talking_524 driven by its own sound: every frame of the clip once (1:1), the lead applied."""
    speech = tmp_path / "own.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip_524), "-vn", "-ac", "1", str(speech)],
                   check=True)
    record = check_frames(tmp_path, clip_524, speech, lambda loop: list(range(5, 122, 12)))
    assert record["loop"]["mode"] == "trim" and record["loop"]["n_out"] == 122


def test_long_footage_not_yet_analysed_gets_a_quick_preview_that_says_so(tmp_path, clip_portrait, speech_60s,
                                                                         caplog):
    """portrait_1080x1920 (10 s) under 9 s of speech: a run analyses 225 frames; a first preview
    only the first 6 s (150 frames), and says its mouth is approximate."""
    speech = cut(speech_60s, 9, tmp_path / "nine.wav")
    with caplog.at_level("WARNING", logger="heygem"):
        frame = pipeline.preview_frame(speech, clip_portrait, options=OPTIONS, frame_index=20, cache_dir=tmp_path)
    assert frame.shape == (1920, 1080, 3)
    said = [r.getMessage() for r in caplog.records if "approximate" in r.getMessage()]
    assert len(said) == 1 and "first 6.0 s of portrait_1080x1920.mp4" in said[0] and "all 9.0 s" in said[0], said
    assert frame.note.startswith("approximate mouth") and frame.note in said[0]
    entry = analysis.analysis_entry(media.probe_video(clip_portrait), options=OPTIONS, cache_dir=tmp_path)
    with np.load(entry) as data:
        assert data["raw_landmarks"].shape[0] == 150


def test_the_panel_shows_that_a_preview_is_approximate(tmp_path, clip_portrait, speech_60s, clip_524, monkeypatch):
    """The panel (real engine) shows the note under the frame; an exact preview (talking_524, whose
    run analyses under 6 s) shows none."""
    from heygem_widgets.panel import Workbench
    from heygem_widgets.workspace import Workspace
    monkeypatch.setenv("HEYGEM_CACHE_DIR", str(tmp_path / "cache"))
    speech = cut(speech_60s, 9, tmp_path / "nine.wav")
    messages = {}
    for clip in (clip_portrait, clip_524):
        wb = Workbench(workspace=Workspace(root=tmp_path / clip.stem))
        wb.choose(speech, kind="audio")
        wb.choose(clip, kind="video")
        wb.preview()
        wb._previewer.join(300)
        messages[clip.name] = wb.preview_msg.value
    print(messages)
    assert "approximate mouth" in messages["portrait_1080x1920.mp4"] and "all 9.0 s" in messages["portrait_1080x1920.mp4"]
    assert "frame 0 of talking_524.mp4" in messages["talking_524.mp4"] and "approximate" not in messages["talking_524.mp4"]
