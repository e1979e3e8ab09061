"""Seconds in Chinese tables are 秒, as in every Chinese sentence: ``heygem scan`` printed its
duration, estimate and no-face spans as '4.9 s', '5 s', '0.2-0.6 s' among Chinese words; so did
the batch report's time, covered-mouth and loop-join cells."""
from __future__ import annotations

import re
import subprocess

from heygem_cli import heygem
from heygem_kernel import i18n, media, report

ENGLISH_SECONDS = re.compile(r"\d s\b")


def test_scan_table_in_chinese_says_miao(tmp_path, clip_524, speech_zh):
    # talking_524 with its first second black (a title card): the problems name the no-face span
    clip = tmp_path / "片头.mp4"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", clip_524, "-vf",
                    "drawbox=enable='lt(t,1)':c=black:t=fill", "-c:v", "libx264", "-c:a", "copy", clip], check=True)
    zh = heygem("scan", "--audio", speech_zh, clip, lang="zh")
    assert zh.returncode == 0, zh.stderr
    header, row = zh.stdout.splitlines()
    cells = row.split()
    assert cells[:2] == ["片头.mp4", "是"]
    assert "4.9 秒" in row and "预计" in header                 # duration (4.9 s)
    assert re.search(r"循环\s+5 秒\s", row), row                # estimate
    assert re.search(r"0\.\d-0\.\d 秒 没有人脸", row), row       # the title card's span
    assert not ENGLISH_SECONDS.search(zh.stdout), zh.stdout
    en = heygem("scan", "--audio", speech_zh, clip, lang="en")   # English unchanged
    assert "4.9 s" in en.stdout and re.search(r"no face at 0\.\d-0\.\d s ", en.stdout), en.stdout


def test_batch_report_cells_in_chinese_say_miao():
    entry = {"video": "a.mp4", "status": "ok", "output": "outputs/a.mp4", "wall_s": 3.25, "n_frames": 50,
             "frames_no_face": 0, "frames_mouth_covered": 15, "mouth_covered": [{"seconds": [0.8, 1.4]}],
             "loop": {"mode": "seamless", "segments": [{"src": [0, 72]}, {"src": [42, 118]}],
                      "joins": [{"at_s": 2.8}, {"at_s": 6.0}]}}
    try:
        i18n.set_language("zh")
        row = report.summary_rows([entry])[0]
        loop = report.loop_text(entry["loop"])
    finally:
        i18n.set_language(None)
    assert "3.2 秒" in row and "15 (0.80-1.40 秒)" in row, row
    assert loop.endswith("2.8, 6.0 秒"), loop
    assert not any(ENGLISH_SECONDS.search(cell) for cell in [*row, loop]), (row, loop)
