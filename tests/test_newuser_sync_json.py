"""A new user's tour, ``heygem sync --json`` read by a script (``jq .in_sync``).

Before: "in_sync": true came with "reliable": false and a verdict "low confidence: the speech track
is flat (silence?)" (talking_524's first 1.5 s against speech_en_60s, whose first 1.6 s are silence):
a script checking in_sync passed a file nothing could be read from. Now in_sync is null when the
reading is not reliable, and true/false only when it is.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys


def sync_json(tmp_path, *args):
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "sync", *map(str, args), "--json", "--no-plot",
                           "--cache-dir", str(tmp_path / "cache")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HEYGEM_LANG": "en"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_in_sync_is_null_when_nothing_could_be_read(tmp_path, clip_524, clip_590, speech_60s):
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_524), "-t", "1.5", str(clip)], check=True)
    guess = sync_json(tmp_path, clip, "--audio", speech_60s)
    assert guess["note"] == "the speech track is flat (silence?)" and guess["reliable"] is False
    assert guess["in_sync"] is None
    recording = sync_json(tmp_path, clip_590)          # an in-sync camera recording: a reading, and in sync
    assert recording["reliable"] is True and recording["in_sync"] is True and abs(recording["offset_frames"]) <= 1
