"""The History tab: earlier runs with thumbnails, paging, delete (confirmed) and ZIP download.

Only layout and clicks live here; listing, paging, deleting and zipping are
:mod:`heygem_widgets.history`.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Callable

import ipywidgets as W

from heygem_kernel.i18n import _

from heygem_kernel.errors import HeyGemError

from . import history as hist
from .jobs_view import JobsPanel
from .media import thumbnail
from .uploads import human_size
from .views import hook, image_view, localized_record, result_card, shown, summary_line
from .workspace import Workspace


class HistoryPanel:
    """Runs under ``workspace.runs``, ``per_page`` at a time; ``status(text, kind)`` reports."""

    def __init__(self, *, workspace: Workspace, per_page: int, status: Callable[[str, str], None]) -> None:
        self.ws, self.per_page, self._status = workspace, per_page, status
        self.index = 0
        self.pending_delete: Path | None = None
        self.info = W.HTML()
        self.prev_button = W.Button(description=_("Previous"), icon="arrow-left")
        self.next_button = W.Button(description=_("Next"), icon="arrow-right")
        self.refresh_button = W.Button(description=_("Refresh"), icon="refresh")
        self.zip_button = hook(W.Button(description=_("Download all as ZIP"), icon="download",
                                        layout=W.Layout(width="auto", align_self="flex-start")), "heygem-zip")
        self.zip_link = hook(W.HTML(), "heygem-zip-link")
        self.rows = hook(W.VBox(), "heygem-history")
        self.confirm_text = W.HTML()
        self.confirm_yes = hook(W.Button(description=_("Delete"), button_style="danger"), "heygem-confirm-delete")
        self.confirm_no = W.Button(description=_("Keep"))
        self.confirm_box = W.HBox([self.confirm_text, self.confirm_yes, self.confirm_no],
                                  layout=W.Layout(display="none"))
        self.view = W.VBox()
        self.batches = JobsPanel(workspace=workspace, status=status, history=True, title=_("Batches"),
                                 css_class="heygem-history-batches")
        self.widget = W.VBox([
            self.batches.widget, W.HTML(f"<b>{html.escape(_('Single runs'))}</b>"),
            W.HBox([self.prev_button, self.next_button, self.refresh_button, self.info]),
            self.confirm_box, self.rows, W.HBox([self.zip_button, self.zip_link]), self.view,
        ])
        self.prev_button.on_click(lambda _: self.show_page(self.index - 1))
        self.next_button.on_click(lambda _: self.show_page(self.index + 1))
        self.refresh_button.on_click(lambda _: self.refresh())
        self.zip_button.on_click(lambda _: self.download_zip())
        self.confirm_yes.on_click(lambda _: self.confirm_delete())
        self.confirm_no.on_click(lambda _: self.cancel_delete())

    def refresh(self) -> None:
        self.show_page(self.index)
        self.batches.refresh()

    def show_page(self, index: int) -> None:
        pg = hist.page(hist.list_runs(self.ws.runs), index=index, per_page=self.per_page)
        self.index = pg.index
        self.rows.children = tuple(self._row(e) for e in pg.items) or (W.HTML(f"<i>{html.escape(_('no runs yet'))}</i>"),)
        where = dict(page=pg.index + 1, pages=pg.n_pages, n=pg.total)
        self.info.value = html.escape(_("page {page} / {pages} · {n} runs", **where) if pg.total != 1
                                      else _("page {page} / {pages} · {n} run", **where))
        self.prev_button.disabled = pg.index == 0
        self.next_button.disabled = pg.index >= pg.n_pages - 1

    def _row(self, entry: hist.RunEntry) -> W.HBox:
        thumb = thumbnail(entry.output, entry.run_dir / hist.THUMBNAIL) if entry.output else None
        picture = image_view(thumb, width=120) if thumb else W.HTML(f"<i>{html.escape(_('no output'))}</i>",
                                                                    layout=W.Layout(width="120px"))
        state = "" if entry.finished else f" <span style='color:#c62828'>{html.escape(_('(unfinished)'))}</span>"
        if entry.error:
            state = (f"<br><span style='color:#c62828' class='heygem-history-error'>"
                     f"{html.escape(_('failed: {error}', error=localized_record(entry.error)))}</span>")
        text = W.HTML(f"<b>{html.escape(entry.name)}</b>{state}<br><small>{entry.created:%Y-%m-%d %H:%M}"
                      f"</small><br><small>{summary_line(entry.result)}</small>")
        show = W.Button(description=_("Show"), disabled=entry.output is None, layout=W.Layout(width="80px"))
        delete = hook(W.Button(description=_("Delete"), icon="trash", layout=W.Layout(width="90px")), "heygem-delete")
        show.on_click(lambda _, e=entry: self.show_run(e))
        delete.on_click(lambda _, e=entry: self.request_delete(e.run_dir))
        row = W.HBox([picture, text, W.VBox([show, delete])],
                     layout=W.Layout(grid_gap="8px", margin="4px 0", align_items="flex-start"))
        row.add_class("heygem-history-row")
        return row

    def show_run(self, entry: hist.RunEntry) -> None:
        data = {**entry.result, "run_dir": str(entry.run_dir), "output": str(entry.output)}
        self.view.children = (result_card(data, self.ws, title=entry.name),)

    def request_delete(self, run_dir: Path) -> None:
        """First step of Delete: ask for confirmation."""
        self.pending_delete = Path(run_dir)
        self.confirm_text.value = html.escape(_("Delete run {name} and all its files?", name=self.pending_delete.name))
        self.confirm_box.layout.display = "flex"

    def confirm_delete(self) -> None:
        run_dir, self.pending_delete = self.pending_delete, None
        self.confirm_box.layout.display = "none"
        if run_dir is None:
            return
        try:
            hist.delete_run(run_dir, runs_root=self.ws.runs)
        except HeyGemError as exc:
            self._status(shown(exc), "error")
        else:
            self._status(_("deleted {name}", name=run_dir.name), "ok")
            self.view.children = ()
        self.refresh()

    def cancel_delete(self) -> None:
        self.pending_delete = None
        self.confirm_box.layout.display = "none"

    def download_zip(self) -> Path | None:
        """ZIP every finished run's output, JSON and plots; show a link (or the path)."""
        entries = [e for e in hist.list_runs(self.ws.runs) if e.output is not None]
        if not entries:
            self.zip_link.value = f"<i>{html.escape(_('no finished runs to zip'))}</i>"
            return None
        path = hist.zip_outputs(entries, dest_dir=self.ws.downloads)
        size = human_size(path.stat().st_size)
        what = html.escape(_("{n} runs, {size}", n=len(entries), size=size) if len(entries) != 1
                           else _("{n} run, {size}", n=len(entries), size=size))
        url = self.ws.url_for(path)
        if url:
            self.zip_link.value = (f'<a href="{html.escape(url)}" download="{html.escape(path.name)}">'
                                   f"{html.escape(path.name)}</a> ({what})")
        else:
            self.zip_link.value = f"{html.escape(_('zipped to {path}', path=path))} ({what})"
        return path
