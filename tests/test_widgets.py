"""The workbench panel without a browser: set widget values, click buttons, wait for the thread.

Most tests use tests/fake_engine.py FakeEngine (instant, no render); the ones marked slow use
the real engine on real clips.
"""
from __future__ import annotations

import json
import re
import sys
import time
import zipfile
from pathlib import Path

import pytest

import ipywidgets  # noqa: E402,F401  (the [widgets] extra: a missing one fails, never skips)

from heygem_kernel.errors import InputError
from heygem_kernel.options import RunOptions
from heygem_widgets import history as hist
from fake_engine import FakeEngine
from heygem_widgets.panel import Workbench
from heygem_widgets.progress import STAGE_WEIGHTS, ProgressTracker, item_fraction
from heygem_widgets.uploads import MAX_NAME_CHARS, sanitize_filename, save_upload
from heygem_widgets.workspace import Workspace

WAIT_S = 60


def _upload_value(name: str, content: bytes) -> dict:
    """What the browser sends for one file (ipywidgets 8 FileUpload)."""
    return {"value": [{"name": name, "type": "application/octet-stream", "size": len(content),
                       "last_modified": 1_700_000_000_000, "content": memoryview(content)}]}


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace(root=tmp_path / "ws")


@pytest.fixture
def panel(ws, speech_5s, clip_524):
    engine = FakeEngine(encode=False)
    wb = Workbench(engine=engine, workspace=ws)
    wb.choose(speech_5s, kind="audio")
    wb.choose(clip_524, kind="video")
    yield wb
    wb.cancel()
    wb.wait(WAIT_S)


def _status(wb: Workbench) -> str:
    return re.sub(r"<[^>]+>", "", wb.status.value)


# ----------------------------------------------------------------------------- uploads

@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\Windows\\evil.MP4", "evil.mp4"),
    ("/abs/path/clip.mp4", "clip.mp4"),
    (".bashrc", "upload.bashrc"),
    ("..", "upload"),
    ("", "upload"),
    ("my talk (final).wav", "my_talk_final.wav"),
    ("héllo.wav", "héllo.wav"),
    ("a\x00b.mp4", "ab.mp4"),
    ("培训视频 第1版.MP4", "培训视频_第1版.mp4"),                  # readable names in any script
    ("政策/../讲话.wav", "讲话.wav"),
    ("ｆｕｌｌｗｉｄｔｈ．ｍｐ４", "fullwidth.mp4"),                    # full-width forms folded (NFKC)
    ("a\u202egnp.mp4", "a_gnp.mp4"),                        # no bidi overrides that fake an extension
    ("<b>x</b>.mp4", "b.mp4"),                                # "/" splits folders first
])
def test_sanitize_filename(name, expected):
    assert sanitize_filename(name) == expected


def test_panel_upload_keeps_a_chinese_name(ws, clip_524):
    wb = Workbench(engine=FakeEngine(encode=False), workspace=ws)
    wb.video_upload.set_state(_upload_value("张老师 讲解.mp4", clip_524.read_bytes()))
    assert wb.video_path == ws.uploads / "张老师_讲解.mp4"
    assert wb.video_path.read_bytes() == clip_524.read_bytes()


def test_sanitize_filename_limits_length_and_keeps_extension():
    safe = sanitize_filename("x" * 500 + ".mp4")
    assert len(safe) <= MAX_NAME_CHARS and safe.endswith(".mp4")


def test_save_upload_never_overwrites(tmp_path):
    first = save_upload(name="clip.mp4", content=b"one", folder=tmp_path, max_bytes=100)
    second = save_upload(name="../clip.mp4", content=b"two", folder=tmp_path, max_bytes=100)
    third = save_upload(name="clip.mp4", content=b"three", folder=tmp_path, max_bytes=100)
    assert [p.name for p in (first, second, third)] == ["clip.mp4", "clip-1.mp4", "clip-2.mp4"]
    assert [p.read_bytes() for p in (first, second, third)] == [b"one", b"two", b"three"]
    assert {p.parent for p in (first, second, third)} == {tmp_path}


def test_save_upload_refusals(tmp_path):
    with pytest.raises(InputError, match=r"big\.mp4: 2\.0 KB is over the 1\.0 KB upload limit"):
        save_upload(name="big.mp4", content=b"x" * 2048, folder=tmp_path, max_bytes=1024)
    with pytest.raises(InputError, match="empty"):
        save_upload(name="a.mp4", content=b"", folder=tmp_path, max_bytes=1024)
    with pytest.raises(InputError, match=r"expected one of .*\.mp4"):
        save_upload(name="notes.txt", content=b"x", folder=tmp_path, max_bytes=1024,
                    allowed=frozenset({".mp4"}))
    assert list(tmp_path.iterdir()) == []


