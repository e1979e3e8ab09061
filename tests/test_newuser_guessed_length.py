"""A new user's tour: speech as a plain .aac file, or a VBR .mp3 from a recorder without a Xing header.

Neither declares its length: ffprobe guesses it from the first frame's bitrate, and a variable
bitrate makes the guess wrong. Before, the truncation check took the guess for a header: 20 s of
speech_en_60s as ffmpeg's own .aac (listed in the README) read ~25 s and was refused, "is
truncated: decoded 20.0 s of the 25.6 s its header declares", exit 2; the same for a VBR MP3
written without a Xing header. Now a guessed length is not held against the file; an MP3 with a
Xing header that really is cut short is still refused in one line.
"""
from __future__ import annotations

import json
import subprocess

import pytest

from heygem_cli import heygem


def _ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


def _audio_seconds(path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=duration",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout
    return float(out)


@pytest.mark.parametrize("name, codec", [("讲话.aac", ["-c:a", "aac", "-b:a", "64k"]),
                                         ("recorder vbr.mp3", ["-c:a", "libmp3lame", "-q:a", "6", "-write_xing", "0"])])
def test_speech_whose_length_is_only_guessed_runs(tmp_path, speech_60s, clip_524, name, codec):
    speech = tmp_path / name
    _ffmpeg("-i", speech_60s, "-t", "20", *codec, speech)
    guessed = subprocess.run(["ffprobe", "-v", "warning", "-show_entries", "format=duration", "-of", "csv=p=0",
                              str(speech)], capture_output=True, text=True, check=True)
    assert "Estimating duration from bitrate" in guessed.stderr and float(guessed.stdout) > 21, guessed  # the case
    out = tmp_path / "out.mp4"
    proc = heygem("run", "--audio", speech, "--video", clip_524, "--out", out, "--quiet", "--no-sync-check",
                  cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(next(tmp_path.glob("runs/*/result.json")).read_text())
    assert abs(result["duration"] - 20.0) < 0.15, result["duration"]
    assert abs(_audio_seconds(out) - result["duration"]) < 0.05


def test_an_mp3_with_a_length_header_cut_short_is_still_refused(tmp_path, speech_60s, clip_524):
    full, cut = tmp_path / "full.mp3", tmp_path / "cut.mp3"
    _ffmpeg("-i", speech_60s, "-c:a", "libmp3lame", "-q:a", "6", full)      # with its Xing header: a real length
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    proc = heygem("run", "--audio", cut, "--video", clip_524, "--out", tmp_path / "out.mp4", "--quiet", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f"heygem: error: {cut} is truncated: decoded ") and "of the 60.0" in line, line


def test_scan_measures_such_speech_by_its_sound(tmp_path, speech_60s, clip_524):
    """``heygem scan --audio`` planned the loop and the time estimate on the guess (27 s for 20 s)."""
    speech = tmp_path / "recorder vbr.mp3"
    _ffmpeg("-i", speech_60s, "-t", "20", "-c:a", "libmp3lame", "-q:a", "6", "-write_xing", "0", speech)
    proc = heygem("scan", clip_524, "--audio", speech, "--json", "--samples", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (report,) = json.loads(proc.stdout)
    assert abs(report["audio_duration"] - 20.0) < 0.15, report


def test_batch_preflight_plans_such_speech_by_its_sound(tmp_path, speech_60s, clip_524):
    """The batch pre-flight (manifest audio_duration, each item's scan: loop plan, time estimate)
    took ffprobe's guess too: 20 s of a Xing-less VBR mp3 was planned as ~27 s."""
    from heygem_kernel import batch
    speech = tmp_path / "recorder vbr.mp3"
    _ffmpeg("-i", speech_60s, "-t", "20", "-c:a", "libmp3lame", "-q:a", "6", "-write_xing", "0", speech)
    plan = batch.prepare(speech, [clip_524], run_dir=tmp_path / "batch", cache_dir=tmp_path / "cache")
    manifest = json.loads((tmp_path / "batch" / "manifest.json").read_text())
    scan = manifest["items"][0]["scan"]
    print(manifest["audio_duration"], scan.get("audio_duration"))
    assert abs(manifest["audio_duration"] - 20.0) < 0.15, manifest["audio_duration"]
    assert abs(scan["audio_duration"] - 20.0) < 0.15, scan
    assert plan is not None
