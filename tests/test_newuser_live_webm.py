"""A new user's tour: recordings made in a browser (MediaRecorder WebM) or written to a pipe.

Such files declare no length at all (no duration in the header, the stream or a tag). Before:
as the speech, "... contains no audio", exit 2 (speech_zh_8s as Opus WebM); as the video,
packets / header rate made the length, so a variable-rate capture read as constant 30 fps
(talking_vfr_700: 135 frames over 6.1 s, 22.1 fps real) and its picture ran 1.36x fast against
its sound: the run's output and ``heygem sync`` were off. Now the packets' timestamps give the
length, as for talking_vfr_700.mp4 itself.
"""
from __future__ import annotations

import json
import subprocess

from heygem_cli import heygem


def _live_webm(src, dest, *args):
    """``src`` re-encoded into WebM written to a pipe, as a browser's recorder leaves it: no duration."""
    with open(dest, "wb") as fh:
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), *args, "-f", "webm", "-"], stdout=fh, check=True)
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=duration",
                                       "-of", "json", str(dest)], capture_output=True, text=True, check=True).stdout)
    assert "duration" not in probe["format"] and all("duration" not in s for s in probe["streams"]), probe


def test_a_browser_recorded_speech_drives_a_run(tmp_path, speech_zh, clip_524):
    speech = tmp_path / "录音.webm"
    _live_webm(speech_zh, speech, "-c:a", "libopus")
    out = tmp_path / "out.mp4"
    proc = heygem("run", "--audio", speech, "--video", clip_524, "--out", out, "--language", "zh", "--quiet",
                  cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(next(tmp_path.glob("runs/*/result.json")).read_text())
    assert abs(result["duration"] - 8.0) < 0.05 and result["n_frames"] == 200, result
    assert result["sync_confidence"] > result["extra"]["sync_chance"], result


def test_a_browser_recorded_variable_rate_video_keeps_its_real_rate(tmp_path, clip_vfr, speech_5s):
    video = tmp_path / "screen capture.webm"
    _live_webm(clip_vfr, video, "-fps_mode", "passthrough", "-c:v", "libvpx", "-b:v", "1M", "-deadline", "realtime",
               "-cpu-used", "8", "-c:a", "libopus")
    out = tmp_path / "out.mp4"
    proc = heygem("run", "--audio", speech_5s, "--video", video, "--out", out, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(next(tmp_path.glob("runs/*/result.json")).read_text())
    assert abs(result["fps"] - 22.131) < 0.01 and result["extra"]["is_vfr"], result   # as talking_vfr_700.mp4
    # its own sound against its picture reads as the .mp4 does (within a frame, above chance), not
    # 1.36x fast (the capture's late picture reads +1.5..+2 frames either way)
    sync = heygem("sync", video, "--json", "--no-plot", cwd=tmp_path)
    assert sync.returncode == 0, sync.stderr[-2000:]
    data = json.loads(sync.stdout)
    mp4 = json.loads(heygem("sync", clip_vfr, "--json", "--no-plot", cwd=tmp_path).stdout)
    assert abs(data["fps"] - 22.131) < 0.01 and data["reliable"], data
    assert abs(data["offset_exact"] - mp4["offset_exact"]) < 1, (data["offset_exact"], mp4["offset_exact"])