def test_panel_upload_is_sanitised_and_not_overwritten(ws, clip_524):
    wb = Workbench(engine=FakeEngine(encode=False), workspace=ws)
    data = clip_524.read_bytes()
    wb.video_upload.set_state(_upload_value("../../../outside.mp4", data))
    wb.video_upload.set_state(_upload_value("outside.mp4", b"second"))
    saved = sorted(p.name for p in ws.uploads.iterdir())
    assert saved == ["outside-1.mp4", "outside.mp4"]
    assert (ws.uploads / "outside.mp4").read_bytes() == data       # the first one is intact
    assert not (ws.root.parent / "outside.mp4").exists()
    assert wb.video_upload.value == ()                              # bytes dropped from the widget
    assert wb.video_path == ws.uploads / "outside-1.mp4"
    assert "uploads/outside.mp4" in wb.video_pick.options


def test_panel_refuses_upload_over_limit(tmp_path):
    ws = Workspace(root=tmp_path, max_upload_bytes=1000)
    wb = Workbench(engine=FakeEngine(encode=False), workspace=ws)
    wb.audio_upload.set_state(_upload_value("speech.wav", b"x" * 5000))
    assert "speech.wav: 4.9 KB is over the 1000 B upload limit" in _status(wb)
    assert "error" in wb.log.outputs[-1]["text"]
    assert not ws.uploads.exists() or not any(ws.uploads.iterdir())
    assert wb.audio_path is None


def test_pick_a_file_on_the_machine(ws, speech_5s, clip_590):
    wb = Workbench(engine=FakeEngine(encode=False), workspace=ws)
    wb.audio_pick.value = str(speech_5s)
    wb.video_pick.value = str(clip_590)
    assert (wb.audio_path, wb.video_path) == (speech_5s, clip_590)
    assert "talking_590.mp4" in wb.video_label.value
    wb.video_pick.value = "/no/such/clip.mp4"
    assert "/no/such/clip.mp4: no such file" in _status(wb)
    assert wb.video_path == clip_590


def test_media_dirs_are_offered_and_restrict_picks(tmp_path, media_dir, speech_5s):
    ws = Workspace(root=tmp_path, media_dirs=(media_dir,), restrict_picks=True)
    wb = Workbench(engine=FakeEngine(encode=False), workspace=ws)
    assert str(media_dir / "talking_524.mp4") in wb.video_pick.options
    assert str(media_dir / "speech_en_60s.wav") in wb.audio_pick.options
    assert str(media_dir / "SOURCES.md") not in wb.audio_pick.options
    wb.audio_pick.value = str(speech_5s)                      # inside a media folder: allowed
    assert wb.audio_path == speech_5s
    outside = tmp_path / "elsewhere.wav"
    outside.write_bytes(speech_5s.read_bytes())
    wb.audio_pick.value = str(outside)
    assert "outside the folders this app may read" in _status(wb) and wb.audio_path == speech_5s


# ----------------------------------------------------------------------------- generate

def test_generate_runs_in_a_thread_and_shows_the_result(panel, speech_5s, clip_524):
    panel.mask_scale.value, panel.feather.value, panel.out_height.value = 1.3, 0.5, 360
    panel.pads[1].value = 20
    assert panel.loop.value == "seamless"
    panel.loop.value = "pingpong"
    assert panel.speech_language.value == "auto" and ("Mandarin Chinese (zh)", "zh") in panel.speech_language.options
    panel.speech_language.value = "zh"
    assert panel.speaker_timing.value is True
    panel.speaker_timing.value = False
    panel.generate_button.click()
    assert panel.busy or panel.results                   # the click returned before (or as) it finished
    assert panel.wait(WAIT_S)
    assert _status(panel) == "1 of 1 done"
    assert panel.overall.value == 1.0 and panel.overall.bar_style == "success"
    assert panel.generate_button.disabled is False and panel.cancel_button.disabled is True
    call = panel.engine.calls[0]
    assert (call["audio"], call["video"]) == (speech_5s, clip_524)
    assert call["options"] == RunOptions(mask_scale=1.3, feather=0.5, out_height=360, pads=(0, 20, 0, 0),
                                         loop="pingpong", language="zh", speaker_timing=False)
    out = Path(panel.results[0]["output"])
    assert out.is_file() and out.parent.parent == panel.ws.runs
    card = panel.result_box.children[0]
    assert "heygem-result-card" in card._dom_classes
    videos = [w for w in card.children[1].children if type(w).__name__ == "Video"]
    assert videos and videos[0].value == out.read_bytes()     # not served: inline bytes
    assert "sync confidence" in card.children[2].value
    assert len(card.children[3].children) == 3                # mel, landmarks, mouth_track


def test_served_result_is_a_video_tag_with_a_file_url(tmp_path, speech_5s, clip_524):
    ws = Workspace(root=tmp_path, files_url="/voila/files/")
    wb = Workbench(engine=FakeEngine(encode=False), workspace=ws)
    wb.choose(speech_5s, kind="audio")
    wb.choose(clip_524, kind="video")
    wb.generate()
    assert wb.wait(WAIT_S)
    html = wb.result_box.children[0].children[1].children[-1].value
    run = Path(wb.results[0]["run_dir"]).name
    assert f'src="/voila/files/runs/{run}/output.mp4"' in html and "<video" in html


