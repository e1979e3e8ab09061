"""A new user's tour, ``heygem batch`` with a wrong path in --notebook or --run-dir.

Before: ``--notebook speech.mp3`` (any file that is not a notebook) ended "heygem: internal error:
UnicodeDecodeError: ... (run with -v for the traceback)", exit 1, after a papermill warning and
with an empty run folder made; ``--run-dir speech.mp3`` (a file) first warned "ignoring unreadable
.../manifest.json ([Errno 20] Not a directory ...): every item runs again" before its error line.
Now each is one line, exit 2, before any folder is made.
"""
from __future__ import annotations

import os
import subprocess
import sys


def batch(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "heygem_kernel", "batch", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path, env={**os.environ, "HEYGEM_LANG": "en"})


def test_a_notebook_that_is_not_one_is_one_line_before_any_work(tmp_path, speech_5s, clip_524):
    proc = batch(tmp_path, "--audio", speech_5s, "--run-dir", "批次", "--notebook", speech_5s, clip_524)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"heygem: error: {speech_5s} is not a Jupyter notebook ("), lines
    assert not (tmp_path / "批次").exists()


def test_a_run_dir_that_is_a_file_is_one_line_without_a_manifest_warning(tmp_path, speech_5s, clip_524):
    (tmp_path / "notes.txt").write_text("not a folder", encoding="utf-8")
    proc = batch(tmp_path, "--audio", speech_5s, "--run-dir", "notes.txt", clip_524)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip() == f"heygem: error: {tmp_path / 'notes.txt'} is a file, expected a folder"
