"""A path with a space at its end (a copy-paste into quotes) is named with that space, quoted: the
one-line message dropped it, so '--video "主持人.png "' said 'no such video file: 主持人.png' of a
photo that is right there."""
from __future__ import annotations

from heygem_cli import heygem


def test_a_trailing_space_is_shown(tmp_path, photo_524, speech_5s):
    run = heygem("run", "--audio", speech_5s, "--video", "主持人.png ", cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.splitlines() == ["heygem: error: no such video file: '主持人.png '"]
    sync = heygem("sync", " 主持人.png", cwd=tmp_path)
    assert sync.returncode == 2 and sync.stderr.splitlines() == ["heygem: error: no such file: ' 主持人.png'"]
    batch = heygem("batch", "--audio", speech_5s, "--run-dir", "b", "主持人.png ", cwd=tmp_path)
    assert batch.returncode == 2 and batch.stderr.splitlines() == ["heygem: error: no such video file: '主持人.png '"]
    zh = heygem("run", "--audio", speech_5s, "--video", "主持人.png ", lang="zh", cwd=tmp_path)
    assert zh.returncode == 2 and zh.stderr.splitlines() == ["heygem：错误：视频文件不存在：'主持人.png '"], zh.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["主持人.png"]   # nothing made
