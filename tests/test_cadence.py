"""Frame cadence (heygem_kernel/cadence.py): repeated pictures and skipped timestamps, the marks
of a screen capture, on the real clips and on a camera clip made to repeat frames."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from heygem_kernel import landmarks
from heygem_kernel.cadence import frame_cadence


@pytest.mark.parametrize("name, repeats, skips", [
    ("talking_524.mp4", (10, 16), (0, 0)),        # resampled capture: a repeat every 6-10 frames
    ("talking_vfr_700.mp4", (0, 2), (40, 55)),    # EV Capture: every third 30 fps tick missing
    ("talking_590.mp4", (0, 0), (0, 0)),          # camera clips: neither
    ("portrait_1080x1920.mp4", (0, 0), (0, 0)),
])
def test_cadence_of_the_shared_clips(media_dir, name, repeats, skips):
    cadence = frame_cadence(media_dir / name, track=landmarks.track_video(media_dir / name))
    print(name, cadence, cadence.note())
    assert repeats[0] <= cadence.repeats <= repeats[1]
    assert skips[0] <= cadence.skips <= skips[1]
    assert bool(cadence.note()) == (name in ("talking_524.mp4", "talking_vfr_700.mp4"))


def test_a_camera_clip_converted_through_20_fps_repeats_frames(clip_590, tmp_path):
    """talking_590 through 20 fps and back to 25 repeats every fifth picture: ``heygem sync`` says
    so in a note (and in --json); the untouched clip has no note."""
    held = tmp_path / "held.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_590), "-vf", "fps=20,fps=25", "-c:v", "libx264",
                    "-crf", "18", "-preset", "veryfast", "-c:a", "copy", str(held)], check=True)
    run = lambda *a: subprocess.run([sys.executable, "-m", "heygem_kernel", "sync", *map(str, a), "--no-plot"],  # noqa: E731
                                    capture_output=True, text=True, timeout=300)
    out = run(held, "--json")
    assert out.returncode == 0, out.stderr
    cadence = json.loads(out.stdout)["cadence"]
    assert 20 <= cadence["repeats"] <= 30 and cadence["skips"] == 0, cadence     # 125 frames / 5
    assert cadence["note"].startswith("the picture repeats the previous frame")
    text = run(held).stdout
    assert "note:" in text and "not corrected" in text
    plain = run(clip_590)
    assert plain.returncode == 0 and "note:" not in plain.stdout
