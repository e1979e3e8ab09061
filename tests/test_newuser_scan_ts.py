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
