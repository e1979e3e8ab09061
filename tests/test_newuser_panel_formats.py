"""A new user's tour: the panel takes the formats the engine (and the README) take.

Before: the panel's own extension lists refused, when chosen or uploaded, a presenter as .flv
(listed in the README), .3gp (phones), .mts (camcorders) or .wmv, and speech as .wma or .amr
(voice recorders), with "expected one of ..."; ``heygem run`` and ``heygem batch`` read them all.
Now the panel's lists are the engine's; a file that is not media is still refused when chosen.
"""
from __future__ import annotations

import json
import subprocess

import pytest

from heygem_kernel.errors import HeyGemError
from heygem_widgets.panel import Workbench
from heygem_widgets.workspace import Workspace


def test_the_panel_renders_a_flv_presenter_with_wma_speech(tmp_path, clip_524, speech_5s):
    ws = Workspace(root=tmp_path / "ws")
    media = tmp_path / "ws" / "uploads"
    media.mkdir(parents=True)
    video, speech = media / "主持人 录像.flv", media / "讲话.wma"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_524), "-t", "2", "-c:v", "flv", "-q:v", "3",
                    "-c:a", "aac", str(video)], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech_5s), "-t", "2", "-c:a", "wmav2", str(speech)],
                   check=True)
    wb = Workbench(workspace=ws)
    wb.choose(speech, kind="audio")
    wb.choose(video, kind="video")
    assert wb.audio_path == speech and wb.video_path == video
    # the pickers list them too (uploads/ is scanned by extension)
    assert "uploads/主持人 录像.flv" in wb.video_pick.options and "uploads/讲话.wma" in wb.audio_pick.options
    thread = wb.generate()
    assert thread is not None
    assert wb.wait(300)
    assert len(wb.results) == 1, wb.status.value
    result = wb.results[0]
    assert result["fps"] == 25.0 and result["n_frames"] == 50 and (result["width"], result["height"]) == (524, 524)
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                                       "stream=codec_type,nb_read_frames", "-of", "json", str(result["output"])],
                                      capture_output=True, text=True, check=True).stdout)
    assert [s.get("nb_read_frames") for s in probe["streams"] if s["codec_type"] == "video"] == ["50"]

    # other recorder and camera formats are offered as well; a text file named like them still is not
    for name in ("phone.3gp", "camcorder.mts", "windows.wmv"):
        (media / name).write_bytes(b"not a video")
        with pytest.raises(HeyGemError, match="not a video or image that ffmpeg can read"):
            wb.choose(media / name, kind="video")
    (media / "memo.amr").write_bytes(b"#!AMR\n")
    with pytest.raises(HeyGemError, match="memo.amr") as refused:
        wb.choose(media / "memo.amr", kind="audio")
    assert "expected one of" not in str(refused.value)
