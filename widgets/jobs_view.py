"""Batch jobs on the page: a card per job of :mod:`heygem_kernel.jobs`, refreshed from its files.

The page never runs a batch: it submits one and watches the job's files (job JSON, manifest,
progress.json), so a reload, a second browser or a restarted server shows the same jobs.
CSS: the list ``heygem-jobs``; each card ``heygem-job`` plus ``heygem-job-<state>`` (a
cancelled job is ``heygem-job-failed heygem-job-cancelled``; one that finished with some items
failed ``heygem-job-partial``); item rows ``heygem-job-item``.
"""
from __future__ import annotations

import html
import threading
from typing import Callable

import ipywidgets as W

from heygem_kernel.i18n import N_, _

from heygem_kernel import jobs as jobq
from heygem_kernel.errors import HeyGemError

from .progress import item_fraction, stage_label
from .views import hook, localized_record, shown
from .workspace import Workspace

POLL_S = 1.0                     # how often the watcher re-reads the job files
STATE_CLASS = {jobq.QUEUED: "queued", jobq.RUNNING: "running", jobq.DONE: "done", jobq.PARTIAL: "partial",
               jobq.FAILED: "failed", jobq.CANCELLED: "failed"}
# The job runner's English lines (heygem_kernel.jobs), shown through localized_record.
RUNNER_LINES = (N_("cancelled by the user"), N_("cancelled before it started"), N_("cancelled"))
ITEM_STYLE = {"ok": "success", "failed": "danger", "running": "info", "pending": ""}
STATE_TEXT = {jobq.QUEUED: N_("queued"), jobq.RUNNING: N_("running"), jobq.DONE: N_("done"),
              jobq.PARTIAL: N_("finished, {failed} of {n} failed"), jobq.FAILED: N_("failed"),
              jobq.CANCELLED: N_("cancelled")}
BAR_STYLE = {jobq.DONE: "success", jobq.PARTIAL: "warning", jobq.FAILED: "danger", jobq.CANCELLED: "warning"}
STATUS_KIND = {jobq.DONE: "ok", jobq.PARTIAL: "warn", jobq.CANCELLED: "warn"}   # the status line's; else "error"


def state_classes(job: jobq.Job) -> set[str]:
    classes = {"heygem-job", f"heygem-job-{STATE_CLASS.get(job.status, 'queued')}"}
    if job.status == jobq.CANCELLED:
        classes.add("heygem-job-cancelled")
    return classes


def links_html(job: jobq.Job, ws: Workspace) -> str:
    """Report and ZIP of a job as links (or paths, where the page cannot fetch files)."""
    parts = []
    for kind, label, path in (("report", _("report"), job.report), ("zip", _("ZIP of the good videos"), job.zip)):
        if path is None:
            continue
        url = ws.url_for(path)
        label = html.escape(label)
        parts.append(f'<a href="{html.escape(url)}" target="_blank" download="{html.escape(path.name)}" '
                     f'class="heygem-job-{kind}">{label}</a>' if url
                     else f"{label}: <code>{html.escape(str(path))}</code>")
    return " · ".join(parts)


def state_text(job: jobq.Job) -> str:
    """A job's state in the page's language ("finished, 1 of 3 failed" for a partial one)."""
    text = STATE_TEXT.get(job.status)
    return _(text, failed=job.n_failed, n=len(job.items) or len(job.videos)) if text else job.status


def job_counts(job: jobq.Job) -> str:
    """"1 of 2 ok, 1 failed" in the page's language."""
    n = len(job.items) or len(job.videos)
    return (_("{ok} of {n} ok, {failed} failed", ok=job.n_ok, n=n, failed=job.n_failed) if job.n_failed
            else _("{ok} of {n} ok", ok=job.n_ok, n=n))


def _item_fraction(item: jobq.ItemState) -> float:
    if item.status in ("ok", "failed"):
        return 1.0
    if item.status != "running":
        return 0.0
    weighted = item_fraction(item.stage, item.n, item.total) if item.total else None
    return weighted if weighted is not None else item.fraction


