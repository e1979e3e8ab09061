"""The workbench as a person uses it: `heygem serve` driven by Debian's Chromium (Playwright).

Needs /usr/bin/chromium (apt `chromium`, installed by scripts/setup.sh) and the `playwright` pip
package; no browser download. The render is the real engine's.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from serve_helpers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-extensions", "--mute-audio", "--autoplay-policy=no-user-gesture-required"]
MAX_UPLOAD_MB = 12          # > Tornado's 10 MiB message default, so a 15 MB upload proves the raise
PAGE_TIMEOUT_MS = 120_000   # kernel start + notebook execution on a 2-core box
RENDER_TIMEOUT_MS = 300_000


def _listen_addresses(port: int) -> set[str]:
    """Local addresses with a LISTEN socket on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:   # 0A = TCP_LISTEN
                if len(addr) == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr)[::-1]))
                else:
                    raw = b"".join(bytes.fromhex(addr[i:i + 8])[::-1] for i in range(0, 32, 8))
                    found.add(socket.inet_ntop(socket.AF_INET6, raw))
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    assert Path(CHROMIUM).exists(), "chromium is not installed: run scripts/setup.sh (apt-get install chromium)"
    import playwright.sync_api  # noqa: F401  (the [test] extra; a missing one fails, never skips)
    import voila  # noqa: F401
    root = tmp_path_factory.mktemp("workspace")
    port = free_port()
    env = dict(os.environ)
    log = open(root / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "heygem_kernel.cli", "serve", "--port", str(port),
                             "--root", str(root), "--max-upload-mb", str(MAX_UPLOAD_MB)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + 90
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"heygem serve did not start:\n{(root / 'serve.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield {"url": f"http://127.0.0.1:{port}/", "port": port, "root": root, "proc": proc}
    proc.send_signal(signal.SIGTERM)       # Voila shuts its kernels down on SIGTERM
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)   # the group of the server we started (it and its kernels)
        proc.wait()
    log.close()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _open(browser, url: str):
    """A new page on the app, its panel shown."""
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector(".heygem-generate")
    return page


@pytest.fixture(scope="module")
def page(server, browser):
    page = _open(browser, server["url"])
    yield page
    page.close()


def _upload(page, selector: str, path: Path) -> None:
    with page.expect_file_chooser() as chooser:   # FileUpload's <input type=file> is not in the DOM
        page.click(selector)
    chooser.value.set_files(str(path))


def test_server_listens_on_loopback_only(server):
    assert _listen_addresses(server["port"]) == {"127.0.0.1"}


def test_upload_generate_and_play(server, page, tmp_path, clip_524, speech_5s):
    video, speech = clip_524, speech_5s
    _upload(page, ".heygem-video-upload", video)
    page.wait_for_selector(".heygem-status >> text=talking_524.mp4 uploaded")   # the kernel saved it
    _upload(page, ".heygem-audio-upload", speech)
    page.wait_for_selector(".heygem-status >> text=speech_en_5s.wav uploaded")
    assert (server["root"] / "uploads" / "talking_524.mp4").read_bytes() == video.read_bytes()

    page.click(".heygem-generate")
    page.wait_for_selector(".heygem-result video", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_function("() => { const v = document.querySelector('.heygem-result video');"
                           " return v && v.readyState >= 1 && v.duration > 0 }")
    state = page.evaluate("""async () => {
        const v = document.querySelector('.heygem-result video');
        v.muted = true;
        await v.play();
        await new Promise(r => setTimeout(r, 1500));
        return {duration: v.duration, time: v.currentTime, paused: v.paused, error: v.error && v.error.code,
                width: v.videoWidth, height: v.videoHeight, src: v.currentSrc,
                can: v.canPlayType('video/mp4; codecs="avc1.64001F, mp4a.40.2"')};
    }""")
    assert state["can"] in ("probably", "maybe"), state
    assert state["error"] is None and state["duration"] > 4.0, state
    assert state["time"] > 0.3 and not state["paused"], state     # frames were decoded and played
    assert (state["width"], state["height"]) == (524, 524), state
    assert "/voila/files/runs/" in state["src"], state
    page.wait_for_selector(".heygem-status >> text=1 of 1 done")
    page.wait_for_selector(".heygem-item >> text=done")            # progress set from the worker thread
    filled = page.evaluate("() => { const b = document.querySelector('.heygem-progress .progress-bar');"
                           " return b.getBoundingClientRect().width / b.parentElement.getBoundingClientRect().width }")
    assert filled > 0.99                                           # the overall bar reached 100 %
    shot = tmp_path / "workbench.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    keep = os.environ.get("HEYGEM_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)


def test_upload_over_limit_is_refused_in_the_panel(server, page, tmp_path):
    big = tmp_path / "big_clip.mp4"
    big.write_bytes(os.urandom(15 * 1024 * 1024))   # over the panel limit and Tornado's 10 MiB default
    _upload(page, ".heygem-video-upload", big)
    page.wait_for_selector(".heygem-status >> text=over the 12.0 MB upload limit", timeout=PAGE_TIMEOUT_MS)
    assert not (server["root"] / "uploads" / "big_clip.mp4").exists()


