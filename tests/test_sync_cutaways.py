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

import numpy as np
from heygem_kernel import sync

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
    # as the recording itself reads (talking_590 +1.00 at the -25 ms zero; this 296 px copy +1.77,
    # at -12.5 ms +0.64 and about +0.9): within a frame, the face frames read as the whole clip does
    own = json.loads(heygem("sync", clip_590, "--no-plot", "--json", "--cache-dir", tmp_path / "cache").stdout)
    assert abs(report["offset_exact"] - own["offset_exact"]) <= 1, (report["offset_exact"], own["offset_exact"])


def _speech(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.convolve(rng.random(n + 8), np.ones(5) / 5, "same")[:n]


def test_the_face_must_be_seen_min_face_s_when_mostly_off_screen():
    """The rule's edge, on synthetic tracks (a mouth that follows the speech 2 frames late): 40 %
    of 30 s seen is 12 s, read; 9.6 s of 24 s (40 %) is not; a clip seen 60 % of the time is read
    whatever its length (MAX_NO_FACE)."""
    fps = 25.0
    for seconds, seen_s, read in ((30.0, 12.0, True), (24.0, 9.6, False), (10.0, 6.0, True)):
        n = int(seconds * fps)
        speech = _speech(n)
        mouth = np.r_[np.full(2, np.nan), speech[:-2]]
        mouth[int(seen_s * fps):] = np.nan                      # the rest: off screen
        est = sync.estimate_offset(mouth, speech, fps=fps)
        assert (est.note == "") == read, (seconds, seen_s, est.note)
        if read:
            assert est.offset_frames == 2 and est.reliable


def test_a_face_in_every_frame_is_scaled_as_before():
    """The speech track's scale comes from the frames met by a seen mouth: with the face in every
    frame that is every frame, so ordinary clips read exactly as before."""
    x = _speech(300, seed=1)
    assert np.array_equal(sync._normalise(x, 25.0), sync._normalise(x, 25.0, np.ones(300, bool)))


def test_a_closure_during_a_cutaway_does_not_count():
    """A bilabial closure while the face is off screen is compared with nothing: it neither weighs
    the closure channel nor labels the curve "opening + closures" (helper-44)."""
    fps, n = 25.0, 750
    speech = _speech(n, seed=2)
    mouth = speech.copy()
    mouth[300:] = np.nan                                        # 12 s seen, then a cutaway
    closure = np.zeros(n)
    closure[600:604] = 1.0                                      # the only bilabial: in the cutaway
    est = sync.estimate_offset(mouth, speech, fps=fps, speech_closure=closure)
    assert est.note == "" and est.closure_events == 0
    closure[100:104] = 1.0                                      # one where the face is seen
    assert sync.estimate_offset(mouth, speech, fps=fps, speech_closure=closure).closure_events == 1
