"""`heygem sync` on a video whose sound track ends well before its picture.

Before: the check compared only the frames with sound and said nothing; a video of 5 s whose sound
stops at 3 s read as a check of the whole video. Now a note line names where the sound ends and what
was compared, and the JSON report carries the picture's frame count next to the compared one.
"""
from __future__ import annotations

import json
import subprocess

from heygem_cli import heygem


def test_sync_says_the_sound_ends_before_the_picture(tmp_path, clip_590):
    cut = tmp_path / "short sound.mp4"        # talking_590 (5.0 s), its sound stopped at 3.0 s
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_590), "-map", "0:v", "-map", "0:a",
                    "-c:v", "copy", "-af", "atrim=0:3", "-c:a", "aac", str(cut)], check=True)
    done = heygem("sync", cut, "--no-plot", "--json", "--cache-dir", tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["video_frames"] == 125 and 74 <= report["n_frames"] <= 76, report
    assert report["sound_note"].startswith("the sound ends at 3.00 s, 2.00 s before the picture"), report
    shown = heygem("sync", cut, "--no-plot", "--cache-dir", tmp_path / "cache")
    assert "note:        the sound ends at 3.00 s, 2.00 s before the picture: only the first 3.00 s were compared" \
        in shown.stdout, shown.stdout
    assert f"video:       {cut} (125 frames at 25.000 fps, the first {report['n_frames']} compared, 0 of them " \
        "without a face)" in shown.stdout, shown.stdout
    whole = heygem("sync", clip_590, "--no-plot", "--cache-dir", tmp_path / "cache")
    assert whole.returncode == 0 and "the sound ends" not in whole.stdout, whole.stdout
    assert f"video:       {clip_590} (125 frames at 25.000 fps, 0 without a face)" in whole.stdout, whole.stdout


def test_max_shift_is_checked_against_the_sound_it_compares(tmp_path, clip_590):
    """Before: with a sound of 3 s under a 5 s picture, --max-shift 30 passed the check against the
    picture (at most 52 frames) and the estimator cut the search to 27 frames in silence. Now it is
    one line naming the sound's frames, exit 2, before the face is tracked."""
    cut = tmp_path / "short.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_590), "-map", "0:v", "-map", "0:a",
                    "-c:v", "copy", "-af", "atrim=0:3", "-c:a", "aac", str(cut)], check=True)
    done = heygem("sync", cut, "--no-plot", "--max-shift", "30", "--no-cache")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"heygem: error: --max-shift must be at most 27 frames for {cut}: its sound covers only 75 of its 125 frames, "
        "and 0.8 s of them are left to correlate; got 30"], done.stderr
    fits = heygem("sync", cut, "--no-plot", "--json", "--max-shift", "27", "--no-cache")
    assert fits.returncode == 0 and json.loads(fits.stdout)["max_shift"] == 27, fits.stderr
