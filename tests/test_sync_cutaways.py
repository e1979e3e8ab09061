"""An edited talk whose speaker is off screen more than half the time is still read on the frames
that show the speaker (sync.MIN_FACE_S).

Before: a 62 s TED clip (12.5 s of title, then cuts between the speaker and the audience; 25 s of
face) read "low confidence: no face in 877 of 1480 frames" and no offset, although the 603 frames
with the speaker read clearly (confidence 0.42, chance 0.16). Here: talking_590 six times over (30 s,
frames and sound together: in sync) with the picture black for 18.6 s in three stretches, the
speech going on (a cut to the audience).
"""
from __future__ import annotations

import json
import subprocess

from heygem_cli import heygem


def test_a_talk_with_long_cutaways_is_read_on_its_face_frames(tmp_path, clip_590):
    talk = tmp_path / "talk with cutaways.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "5", "-i", str(clip_590), "-vf",
                    "scale=296:296,drawbox=enable='between(t,3,9)+between(t,13.5,19.5)+between(t,23,29.6)'"
                    ":color=black:t=fill", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", str(talk)],
                   check=True)
    report = json.loads(heygem("sync", talk, "--no-plot", "--json", "--cache-dir", tmp_path / "cache").stdout)
    assert report["note"] == "", report["note"]                 # before: "no face in 4xx of 750 frames"
    assert report["window_frames"] >= 10 * 25                   # the face frames, not the black ones
    assert report["reliable"] and report["confidence"] > report["chance"]
    assert abs(report["offset_exact"]) < 2.0, report["offset_exact"]    # in sync, as recorded
