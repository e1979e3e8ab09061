"""A Chinese-speaking user opens ``heygem serve``'s page: what it says while it starts.

Before: the panel came up in Chinese (the browser's Accept-Language, ``?lang=zh`` or ``--lang zh``), but
the page first showed Voila's "Running HeyGem Workbench..." and then "Executing 3 of 12" for as long as
the notebook ran (seconds to a minute on a small machine): English. Now the page's template
(heygem_kernel/jupyter/voila/templates/heygem) shows them in the language the panel will use.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from serve_helpers import free_port, stop

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """An English console (LANG=C.UTF-8, no --lang): each page's language is its browser's or ?lang=."""
    root = tmp_path_factory.mktemp("workspace")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("HEYGEM_LANG", "LC_ALL", "LC_MESSAGES")}
    env["LANG"] = "C.UTF-8"
    proc = subprocess.Popen([sys.executable, "-m", "heygem_kernel", "serve", "--root", str(root), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                            start_new_session=True)
    try:
        assert proc.stdout.readline()          # it listens once it has printed its address
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop(proc)


def _page_start(url: str, accept_language: str | None = None) -> str:
    """The page's HTML up to its first notebook cell (what the browser shows while the kernel starts)."""
    request = urllib.request.Request(url, headers={"Accept-Language": accept_language} if accept_language else {})
    deadline, html = time.monotonic() + 120, b""
    while True:
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                while b"cell-index=" not in html:
                    chunk = response.read1(65536)
                    if not chunk:
                        break
                    html += chunk
            return html.decode("utf-8")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _loading_texts(html: str) -> dict:
    match = re.search(r"var texts = (\{.*?\});", html)
    assert match, "the page sets no loading texts: " + html[html.find('id="loading"'):][:400]
    return json.loads(match.group(1))


def test_the_loading_text_follows_the_pages_language(server):
    html = _page_start(server, "zh-CN,zh;q=0.9,en;q=0.8")                   # a Chinese browser
    # the heading is written in the page's language, not only set by a script after it: a page painted
    # before that script ran showed Voila's English "Running ..." (CI, once)
    assert '<h2 id="loading_text">正在启动 HeyGem 工作台…</h2>' in html, html[html.find('id="loading"'):][:400]
    zh = _loading_texts(html)
    assert zh == {"lang": "zh", "running": "正在启动 HeyGem 工作台…", "executing": "正在运行第 {index} 步（共 {count} 步）",
                  "reading": "正在读取第 {index} 步（共 {count} 步）"}
    assert _loading_texts(_page_start(server + "?lang=zh", "en-US"))["lang"] == "zh"   # the page's switch decides
    en = _loading_texts(_page_start(server, "en-US,en;q=0.9"))
    assert en["running"] == "Running HeyGem Workbench..." and en["executing"] == "Executing {index} of {count}"


@pytest.mark.browser
def test_a_chinese_browser_sees_chinese_while_the_page_starts(server):
    """What Chromium (Accept-Language zh-CN) shows in the spinner's heading while the notebook runs."""
    assert Path(CHROMIUM).exists(), "chromium is not installed: run scripts/setup.sh (apt-get install chromium)"
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_context(locale="zh-CN").new_page()
            seen = []
            page.expose_function("heygemSeen", lambda text: seen.append(text))
            # the heading's text at every frame the page paints, until the spinner goes away
            page.add_init_script("""(function tick() {
                const h = document.getElementById("loading_text");
                if (h && h.textContent !== window.__heygemLast) {
                    window.__heygemLast = h.textContent;
                    window.heygemSeen(h.textContent);
                }
                requestAnimationFrame(tick);
            })();""")
            page.goto(server, timeout=180_000)
            page.wait_for_selector(".heygem-generate", timeout=180_000)    # the panel is up
            assert seen, "no loading text was shown"
            for text in seen:                    # before: "Running HeyGem Workbench...", "Executing 3 of 12"
                assert re.fullmatch(r"正在启动 HeyGem 工作台…|正在运行第 \d+ 步（共 \d+ 步）", text), seen
        finally:
            browser.close()
