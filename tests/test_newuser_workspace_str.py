"""A new user's tour, the workbench panel in a notebook with its workspace typed as text.

Before: ``Workbench(workspace=Workspace(root="/data/heygem"))`` (or "~/heygem") failed at once with
"TypeError: unsupported operand type(s) for /: 'str' and 'str'"; only a Path worked. Now the root
and the media folders are taken as paths (and "~" is expanded).
"""
from __future__ import annotations

import subprocess

from heygem_widgets.panel import Workbench
from heygem_widgets.workspace import Workspace


def test_a_workspace_given_as_text_renders(tmp_path, photo_524, speech_5s, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    speech = tmp_path / "s.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech_5s), "-t", "0.5", str(speech)], check=True)
    ws = Workspace(root="~/工作区", media_dirs=(str(tmp_path),))
    assert ws.root == tmp_path / "工作区" and ws.media_dirs == (tmp_path,)
    wb = Workbench(workspace=ws, lang="en")
    wb.choose(speech, kind="audio")
    wb.choose(photo_524, kind="video")
    wb.generate()
    assert wb.wait(300)
    assert len(wb.results) == 1, wb.status.value
    assert str(wb.results[0]["run_dir"]).startswith(str(tmp_path / "工作区" / "runs"))