def test_progress_goes_through_widget_values(panel):
    seen = []
    panel.overall.observe(lambda ch: seen.append(ch["new"]), "value")
    panel.generate()
    assert panel.wait(WAIT_S)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 4   # moved forward in steps
    assert panel._rows[0].bar.value == 1.0 and panel._rows[0].stage.value == "done"
    assert any("[1/1] talking_524.mp4" in o["text"] for o in panel.log.outputs)


def test_cancel_stops_the_render(ws, speech_5s, clip_524):
    engine = FakeEngine(encode=False, step_delay=0.05)       # 19 steps: about 1 s per video
    wb = Workbench(engine=engine, workspace=ws)
    wb.choose(speech_5s, kind="audio")
    wb.choose(clip_524, kind="video")
    wb.generate()
    assert engine.started.wait(WAIT_S)
    wb.cancel_button.click()
    assert wb.wait(WAIT_S)
    assert _status(wb).startswith("cancelled (0 of 1 done")
    assert [r.stage.value for r in wb._rows] == ["cancelled"]
    assert len(engine.calls) == 1 and wb.results == []
    assert hist.list_runs(ws.runs) == []                      # the fake removes its partial run
    assert wb.generate_button.disabled is False


def test_batch_is_a_job_the_page_only_watches(ws, speech_5s, clip_524, clip_590, clip_vfr, monkeypatch):
    from heygem_kernel import jobs

    # the job runs tests/fake_batch.py: the real batch engine with a slow copy instead of lip-sync
    monkeypatch.setenv(jobs.ENV_BATCH_COMMAND, f"{sys.executable} {Path(__file__).with_name('fake_batch.py')}")
    monkeypatch.setenv("FAKE_ITEM_S", "0.5")
    engine = FakeEngine(encode=False)
    wb = Workbench(engine=engine, workspace=ws)
    assert "heygem-mode" in wb.mode._dom_classes and "heygem-jobs" in wb.jobs_panel.list._dom_classes
    wb.mode.value = "batch"
    wb.choose(speech_5s, kind="audio")
    for clip in (clip_524, clip_vfr, clip_590, clip_524):        # the repeat is not added twice
        wb.choose(clip, kind="video")
    assert wb.jobs() == [clip_524, clip_vfr, clip_590]
    wb.batch_list.value = 1
    wb.batch_remove.click()
    assert wb.jobs() == [clip_524, clip_590]
    assert wb.generate() is None and not wb.busy                  # nothing renders in the page's kernel
    assert "queued" in _status(wb) and engine.calls == []
    (job,) = jobs.list_jobs(ws.runs)
    assert job.videos == (str(clip_524), str(clip_590))
    card = wb.jobs_panel.cards[job.id]
    assert wb.jobs_panel.list.children == (card.widget,)

    deadline = time.monotonic() + WAIT_S
    while "heygem-job-done" not in card.widget._dom_classes and time.monotonic() < deadline:
        time.sleep(0.2)                                           # the watcher thread updates the card
    assert "heygem-job-done" in card.widget._dom_classes and "heygem-job-running" not in card.widget._dom_classes
    assert [r.children[0].value for r in card.items.children] == ["talking_524", "talking_590"]
    assert [r.children[2].value for r in card.items.children] == ["done", "done"]
    assert "2 of 2 ok" in card.header.value and card.bar.value == 1.0
    assert "outputs.zip" in card.links.value and card.cancel_button.layout.display == "none"

    other = Workbench(engine=engine, workspace=ws)                # a second browser, or a reload
    assert list(other.jobs_panel.cards) == [job.id]
    assert "heygem-job-done" in other.jobs_panel.cards[job.id].widget._dom_classes

    while jobs.runner_alive(ws.runs) and time.monotonic() < deadline + WAIT_S:
        time.sleep(0.2)                                           # the idle runner exits
    monkeypatch.setenv("FAKE_ITEM_S", "2")                        # the runner started anew reads it
    wb.generate()                                                 # the same batch again, then Cancel
    second = [j for j in jobs.list_jobs(ws.runs) if j.id != job.id][0]
    card2 = wb.jobs_panel.cards[second.id]
    assert wb.jobs_panel.list.children[0] is card2.widget         # newest first
    while "heygem-job-running" not in card2.widget._dom_classes and time.monotonic() < deadline + WAIT_S:
        time.sleep(0.1)
    card2.cancel_button.click()
    assert card2.cancel_button.disabled
    while "heygem-job-cancelled" not in card2.widget._dom_classes and time.monotonic() < deadline + WAIT_S:
        time.sleep(0.2)
    assert {"heygem-job-failed", "heygem-job-cancelled"} <= set(card2.widget._dom_classes)
    assert "cancelled by the user" in card2.error.value


def test_generate_needs_inputs(ws, speech_5s):
    wb = Workbench(engine=FakeEngine(encode=False), workspace=ws)
    assert wb.options() == RunOptions()                      # untouched controls: the engine defaults
    assert wb.generate() is None and "choose or upload a speech file first" in _status(wb)
    wb.choose(speech_5s, kind="audio")
    assert wb.generate() is None and "video" in _status(wb)
    wb.mode.value = "batch"
    assert wb.generate() is None and "add at least one video to the batch" in _status(wb)


