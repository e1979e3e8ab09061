"""A hand over the mouth: Face Mesh still sees a face, but no new lips may be drawn on the hand.
The covered frames must come out as the input's own pixels, counted and listed in result.json
and in the batch manifest/report."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from heygem_kernel import batch, landmarks, media, occlusion, report
from heygem_kernel.options import RunOptions
from heygem_kernel.pipeline import run

SIZE, N_FRAMES = 240, 50
COVER = range(20, 35)            # frames with a hand over mouth and chin (0.6 s)


def ffmpeg(*args) -> None:
    subprocess.run([media.ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def decode(path: Path) -> np.ndarray:
    data = subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", str(path), "-pix_fmt", "bgr24", "-f", "rawvideo",
                           "-"], capture_output=True, check=True).stdout
    return np.frombuffer(data, np.uint8).reshape(-1, SIZE, SIZE, 3)


def hand(frame: np.ndarray, lm: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Paste a hand-shaped patch of the person's own cheek skin (palm + four fingers) over mouth and chin."""
    d = float(np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)))
    cx, cy = lm[48:60].mean(0) + (0, 0.15 * d)
    mask = np.zeros(frame.shape[:2], np.float32)
    cv2.ellipse(mask, (int(cx), int(cy + 0.25 * d)), (int(0.55 * d), int(0.45 * d)), 0, 0, 360, 1, -1)
    for k in range(4):
        y = int(cy - 0.35 * d + k * 0.2 * d)
        cv2.line(mask, (int(cx - 0.9 * d), y), (int(cx + 0.4 * d), y), 1, max(2, int(0.17 * d)))
    mask = cv2.GaussianBlur(mask, (0, 0), 1.5)[..., None]
    texture = cv2.resize(skin, frame.shape[1::-1], interpolation=cv2.INTER_CUBIC).astype(np.float32)
    return (frame * (1 - mask) + texture * mask).round().astype(np.uint8)


@pytest.fixture(scope="module")
def covered_clip(tmp_path_factory, clip_590, speech_5s) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("occlusion")
    small = d / "small.mp4"
    ffmpeg("-i", clip_590, "-frames:v", N_FRAMES, "-an", "-vf", f"scale={SIZE}:{SIZE}", "-c:v", "libx264", "-qp", "0",
           "-preset", "ultrafast", small)
    frames = decode(small).copy()
    with landmarks.FaceTracker("mediapipe", fps=25.0) as tracker:
        lm0 = tracker.update(frames[0])
        cheek = frames[0][int(lm0[29, 1]):int(lm0[33, 1]), int(lm0[1, 0] + 0.1 * (lm0[31, 0] - lm0[1, 0])):
                          int(lm0[31, 0]) - 5].copy()
        for i in COVER:
            frames[i] = hand(frames[i], tracker.update(frames[i]), cheek)
    covered = d / "hand.mp4"
    proc = subprocess.run([media.ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s",
                           f"{SIZE}x{SIZE}", "-r", "25", "-i", "-", "-c:v", "libx264", "-qp", "0", "-pix_fmt",
                           "yuv420p", "-preset", "ultrafast", str(covered)], input=frames.tobytes(), capture_output=True)
    assert proc.returncode == 0, proc.stderr
    speech = d / "speech.wav"
    ffmpeg("-t", N_FRAMES / 25, "-i", speech_5s, "-ac", "1", speech)
    return {"video": covered, "speech": speech}


def test_covered_frames_pass_through_untouched_and_are_listed(tmp_path, covered_clip):
    res = run(covered_clip["speech"], covered_clip["video"], out=tmp_path / "o.mp4", runs_root=tmp_path / "runs",
              options=RunOptions(crf=0, sync_check=False, use_cache=False))
    data = json.loads((res.run_dir / "result.json").read_text())
    assert data["frames_mouth_covered"] == len(COVER) and data["frames_no_face"] == 0
    assert data["extra"]["mouth_covered"] == [{"frames": [COVER[0], COVER[-1]],
                                               "seconds": [COVER[0] / 25, (COVER[-1] + 1) / 25]}]
    src, out = decode(covered_clip["video"]).astype(int), decode(res.output).astype(int)
    assert len(out) == N_FRAMES
    diff = np.abs(out - src).reshape(N_FRAMES, -1)
    for i in COVER:   # the input's own pixels (lossless in and out; YUV<->BGR rounding only)
        assert diff[i].max() <= 6 and diff[i].mean() < 0.05, (i, diff[i].max(), diff[i].mean())
    changed = [i for i in range(N_FRAMES) if i not in COVER and diff[i].max() > 20]
    assert len(changed) > 25   # elsewhere a new mouth was drawn: the check above can fail
    assert "mouth covered" in (res.run_dir / "run.log").read_text()