def test_other_files_are_not_served(server):
    import urllib.error
    import urllib.request

    (server["root"] / "secret.mp4").write_bytes(b"not for the web")
    for path in ("voila/files/secret.mp4", "voila/files/runs/%2e%2e/secret.mp4",
                 "voila/files/notebooks/workbench.ipynb"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server["url"] + path, timeout=10)
        assert err.value.code == 403, path


def test_batch_job_outlives_the_page(server, browser, clip_524, clip_590, speech_5s):
    """Batch: upload one speech and two videos, Generate, close the page a few seconds later; a new
    page lists the job, which finishes; its folder holds the manifest (both ok), report and ZIP."""
    import json
    import urllib.request
    import zipfile

    page = _open(browser, server["url"])
    page.click(".heygem-mode >> text=Batch")
    _upload(page, ".heygem-audio-upload", speech_5s)
    page.wait_for_selector(".heygem-status >> text=uploaded")
    page.evaluate("() => { document.querySelector('.heygem-status').textContent = '' }")
    with page.expect_file_chooser() as chooser:           # Batch mode: several videos in one go
        page.click(".heygem-video-upload")
    chooser.value.set_files([str(clip_524), str(clip_590)])
    page.wait_for_function("() => document.querySelectorAll('.heygem-batch-list option').length == 2")
    page.click(".heygem-generate")
    page.wait_for_selector(".heygem-jobs .heygem-job")
    assert page.locator(".heygem-jobs .heygem-job").count() == 1
    time.sleep(3)
    page.close()                                           # the tab goes; Voila shuts its kernel down

    again = _open(browser, server["url"])
    job = again.locator(".heygem-jobs .heygem-job")
    assert job.count() == 1
    # the most item rows the page ever shows (a row box made anew per update once showed 4 for 2)
    again.evaluate("""() => { window.maxRows = 0;
        const count = () => { window.maxRows = Math.max(window.maxRows,
                                document.querySelectorAll('.heygem-jobs .heygem-job-item').length); };
        count(); new MutationObserver(count).observe(document.body, {childList: true, subtree: true}); }""")
    again.wait_for_selector(".heygem-job-done", timeout=RENDER_TIMEOUT_MS)
    again.wait_for_function("() => document.querySelectorAll('.heygem-job-done .heygem-job-item').length == 2")
    time.sleep(1)
    assert again.locator(".heygem-job-done .heygem-job-item").count() == 2
    assert again.evaluate("() => window.maxRows") == 2
    assert again.locator(".heygem-job-failed").count() == 0
    report_href = again.get_attribute(".heygem-job-done a.heygem-job-report", "href")
    zip_href = again.get_attribute(".heygem-job-done a.heygem-job-zip", "href")
    again.close()

    (run_dir,) = [d for d in (server["root"] / "runs").iterdir() if "-batch-" in d.name]
    items = json.loads((run_dir / "manifest.json").read_text())["items"]
    assert [i["status"] for i in items] == ["ok", "ok"]
    uploaded = [Path(i["video"]) for i in items]   # the uploads (named -1 if an earlier test sent the same file)
    assert [p.read_bytes() for p in uploaded] == [clip_524.read_bytes(), clip_590.read_bytes()]
    assert all(p.parent == server["root"] / "uploads" for p in uploaded)
    assert (run_dir / "batch.ipynb").is_file() and (run_dir / "report.html").stat().st_size > 10_000
    with zipfile.ZipFile(run_dir / "outputs.zip") as zf:
        assert {"manifest.json", "report.html", *(i["output"] for i in items)} <= set(zf.namelist())
    assert all(i["n_frames"] == 125 and i["duration"] > 4.9 for i in items)   # the 5 s speech drove both
    base = server["url"].rstrip("/")
    with urllib.request.urlopen(base + report_href, timeout=30) as resp:   # the links are served
        assert resp.status == 200 and b"<html" in resp.read(4096).lower()
    with urllib.request.urlopen(base + zip_href, timeout=30) as resp:
        assert resp.read() == (run_dir / "outputs.zip").read_bytes()


def _labels(page) -> dict:
    page.wait_for_selector(".heygem-generate")
    return page.evaluate("""() => ({
        generate: document.querySelector('.heygem-generate').innerText.trim(),
        tabs: [...document.querySelectorAll('.lm-TabBar-tabLabel, .p-TabBar-tabLabel')].map(t => t.innerText.trim()),
        mode: [...document.querySelectorAll('.heygem-mode button')].map(b => b.innerText.trim()),
    })""")


def test_the_page_in_chinese_from_the_browser_language_and_the_switch(server, browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1200})  # Accept-Language: zh-CN
    try:
        page = context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        page.goto(server["url"])
        labels = _labels(page)
        assert labels["generate"] == "生成"
        assert labels["tabs"][:2] == ["生成", "历史记录"] and labels["mode"] == ["单个", "批量"]
        prose = page.inner_text("body")                       # the notebook's English intro was shown above
        assert "Lip-sync a video" not in prose and "对口型" in page.inner_text(".heygem-intro"), prose[:300]
        page.click(".heygem-generate")                      # nothing chosen: the error line in Chinese
        page.wait_for_selector(".heygem-status >> text=请先选择或上传语音文件")
        page.click(".heygem-language >> text=English")      # the page's switch reloads it in English
        page.wait_for_url("**lang=en**")
        assert _labels(page)["generate"] == "Generate"
    finally:
        context.close()