def test_engine_bug_is_shown_not_raised(ws, speech_5s, clip_524):
    class Broken(FakeEngine):
        def run(self, *args, **kwargs):
            raise ZeroDivisionError("boom")

    wb = Workbench(engine=Broken(), workspace=ws)
    wb.choose(speech_5s, kind="audio")
    wb.choose(clip_524, kind="video")
    wb.generate()
    assert wb.wait(WAIT_S)
    assert "unexpected error: boom" in _status(wb)
    assert any("ZeroDivisionError" in o["text"] for o in wb.log.outputs)
    assert wb.generate_button.disabled is False


def test_padding_is_offered_only_for_a_backend_that_reads_it(panel):
    """The face-box padding is wav2lip's: with reuse (the default) or musetalk it was editable and
    dropped in silence; now it is greyed out (the engine warns if it is set anyway)."""
    assert panel.backend.value == "reuse" and all(box.disabled for box in panel.pads)
    panel.backend.value = "wav2lip"
    assert not any(box.disabled for box in panel.pads)
    panel.backend.value = "musetalk"
    assert all(box.disabled for box in panel.pads)


# ----------------------------------------------------------------------------- preview

def test_one_frame_preview(panel):
    panel.preview_button.click()
    assert panel.wait(WAIT_S)
    assert panel.preview_image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert panel.preview_image.layout.display == "block"


def test_preview_missing_in_engine_gives_a_message(ws, speech_5s, clip_524):
    wb = Workbench(engine=FakeEngine(encode=False, preview=False), workspace=ws)
    wb.choose(speech_5s, kind="audio")
    wb.choose(clip_524, kind="video")
    assert wb.preview() is None
    assert "not available" in wb.preview_msg.value


# ----------------------------------------------------------------------------- progress

def test_stage_fractions():
    assert sum(STAGE_WEIGHTS.values()) == pytest.approx(1.0)
    steps = [item_fraction(s, d, 10) for s in STAGE_WEIGHTS for d in range(11)]
    assert steps == sorted(steps) and steps[0] == 0.0 and steps[-1] == pytest.approx(1.0)
    assert item_fraction("unknown", 1, 2) is None
    assert item_fraction("render", 5, 0) == item_fraction("render", 0, 1)


def test_tracker_throttles_and_spans_items():
    t = ProgressTracker(n_items=2)
    assert t.update("render", 0, 10_000)                     # a new stage always redraws
    assert not t.update("render", 1, 10_000)                 # 0.005 % of a stage: no redraw
    assert t.update("render", 5_000, 10_000)
    t.finish_item()
    assert t.overall == pytest.approx(0.5)
    t.start_item(1)
    t.update("sync", 1, 1)
    assert t.overall == pytest.approx(1.0)


# ----------------------------------------------------------------------------- history

def _fake_run(runs: Path, name: str, *, finished: bool = True) -> Path:
    d = runs / name
    d.mkdir(parents=True)
    (d / "params.json").write_text(json.dumps({"video": "v.mp4"}))
    if finished:
        (d / "output.mp4").write_bytes(b"mp4 " + name.encode())
        (d / "mel.png").write_bytes(b"png")
        (d / "result.json").write_text(json.dumps({"output": str(d / "output.mp4"), "run_dir": str(d),
                                                   "plots": {"mel": str(d / "mel.png")},
                                                   "sync_offset_frames": 1, "fps": 25.0}))
    return d


def test_list_and_page_runs(tmp_path):
    runs = tmp_path / "runs"
    for i in range(7):
        _fake_run(runs, f"2026010{i + 1}-120000-clip{i}")
    _fake_run(runs, "20260201-000000-unfinished", finished=False)
    (runs / ".cache").mkdir()
    (runs / "_downloads").mkdir()
    entries = hist.list_runs(runs)
    assert [e.name for e in entries][:2] == ["20260201-000000-unfinished", "20260107-120000-clip6"]
    assert len(entries) == 8 and not entries[0].finished and entries[0].output is None
    assert entries[1].output == runs / "20260107-120000-clip6" / "output.mp4"
    pg = hist.page(entries, index=1, per_page=3)
    assert (pg.index, pg.n_pages, pg.total, len(pg.items)) == (1, 3, 8, 3)
    assert hist.page(entries, index=99, per_page=3).index == 2
    assert hist.page([], index=0, per_page=3).n_pages == 1


def test_delete_run_refuses_anything_else(tmp_path):
    runs = tmp_path / "runs"
    run = _fake_run(runs, "20260101-120000-a")
    elsewhere = _fake_run(tmp_path / "other", "20260101-120000-b")
    for bad in (elsewhere, runs, runs / "20260101-120000-a" / ".." / ".." / "other" / "20260101-120000-b"):
        with pytest.raises(InputError, match="not a run folder"):
            hist.delete_run(bad, runs_root=runs)
    assert elsewhere.is_dir() and run.is_dir()
    hist.delete_run(run, runs_root=runs)
    assert not run.exists()