def test_clean_real_clips_have_no_covered_frames_and_the_hand_is_found(clip_524):
    # evidence measured directly: a clean real clip never reads covered; the same clip with a
    # dark microphone over the mouth for 15 frames reads exactly those
    info = media.probe_video(clip_524)
    grids, contrast, valid = [], [], []
    with landmarks.FaceTracker("mediapipe", fps=info.fps) as tracker:
        for i, frame in enumerate(media.iter_frames(info)):
            if i >= 60:
                break
            lm = tracker.update(frame)
            if 30 <= i < 45:
                centre = lm[48:60].mean(0).astype(int)
                cv2.circle(frame, tuple(int(v) for v in centre), int(0.5 * np.ptp(lm[36:48, 0])), (60, 60, 60), -1)
                lm = tracker.update(frame)
            g, c = occlusion.describe(frame, lm)
            grids.append(g), contrast.append(c), valid.append(True)
    grids, contrast, valid = np.array(grids), np.array(contrast), np.array(valid)
    assert not occlusion.covered_frames(grids[:30], contrast[:30], valid[:30], fps=info.fps).any()
    covered = occlusion.covered_frames(grids, contrast, valid, fps=info.fps)
    assert occlusion.spans(covered) == [[30, 44]]


def test_batch_manifest_and_report_list_covered_frames(tmp_path):
    entry = {"index": 0, "name": "a", "video": "a.mp4", "status": "pending", "output": "outputs/a.mp4"}
    out = tmp_path / "outputs" / "a.mp4"
    out.parent.mkdir()
    out.write_bytes(b"x")
    result = {"output": str(out), "frames_no_face": 0, "frames_mouth_covered": 15, "n_frames": 50,
              "extra": {"mouth_covered": [{"frames": [20, 34], "seconds": [0.8, 1.4]}], "input_notes": []}}
    batch._record(tmp_path, entry, batch.ItemOutcome(0, True, result, None, 1.0, "w"))
    assert entry["frames_mouth_covered"] == 15 and entry["mouth_covered"][0]["frames"] == [20, 34]
    row = report.summary_rows([entry])[0]
    assert "15 (0.80-1.40 s)" in row


def test_a_looped_clip_is_not_read_as_covered_and_its_hand_is_found(clip_590):
    """Before (helper-40): talking_590 looped 6 times to 30 s at 1080p read 313 of its 900 frames
    "covered" (passed through untouched by a run): each frame's nearest typical frame was its own
    copy 5 s away, which sank the median distance the test divides by. Now copies of the same moment
    are not references. Here: the clip's evidence four times over (exact copies, the hardest case),
    a dark microphone over the mouth in frames 30-44 of the last pass only."""
    info = media.probe_video(clip_590)
    grids, contrast, mic_grids, mic_contrast = [], [], {}, {}
    with landmarks.FaceTracker("mediapipe", fps=info.fps) as tracker:
        for i, frame in enumerate(media.iter_frames(info)):
            lm = tracker.update(frame)
            g, c = occlusion.describe(frame, lm)
            grids.append(g), contrast.append(c)
            if 30 <= i < 45:
                covered = frame.copy()
                centre = lm[48:60].mean(0).astype(int)
                cv2.circle(covered, tuple(int(v) for v in centre), int(0.5 * np.ptp(lm[36:48, 0])), (60, 60, 60), -1)
                mic_grids[i], mic_contrast[i] = occlusion.describe(covered, lm)
    n = len(grids)
    grids, contrast = np.array(grids * 4), np.array(contrast * 4)
    valid = np.ones(4 * n, bool)
    assert not occlusion.covered_frames(grids, contrast, valid, fps=info.fps).any()
    for i in mic_grids:
        grids[3 * n + i], contrast[3 * n + i] = mic_grids[i], mic_contrast[i]
    assert occlusion.spans(occlusion.covered_frames(grids, contrast, valid, fps=info.fps)) == [[3 * n + 30, 3 * n + 44]]