class JobCard:
    """One job: header, overall bar, a row per item, links, Cancel."""

    def __init__(self, job: jobq.Job, *, ws: Workspace, on_cancel: Callable[[str], None],
                 on_resume: Callable[[str], None] | None = None) -> None:
        self.id, self.ws = job.id, ws
        self.header = W.HTML()
        self.bar = W.FloatProgress(value=0.0, min=0.0, max=1.0, layout=W.Layout(width="50%"))
        self.cancel_button = W.Button(description=_("Cancel"), icon="stop", button_style="warning",
                                      layout=W.Layout(width="auto"))
        self.cancel_button.add_class("heygem-job-cancel")
        self.cancel_button.on_click(lambda _: on_cancel(self.id))
        self.resume_button = W.Button(description=_("Resume"), icon="play", button_style="info",
                                      tooltip=_("run the items not finished yet, in the same batch folder"),
                                      layout=W.Layout(width="auto", display="none"))
        self.resume_button.add_class("heygem-job-resume")
        self.resumable = on_resume is not None     # a queue job (a `heygem batch` folder has no job file)
        if on_resume is not None:
            self.resume_button.on_click(lambda _: on_resume(self.id))
        self.items = W.VBox()
        self.links = W.HTML()
        self.error = W.HTML()
        self.widget = W.VBox([W.HBox([self.header, self.cancel_button, self.resume_button]), self.bar, self.items, self.error,
                              self.links], layout=W.Layout(border="1px solid #ddd", padding="4px", margin="4px 0"))
        self._rows: dict[str, tuple[W.FloatProgress, W.Label]] = {}
        # One row box per item, made once: a new box for every change of the item list left the
        # page showing the old and the new rows side by side for a moment (4 rows for 2 items).
        self._row_boxes: dict[str, W.HBox] = {}
        self.update(job)

    def update(self, job: jobq.Job) -> None:
        for cls in set(self.widget._dom_classes) - state_classes(job):
            self.widget.remove_class(cls)
        for cls in state_classes(job) - set(self.widget._dom_classes):
            self.widget.add_class(cls)
        state = state_text(job)
        if job.cancel_requested and not job.final:
            state = _("cancelling…")
        counts = "" if job.status == jobq.PARTIAL else " · " + job_counts(job)   # its state says them
        speech = job.audio.rsplit("/", 1)[-1]
        what = (_("{n} videos · speech {name}", n=len(job.videos), name=speech) if len(job.videos) != 1
                else _("{n} video · speech {name}", n=len(job.videos), name=speech))
        self.header.value = (f"<b>{html.escape(job.name)}</b> · <span class='heygem-job-state'>{html.escape(state)}"
                             f"</span>{html.escape(counts)}<br><small>{html.escape(what)}</small>")
        self.bar.value = job.fraction
        self.bar.bar_style = BAR_STYLE.get(job.status, "info")
        self.cancel_button.layout.display = "none" if job.final else ""
        self.cancel_button.disabled = job.cancel_requested
        self.resume_button.layout.display = "" if self.resumable and job.status in jobq.RESUMABLE else "none"
        rows = []
        for item in job.items:
            if item.name not in self._rows:
                bar = W.FloatProgress(value=0.0, min=0.0, max=1.0, layout=W.Layout(width="30%"))
                label = W.Label()
                self._rows[item.name] = (bar, label)
            bar, label = self._rows[item.name]
            bar.value = _item_fraction(item)
            bar.bar_style = ITEM_STYLE.get(item.status, "")
            if item.status == "ok":
                text = _("done")
            elif item.status == "running":
                text = f"{stage_label(item.stage)} {item.n}/{item.total}".strip() if item.total else _("running")
            elif item.status == "failed":
                text = _("failed: {error}", error=localized_record(item.error or ""))
            elif item.error and job.final:      # "cancelled": until the job is resumed
                text = localized_record(item.error)
            else:
                text = _("pre-flight check…") if item.stage == "pre-flight" else _("waiting")
            label.value = text
            rows.append(item.name)
        if tuple(rows) != tuple(getattr(self, "_order", ())):
            self._order = tuple(rows)
            for name in rows:
                if name not in self._row_boxes:
                    bar, label = self._rows[name]
                    row = W.HBox([W.Label(name, layout=W.Layout(width="25%")), bar, label])
                    row.add_class("heygem-job-item")
                    self._row_boxes[name] = row
            self.items.children = tuple(self._row_boxes[name] for name in rows)
            for gone in set(self._row_boxes) - set(rows):   # an item renamed at pre-flight (x -> x-2)
                self._rows.pop(gone, None)
                self._row_boxes.pop(gone).close()
        self.error.value = (f"<span style='color:#c62828' class='heygem-job-error'>"
                            f"{html.escape(localized_record(job.error))}</span>" if job.error else "")
        self.links.value = links_html(job, self.ws)