def test_history_paging_delete_with_confirmation_and_zip(tmp_path):
    ws = Workspace(root=tmp_path, files_url="/voila/files/")
    for i in range(7):
        _fake_run(ws.runs, f"2026010{i + 1}-120000-clip{i}")
    wb = Workbench(engine=FakeEngine(encode=False), workspace=ws, per_page=3)
    assert "page 1 / 3 · 7 runs" in wb.history.info.value and wb.history.prev_button.disabled
    wb.history.next_button.click()
    wb.history.next_button.click()
    assert "page 3 / 3" in wb.history.info.value and wb.history.next_button.disabled
    assert len(wb.history.rows.children) == 1

    victim = ws.runs / "20260101-120000-clip0"
    delete = [b for b in wb.history.rows.children[0].children[2].children if b.description == "Delete"][0]
    delete.click()
    assert wb.history.confirm_box.layout.display == "flex" and "20260101-120000-clip0" in wb.history.confirm_text.value
    wb.history.confirm_no.click()
    assert victim.is_dir() and wb.history.pending_delete is None        # "Keep" keeps it
    delete.click()
    wb.history.confirm_yes.click()
    assert not victim.exists()
    assert "6 runs" in wb.history.info.value and "page 2 / 2" in wb.history.info.value

    wb.history.zip_button.click()
    zips = list(ws.downloads.glob("heygem-runs-*.zip"))
    assert len(zips) == 1
    with zipfile.ZipFile(zips[0]) as zf:
        names = set(zf.namelist())
        assert zf.read("20260107-120000-clip6/output.mp4") == b"mp4 20260107-120000-clip6"
    assert len([n for n in names if n.endswith("output.mp4")]) == 6
    assert {"20260102-120000-clip1/result.json", "20260102-120000-clip1/mel.png"} <= names
    assert f'href="/voila/files/runs/_downloads/{zips[0].name}"' in wb.history.zip_link.value
    time.sleep(1.1)
    wb.history.zip_button.click()                                         # a new ZIP replaces the old one
    assert len(list(ws.downloads.glob("*.zip"))) == 1


def test_show_a_run_from_history(tmp_path):
    ws = Workspace(root=tmp_path)
    _fake_run(ws.runs, "20260101-120000-a")
    wb = Workbench(engine=FakeEngine(encode=False), workspace=ws)
    show = wb.history.rows.children[0].children[2].children[0]
    show.click()
    card = wb.history.view.children[0]
    assert "20260101-120000-a" in card.children[0].value and "+1 frames (+40 ms)" in card.children[2].value


# ----------------------------------------------------------------------------- workspace

def test_url_for_serves_only_uploads_and_runs(tmp_path):
    ws = Workspace(root=tmp_path, files_url="/voila/files/")
    assert ws.url_for(tmp_path / "runs" / "a b" / "output.mp4") == "/voila/files/runs/a%20b/output.mp4"
    assert ws.url_for(tmp_path / "uploads" / "x.mp4") == "/voila/files/uploads/x.mp4"
    assert ws.url_for(tmp_path / "secret.mp4") is None
    assert ws.url_for(tmp_path / "runs" / ".." / "secret.mp4") is None
    assert Workspace(root=tmp_path).url_for(tmp_path / "runs" / "o.mp4") is None


def test_workspace_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HEYGEM_ROOT", str(tmp_path))
    monkeypatch.setenv("HEYGEM_MAX_UPLOAD_MB", "250")
    monkeypatch.setenv("HEYGEM_FILES_URL", "/voila/files/")
    ws = Workspace.from_env()
    assert (ws.root, ws.max_upload_bytes, ws.files_url) == (tmp_path.resolve(), 250 * 1024 * 1024, "/voila/files/")
    monkeypatch.delenv("HEYGEM_ROOT")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "workbench.ipynb").write_text("{}")
    monkeypatch.chdir(tmp_path / "notebooks")                # a Jupyter kernel's folder
    assert Workspace.from_env().root == tmp_path.resolve()


# ----------------------------------------------------------------------------- real engine

@pytest.mark.slow
def test_real_engine_preview_and_render(tmp_path, speech_5s, clip_524):
    wb = Workbench(workspace=Workspace(root=tmp_path))       # default engine: heygem_kernel
    wb.choose(speech_5s, kind="audio")
    wb.choose(clip_524, kind="video")
    wb.preview()
    assert wb.wait(300)
    import cv2
    import numpy as np
    frame = cv2.imdecode(np.frombuffer(wb.preview_image.value, np.uint8), cv2.IMREAD_COLOR)
    assert frame is not None and frame.shape == (524, 524, 3), wb.preview_msg.value
    wb.generate()
    assert wb.wait(300)
    assert _status(wb) == "1 of 1 done", [o["text"] for o in wb.log.outputs]
    r = wb.results[0]
    assert Path(r["output"]).is_file() and r["width"] == 524 and r["n_frames"] > 100
    # talking_524 is a screen capture, its picture late (+2.79 frames as recorded): the run follows
    # its presenter's reading, so the output reads late as the source does and says so
    off = r["sync_offset_frames"]
    assert abs(off) <= 1 or (r["extra"].get("sync_follows_source") and abs(off) <= 3), (off, r["extra"])
    assert set(r["plots"]) >= {"mel", "landmarks", "mouth_track"}
    assert "1 run" in wb.history.info.value
    assert (Path(r["run_dir"]) / hist.THUMBNAIL).is_file()
    log_text = "".join(o.get("text", "") for o in wb.log.outputs)
    assert "render:" in log_text and "sync:" in log_text, log_text[-500:]   # the engine's own log lines


