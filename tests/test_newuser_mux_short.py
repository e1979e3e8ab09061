"""A new user's tour, a talking photo from a 0.3 s speech (a one-word greeting).

Before: result.json said "sync_mux": {"note": "the file's sound could not be decoded"}: wrong - the
output's sound decodes and plays; it is shorter than the 1 s the mux check compares. Now the note
says so, with the length.
"""
from __future__ import annotations

import json
import re
import subprocess

from heygem_kernel import run


def test_a_short_sound_is_too_short_to_place_not_undecodable(tmp_path, photo_524, speech_5s):
    speech = tmp_path / "你好.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech_5s), "-t", "0.3", str(speech)], check=True)
    result = run(speech, photo_524, out=tmp_path / "你好.mp4", runs_root=tmp_path / "runs")
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a", "-show_entries", "stream=codec_name",
                            "-of", "csv=p=0", str(result.output)], capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "aac"          # the sound is there and decodes
    mux = json.loads((result.run_dir / "result.json").read_text(encoding="utf-8"))["extra"]["sync_mux"]
    assert mux["offset_ms"] is None
    assert re.fullmatch(r"the file's sound is too short to place \(0\.3\d s, 1 s needed\)", mux["note"]), mux