class JobsPanel:
    """Batch jobs of the workspace, newest first, live. ``status(text, kind)`` reports.

    ``recent``: show the unfinished jobs and this many finished ones (None: all). ``history``:
    list every batch (:func:`heygem_kernel.jobs.list_batches`, also those `heygem batch` made).
    """

    def __init__(self, *, workspace: Workspace, status: Callable[[str, str], None], recent: int | None = None,
                 history: bool = False, title: str | None = None, css_class: str = "heygem-jobs",
                 followed: set[str] | None = None) -> None:
        self.ws, self._status, self.recent, self.history = workspace, status, recent, history
        # jobs this page queued, cancelled or resumed: the status line says how each one ended
        self.followed: set[str] = followed if followed is not None else set()
        self.title = W.HTML(f"<b>{html.escape(title or _('Batch jobs'))}</b>")
        self.empty = W.HTML(f"<i>{html.escape(_('no batch jobs yet: choose Batch, add videos and press Generate'))}</i>")
        self.list = hook(W.VBox(), css_class)
        self.widget = W.VBox([self.title, self.list])
        self.cards: dict[str, JobCard] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def refresh(self) -> list[jobq.Job]:
        """Re-read the job files and update the cards (safe from any thread)."""
        with self._lock:
            listed = jobq.list_batches(self.ws.runs) if self.history else jobq.list_jobs(self.ws.runs)
            for job in listed:
                if job.id in self.followed and job.final:
                    self.followed.discard(job.id)
                    self._announce(job)
            if self.recent is not None:
                finished = [j for j in listed if j.final][-self.recent:] if self.recent else []
                listed = [j for j in listed if not j.final or j in finished]
            for job in listed:
                card = self.cards.get(job.id)
                if card is None:
                    queued = (jobq.queue_dir(self.ws.runs) / f"{job.id}.json").is_file()
                    self.cards[job.id] = JobCard(job, ws=self.ws, on_cancel=self.cancel,
                                                 on_resume=self.resume if queued else None)
                else:
                    card.update(job)
            order = tuple(self.cards[j.id].widget for j in reversed(listed)) or (self.empty,)
            if order != self.list.children:
                self.list.children = order
            return listed

    def follow(self, job_id: str) -> None:
        """Say in the status line how job ``job_id`` ends (replacing 'queued…' / 'cancelling…')."""
        self.followed.add(job_id)

    def _announce(self, job: jobq.Job) -> None:
        line = _("batch job {name}: {state} ({counts})", name=job.name, state=state_text(job), counts=job_counts(job))
        if job.status in (jobq.FAILED, jobq.PARTIAL) and job.error:
            line += " · " + localized_record(job.error)
        self._status(line, STATUS_KIND.get(job.status, "error"))

    def cancel(self, job_id: str) -> None:
        try:
            job = jobq.cancel(self.ws.runs, job_id)
        except HeyGemError as exc:
            self._status(shown(exc), "error")
            return
        if job.final:
            self._announce(job)
        else:
            self.follow(job_id)
            self._status(_("cancelling {name}…", name=job.name), "busy")
        self.refresh()

    def resume(self, job_id: str) -> None:
        """Queue a cancelled, failed or partial job again (the card's Resume button)."""
        try:
            job = jobq.resume(self.ws.runs, job_id)
        except (HeyGemError, OSError) as exc:
            self._status(shown(exc), "error")
            return
        self.follow(job_id)
        self._status(_("batch job {name} queued again: the items not finished yet will run", name=job.name), "ok")
        self.refresh()

    def watch(self, interval: float = POLL_S) -> threading.Thread:
        """Refresh every ``interval`` seconds in a daemon thread until :meth:`stop`."""
        if self._watcher is None or not self._watcher.is_alive():
            self._stop.clear()
            self._watcher = threading.Thread(target=self._watch, args=(interval,), daemon=True,
                                             name="heygem-jobs-watch")
            self._watcher.start()
        return self._watcher

    def stop(self) -> None:
        self._stop.set()

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.refresh()
            except Exception:  # a half-written file or a widget hiccup must not end the watch
                pass
