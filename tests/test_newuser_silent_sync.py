"""A new user's tour, a hospital's batch re-run with a speech file that holds no sound (a muted
microphone, the wrong track exported).

Before: the run still ran the sync check against the silence, and a photo's closed mouth read
"sync offset +14 frames (confidence 0.67)", reliable (chance 0.37): the summary line, result.json
(``sync_verdict`` "video lags audio by 14 frames (560 ms)") and the batch report all claimed a
confident offset of more than half a second that does not exist; the mux check added "the file's
sound does not match the speech". Now a silent speech is not checked: no offset, and the verdict
says why, in the user's language.
"""
from __future__ import annotations

import json
import subprocess

from heygem_cli import heygem


def _inputs(tmp_path, clip_590):
    folder = tmp_path / "培训 素材"
    folder.mkdir()
    photo = folder / "照片 讲师.jpg"        # talking_590's frame at 1 s, as a presenter's photo
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "1", "-i", str(clip_590), "-frames:v", "1", "-q:v", "2",
                    str(photo)], check=True)
    silent = folder / "静音 讲解.wav"      # 48 kHz stereo digital silence, 6 s
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "6",
                    str(silent)], check=True)
    return photo, silent


def test_a_silent_speech_gets_no_made_up_sync_offset(tmp_path, clip_590):
    photo, silent = _inputs(tmp_path, clip_590)
    out = tmp_path / "成品" / "照片 静音.mp4"
    done = heygem("run", "--quiet", "--audio", silent, "--video", photo, "--out", out, "--run-dir",
                  tmp_path / "记录", "--cache-dir", tmp_path / "cache", "--language", "zh", lang="zh")
    assert done.returncode == 0, done.stderr
    assert out.is_file()
    record = json.loads((tmp_path / "记录" / "result.json").read_text(encoding="utf-8"))
    extra = record["extra"]
    assert record["sync_offset_frames"] is None, (record["sync_offset_frames"], extra.get("sync_verdict"))
    assert record["sync_confidence"] is None
    assert extra["sync_reliable"] is False
    assert extra["sync_verdict"] == "sync not checked: 静音 讲解.wav holds no sound"
    assert extra.get("sync_mux") is None                     # no "the file's sound does not match the speech"
    assert "同步偏移" not in done.stdout, done.stdout          # no offset claimed on the summary line
    assert "0 帧无人脸，未做同步检查：静音 讲解.wav 没有声音）" in done.stdout, done.stdout

    # the batch report folds the same result.json into its item: "not measurable", no "+14 frames"
    from heygem_kernel import batch, i18n, report
    entry = {"video": str(photo), "output": "outputs/照片_讲师.mp4"}
    batch._record(tmp_path, entry, batch.ItemOutcome(0, True, record, None, 3.0, "local"))
    i18n.set_language("zh")
    try:
        row = report.summary_rows([entry])[0]
    finally:
        i18n.set_language(None)
    assert "不可测" in " ".join(row) or "无法测量" in " ".join(row), row
    assert not any("帧" in cell and "+" in cell for cell in row), row


def test_a_noise_only_speech_says_why_sync_is_not_measurable(tmp_path, clip_590, media_dir):
    """The first 2 s of speech_en_60s are the room alone (-54 dB mean, above the -60 dBFS silence
    line): the check runs and finds nothing to compare. The summary line said "sync not measurable
    (confidence 0.00 below the chance level 0.84)" while result.json knew why; it now says why."""
    noise = tmp_path / "room.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(media_dir / "speech_en_60s.wav"), "-t", "2", str(noise)],
                   check=True)
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_590), "-t", "3", "-c", "copy", str(clip)], check=True)
    done = heygem("run", "--quiet", "--audio", noise, "--video", clip, "--out", tmp_path / "out.mp4",
                  "--run-dir", tmp_path / "run", "--cache-dir", tmp_path / "cache", lang="en")
    assert done.returncode == 0, done.stderr
    extra = json.loads((tmp_path / "run" / "result.json").read_text(encoding="utf-8"))["extra"]
    assert extra["sync_verdict"] == "low confidence: the speech track is flat (silence?)", extra["sync_verdict"]
    assert "sync not measurable: the speech track is flat (silence?))" in done.stdout, done.stdout
    assert "chance level" not in done.stdout, done.stdout
