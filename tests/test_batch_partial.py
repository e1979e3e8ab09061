"""A batch in which one item failed and the others were made: finished, N of M failed (partial),
not a whole ``failed`` job, in the job queue, the batch history and the page's cards; the failed
item's line names its error. An item that failed pre-flight has no run folder: its manifest entry
says ``"run_dir": null`` and why, instead of naming a folder that does not exist.

Before: the job and the history said "failed" like a batch that could not run at all, and the
manifest named ``items/<name>`` for an item that never ran.
"""
from __future__ import annotations

import dataclasses

import json
import sys
import time
from pathlib import Path

import pytest

from heygem_kernel import batch, jobs

FAKE = Path(__file__).with_name("fake_batch.py")
WAIT_S = 120


@pytest.fixture
def not_a_video(tmp_path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("a text file named like a video\n")
    return path


def _wait_final(runs: Path, job_id: str) -> jobs.Job:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        job = jobs.get_job(runs, job_id)
        if job.final and not jobs.runner_alive(runs):
            return job
        time.sleep(0.2)
    raise AssertionError("the job did not finish")


def test_a_job_with_one_failed_item_is_partial_and_its_line_names_the_error(tmp_path, monkeypatch, clip_524,
                                                                            clip_590, not_a_video, speech_5s):
    from heygem_widgets.jobs_view import JobCard
    from heygem_widgets.workspace import Workspace
    monkeypatch.setenv(jobs.ENV_BATCH_COMMAND, f"{sys.executable} {FAKE}")   # the real batch engine, a copy
    monkeypatch.setenv("FAKE_ITEM_S", "0.2")                                # for lip-sync
    runs = tmp_path / "runs"
    job = jobs.submit_batch(runs_root=runs, audio=speech_5s, videos=[clip_524, not_a_video, clip_590])
    job = _wait_final(runs, job.id)
    assert job.status == jobs.PARTIAL and job.final and (job.n_ok, job.n_failed) == (2, 1)
    assert job.returncode == 1 and job.error.startswith("notes: ")
    card = JobCard(job, ws=Workspace(root=tmp_path), on_cancel=lambda _: None, on_resume=lambda _: None)
    classes = set(card.widget._dom_classes)
    assert "heygem-job-partial" in classes and "heygem-job-failed" not in classes
    assert "finished, 1 of 3 failed" in card.header.value and card.bar.bar_style == "warning"
    rows = {r.children[0].value: r.children[2].value for r in card.items.children}
    assert rows["talking_524"] == rows["talking_590"] == "done"
    assert rows["notes"].startswith("failed: ") and str(not_a_video) in rows["notes"]   # the engine's own line
    assert card.resume_button.layout.display == ""                       # Resume retries the failed one
    boxes = card.items.children                   # the item list changing keeps each remaining item's row box
    card.update(dataclasses.replace(job))
    assert card.items.children == boxes
    card.update(dataclasses.replace(job, items=job.items[:2]))
    assert len(card.items.children) == 2 and all(a is b for a, b in zip(card.items.children, boxes))
    assert len(card._row_boxes) == 2                # the gone item's row is closed, not kept
    (listed,) = jobs.list_batches(runs)
    assert listed.status == jobs.PARTIAL


def test_history_of_cli_batches_tells_partial_from_failed(tmp_path, clip_524, clip_590, speech_5s):
    runs = tmp_path / "runs"
    for name, statuses in (("a-partial", ["ok", "failed"]), ("b-failed", ["failed", "failed"]),
                           ("c-done", ["ok", "ok"]), ("d-unfinished", ["ok", "pending"])):
        folder = runs / name
        folder.mkdir(parents=True)
        items = [{"name": Path(v).stem, "video": str(v), "status": s, "error": None if s == "ok" else "no face"}
                 for v, s in zip((clip_524, clip_590), statuses)]
        (folder / "manifest.json").write_text(json.dumps({"audio": str(speech_5s), "created": name, "items": items}))
    assert [(j.name, j.status) for j in jobs.list_batches(runs)] == [
        ("a-partial", "partial"), ("b-failed", "failed"), ("c-done", "done"), ("d-unfinished", "failed")]


def test_an_item_failed_pre_flight_has_no_run_folder_in_the_manifest(tmp_path, clip_524, not_a_video, speech_5s):
    run_dir = tmp_path / "batch"
    plan = batch.prepare(speech_5s, [clip_524, not_a_video], run_dir=run_dir, samples=2)
    plan.release()
    good, bad = json.loads((run_dir / batch.MANIFEST).read_text())["items"]
    assert good["status"] == "pending" and good["run_dir"] == "items/talking_524"
    assert bad["status"] == "failed" and bad["stage"] == "preflight" and str(not_a_video) in bad["error"]
    assert bad["run_dir"] is None and bad["run_dir_reason"] == batch.NO_RUN_DIR
    assert not (run_dir / "items" / "notes").exists()
