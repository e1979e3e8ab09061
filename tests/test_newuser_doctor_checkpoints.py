"""``heygem doctor --checkpoints X`` where X is not a folder is one line, exit 2, as ``--models-dir``
is: a file (a checkpoint given instead of its folder) was reported as 'checkpoints in X (does not
exist): none found', exit 0, of a file that exists; a mistyped folder the same, exit 0."""
from __future__ import annotations

from heygem_cli import heygem


def test_checkpoints_that_is_not_a_folder(tmp_path, clip_590):
    proc = heygem("doctor", "--no-hash", "--checkpoints", clip_590)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [f"heygem: error: {clip_590} is a file, expected a folder"]
    proc = heygem("doctor", "--no-hash", "--json", "--checkpoints", tmp_path / "chekpoints")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [f"heygem: error: no such checkpoints folder: {tmp_path / 'chekpoints'}"]
    zh = heygem("doctor", "--no-hash", "--checkpoints", tmp_path / "chekpoints", lang="zh")
    assert zh.returncode == 2 and zh.stderr.splitlines() == [f"heygem：错误：模型文件夹不存在：{tmp_path / 'chekpoints'}"]
    ok = heygem("doctor", "--no-hash", "--checkpoints", tmp_path)        # an empty folder: reported, exit 0
    assert ok.returncode == 0 and f"checkpoints in {tmp_path}:" in ok.stdout, ok.stderr