# ----------------------------------------------------------------------------- heygem serve

def test_serve_config_loopback_and_token():
    from heygem_kernel.serve import make_config

    local = make_config()
    assert (local.host, local.port, local.token) == ("127.0.0.1", 8866, None)
    assert local.url == "http://127.0.0.1:8866/"
    assert make_config(host="localhost").host == "127.0.0.1"          # not also ::1
    public = make_config(host="0.0.0.0")
    assert public.token and len(public.token) >= 24                      # generated
    assert public.url.endswith(f"?token={public.token}")
    assert make_config(host="192.168.1.5", token="s3cret").token == "s3cret"
    assert make_config(host="127.0.0.1", token="abc").token == "abc"    # loopback may use one too
    with pytest.raises(InputError, match="--token"):
        make_config(host="0.0.0.0", token=" ")
    with pytest.raises(InputError, match="--port"):
        make_config(port=70000)


def test_serve_voila_settings(tmp_path):
    from heygem_kernel.serve import make_config

    cfg = make_config(root=tmp_path, max_upload_mb=300)
    c = cfg.voila_config()
    assert c.Voila.ip == "127.0.0.1" and c.Voila.open_browser is False and c.Voila.root_dir == str(tmp_path)
    assert c.Voila.tornado_settings["websocket_max_message_size"] >= 300 * 1024 * 1024
    assert make_config().websocket_max_bytes >= 200 * 1024 * 1024     # default: 200 MB uploads pass
    assert cfg.env()["HEYGEM_MAX_UPLOAD_MB"] == "300" and cfg.env()["HEYGEM_ROOT"] == str(tmp_path)
    assert "token" not in c.Voila
    assert cfg.env()["HEYGEM_RESTRICT_PICKS"] == "0"
    assert make_config(root=tmp_path, host="0.0.0.0", media_dirs=[tmp_path]).env() == {
        "HEYGEM_ROOT": str(tmp_path), "HEYGEM_MAX_UPLOAD_MB": "512", "HEYGEM_FILES_URL": "/voila/files/",
        "HEYGEM_MEDIA_DIRS": str(tmp_path), "HEYGEM_RESTRICT_PICKS": "1"}


@pytest.mark.parametrize("path, served", [
    ("runs/20260101-120000-a/output.mp4", True),
    ("runs/20260101-120000-a/mel.png", True),
    ("uploads/clip.MP4", True),
    ("runs/_downloads/heygem-runs-20260101-120000.zip", True),
    ("runs/20260101-120000-batch-speech/report.html", True),
    ("runs/20260101-120000-batch-speech/outputs.zip", True),
    ("runs/../report.html", False),
    ("runs/.jobs/outputs.zip", False),
    ("runs/x/items/a/report.html", False),
    ("secret.mp4", False),
    ("runs/../secret.mp4", False),
    ("uploads/../../etc/x.png", False),
    ("runs/x/result.json", False),
    ("uploads/speech.wav", False),
    ("uploads/x.zip", False),
    ("notebooks/workbench.ipynb", False),
    ("other/runs/x.mp4", False),
])
def test_serve_file_allowlist(path, served):
    from heygem_kernel.serve import FILE_ALLOWLIST

    # Voila matches each pattern with re.fullmatch(pattern, path, re.IGNORECASE)
    assert any(re.fullmatch(p, path, re.IGNORECASE) for p in FILE_ALLOWLIST) is served


@pytest.mark.parametrize("args, message", [
    (["--host", "0.0.0.0", "--token", ""], "--token: expected a non-empty token"),
    (["--max-upload-mb", "0"], "--max-upload-mb 0.0: expected a positive size in MB"),
    (["--root", "/no/such/workspace"], "/no/such/workspace: the workspace folder does not exist"),
    (["--media-dir", "/no/such/media"], "--media-dir /no/such/media: not a folder"),
])
def test_serve_cli_bad_options_are_one_line_errors(args, message):
    import subprocess
    import sys

    # a subprocess: the CLI re-routes this process's stderr (mediapipe log filter)
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel.cli", "serve", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"heygem: error: {message}"


def test_serve_on_a_busy_port_or_a_foreign_address_is_one_line_before_anything_starts(tmp_path):
    """Voila printed the URL, then a CRITICAL line (exit 1) for a busy port, and an internal error
    for an address that is not this machine's."""
    import socket
    import subprocess
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cases = [(["--port", str(port)], f"port {port} on 127.0.0.1 is in use (another heygem serve?): "
                                         "choose another with --port"),
                 (["--host", "192.0.2.1", "--token", "t"], "--host 192.0.2.1: not an address of this machine")]
        for args, message in cases:
            proc = subprocess.run([sys.executable, "-m", "heygem_kernel.cli", "serve", "--root", str(tmp_path), *args],
                                  capture_output=True, text=True, timeout=120)
            assert (proc.returncode, proc.stderr.strip(), proc.stdout) == (2, f"heygem: error: {message}", "")


