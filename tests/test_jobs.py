"""The batch job queue (heygem_kernel.jobs): order, cancel, resume after kill -9 of the runner.

The runner is the real detached process; each job runs tests/fake_batch.py (the real batch
engine with a slow copy in place of lip-sync) so that the queue's behaviour takes seconds.
The real `heygem batch` behind a job is exercised by tests/test_browser.py.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from heygem_kernel import jobs
from heygem_kernel.errors import InputError

FAKE = Path(__file__).with_name("fake_batch.py")
TIMEOUT_S = 60


@pytest.fixture
def queue_env(tmp_path, monkeypatch):
    monkeypatch.setenv(jobs.ENV_BATCH_COMMAND, f"{sys.executable} {FAKE}")
    monkeypatch.setenv("FAKE_EVENTS", str(tmp_path / "events.log"))
    monkeypatch.setenv("FAKE_ITEM_S", "0.6")
    runs = tmp_path / "runs"
    runs.mkdir()
    yield runs
    for job in jobs.list_jobs(runs):   # never leave a runner behind
        if not job.final:
            jobs.cancel(runs, job.id)
    _wait(lambda: not jobs.runner_alive(runs), what="the runner to exit")


def _wait(cond, *, what: str, timeout: float = TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _events(runs: Path) -> list[str]:
    path = runs.parent / "events.log"
    return path.read_text().split("\n")[:-1] if path.exists() else []


def test_jobs_run_in_order_one_at_a_time(queue_env, clip_524, clip_590, speech_5s):
    runs = queue_env
    submitted = [jobs.submit_batch(runs_root=runs, audio=speech_5s, videos=vids, name=f"n{i}", start=False)
                 for i, vids in enumerate([[clip_524], [clip_590, clip_524], [clip_590]])]
    assert [j.status for j in jobs.list_jobs(runs)] == ["queued"] * 3   # listed, in order, before any runs
    assert jobs.ensure_runner(runs) is not None
    assert jobs.ensure_runner(runs) is None                             # one runner per workspace
    _wait(lambda: all(j.final for j in jobs.list_jobs(runs)), what="all jobs")
    listed = jobs.list_jobs(runs)
    assert [j.id for j in listed] == [j.id for j in submitted]
    assert [j.status for j in listed] == ["done"] * 3
    names = [j.name for j in submitted]
    assert _events(runs) == [e for n in names for e in (f"start {n}", f"end {n}")]  # strictly one after another
    second = listed[1]
    assert [(i.name, i.status) for i in second.items] == [("talking_590", "ok"), ("talking_524", "ok")]
    assert second.zip is not None and second.fraction == 1.0
    for item in second.items:
        assert item.output.read_bytes() == Path({"talking_590": clip_590, "talking_524": clip_524}[item.name]).read_bytes()


def test_cancel_stops_the_running_job_and_drops_the_queued_one(queue_env, clip_524, clip_590, speech_5s,
                                                               monkeypatch):
    runs = queue_env
    monkeypatch.setenv("FAKE_ITEM_S", "1.5")
    first = jobs.submit_batch(runs_root=runs, audio=speech_5s, videos=[clip_524, clip_590, clip_524], name="a")
    second = jobs.submit_batch(runs_root=runs, audio=speech_5s, videos=[clip_590], name="b")
    # live progress of the item in flight, from the job's own files
    running = _wait(lambda: [i for i in jobs.get_job(runs, first.id).items if i.status == "running"
                             and i.fraction > 0], what="an item in flight")
    assert running[0].name == "talking_524" and running[0].stage == "render"
    assert jobs.get_job(runs, second.id).status == "queued"
    assert jobs.cancel(runs, second.id).status == "cancelled"           # queued: never starts
    t0 = time.monotonic()
    jobs.cancel(runs, first.id)
    job = _wait(lambda: (j := jobs.get_job(runs, first.id)).final and j, what="the cancelled job")
    assert time.monotonic() - t0 < jobs.CANCEL_GRACE_S                  # stopped by the flag, not killed
    assert job.status == "cancelled" and job.error == "cancelled by the user"
    manifest = json.loads((job.run_dir / "manifest.json").read_text())
    assert manifest["cancelled"] is True
    assert {i["status"] for i in manifest["items"]} <= {"ok", "pending"}
    assert [i["error"] for i in manifest["items"] if i["status"] == "pending"][:1] == ["cancelled"]
    assert not any(p.name.startswith(".") for p in (job.run_dir / "outputs").iterdir())  # no partial file left
    assert f"start {second.name}" not in _events(runs)
    assert jobs.get_job(runs, second.id).error == "cancelled before it started"
    assert jobs.cancel(runs, first.id).status == "cancelled"            # again: nothing changes


def test_a_job_resumes_after_its_runner_is_killed(queue_env, clip_524, clip_590, clip_vfr, speech_5s, monkeypatch):
    runs = queue_env
    monkeypatch.setenv("FAKE_ITEM_S", "1.5")
    job = jobs.submit_batch(runs_root=runs, audio=speech_5s, videos=[clip_524, clip_590, clip_vfr], name="k")
    _wait(lambda: jobs.get_job(runs, job.id).n_ok >= 1, what="the first item")
    data = json.loads((jobs.queue_dir(runs) / f"{job.id}.json").read_text())
    os.kill(data["runner_pid"], signal.SIGKILL)                           # the machine goes down
    _wait(lambda: not jobs.runner_alive(runs), what="the runner's lock to go")
    _wait(lambda: not _alive(data["pid"]), what="the batch to die with its runner")
    stuck = jobs.get_job(runs, job.id)
    done_before = stuck.n_ok
    assert stuck.status == "running" and 1 <= done_before < 3            # the file still says running
    assert jobs.ensure_runner(runs) is not None                          # the panel does this when it opens
    job = _wait(lambda: (j := jobs.get_job(runs, job.id)).final and j, what="the resumed job")
    assert job.status == "done" and job.attempts == 2
    items = json.loads((job.run_dir / "manifest.json").read_text())["items"]
    assert [i["status"] for i in items] == ["ok"] * 3
    assert sum(1 for i in items if i.get("reused")) == done_before       # finished items were not redone
    assert _events(runs).count(f"end {job.name}") == 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:   # a zombie (no parent reaped it yet) is dead too
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_bad_submissions_are_refused_before_queueing(tmp_path, clip_524, speech_5s):
    runs = tmp_path / "runs"
    with pytest.raises(InputError, match="no such audio file"):
        jobs.submit_batch(runs_root=runs, audio=tmp_path / "none.wav", videos=[clip_524], start=False)
    with pytest.raises(InputError, match="no such video file"):
        jobs.submit_batch(runs_root=runs, audio=speech_5s, videos=[tmp_path / "none.mp4"], start=False)
    with pytest.raises(InputError, match="unknown run option"):
        jobs.submit_batch(runs_root=runs, audio=speech_5s, videos=[clip_524], options={"nope": 1}, start=False)
    assert jobs.list_jobs(runs) == []


def test_batch_command_and_dask_cluster(tmp_path, monkeypatch):
    from heygem_kernel.serve import make_config

    data = {"audio": "/a.wav", "run_dir": "/r", "videos": ["/v1.mp4", "-odd.mp4"], "options": {"device": "cpu"}}
    monkeypatch.delenv(jobs.ENV_BATCH_COMMAND, raising=False)
    monkeypatch.delenv(jobs.ENV_SCHEDULER, raising=False)
    argv = jobs.batch_argv(data)
    assert argv[:4] == [sys.executable, "-m", "heygem_kernel", "batch"] and "--executor" not in argv
    assert argv[-3:] == ["--", "/v1.mp4", "-odd.mp4"]           # a video named like an option stays a video
    assert "--cache-dir" not in argv        # the face-track cache runs and the panel share (cache.default_dir)
    env = make_config(root=tmp_path, scheduler="tcp://10.0.0.5:8786").env()
    monkeypatch.setenv(jobs.ENV_SCHEDULER, env[jobs.ENV_SCHEDULER])   # what heygem serve --scheduler hands on
    argv = jobs.batch_argv(data)
    assert argv[argv.index("--executor"):argv.index("--executor") + 4] == ["--executor", "dask", "--scheduler",
                                                                           "tcp://10.0.0.5:8786"]


def test_heygem_batch_options_json_errors_are_one_line(tmp_path, clip_524, speech_5s):
    import subprocess

    for text, message in (("{bad", "heygem: error: --options: not a JSON object (Expecting property name"),
                          ('{"mask_scale": 9}', "heygem: error: invalid option mask_scale (--mask-scale): must be a number")):
        out = subprocess.run([sys.executable, "-m", "heygem_kernel", "batch", "--audio", str(speech_5s), "--run-dir",
                              str(tmp_path / "b"), "--options", text, str(clip_524)],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 2 and out.stderr.startswith(message) and out.stderr.count("\n") == 1, out.stderr
    assert not (tmp_path / "b" / "manifest.json").exists()          # refused before any work


def test_a_failed_jobs_error_line_is_found_in_either_language(tmp_path):
    # the batch prints its error in the server's language (heygem serve --lang zh): the job keeps it
    from heygem_kernel.jobs import JOB_LOG, _error_line
    for line, want in (("heygem：错误：/data/无声.mp4 没有音轨", "/data/无声.mp4 没有音轨"),
                       ("heygem: error: /data/a.mp4 has no audio track", "/data/a.mp4 has no audio track")):
        (tmp_path / JOB_LOG).write_text(f"14:00:00 INFO Executing notebook\n{line}\n", encoding="utf-8")
        assert _error_line(tmp_path, 2) == want


def test_a_cancelled_job_is_resumed_from_its_card(queue_env, clip_524, clip_590, clip_vfr, speech_5s, monkeypatch):
    """Cancel mid-batch, then Resume on the job's card: the same job and folder run again, the
    finished items are kept (not re-rendered), the rest run; a done job offers no Resume."""
    from heygem_widgets.jobs_view import JobsPanel
    from heygem_widgets.workspace import Workspace

    runs = queue_env
    monkeypatch.setenv("FAKE_ITEM_S", "1.5")
    job = jobs.submit_batch(runs_root=runs, audio=speech_5s, videos=[clip_524, clip_590, clip_vfr], name="r")
    said = []
    panel = JobsPanel(workspace=Workspace(root=runs.parent), status=lambda text, kind: said.append((text, kind)))
    panel.refresh()
    card = panel.cards[job.id]
    _wait(lambda: jobs.get_job(runs, job.id).n_ok >= 1, what="the first item")
    card.cancel_button.click()
    assert said[-1] == (f"cancelling {job.name}…", "busy")
    job = _wait(lambda: (j := jobs.get_job(runs, job.id)).final and j, what="the cancelled job")
    done_before = job.n_ok
    assert job.status == "cancelled" and 1 <= done_before < 3
    panel.refresh()                                     # the status line says how it ended, once
    assert said[-1] == (f"batch job {job.name}: cancelled ({done_before} of 3 ok)", "warn"), said
    n_said = len(said)
    panel.refresh()
    assert len(said) == n_said
    assert card.resume_button.layout.display == "" and card.cancel_button.layout.display == "none"
    card.resume_button.click()
    assert said[-1][1] == "ok" and "queued again" in said[-1][0], said
    assert jobs.get_job(runs, job.id).status in ("queued", "running")
    assert card.resume_button.layout.display == "none"
    job = _wait(lambda: (j := jobs.get_job(runs, job.id)).final and j, what="the resumed job")
    assert job.status == "done" and job.error is None and job.run_dir.name == card.id
    items = json.loads((job.run_dir / "manifest.json").read_text())["items"]
    assert [i["status"] for i in items] == ["ok"] * 3
    assert sum(1 for i in items if i.get("reused")) == done_before       # finished items were not redone
    panel.refresh()
    assert card.resume_button.layout.display == "none"
    assert said[-1] == (f"batch job {job.name}: done (3 of 3 ok)", "ok"), said
    with pytest.raises(InputError, match="only a cancelled, failed or partial job can be resumed"):
        jobs.resume(runs, job.id)


def test_a_job_from_a_chinese_page_runs_its_batch_in_chinese(queue_env, clip_524, speech_5s, monkeypatch):
    """The report and error lines of a batch were in the server's language whatever the page's:
    the job now carries the page's language to its `heygem batch` ($HEYGEM_LANG)."""
    from fake_engine import FakeEngine
    from heygem_kernel import i18n
    from heygem_widgets.panel import Workbench
    from heygem_widgets.workspace import Workspace

    runs = queue_env
    monkeypatch.delenv(i18n.ENV_LANG, raising=False)
    try:
        wb = Workbench(engine=FakeEngine(encode=False), workspace=Workspace(root=runs.parent), lang="zh")
        wb.mode.value = "batch"
        wb.choose(speech_5s, kind="audio")
        wb.choose(clip_524, kind="video")
        wb.generate()
    finally:
        i18n.set_language(None)
    (job,) = jobs.list_jobs(runs)
    plain = jobs.submit_batch(runs_root=runs, audio=speech_5s, videos=[clip_524], name="plain")
    _wait(lambda: all(j.final for j in jobs.list_jobs(runs)), what="both jobs")
    assert (job.run_dir / "fake-lang.txt").read_text() == "zh"
    assert (plain.run_dir / "fake-lang.txt").read_text() == "-"       # no page language: the server's
