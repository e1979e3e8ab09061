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


@pytest.mark.parametrize("rate, repeats, pictures", [(5, 100, 5.0), (12.5, 62, 12.6)])
def test_a_clip_whose_pictures_are_mostly_held_says_how_many_and_the_real_rate(clip_590, tmp_path, rate, repeats,
                                                                               pictures):
    """talking_590 through 5 fps (12.5 fps) and back to 25: 4 of 5 frames (every other frame) repeat.
    The note said nothing (repeats 0 / 1): the median frame change was a repeat's, and runs of
    held frames longer than 2 were not counted."""
    held = tmp_path / "held.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_590), "-t", "5", "-vf", f"fps={rate},fps=25",
                    "-c:v", "libx264", "-crf", "18", "-preset", "ultrafast", "-c:a", "copy", str(held)],
                   check=True, timeout=120)
    out = subprocess.run([sys.executable, "-m", "heygem_kernel", "sync", str(held), "--json", "--no-plot",
                          "--no-cache"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    cadence = json.loads(out.stdout)["cadence"]
    assert cadence["frames"] == 125 and cadence["repeats"] == repeats and cadence["skips"] == 0, cadence
    assert cadence["picture_rate"] == pytest.approx(pictures, abs=0.05)
    assert cadence["note"] == (f"the picture repeats the previous frame in {repeats} of 125 frames "
                               f"({100 * repeats / 125:.0f} %): about {pictures:.1f} different pictures a second at "
                               "25 fps; a screen capture or a frame-rate conversion, whose pictures are often shown "
                               "late (~65 ms on the shared screen captures); not corrected")
