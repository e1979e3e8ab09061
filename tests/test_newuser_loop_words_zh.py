"""A new user's tour, a Chinese batch report (HEYGEM_LANG=zh heygem batch) of a photo and a short clip.

Before: the summary table's loop column said "still", "trim", "pingpong" in English, and each item's
facts "still: 源帧 0-0 (a photo: nothing to loop, the one frame is repeated)": the loop mode and its
fallback note were recorded in English only. Now the mode is a catalogue word and the note is
recorded with its template (extra.loop.note_i18n), so the report shows both in its language;
result.json's English note is unchanged. Later (2026-12-01): the Chinese lines used English punctuation
around the words ("无缝循环, 1 处衔接", "静态图片：源帧 0-0 (照片：...)"); now "，" and "（）".
"""
from __future__ import annotations

import json
import subprocess

from heygem_kernel import RunOptions, i18n, report, run


def loop_of(result) -> dict:
    return json.loads(result.run_dir.joinpath("result.json").read_text(encoding="utf-8"))["extra"]["loop"]


def in_zh(loop: dict) -> tuple[str, str]:
    try:
        i18n.set_language("zh")
        return report.loop_text(loop, short=True), report.loop_text(loop)
    finally:
        i18n.set_language(None)


def test_photo_and_short_clip_loop_words_in_chinese(tmp_path, photo_524, clip_524, speech_5s):
    speech = tmp_path / "speech.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech_5s), "-t", "2", str(speech)], check=True)
    short = tmp_path / "short.mp4"    # 1.0 s: under the 1.2 s that seamless loops need
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_524), "-t", "1", str(short)], check=True)
    opts = RunOptions(sync_check=False)
    photo = loop_of(run(speech, photo_524, out=tmp_path / "p.mp4", runs_root=tmp_path / "runs", options=opts))
    clip = loop_of(run(speech, short, out=tmp_path / "c.mp4", runs_root=tmp_path / "runs", options=opts))

    assert photo["note"] == "a photo: nothing to loop, the one frame is repeated"     # the record stays English
    assert report.loop_text(photo) == "still: source frames 0-0 (a photo: nothing to loop, the one frame is repeated)"
    assert in_zh(photo) == ("静态图片", "静态图片：源帧 0-0（照片：无需循环，重复这一帧）")   # full-width brackets

    assert clip["mode"] == "pingpong"
    assert clip["note"] == "footage of 1.0 s is too short for seamless loops (needs 1.2 s): ping-pong"
    short_zh, long_zh = in_zh(clip)
    assert short_zh == "往返播放"
    assert long_zh.startswith("往返播放：源帧 0-24, ") and long_zh.endswith(
        "（素材只有 1.0 秒，太短，无法无缝循环（需要 1.2 秒）：改为往返播放）"), long_zh


def test_a_plan_without_a_note_gets_none_in_chinese():
    """A seamless plan has no note: gettext("") is the catalogue's header, never to be shown."""
    loop = {"mode": "seamless", "note": None, "segments": [{"src": [0, 72]}, {"src": [42, 118]}],
            "joins": [{"at_s": 2.8}], "joins_total": 1}
    assert in_zh(loop) == ("无缝循环，1 处衔接", "无缝循环：源帧 0-72, 42-118；衔接于 2.8 秒")   # a Chinese comma
