"""A run's params.json names the inputs as the user gave them, also when they are symbolic links.

Before: ``heygem run --audio 讲话.wav --video 主持人.mp4`` with both names links (a shared media folder, a
"current" link to this week's presenter) recorded the links' targets, ``.../speech_en_5s.wav``: the record
did not say what the user ran, and ``heygem run --from`` re-read the old target after the link moved.
Now "audio"/"video"/"output" are the given names made absolute (not resolved); "audio_resolved" /
"video_resolved" keep the files they were, and the sha256 is the file's as before.
"""
from __future__ import annotations

import json
import subprocess
import sys

from heygem_kernel.cache import file_hash


def test_params_record_the_linked_names_the_user_gave(tmp_path, clip_524, speech_5s):
    links = tmp_path / "本周"
    links.mkdir()
    (links / "主持人.mp4").symlink_to(clip_524)
    (links / "讲话.wav").symlink_to(speech_5s)
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "run", "--audio", "本周/讲话.wav",
                           "--video", "本周/主持人.mp4", "--run-dir", "run", "--out", "本周/out.mp4", "--no-sync-check",
                           "--quiet"], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    params = json.loads((tmp_path / "run" / "params.json").read_text(encoding="utf-8"))
    assert params["audio"] == str(links / "讲话.wav") and params["video"] == str(links / "主持人.mp4")
    assert params["output"] == str(links / "out.mp4")
    assert params["audio_resolved"] == str(speech_5s.resolve()) and params["video_resolved"] == str(clip_524.resolve())
    assert params["video_sha256"] == file_hash(clip_524) and params["audio_sha256"] == file_hash(speech_5s)
