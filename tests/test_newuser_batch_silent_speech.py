"""A new user's tour, a hospital's batch re-run with a new speech file that holds no sound (a
muted microphone, the wrong track exported).

Before: ``heygem batch`` said "2 of 2 ok" and the report showed two successful videos; that every
mouth in them stays closed because the speech is silent was written only into each item's
result.json (English), though ``heygem run`` and ``heygem scan`` both say it. Now the batch says it
once, in the user's language: a "note:" line after the counts and in the report (pre-flight and
summary); the manifest keeps it as ``speech_notes``.
"""
from __future__ import annotations

import json
import subprocess

from heygem_cli import heygem


def test_a_batch_says_that_its_speech_holds_no_sound(tmp_path, clip_590, clip_524):
    folder = tmp_path / "批量 一"
    folder.mkdir()
    for clip, name in ((clip_590, "王 医生.jpg"), (clip_524, "李 护士.jpg")):   # presenters' photos: quick
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "1", "-i", str(clip), "-frames:v", "1", "-q:v", "2",
                        str(folder / name)], check=True)
    (folder / "损坏 文件.mp4").write_bytes(clip_524.read_bytes()[:300000])   # truncated: fails alone
    silent = tmp_path / "静音 讲解.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "3",
                    str(silent)], check=True)
    run_dir = tmp_path / "批量 结果"
    done = heygem("batch", "--audio", silent, "--run-dir", run_dir, "--cache-dir", tmp_path / "cache", folder,
                  lang="zh")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "3 个中 2 个成功，1 个失败：" in done.stdout, done.stdout
    assert "\n  损坏 文件.mp4：" in done.stdout, done.stdout       # the failed item's line in Chinese punctuation
    note = "注意：静音 讲解.wav 没有声音（全程低于 -60 dBFS）：嘴不会动；请检查文件或其音轨"
    assert note in done.stdout, done.stdout
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert html.count(note) == 2, html.count(note)            # pre-flight and summary
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert [n["values"]["name"] for n in manifest["speech_notes"]] == ["静音 讲解.wav"]
