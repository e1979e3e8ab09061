"""A new user's tour, the panel's one-frame preview with a frame number past the end of the output.

Before: frame 9999 of a 1 s output showed its last frame (24) under the label "frame 9999 of
主持人.png". Now the label names the frame shown and says it is the last, and the frame box is set to it.
"""
from __future__ import annotations

import re
import subprocess

from heygem_kernel import preview
from heygem_widgets.panel import Workbench
from heygem_widgets.workspace import Workspace


def test_a_frame_past_the_end_is_labelled_as_the_last_one(tmp_path, photo_524, speech_5s):
    speech = tmp_path / "s.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech_5s), "-t", "1", str(speech)], check=True)
    frame = preview.preview_frame(speech, photo_524, frame_index=9999, cache_dir=tmp_path / "cache")
    assert (frame.index, frame.n_frames) == (24, 25)
    same = preview.preview_frame(speech, photo_524, frame_index=24, cache_dir=tmp_path / "cache")
    assert (same.index, same.n_frames) == (24, 25) and (frame == same).all()

    wb = Workbench(workspace=Workspace(root=tmp_path / "ws"), lang="en")
    wb.choose(speech, kind="audio")
    wb.choose(photo_524, kind="video")
    wb.frame_index.value = 9999
    wb.preview().join(300)
    said = re.sub(r"<[^>]+>", "", wb.preview_msg.value)
    assert said == "frame 24 of 主持人.png (its last: the output has 25 frames)", said
    assert wb.frame_index.value == 24
    wb.frame_index.value = 10
    wb.preview().join(300)
    assert re.sub(r"<[^>]+>", "", wb.preview_msg.value) == "frame 10 of 主持人.png"