def test_serve_prepares_a_new_workspace(tmp_path):
    from heygem_kernel.serve import make_config, prepare_workspace

    cfg = make_config(root=tmp_path)
    prepare_workspace(cfg)
    assert (tmp_path / "uploads").is_dir() and (tmp_path / "runs").is_dir()
    nb = json.loads((tmp_path / "notebooks" / "workbench.ipynb").read_text())
    assert "Workbench()" in "".join(nb["cells"][-1]["source"])


def test_history_lists_batches_with_their_errors(ws, speech_5s, clip_524, clip_590):
    from heygem_kernel import jobs

    queued = jobs.submit_batch(runs_root=ws.runs, audio=speech_5s, videos=[clip_524], start=False)
    jobs.cancel(ws.runs, queued.id)                                # cancelled before it ran
    cli = ws.runs / "20200101-000000-cli-batch"                    # made by `heygem batch --run-dir runs/...`
    cli.mkdir(parents=True)
    (cli / "outputs").mkdir()
    (cli / "outputs" / "a.mp4").write_bytes(b"mp4")
    (cli / "outputs.zip").write_bytes(b"zip")
    (cli / "manifest.json").write_text(json.dumps({"created": "2020-01-01T00:00:00+00:00", "audio": str(speech_5s),
        "items": [{"name": "a", "video": str(clip_524), "status": "ok", "output": "outputs/a.mp4"},
                  {"name": "b", "video": str(clip_590), "status": "failed", "error": "no face in 12 of 12 frames"}]}))
    wb = Workbench(engine=FakeEngine(encode=False), workspace=ws)
    wb.tabs.selected_index = 1
    cards = wb.history.batches.cards
    assert list(cards) == [cli.name, queued.id]
    failed, cancelled = cards[cli.name].widget, cards[queued.id].widget   # one item made, one failed: partial
    assert "heygem-job-partial" in failed._dom_classes and "heygem-job-failed" not in failed._dom_classes
    assert "b: no face in 12 of 12 frames" in cards[cli.name].error.value
    assert "finished, 1 of 2 failed" in cards[cli.name].header.value and "outputs.zip" in cards[cli.name].links.value
    assert {"heygem-job-failed", "heygem-job-cancelled"} <= set(cancelled._dom_classes)
    assert "cancelled before it started" in cards[queued.id].error.value
    assert wb.history.batches.list.children == (cancelled, failed)       # newest first
    assert list(wb.jobs_panel.cards) == [queued.id]                      # the Generate tab: the queue's jobs


# ----------------------------------------------------------------------------- the page's language, the run's record

@pytest.fixture
def zh():
    from heygem_kernel import i18n
    yield "zh"
    i18n.set_language(None)


def _silent_wav(path: Path, seconds: float = 2.0) -> Path:
    import wave
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(b"\0\0" * int(16000 * seconds))
    return path


@pytest.mark.slow
def test_a_failed_render_is_one_line_in_the_pages_language(tmp_path, zh, speech_5s):
    """A video without a face: the status line is the engine's error in Chinese (it was English:
    the panel formatted str(exc), not the translated message), no traceback in the log."""
    import subprocess
    blank = tmp_path / "blank.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=gray:s=160x120:d=1:r=25",
                    "-pix_fmt", "yuv420p", str(blank)], check=True)
    wb = Workbench(workspace=Workspace(root=tmp_path / "ws"), lang=zh)
    wb.choose(speech_5s, kind="audio")
    wb.choose(blank, kind="video")
    wb.generate()
    assert wb.wait(120)
    status = _status(wb)
    assert status.startswith("blank.mp4: ") and "人脸" in status and "face" not in status, status
    assert "\n" not in status and not any("Traceback" in o["text"] for o in wb.log.outputs)
    assert [r.stage.value for r in wb._rows] == ["失败"]
    (entry,) = hist.list_runs(wb.ws.runs)               # History lists the failed run (it wrote no JSON)
    assert entry.output is None and entry.error.startswith("no face found in ")
    wb.history.refresh()
    row = re.sub(r"<[^>]+>", " ", wb.history.rows.children[0].children[1].value)
    assert "失败：" in row and "blank.mp4" in row and "no face" not in row, row
    hist.delete_run(entry.run_dir, runs_root=wb.ws.runs)  # and it can be deleted like any run
    assert hist.list_runs(wb.ws.runs) == []


