"""``heygem serve --root FILE`` says the path is a file: it said '<file>: the workspace folder does not
exist' of a file that exists (a user who gave the workbench notebook or a video instead of the folder)."""
from __future__ import annotations

from heygem_cli import heygem


def test_serve_root_that_is_a_file(clip_590):
    proc = heygem("serve", "--root", clip_590, "--port", "1")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"heygem: error: {clip_590.resolve()} is a file, expected a folder"]
    zh = heygem("serve", "--root", clip_590, "--port", "1", lang="zh")
    assert zh.returncode == 2 and zh.stderr.splitlines() == [f"heygem：错误：{clip_590.resolve()} 是文件，应为文件夹"], zh.stderr
