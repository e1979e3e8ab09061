"""A new user's tour, a presenter's video given as a link, and paths written with "~".

Before: ``--video https://example.com/a.mp4`` said "no such video file: https:/example.com/a.mp4"
(the address mangled by Path()); heygem sync "no such file: https:/...", heygem scan a row for
"/cwd/https:/...". Now one line says it is a web address (heygem reads local files only), exit 2,
in every command. And "~/talk.mp4" (quoted, or from a notebook, where no shell expands it) was
"no such video file: ~/talk.mp4" in heygem run while heygem batch took it: now run expands it too.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

LINE = "heygem: error: {url} is a web address: heygem reads files on this machine only; download it first"


def heygem(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "heygem_kernel", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**os.environ, "HEYGEM_LANG": "en", **(env or {})})


@pytest.mark.parametrize("command", ["run-video", "run-audio", "sync", "scan", "batch-video", "batch-audio"])
def test_a_web_address_is_named_as_such(tmp_path, command, photo_524, speech_5s):
    url = "https://example.com/演讲/talk.mp4"
    args = {"run-video": ["run", "--audio", speech_5s, "--video", url, "--out", "o.mp4"],
            "run-audio": ["run", "--audio", url, "--video", photo_524, "--out", "o.mp4"],
            "sync": ["sync", url], "scan": ["scan", url],
            "batch-video": ["batch", "--audio", speech_5s, "--run-dir", "b", photo_524, url],
            "batch-audio": ["batch", "--audio", url, "--run-dir", "b", photo_524]}[command]
    proc = heygem(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip() == LINE.format(url=url)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["主持人.png"]   # nothing made


def test_run_expands_a_tilde(tmp_path, photo_524, speech_5s):
    speech = tmp_path / "s.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech_5s), "-t", "0.5", str(speech)], check=True)
    (tmp_path / "work").mkdir()
    proc = heygem("run", "--audio", "~/s.wav", "--video", f"~/{photo_524.name}", "--out", "~/说话.mp4", "--quiet",
                  "--no-sync-check", cwd=tmp_path / "work", env={"HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "说话.mp4").stat().st_size > 1000


@pytest.mark.parametrize("command", ["run-video", "sync", "batch-audio"])
def test_a_file_address_gives_the_path_to_use(tmp_path, command, photo_524, speech_5s):
    """A file manager's or browser's "copy location" (file:///data/%E8%AE%B2...): it was called a web
    address to download first, of a file on this very machine; now the line gives the path to use."""
    from urllib.parse import quote
    given = {"run-video": photo_524, "sync": photo_524, "batch-audio": speech_5s}[command]
    url = "file://" + quote(str(given))
    args = {"run-video": ["run", "--audio", speech_5s, "--video", url, "--out", "o.mp4"], "sync": ["sync", url],
            "batch-audio": ["batch", "--audio", url, "--run-dir", "b", photo_524]}[command]
    proc = heygem(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    path = str(given) if " " not in str(given) else f"'{given}'"
    assert proc.stderr.strip() == f"heygem: error: {url} is a file:// address; give the file's path instead: {path}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["主持人.png"]   # nothing made
