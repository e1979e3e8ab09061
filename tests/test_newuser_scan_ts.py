"""Camcorder / recorder files without an index (MPEG-TS, AVCHD .MTS) whose keyframes are seconds
apart: the pre-flight scan (and so a batch) must see the faces that `heygem run` renders."""
from __future__ import annotations

import json
import subprocess

from heygem_cli import heygem
from heygem_kernel import media


def test_scan_reads_faces_in_an_mpeg_ts_with_one_keyframe(tmp_path, media_dir):
    # talking_590 as MPEG-TS (x264's default keyframe interval, 250 frames: one keyframe in 5 s; the clock
    # starting at 11.4 s as recorders' do). Every fast seek gave no frame, so `heygem scan` said 'NO ... no
    # face in t590.ts (12 sampled frames checked); 12 sampled frame(s) could not be decoded' and `heygem
    # batch` failed the item in pre-flight, though `heygem run` renders it
    clip = tmp_path / "t590.ts"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", media_dir / "talking_590.mp4", "-c:v", "libx264",
                    "-c:a", "aac", "-f", "mpegts", "-output_ts_offset", "10", clip], check=True)
    proc = heygem("scan", clip, "--audio", media_dir / "speech_en_5s.wav", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["ok"] is True and report["fatal"] == [], report
    assert report["faces"] == [1] * 12, report
    assert not any("could not be decoded" in p for p in report["problems"]), report


def test_a_video_a_frame_shorter_than_the_speech_says_by_how_much(tmp_path, media_dir):
    # talking_590 at 50 fps (250 frames, 5.00 s) against speech_en_5s (5.0155 s, 251 frames at 50 fps):
    # the pre-flight said 'video (5.0 s) shorter than the speech (5.0 s): looped'
    clip = tmp_path / "t590_50fps.mp4"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", media_dir / "talking_590.mp4", "-r", "50", "-c:a", "copy",
                    clip], check=True)
    proc = heygem("scan", clip, media_dir / "talking_524.mp4", "--audio", media_dir / "speech_en_5s.wav")
    assert proc.returncode == 0, proc.stderr
    assert "video (5.00 s) shorter than the speech (5.02 s): looped" in proc.stdout, proc.stdout
    assert "video (4.9 s) shorter than the speech (5.0 s): looped" in proc.stdout, proc.stdout   # one decimal tells
    zh = heygem("scan", clip, "--audio", media_dir / "speech_en_5s.wav", lang="zh")
    assert "视频（5.00 秒）比语音（5.02 秒）短" in zh.stdout, zh.stdout
