"""A new user's tour, ``heygem serve`` started by a Chinese-speaking user (LANG=zh_CN.UTF-8).

Before: every other line of heygem was Chinese, but serve printed "HeyGem Workbench: open
http://127.0.0.1:PORT/" (and, with --host 0.0.0.0, "on this machine: ..." and "listening on 0.0.0.0:
anyone who can reach it needs the token") in English: the lines that tell the user where the app is
and that the token matters. Now they are in the console's language.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

from serve_helpers import free_port, stop


def _first_lines(tmp_path, *args, n: int) -> list[str]:
    (tmp_path / "工作区").mkdir(exist_ok=True)
    env = {**os.environ, "LANG": "zh_CN.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}
    env.pop("HEYGEM_LANG", None)
    proc = subprocess.Popen([sys.executable, "-m", "heygem_kernel", "serve", "--root", str(tmp_path / "工作区"),
                             "--port", str(free_port()), *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env, start_new_session=True)
    try:
        lines, deadline = [], time.monotonic() + 120
        while len(lines) < n and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
        return lines
    finally:
        stop(proc)


def test_serve_tells_a_chinese_user_where_the_app_is_in_chinese(tmp_path):
    local = _first_lines(tmp_path, n=1)
    assert local and local[0].startswith("HeyGem 工作台：请在浏览器中打开 http://127.0.0.1:"), local
    shared = _first_lines(tmp_path, "--host", "0.0.0.0", "--token", "s3cret", n=3)
    assert shared[0].startswith("HeyGem 工作台：请在浏览器中打开 http://"), shared
    assert shared[1].startswith("  在本机上：http://127.0.0.1:") and shared[1].endswith("/?token=s3cret"), shared
    assert shared[2] == "  正在监听 0.0.0.0：能访问到它的任何人都需要令牌", shared


def test_the_served_page_is_titled_with_the_products_name(tmp_path):
    """Before: the browser tab (and a bookmark of the page) said "workbench", the notebook's file name;
    now "HeyGem Workbench" (the notebook's metadata title), the product's name in either language."""
    import urllib.request
    root = tmp_path / "工作区"
    root.mkdir()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "heygem_kernel", "serve", "--root", str(root), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        assert proc.stdout.readline()          # it listens once it has printed its address
        deadline, page = time.monotonic() + 120, ""
        while time.monotonic() < deadline and not page:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as response:
                    page = response.read().decode("utf-8")
            except OSError:
                time.sleep(1)
        assert "<title>HeyGem Workbench</title>" in page, page[:500]
    finally:
        stop(proc)