@pytest.mark.slow
def test_result_card_shows_the_runs_verdict_and_input_notes_as_recorded(tmp_path, zh, clip_524):
    """A silent speech renders (every mouth closed): the page said only '1 of 1 done' and
    'A/V offset +N frames', while result.json held an input note and no trustworthy offset. Now the
    card and the History row show the note and that the sync was not checked (no made-up offset,
    d1ad4ba), in the page's language, and the figures are result.json's."""
    from heygem_kernel import i18n
    speech = _silent_wav(tmp_path / "silent.wav")
    wb = Workbench(workspace=Workspace(root=tmp_path / "ws"))
    wb.choose(speech, kind="audio")
    wb.choose(clip_524, kind="video")
    wb.generate()
    assert wb.wait(300)
    record = json.loads((Path(wb.results[0]["run_dir"]) / "result.json").read_text())
    assert record["extra"]["input_notes"] and record["extra"]["sync_reliable"] is False
    card = wb.result_box.children[0]
    text = " ".join(getattr(w, "value", "") for w in card.children if isinstance(getattr(w, "value", None), str))
    assert "silent.wav holds no sound" in text and "sync not checked: silent.wav holds no sound" in text, text
    assert "A/V offset" not in text, text
    assert _status(wb).startswith("1 of 1 done · ⚠ silent.wav holds no sound"), _status(wb)
    assert "color:#b26a00" in wb.status.value                # a warning, not the green of a clean run
    i18n.set_language(zh)                                   # the same record on a Chinese page
    entry = hist.list_runs(wb.ws.runs)[0]
    from heygem_widgets.views import figures_html, summary_line
    shown_zh = figures_html(entry.result) + summary_line(entry.result)
    assert "没有声音" in shown_zh or "无声" in shown_zh, shown_zh
    assert "未做同步检查" in shown_zh and "holds no sound" not in shown_zh and "not checked" not in shown_zh, shown_zh
    assert "A/V offset" not in shown_zh
    assert "<td style='padding-right:1em'>同步结论</td>" in shown_zh     # not '同步: 同步' for "sync: in sync"


def test_recorded_english_lines_are_shown_in_the_pages_language(zh):
    from heygem_kernel import i18n
    from heygem_kernel.sync import SyncEstimate  # noqa: F401  (the verdict's template lives there)
    from heygem_widgets.views import localized_record
    line = ("low confidence: the mouth does not clearly follow this speech (confidence 0.41, chance level 0.49); "
            "the offset is a guess")
    assert localized_record(line) == line                            # English page: as recorded
    i18n.set_language(zh)
    shown_zh = localized_record(line)
    assert "0.41" in shown_zh and "0.49" in shown_zh and "confidence" not in shown_zh, shown_zh
    assert localized_record("in sync") != "in sync"
    assert localized_record("something the catalogue never held") == "something the catalogue never held"
    batch_error = "noface: no face in /x/noface.mp4 (12 sampled frames checked) (+1 more)"   # a job's error line
    assert localized_record(batch_error) == "noface: /x/noface.mp4 中没有人脸（已检查 12 个抽样帧）（另有 1 个）"


def test_panel_text_follows_the_pages_language(ws, zh, speech_5s, clip_524):
    """Labels the zh page showed in English: the job list, the History pager, output height,
    face restoration (blank: its 'off' had the value None, which a Dropdown shows as no choice)."""
    wb = Workbench(engine=FakeEngine(encode=False), workspace=ws, lang=zh)
    assert wb.enhance.label == "关闭" and wb.options().enhance is None
    assert wb.out_height.label == "与输入相同" and wb.options().out_height is None
    assert wb.device.label == "自动" and wb.options().device == "auto"
    assert "批量任务" in wb.jobs_panel.title.value and "Generate" not in wb.jobs_panel.empty.value
    assert "Single runs" not in wb.history.widget.children[1].value
    wb.history.refresh()
    assert "第 1 / 1 页" in wb.history.info.value
    wb.choose(speech_5s, kind="audio")
    wb.choose(clip_524, kind="video")
    wb.generate()
    assert wb.wait(WAIT_S)
    assert _status(wb) == "1 个中 1 个完成" and wb._rows[0].stage.value == "完成"


def test_a_file_that_is_not_media_is_refused_when_chosen(tmp_path, zh, clip_524, speech_5s):
    """A text file uploaded as the video was 'uploaded' (green), shown as a black player, and only
    failed at Generate; a silent-track video picked as the speech likewise. Now the engine's probe
    refuses it at once, one line in the page's language, and the useless upload is not kept."""
    wb = Workbench(workspace=Workspace(root=tmp_path / "ws"), lang=zh)        # the real engine's probe
    wb.video_upload.set_state(_upload_value("notes.mp4", b"hello, I am not a video\n"))
    status = _status(wb)
    assert status.startswith("notes.mp4: ") and "不是 ffmpeg 能读取的视频或图片" in status, status
    assert wb.video_path is None and not (wb.ws.uploads / "notes.mp4").exists()
    assert "uploads/notes.mp4" not in wb.video_pick.options
    mute = tmp_path / "mute.mp4"                                   # a video without a sound track
    import subprocess
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(clip_524), "-t", "0.5", "-an", "-c", "copy",
                    str(mute)], check=True)
    wb.audio_pick.value = str(mute)
    assert wb.audio_path is None and "mute.mp4" in _status(wb) and wb.status.value.count("c62828") == 1
    wb.video_upload.set_state(_upload_value("good.mp4", clip_524.read_bytes()))   # a real one still goes through
    assert wb.video_path == wb.ws.uploads / "good.mp4" and _status(wb) == "已上传 good.mp4"
    wb.audio_pick.value = str(speech_5s)
    assert wb.audio_path == speech_5s
