"""A new user's tour, a presenter's photo made into a short video in an editor (every frame alike).

Before: heygem run said "12 with the mouth covered" and left the mouth still in those frames: the
covered-mouth detector divides each frame's appearance distance by the clip's median one, and a
mouth that never changes has a median near 0 (0.20 grid levels; the shared clips 1.84-5.93), so
landmark jitter alone read up to 7x it. The median is now taken as at least 1 grid level: no frame
of the still video is covered, and a hand held over its mouth still is.
"""
from __future__ import annotations

import json
import subprocess

from heygem_kernel import RunOptions, run


def still_video(tmp_path, clip_524, speech_5s, name: str, vf: str = "null"):
    photo = tmp_path / "photo.jpg"
    if not photo.exists():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "1", "-i", str(clip_524), "-frames:v", "1", str(photo)],
                       check=True)
    video = tmp_path / name
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(photo), "-i", str(speech_5s), "-t", "3",
                    "-r", "25", "-vf", vf, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(video)],
                   check=True)
    return video


def covered(tmp_path, video, speech_5s) -> int:
    result = run(speech_5s, video, out=tmp_path / f"{video.stem}_out.mp4", runs_root=tmp_path / "runs",
                 cache_dir=tmp_path / "cache", options=RunOptions(sync_check=False, speaker_timing=False))
    record = json.loads((result.run_dir / "result.json").read_text(encoding="utf-8"))
    return record["frames_mouth_covered"]


def test_a_still_video_has_no_covered_mouth_and_a_hand_on_it_is_found(tmp_path, clip_524, speech_5s):
    assert covered(tmp_path, still_video(tmp_path, clip_524, speech_5s, "静止.mp4"), speech_5s) == 0
    hand = "drawbox=x=160:y=300:w=210:h=150:color=0xC89878@1:t=fill:enable='between(n,25,50)'"
    assert covered(tmp_path, still_video(tmp_path, clip_524, speech_5s, "手.mp4", hand), speech_5s) >= 20
