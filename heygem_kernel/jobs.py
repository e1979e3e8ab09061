"""A job queue for batches that outlive the page that started them.

    submit_batch (a JSON file per job in <runs>/.jobs/, status "queued")
      -> runner (one detached process per workspace, ``python -m heygem_kernel.jobs RUNS``)
         takes jobs oldest first, one at a time, and runs each as ``heygem batch``
      -> the job's run folder: manifest.json, batch.ipynb, report.html, outputs.zip

The web page (or anyone) only reads the files: the job JSON for its state, the batch's
``manifest.json`` for per-item results, and ``items/<name>/progress.json`` for the item in
flight. Closing the browser or restarting Voila does not touch the runner.

One job at a time: a batch uses the whole machine. On one GPU or the CPU its items run one
after another; with several GPUs the batch fans out over a Dask worker per GPU; with
``$HEYGEM_SCHEDULER`` (``heygem serve --scheduler``) over that Dask cluster.

Cancel: a flag file ``<id>.cancel``; the batch checks it between items and inside the engine
(``$HEYGEM_CANCEL_FILE``, see :class:`heygem_kernel.batch.CancelFlag`); a batch that has not
stopped :data:`CANCEL_GRACE_S` later is killed with its children.

Resume: a job whose runner died (kill -9, a reboot) stays "running" in its file; the next runner
(started by :func:`ensure_runner`, which the panel calls when it opens) runs it again first, and
``heygem batch`` skips the items already finished (content-hash resume). A cancelled or failed
job is resumed the same way by :func:`resume` (the page's Resume button).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from . import records
from .children import tied
from .errors import InputError, localized_error
from .i18n import ENV_LANG, normalize

LOG = logging.getLogger("heygem.jobs")

QUEUE_DIR = ".jobs"              # <runs>/.jobs/<id>.json (+ <id>.cancel), runner.lock, runner.log
LOCK_NAME = "runner.lock"
RUNNER_LOG = "runner.log"
JOB_LOG = "job.log"              # <run_dir>/job.log: the batch's console output
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
PARTIAL = "partial"              # ran to the end, some items ok and some failed (their lines say why)
STATES = (QUEUED, RUNNING, DONE, PARTIAL, FAILED, CANCELLED)
FINAL = frozenset({DONE, PARTIAL, FAILED, CANCELLED})
RESUMABLE = frozenset({PARTIAL, FAILED, CANCELLED})   # Resume runs the items not finished (or failed) again
POLL_S = 0.3                     # how often the runner looks at its batch and the cancel flag
IDLE_EXIT_S = 2.0                # an idle runner waits this long for new jobs, then exits
CANCEL_GRACE_S = 20.0            # a cancelled batch stops at the next frame batch; then it is killed
ENV_BATCH_COMMAND = "HEYGEM_BATCH_COMMAND"   # replaces `python -m heygem_kernel batch` (tests, wrappers)
ENV_SCHEDULER = "HEYGEM_SCHEDULER"           # a Dask scheduler address every batch job uses
ENV_CANCEL_FILE = "HEYGEM_CANCEL_FILE"       # read by heygem_kernel.batch inside the batch process


@dataclass(frozen=True)
class ItemState:
    """One video of a batch job as the page shows it (from the manifest and progress.json)."""

    name: str
    status: str                  # "ok" | "failed" | "pending" | "running"
    error: str | None = None
    fraction: float = 0.0        # 0..1 of the current stage (n / total)
    stage: str = ""              # engine stage of the item in flight ("analyse", "render", ...)
    n: int = 0
    total: int = 0
    output: Path | None = None


@dataclass(frozen=True)
class Job:
    """A job file, read. ``items`` come from the batch's manifest (empty before pre-flight)."""

    id: str
    status: str
    run_dir: Path
    audio: str
    videos: tuple[str, ...]
    created: str
    started: str | None = None
    finished: str | None = None
    error: str | None = None
    returncode: int | None = None
    attempts: int = 0
    cancel_requested: bool = False
    items: tuple[ItemState, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def report(self) -> Path | None:
        from .report import REPORT_HTML
        path = self.run_dir / REPORT_HTML
        return path if path.is_file() else None

    @property
    def zip(self) -> Path | None:
        from .report import ZIP_NAME
        path = self.run_dir / ZIP_NAME
        return path if path.is_file() else None

    @property
    def n_ok(self) -> int:
        return sum(1 for i in self.items if i.status == "ok")

    @property
    def n_failed(self) -> int:
        return sum(1 for i in self.items if i.status == "failed")

    @property
    def fraction(self) -> float:
        """Overall progress 0..1: finished items count whole, the item in flight by its fraction."""
        n = max(len(self.items), len(self.videos), 1)
        return min(1.0, sum(1.0 if i.status in ("ok", "failed") else i.fraction for i in self.items) / n)


# ------------------------------------------------------------------------------- the files
def queue_dir(runs_root: str | os.PathLike) -> Path:
    return Path(runs_root).expanduser().absolute() / QUEUE_DIR


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _job_path(queue: Path, job_id: str) -> Path:
    if not job_id or "/" in job_id or job_id.startswith("."):
        raise InputError("not a job id: {id}", id=repr(job_id))
    return queue / f"{job_id}.json"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("id") else None


def _update(queue: Path, job_id: str, **changes: Any) -> dict[str, Any]:
    """Read-modify-write one job file (only the runner and cancel() write; cancel() only a
    queued job's status, under the queue lock)."""
    path = _job_path(queue, job_id)
    data = _read(path) or {}
    data.update(changes)
    records.write_json(path, data)
    return data


def submit_batch(*, runs_root: str | os.PathLike, audio: str | os.PathLike,
                 videos: Sequence[str | os.PathLike], options: Any = None, name: str | None = None,
                 start: bool = True, lang: str | None = None) -> Job:
    """Queue a batch (``audio`` drives every one of ``videos``) and make sure a runner takes it.

    ``options``: a :class:`RunOptions`, a dict of its fields, or None. The run folder is
    ``<runs_root>/<time>-batch-<name or audio stem>/``. ``lang``: the language of its report and
    error lines ("en" | "zh"; the page's, which may differ from the server's). Raises :class:`InputError` for missing
    files (model files too: :func:`heygem_kernel.backends.check_options`) or unknown options, before anything is queued.
    """
    from .batch import make_options

    opts = make_options(options if not hasattr(options, "to_dict") else options.to_dict())
    audio = Path(audio).expanduser().absolute()
    paths = [Path(v).expanduser().absolute() for v in videos]
    if not audio.is_file():
        raise InputError("no such audio file: {path}", path=audio)
    if not paths:
        raise InputError("a batch needs at least one video")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputError("no such video file: {path}", path=missing[0])
    from .backends import check_options
    check_options(opts)   # a missing --checkpoint, one file for musetalk: now, not when the runner starts it
    queue = queue_dir(runs_root)
    queue.mkdir(parents=True, exist_ok=True)
    run_dir = records.new_run_dir(Path(runs_root).expanduser().absolute(), f"batch-{name or audio.stem}")
    seq = time.time_ns()
    job_id = f"{run_dir.name}"
    options_dict = opts.to_dict()
    options_dict["pads"] = list(options_dict["pads"])
    data = {"id": job_id, "kind": "batch", "status": QUEUED, "seq": seq, "created": _now(),
            "audio": str(audio), "videos": [str(p) for p in paths], "options": options_dict,
            "run_dir": str(run_dir), "started": None, "finished": None, "error": None, "returncode": None,
            "attempts": 0, "lang": normalize(lang) if lang else None}
    records.write_json(_job_path(queue, job_id), data)
    LOG.info("queued batch job %s: %d video(s)", job_id, len(paths))
    if start:
        ensure_runner(runs_root)
    return _job(data)


def list_jobs(runs_root: str | os.PathLike) -> list[Job]:
    """Every job of the workspace in queue order (oldest first), with live item states."""
    queue = queue_dir(runs_root)
    if not queue.is_dir():
        return []
    raw = [d for d in (_read(p) for p in queue.glob("*.json")) if d]
    raw.sort(key=lambda d: (d.get("seq", 0), d["id"]))
    cancels = {p.stem for p in queue.glob("*.cancel")}
    return [_job(d, cancel_requested=d["id"] in cancels) for d in raw]


def list_batches(runs_root: str | os.PathLike) -> list[Job]:
    """Every batch of the workspace, oldest first: the queue's jobs, plus batch folders directly
    under ``runs_root`` that no job made (``heygem batch --run-dir runs/...``), their state read
    from the manifest (:func:`finished_status`; the first failed item's error is the job's)."""
    from .batch import MANIFEST, read_manifest
    listed = list_jobs(runs_root)
    known = {j.run_dir.resolve() for j in listed}
    root = Path(runs_root).expanduser().absolute()
    extra = []
    for folder in (sorted(root.iterdir()) if root.is_dir() else []):
        if folder.name.startswith(".") or not (folder / MANIFEST).is_file() or folder.resolve() in known:
            continue
        manifest = read_manifest(folder)
        if not manifest:
            continue
        items = manifest["items"]
        bad = [e for e in items if e.get("status") != "ok"]
        error = None
        if bad:
            error = f"{bad[0].get('name') or Path(bad[0].get('video', '?')).name}: {bad[0].get('error') or 'not run'}"
        extra.append(_job({"id": folder.name, "status": finished_status(items), "run_dir": str(folder),
                           "audio": manifest.get("audio", ""), "videos": [e.get("video", "") for e in items],
                           "created": manifest.get("created", ""), "finished": manifest.get("updated"),
                           "error": error, "seq": 0}))
    return sorted(extra + listed, key=lambda j: (j.created, j.id))


def finished_status(items: Sequence[dict[str, Any]]) -> str:
    """How a batch that ran to its end went, from its manifest items: DONE when every item is ok,
    PARTIAL when some are ok and every other one failed, else FAILED (nothing ok, or items not run)."""
    statuses = [e.get("status") for e in items]
    if statuses and all(s == "ok" for s in statuses):
        return DONE
    if "ok" in statuses and all(s in ("ok", "failed") for s in statuses):
        return PARTIAL
    return FAILED


def get_job(runs_root: str | os.PathLike, job_id: str) -> Job:
    queue = queue_dir(runs_root)
    data = _read(_job_path(queue, job_id))
    if data is None:
        raise InputError("no job {id} in {path}", id=repr(job_id), path=queue)
    return _job(data, cancel_requested=(queue / f"{job_id}.cancel").exists())


def _job(data: dict[str, Any], *, cancel_requested: bool = False) -> Job:
    run_dir = Path(data["run_dir"])
    running = data.get("status") == RUNNING
    videos = tuple(data.get("videos") or ())
    items = item_states(run_dir, running=running)
    if not items and data.get("status") in (QUEUED, RUNNING):  # before the batch's pre-flight wrote its manifest
        items = tuple(ItemState(name=Path(v).stem, status="pending", stage="pre-flight" if running else "")
                      for v in videos)
    return Job(id=data["id"], status=data.get("status", QUEUED), run_dir=run_dir, audio=data.get("audio", ""),
               videos=videos, created=data.get("created", ""),
               started=data.get("started"), finished=data.get("finished"), error=data.get("error"),
               returncode=data.get("returncode"), attempts=int(data.get("attempts") or 0),
               cancel_requested=cancel_requested, items=items)


def item_states(run_dir: Path, *, running: bool = False) -> tuple[ItemState, ...]:
    """Per-item states of a batch folder: its manifest, plus progress.json of unfinished items."""
    from .batch import read_manifest
    manifest = read_manifest(run_dir)
    if not manifest:
        return ()
    states = []
    for e in manifest["items"]:
        name = e.get("name") or Path(e.get("video", "?")).stem
        status, prog = e.get("status", "pending"), {}
        if status == "pending" and running:
            prog = _read_progress(run_dir / (e.get("run_dir") or f"items/{name}") / records.PROGRESS_JSON) or {}
            status = "running" if prog else status
        elif status == "ok":
            prog = {"fraction": 1.0, "stage": "done"}
        out = run_dir / e["output"] if status == "ok" and e.get("output") else None
        states.append(ItemState(name=name, status=status, error=localized_error(e), output=out,
                                fraction=float(prog.get("fraction") or 0.0), stage=str(prog.get("stage") or ""),
                                n=int(prog.get("n") or 0), total=int(prog.get("total") or 0)))
    return tuple(states)


def _read_progress(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def cancel(runs_root: str | os.PathLike, job_id: str) -> Job:
    """Cancel a job: a queued one never starts; a running one stops (see the module docstring).
    Cancelling a finished job changes nothing."""
    queue = queue_dir(runs_root)
    job = get_job(runs_root, job_id)
    if job.final:
        return job
    (queue / f"{job_id}.cancel").write_text(_now(), encoding="utf-8")
    with _queue_lock(queue):  # the runner takes a job under this lock: no start after this
        data = _read(_job_path(queue, job_id)) or {}
        if data.get("status") == QUEUED:
            _update(queue, job_id, status=CANCELLED, finished=_now(), error="cancelled before it started")
    return get_job(runs_root, job_id)


def resume(runs_root: str | os.PathLike, job_id: str, *, start: bool = True) -> Job:
    """Queue a cancelled, failed or partial job again, behind the jobs already waiting: its batch runs
    in the same folder, so the items already finished are kept (``heygem batch`` skips them) and only
    the rest run. Raises :class:`InputError` for a job that is still queued or running, or done."""
    queue = queue_dir(runs_root)
    job = get_job(runs_root, job_id)
    if job.status not in RESUMABLE:
        raise InputError("batch job {name} is {state}: only a cancelled, failed or partial job can be resumed",
                         name=job.name, state=job.status)
    with _queue_lock(queue):
        (queue / f"{job_id}.cancel").unlink(missing_ok=True)
        _update(queue, job_id, status=QUEUED, seq=time.time_ns(), finished=None, error=None, returncode=None)
    LOG.info("resumed batch job %s", job_id)
    if start:
        ensure_runner(runs_root)
    return get_job(runs_root, job_id)


@contextlib.contextmanager
def _queue_lock(queue: Path):
    """Short lock around 'which job runs next' (not the runner's lifetime lock)."""
    with open(queue / ".queue.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ------------------------------------------------------------------------------- the runner
def _try_lock(queue: Path):
    """The runner's lifetime lock, or None when another runner holds it."""
    return records.try_lock(queue / LOCK_NAME)


def runner_alive(runs_root: str | os.PathLike) -> bool:
    handle = _try_lock(queue_dir(runs_root))
    if handle is None:
        return True
    handle.close()
    return False


def pending(runs_root: str | os.PathLike) -> list[Job]:
    """Jobs not finished yet (queued, or running / interrupted)."""
    return [j for j in list_jobs(runs_root) if not j.final]


def ensure_runner(runs_root: str | os.PathLike) -> int | None:
    """Start a detached runner unless one is running or nothing waits; its pid, or None.

    The runner is a new session (closing the page, stopping Voila or its kernel leaves it
    alone); its output goes to ``<runs>/.jobs/runner.log``.
    """
    queue = queue_dir(runs_root)
    if not pending(runs_root):
        return None
    handle = _try_lock(queue)
    if handle is None:
        return None      # a runner holds the lock; it rescans the queue before it exits
    log = open(queue / RUNNER_LOG, "ab")
    try:  # the runner inherits the locked file: no second runner can start in between
        proc = subprocess.Popen([sys.executable, "-m", "heygem_kernel.jobs", str(Path(runs_root).absolute()),
                                 "--lock-fd", str(handle.fileno())],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, pass_fds=(handle.fileno(),))
    finally:
        log.close()
        handle.close()
    LOG.info("started the job runner (pid %d) for %s", proc.pid, queue)
    return proc.pid


def _next_job(queue: Path) -> dict[str, Any] | None:
    """The job to run now: an interrupted ("running") one first, then the oldest queued one."""
    with _queue_lock(queue):
        jobs = [d for d in (_read(p) for p in queue.glob("*.json")) if d]
        jobs.sort(key=lambda d: (d.get("status") != RUNNING, d.get("seq", 0), d["id"]))
        for data in jobs:
            if data.get("status") not in (QUEUED, RUNNING):
                continue
            if (queue / f"{data['id']}.cancel").exists():
                _update(queue, data["id"], status=CANCELLED, finished=_now(),
                        error="cancelled before it started" if data.get("status") == QUEUED else "cancelled")
                continue
            return _update(queue, data["id"], status=RUNNING, started=data.get("started") or _now(),
                           attempts=int(data.get("attempts") or 0) + 1, runner_pid=os.getpid())
    return None


def run_queue(runs_root: str | os.PathLike, *, idle_s: float = IDLE_EXIT_S, lock: Any = None) -> int:
    """The runner: run jobs until none is left (then wait ``idle_s`` for more and exit).
    ``lock``: the queue's runner lock, already held; else it is taken here, and this returns at
    once (0) when another runner holds it."""
    queue = queue_dir(runs_root)
    lock = lock or _try_lock(queue)
    if lock is None:
        return 0
    LOG.info("runner %d: serving %s", os.getpid(), queue)
    try:
        while True:
            data = _next_job(queue)
            if data is not None:
                run_job(queue, data)
                continue
            deadline = time.monotonic() + idle_s
            while data is None and time.monotonic() < deadline:
                time.sleep(POLL_S)
                data = _peek(queue)
            if data is None:
                break
        # Release, then look once more: a job queued while we held the lock (its submitter saw
        # a live runner and started none) is taken by a new runner or, failing that, by us.
        lock.close()
        lock = None
        if _peek(queue) is not None:
            return run_queue(runs_root, idle_s=idle_s)
        return 0
    finally:
        if lock is not None:
            lock.close()


def _peek(queue: Path) -> dict[str, Any] | None:
    for path in queue.glob("*.json"):
        data = _read(path)
        if data and data.get("status") in (QUEUED, RUNNING):
            return data
    return None


def batch_argv(data: dict[str, Any]) -> list[str]:
    """The ``heygem batch`` command line of a job."""
    prefix = os.environ.get(ENV_BATCH_COMMAND)
    argv = shlex.split(prefix) if prefix else [sys.executable, "-m", "heygem_kernel", "batch"]
    argv += ["--audio", data["audio"], "--run-dir", data["run_dir"],
             "--options", json.dumps(data.get("options") or {})]   # the face-track cache: the default, shared
    scheduler = os.environ.get(ENV_SCHEDULER)
    if scheduler:
        argv += ["--executor", "dask", "--scheduler", scheduler]
    elif _gpu_count(data) > 1:  # one Dask worker per GPU, one item at a time each
        argv += ["--executor", "dask"]
    return argv + ["--", *data["videos"]]


def _gpu_count(data: dict[str, Any]) -> int:
    if (data.get("options") or {}).get("device") == "cpu":
        return 0
    from .batch import visible_gpus
    return len(visible_gpus())


def run_job(queue: Path, data: dict[str, Any]) -> str:
    """Run one job's batch to the end (or until cancelled); record and return its final status."""
    job_id, run_dir = data["id"], Path(data["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    flag = queue / f"{job_id}.cancel"
    argv = batch_argv(data)
    LOG.info("job %s: %s", job_id, shlex.join(argv))
    env = {**os.environ, ENV_CANCEL_FILE: str(flag)}
    if data.get("lang"):      # the page's language, for the report and the batch's lines
        env[ENV_LANG] = data["lang"]
    with open(run_dir / JOB_LOG, "ab") as log:
        log.write(f"--- {_now()} attempt {data.get('attempts', 1)}: {shlex.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(tied(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)   # tied: dies with the runner (its kernel follows:
                                                          # ipykernel polls its parent)
        _update(queue, job_id, pid=proc.pid)
        asked_at = None
        while proc.poll() is None:
            time.sleep(POLL_S)
            if flag.exists() and asked_at is None:
                asked_at = time.monotonic()
                LOG.info("job %s: cancel requested", job_id)
            if asked_at is not None and time.monotonic() - asked_at > CANCEL_GRACE_S:
                LOG.warning("job %s: still running %.0f s after cancel; killing it", job_id, CANCEL_GRACE_S)
                kill_tree(proc.pid)
                proc.wait()
    rc = proc.returncode
    if flag.exists():
        status, error = CANCELLED, "cancelled by the user"
    elif rc == 0:
        status, error = DONE, None
    else:   # exit 1 after every item ran, some ok: partial (heygem batch exits 1 when an item failed)
        from .batch import read_manifest
        manifest = read_manifest(run_dir) if rc == 1 else None
        status = PARTIAL if manifest and finished_status(manifest["items"]) == PARTIAL else FAILED
        error = _error_line(run_dir, rc)
    _update(queue, job_id, status=status, finished=_now(), returncode=rc, error=error, pid=None)
    LOG.info("job %s: %s%s", job_id, status, f" ({error})" if error else "")
    return status


def _error_line(run_dir: Path, rc: int) -> str:
    """Why a batch failed, in one line: its failed items, else its last error line."""
    from .batch import read_manifest
    manifest = read_manifest(run_dir)
    if manifest:
        bad = [e for e in manifest["items"] if e.get("status") != "ok"]
        if bad and rc == 1:
            first = bad[0]
            more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
            return f"{first.get('name') or Path(first['video']).name}: {first.get('error') or first['status']}{more}"
    try:
        lines = (run_dir / JOB_LOG).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    for line in reversed(lines):
        message = _cli_error_message(line)
        if message is not None:
            return message
    return f"the batch exited with status {rc}" + (" (killed)" if rc < 0 else "")


def _cli_error_message(line: str) -> str | None:
    """The message of a ``heygem`` error line in any language it was printed in (the batch runs in
    the server's): ``heygem: error: X`` and ``heygem：错误：X`` give ``X``; None for other lines."""
    from .i18n import LANGUAGES, translate
    for lang in LANGUAGES:
        prefix = translate("heygem: error: {message}", {"message": ""}, lang)
        if line.startswith(prefix):
            return line[len(prefix):]
    return line.removeprefix("heygem: ") if line.startswith("heygem: ") else None


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process below it (the batch, its kernel, their ffmpegs)."""
    try:
        import psutil
        procs = psutil.Process(pid).children(recursive=True) + [psutil.Process(pid)]
    except Exception:  # psutil missing or the process gone: at least its own session
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        return
    for p in procs:
        with contextlib.suppress(Exception):
            p.kill()


def main(argv: list[str] | None = None) -> int:
    """``python -m heygem_kernel.jobs RUNS_ROOT [--lock-fd N]``: the runner (see :func:`ensure_runner`)."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m heygem_kernel.jobs", description="the batch job runner")
    parser.add_argument("runs_root")
    parser.add_argument("--lock-fd", type=int, default=None, help="the runner lock, inherited already held")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    lock = os.fdopen(args.lock_fd, "a") if args.lock_fd is not None else None
    return run_queue(args.runs_root, lock=lock)


if __name__ == "__main__":
    sys.exit(main())
