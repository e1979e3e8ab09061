"""``heygem scan`` with a mistyped path is one line, exit 2, before any work, as heygem run and batch
say it: it printed a table row 'typo.mp4  NO ... no such file: /cwd/typo.mp4' (after scanning the
other videos) and exited 1, the status of a video that cannot work, not of a wrong command."""
from __future__ import annotations

from heygem_cli import heygem


def test_a_mistyped_path(tmp_path, clip_524):
    proc = heygem("scan", clip_524, "讲话 人.mp4", "--samples", "2", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == ["heygem: error: no such video file: 讲话 人.mp4"]
    proc = heygem("scan", "--json", "讲话 人.mp4", cwd=tmp_path, lang="zh")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == ["heygem：错误：视频文件不存在：讲话 人.mp4"]
    ok = heygem("scan", clip_524, "--samples", "2", cwd=tmp_path)          # an existing one: its table, exit 0
    assert ok.returncode == 0 and ok.stdout.splitlines()[1].startswith("talking_524.mp4  yes"), ok.stdout
