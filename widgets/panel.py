"""The workbench panel: inputs, options, Generate / Cancel, progress, results and history.

The panel only arranges widgets and calls the engine (``engine.run``, ``preview_frame``)
and the pure helpers of this package (uploads, history, progress). Single mode renders in one
background thread so the kernel stays responsive; the thread reports through widget values
(progress bars, ``Output.append_stdout``), never ``print``. Batch mode renders nothing here:
Generate submits a job to :mod:`heygem_kernel.jobs` (``heygem batch`` in a process of its own)
and :class:`~heygem_widgets.jobs_view.JobsPanel` watches it, so a batch outlives the page.
"""
from __future__ import annotations

import html
import importlib
import logging
import threading
import traceback
import types
from pathlib import Path
from typing import Any, Callable

import ipywidgets as W

from heygem_kernel import i18n
from heygem_kernel.errors import Cancelled, HeyGemError, os_error
from heygem_kernel.i18n import N_, _, shown
from heygem_kernel.options import RunOptions

from .history_panel import HistoryPanel
from .jobs_view import JobsPanel
from .media import png_bytes
from .progress import ProgressTracker, stage_label
from .uploads import FACE_EXTS, SPEECH_EXTS, human_size, list_media, save_upload
from .views import (WARN_COLOUR, audio_preview, face_preview, hook, input_notes, localized_record, result_card,
                    shown)
from .workspace import Workspace

PER_PAGE = 5                    # history rows per page
RECENT_JOBS = 3                 # finished batch jobs still shown on the Generate tab (all are in History)

MAX_LOG_LINES = 400             # older log lines are dropped (each append re-sends the log)
OUT_HEIGHTS = ((N_("as input"), 0), ("1080", 1080), ("720", 720), ("480", 480), ("360", 360))  # 0: None (a
# Dropdown whose value is None shows no selection)
DEVICES = ("auto", "cpu", "cuda")
COLOURS = {"info": "#333", "ok": "#1a7f37", "error": "#c62828", "busy": "#1565c0", "warn": WARN_COLOUR}


def default_engine() -> Any:
    """The engine the panel calls: the :mod:`heygem_kernel` package (tests pass a double)."""
    return importlib.import_module("heygem_kernel")


def _enhancers() -> list[str]:
    from heygem_kernel.enhance import available
    return available()


def _language_links() -> str:
    """The page's language switch: links that reload the page with ``?lang=`` (read by
    :func:`heygem_kernel.i18n.page_language` in the new page's kernel)."""
    current = i18n.get_language()
    links = [f"<b>{html.escape(name)}</b>" if code == current else
             f"<a href='?lang={code}' style='text-decoration:underline'>{html.escape(name)}</a>"
             for code, name in i18n.LANGUAGES.items()]
    return "<span style='font-size:90%'>" + " | ".join(links) + "</span>"


def _speech_languages() -> list[tuple[str, str]]:
    """(label in the page's language, ``--language`` code) for every language the engine accepts."""
    from heygem_kernel.articulation import LANGUAGES, language_label
    return [(language_label(code), code) for code in LANGUAGES]


def _backends() -> list[str]:
    from heygem_kernel.backends import available
    return available()


class _LogHandler(logging.Handler):
    def __init__(self, write: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self.write = write
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write(self.format(record))
        except Exception:  # a log line must never break a render
            pass


class _ItemRow:
    """Progress row of one video of the current Generate."""

    def __init__(self, name: str) -> None:
        self.bar = W.FloatProgress(value=0.0, min=0.0, max=1.0, layout=W.Layout(width="40%"))
        self.stage = W.Label(_("waiting"))
        self.box = W.HBox([W.Label(name, layout=W.Layout(width="30%")), self.bar, self.stage])
        self.box.add_class("heygem-item")
        self.final = False          # done, failed or cancelled
        self.cancelled = False

    def set(self, fraction: float | None = None, stage: str | None = None, style: str | None = None,
            final: bool = False, cancelled: bool = False) -> None:
        self.final = self.final or final
        self.cancelled = self.cancelled or cancelled
        if fraction is not None:
            self.bar.value = fraction
        if stage is not None:
            self.stage.value = stage
        if style is not None:
            self.bar.bar_style = style


class Workbench:
    """Lip-sync panel (Generate tab + :class:`HistoryPanel`). In a notebook cell, ``Workbench()`` shows it.

    Parameters
    ----------
    engine : the object whose ``run(audio, video, *, options, runs_root, progress, cancel, ...)``
        renders (default :func:`default_engine`: the :mod:`heygem_kernel` package).
    workspace : folders and limits (default :meth:`Workspace.from_env`).
    per_page : history rows per page.
    lang : "en" | "zh" (default: the page's, :func:`heygem_kernel.i18n.page_language`: its
        ``?lang=``, ``heygem serve --lang``, the browser's Accept-Language, the locale).
    """

    def __init__(self, *, engine: Any = None, workspace: Workspace | None = None,
                 per_page: int = PER_PAGE, lang: str | None = None) -> None:
        i18n.set_language(lang or i18n.page_language())   # one page per kernel: the kernel's language
        self.engine = engine if engine is not None else default_engine()
        self.ws = workspace or Workspace.from_env()
        self.per_page = per_page
        self.audio_path: Path | None = None
        self.video_path: Path | None = None
        self.batch: list[Path] = []
        self.results: list[dict[str, Any]] = []     # result dicts of the last Generate
        self._cancel = threading.Event()
        self._worker: threading.Thread | None = None
        self._previewer: threading.Thread | None = None
        self._rows: list[_ItemRow] = []
        self._quiet = False                          # set while the panel itself sets a picker
        self._build()
        self.refresh_pickers()
        self.history.refresh()
        self.jobs_panel.refresh()
        self._resume_jobs()
        self.jobs_panel.watch()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        limit = human_size(self.ws.max_upload_bytes)
        self.status = hook(W.HTML(), "heygem-status")
        self.mode = W.ToggleButtons(options=[(_("Single"), "single"), (_("Batch"), "batch")], value="single",
                                    tooltips=[_("one audio + one video"), _("one audio + many videos: a batch job that runs on "
                                                                   "without this page")])
        self.mode.add_class("heygem-mode")
        # inputs
        natural = dict(width="auto", align_self="flex-start")     # buttons as wide as their label
        self.audio_upload = hook(W.FileUpload(accept=",".join(sorted(SPEECH_EXTS)), multiple=False,
                                              description=_("Upload audio"), tooltip=_("at most {size}", size=limit),
                                              layout=W.Layout(**natural)), "heygem-audio-upload")
        self.video_upload = hook(W.FileUpload(accept=",".join(sorted(FACE_EXTS)), multiple=False,
                                              description=_("Upload video/photo"), tooltip=_("at most {size}", size=limit),
                                              layout=W.Layout(**natural)), "heygem-video-upload")
        picker = dict(ensure_option=False, continuous_update=False, layout=W.Layout(width="420px"))
        self.audio_pick = hook(W.Combobox(placeholder=_("…or a path on this machine"), **picker), "heygem-audio-pick")
        self.video_pick = hook(W.Combobox(placeholder=_("…or a path on this machine"), **picker), "heygem-video-pick")
        self.audio_label, self.video_label = W.HTML(f"<i>{_('no audio chosen')}</i>"), W.HTML(f"<i>{_('no video chosen')}</i>")
        self.audio_view, self.video_view = W.Box(), W.Box()
        self.batch_list = hook(W.Select(options=[], rows=5, layout=W.Layout(width="420px")), "heygem-batch-list")
        self.batch_remove = W.Button(description=_("Remove from batch"), icon="trash", layout=W.Layout(**natural))
        self.batch_box = W.VBox([W.HTML(f"<b>{_('Batch videos')}</b>"), self.batch_list, self.batch_remove],
                                layout=W.Layout(display="none"))
        inputs = W.HBox([
            W.VBox([W.HTML(f"<b>{_('Speech')}</b>"), self.audio_upload, self.audio_pick, self.audio_label, self.audio_view]),
            W.VBox([W.HTML(f"<b>{_('Video or photo')}</b>"), self.video_upload, self.video_pick, self.video_label,
                    self.video_view, self.batch_box]),
        ], layout=W.Layout(flex_flow="row wrap", grid_gap="24px"))
        # options
        d = RunOptions()
        style = {"description_width": "120px"}
        self.backend = W.Dropdown(options=_backends(), value=d.backend, description=_("backend"), style=style)
        self.device = W.Dropdown(options=[(_("auto") if d == "auto" else d, d) for d in DEVICES], value=d.device if d.device in DEVICES else "auto",
                                 description=_("device"), style=style)
        self.mask_scale = W.FloatSlider(value=d.mask_scale, min=0.5, max=2.0, step=0.05,
                                        description=_("mouth mask size"), style=style,
                                        layout=W.Layout(width="340px"))
        self.feather = W.FloatSlider(value=d.feather, min=0.0, max=1.0, step=0.05, description=_("feather"), style=style)
        self.smoothing = W.FloatSlider(value=d.smoothing, min=0.0, max=1.0, step=0.05,
                                       description=_("smoothing"), style=style)
        self.pads = [W.BoundedIntText(value=v, min=-200, max=200, description=name,
                                      layout=W.Layout(width="130px"), style={"description_width": "50px"})
                     for name, v in zip((_("top"), _("bottom"), _("left"), _("right")), d.pads)]
        self.out_height = W.Dropdown(options=[(_(label), v) for label, v in OUT_HEIGHTS], value=d.out_height or 0,
                                     description=_("output height"), style=style)
        self.enhance = W.Dropdown(options=[(_("off"), ""), *((n, n) for n in _enhancers())], value=d.enhance or "",
                                  description=_("face restoration"), style=style)   # "": off (None shows blank)
        self.enhance_strength = W.FloatSlider(value=d.enhance_strength, min=0.0, max=1.0, step=0.05,
                                              description=_("restore strength"), style=style)
        self.loop = W.Dropdown(options=[(_("seamless"), "seamless"), (_("ping-pong"), "pingpong")], value=d.loop,
                               description=_("short video"), style=style)
        self.speech_language = hook(W.Dropdown(options=_speech_languages(), value=d.language,
                                               description=_("speech language"), style=style),
                                    "heygem-speech-language")
        self.speaker_timing = W.Checkbox(value=d.speaker_timing, description=_("lip timing from the video's own sound"),
                                         indent=False)
        self.frame_index = W.BoundedIntText(value=0, min=0, max=10**6, description=_("frame"), style=style)
        self.preview_button = hook(W.Button(description=_("Preview mask & blend"), icon="eye",
                                            layout=W.Layout(**natural)), "heygem-preview")
        self.preview_msg = W.HTML()
        self.preview_image = hook(W.Image(format="png", layout=W.Layout(max_width="420px", display="none")),
                                  "heygem-preview-image")
        options = W.VBox([
            W.HBox([self.backend, self.device, self.out_height, self.loop]),
            W.HBox([self.speech_language, self.speaker_timing]),
            W.HBox([self.mask_scale, self.feather, self.smoothing]),
            W.HBox([W.Label(_("padding (px)")), *self.pads]),
            W.HBox([self.enhance, self.enhance_strength]),
            W.HBox([self.frame_index, self.preview_button]), self.preview_msg, self.preview_image,
        ])
        # run
        self.generate_button = hook(W.Button(description=_("Generate"), button_style="primary", icon="play"),
                                    "heygem-generate")
        self.cancel_button = hook(W.Button(description=_("Cancel"), button_style="warning", icon="stop",
                                           disabled=True), "heygem-cancel")
        self.overall = hook(W.FloatProgress(value=0.0, min=0.0, max=1.0, description=_("overall")), "heygem-progress")
        self.items_box = W.VBox()
        self.log = hook(W.Output(layout=W.Layout(max_height="180px", overflow="auto", border="1px solid #eee")),
                        "heygem-log")
        self.result_box = hook(W.VBox(), "heygem-result")
        self.jobs_panel = JobsPanel(workspace=self.ws, status=self._status, recent=RECENT_JOBS)
        generate_tab = W.VBox([
            self.mode, inputs, W.Accordion(children=[options], titles=(_("Quality options & one-frame preview"),)),
            W.HBox([self.generate_button, self.cancel_button]), self.overall, self.items_box,
            W.Accordion(children=[self.log], titles=(_("Log"),), selected_index=0), self.result_box,
            self.jobs_panel.widget,
        ])
        self.history = HistoryPanel(workspace=self.ws, per_page=self.per_page, status=self._status)
        self.history.batches.followed = self.jobs_panel.followed   # the Generate tab's watcher reports them
        self.tabs = W.Tab(children=[generate_tab, self.history.widget], titles=(_("Generate"), _("History")))
        self.language = hook(W.HTML(_language_links()), "heygem-language")   # the page's language switch
        intro = hook(W.HTML("<small>{}</small>".format(html.escape(_(   # the page's only prose: in its language
            "Lip-sync a video (or photo) to a speech recording: upload or pick both, tune the mouth mask, preview "
            "one frame, then Generate. Earlier runs are under History.")))), "heygem-intro")
        self.widget = hook(W.VBox([W.HBox([W.HTML("<h3 style='margin:4px 0'>HeyGem Workbench</h3>"), self.language],
                                          layout=W.Layout(justify_content="space-between")),
                                   intro, self.status, self.tabs]), "heygem-workbench")
        # wiring
        self.mode.observe(self._on_mode, "value")
        self.audio_upload.observe(lambda ch: self._on_upload(ch, kind="audio"), "value")
        self.video_upload.observe(lambda ch: self._on_upload(ch, kind="video"), "value")
        self.audio_pick.observe(lambda ch: self._on_pick(ch, kind="audio"), "value")
        self.video_pick.observe(lambda ch: self._on_pick(ch, kind="video"), "value")
        self.batch_remove.on_click(lambda _: self.remove_from_batch())
        self.preview_button.on_click(lambda _: self.preview())
        self.generate_button.on_click(lambda _: self.generate())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.tabs.observe(lambda ch: ch["new"] == 1 and self.history.refresh(), "selected_index")
        self.backend.observe(lambda _: self._on_backend(), "value")
        self._on_backend()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------ messages
    def _status(self, text: str, kind: str = "info") -> None:
        self.status.value = f"<span style='color:{COLOURS[kind]}'>{html.escape(text)}</span>"

    def _log(self, line: str) -> None:
        self.log.append_stdout(line.rstrip("\n") + "\n")
        if len(self.log.outputs) > MAX_LOG_LINES:
            self.log.outputs = self.log.outputs[-MAX_LOG_LINES:]

    def _error(self, text: str) -> None:
        self._status(text, "error")
        self._log(f"error: {text}")

    # ------------------------------------------------------------------ inputs
    def refresh_pickers(self) -> None:
        """Offer uploaded files and files of the configured media folders in the pickers."""
        folders = (self.ws.uploads, *self.ws.media_dirs)
        self.audio_pick.options = tuple(self._display(p) for p in list_media(folders, SPEECH_EXTS))
        self.video_pick.options = tuple(self._display(p) for p in list_media(folders, FACE_EXTS))

    def _display(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.ws.root).as_posix()
        except ValueError:
            return str(path)

    def _resolve(self, text: str) -> Path:
        path = Path(text.strip()).expanduser()
        return path if path.is_absolute() else self.ws.root / path

    def _on_upload(self, change: dict, *, kind: str) -> None:
        files, uploader = change["new"], change["owner"]
        if not files:
            return
        saved, errors = [], []
        for f in files:
            try:
                path = save_upload(name=f["name"], content=f["content"], folder=self.ws.uploads,
                                   max_bytes=self.ws.max_upload_bytes,
                                   allowed=SPEECH_EXTS if kind == "audio" else FACE_EXTS)
            except HeyGemError as exc:
                errors.append(shown(exc))
                self._log(f"error: {exc}")
                continue
            self._log(f"received {f['name']} ({human_size(path.stat().st_size)}) as {self._display(path)}")
            try:
                self.choose(path, kind=kind)
            except HeyGemError as exc:       # not media ffmpeg can read: say so now, not at Generate
                errors.append(f"{path.name}: {shown(exc)}")
                self._log(f"error: {exc}")
                path.unlink(missing_ok=True)
                continue
            saved.append(path)
        uploader.value = ()          # drop the bytes the widget holds; resets its "(1)" counter
        if saved:
            self.refresh_pickers()
        if errors:
            self._status(" · ".join(errors), "error")
        elif saved:
            self._status(_("{names} uploaded", names=", ".join(p.name for p in saved)), "ok")

    def _on_pick(self, change: dict, *, kind: str) -> None:
        if self._quiet or not change["new"].strip():
            return
        try:
            self.choose(self._resolve(change["new"]), kind=kind)
        except HeyGemError as exc:
            self._error(shown(exc))

    def choose(self, path: str | Path, *, kind: str) -> None:
        """Use ``path`` as the speech (kind "audio") or the video (kind "video"; in batch mode it
        is added to the batch list). Raises :class:`HeyGemError` for a missing or wrong file."""
        from heygem_kernel.errors import InputError

        path = Path(path)
        exts = SPEECH_EXTS if kind == "audio" else FACE_EXTS
        if not self.ws.may_read(path):
            raise InputError("{path}: outside the folders this app may read (uploads/ and its media folders)",
                             path=path)
        if not path.is_file():
            raise InputError("{path}: no such file", path=path)
        if path.suffix.lower() not in exts:
            raise InputError("{path}: expected one of {choices}", path=path, choices=", ".join(sorted(exts)))
        self._probe(path, kind=kind)
        label = f"<b>{html.escape(path.name)}</b> <small>{human_size(path.stat().st_size)}</small>"
        self._quiet = True
        try:
            if kind == "audio":
                self.audio_path = path
                self.audio_pick.value = self._display(path)
                self.audio_label.value = label
                self.audio_view.children = (audio_preview(path),)
            else:
                self.video_path = path
                self.video_pick.value = self._display(path)
                self.video_label.value = label
                self.video_view.children = (face_preview(path, self.ws),)
                if self.mode.value == "batch" and path not in self.batch:
                    self.batch.append(path)
                    self._sync_batch_list()
        finally:
            self._quiet = False

    def _probe(self, path: Path, *, kind: str) -> None:
        """Read the file's header (ffprobe, a fraction of a second) so that a file that is not media
        (a text file named .mp4, audio only as the video, a video without sound as the speech) is
        refused when chosen, with the engine's line, instead of failing at Generate."""
        probe = self._engine_fn("probe_audio" if kind == "audio" else "probe_video", "media")
        if probe is not None:
            probe(path)

    def _sync_batch_list(self) -> None:
        self.batch_list.options = [(self._display(p), i) for i, p in enumerate(self.batch)]

    def remove_from_batch(self, index: int | None = None) -> None:
        index = self.batch_list.value if index is None else index
        if index is not None and 0 <= index < len(self.batch):
            del self.batch[index]
            self._sync_batch_list()

    def _on_backend(self) -> None:
        """The padding boxes are the face box's of backends that read ``pads`` (wav2lip): greyed
        out for the others, which would only warn that they ignore them."""
        from heygem_kernel.backends import backend_class
        unused = "pads" not in backend_class(self.backend.value).options_used
        for box in self.pads:
            box.disabled = unused

    def _on_mode(self, change: dict) -> None:
        batch = change["new"] == "batch"
        self.batch_box.layout.display = "flex" if batch else "none"
        self.video_upload.multiple = batch
        for single_only in (self.cancel_button, self.overall):   # a batch job has its own bar and Cancel
            single_only.layout.visibility = "hidden" if batch else "visible"
        if batch and self.video_path is not None and self.video_path not in self.batch:
            self.batch.append(self.video_path)
            self._sync_batch_list()

    def options(self) -> RunOptions:
        """The :class:`RunOptions` the controls describe."""
        return RunOptions().replace(
            backend=self.backend.value, device=self.device.value, mask_scale=float(self.mask_scale.value),
            feather=float(self.feather.value), smoothing=float(self.smoothing.value),
            pads=tuple(int(p.value) for p in self.pads), out_height=self.out_height.value or None,
            enhance=self.enhance.value or None, enhance_strength=float(self.enhance_strength.value), loop=self.loop.value,
            language=self.speech_language.value, speaker_timing=bool(self.speaker_timing.value))

    def jobs(self) -> list[Path]:
        """The videos Generate would render, in order."""
        if self.mode.value == "batch":
            return list(self.batch)
        return [self.video_path] if self.video_path is not None else []

    # ------------------------------------------------------------------ one-frame preview
    def _engine_fn(self, name: str, module: str) -> Callable | None:
        """``engine.<name>``, or for the engine package ``<package>.<module>.<name>``; None if absent."""
        fn = getattr(self.engine, name, None)
        if fn is None and isinstance(self.engine, types.ModuleType):
            try:
                fn = getattr(importlib.import_module(f"{self.engine.__name__}.{module}"), name, None)
            except ImportError:
                fn = None
        return fn

    def preview(self) -> threading.Thread | None:
        """Render one composited frame (mask outline drawn) with the current options, in a thread."""
        video = self.video_path or (self.batch[0] if self.batch else None)
        if self.audio_path is None or video is None:
            self.preview_msg.value = f"<i>{html.escape(_('Choose a speech file and a video first.'))}</i>"
            return None
        fn = self._engine_fn("preview_frame", "pipeline")
        if fn is None:
            self.preview_msg.value = "<i>{}</i>".format(html.escape(_(
                "The one-frame preview is not available in this version of the engine yet; use Generate to "
                "see the full result.")))
            return None
        if self._previewer is not None and self._previewer.is_alive():
            return None
        try:
            options = self.options()
        except HeyGemError as exc:  # an option out of range: say so before any work
            self.preview_msg.value = f"<span style='color:{COLOURS['error']}'>{html.escape(shown(exc))}</span>"
            return None
        args = (self.audio_path, video, options, int(self.frame_index.value), fn)
        kwargs = {}   # the engine's default face-track cache: the one full runs and batches share
        self.preview_button.disabled = True
        self.preview_msg.value = f"<i>{html.escape(_('rendering one frame…'))}</i>"
        self._previewer = threading.Thread(target=self._preview_job, args=args, kwargs=kwargs, daemon=True,
                                           name="heygem-preview")
        self._previewer.start()
        return self._previewer

    def _preview_job(self, audio: Path, video: Path, options: RunOptions, index: int, fn: Callable,
                     **kwargs: Any) -> None:
        try:
            frame = fn(audio, video, options=options, frame_index=index, **kwargs)
            self.preview_image.value = png_bytes(frame)
            self.preview_image.layout.display = "block"
            shown_index = getattr(frame, "index", index)   # a frame past the output's end shows its last
            said = (_('frame {index} of {name}', index=index, name=video.name) if shown_index == index else
                    _("frame {index} of {name} (its last: the output has {n} frames)", index=shown_index,
                      name=video.name, n=getattr(frame, "n_frames", shown_index + 1)))
            if shown_index != index:
                self.frame_index.value = shown_index
            note = getattr(frame, "note", "")   # the engine's preview says when it differs from the run's frame
            self.preview_msg.value = f"<small>{html.escape(said)}</small>" + (
                f"<br><small style='color:{COLOURS['warn']}'>{html.escape(note)}</small>" if note else "")
        except HeyGemError as exc:
            self.preview_msg.value = f"<span style='color:{COLOURS['error']}'>{html.escape(shown(exc))}</span>"
        except Exception as exc:
            self._log(traceback.format_exc())
            self.preview_msg.value = (f"<span style='color:{COLOURS['error']}'>"
                                      f"{html.escape(_('preview failed: {error}', error=shown(exc)))}</span>")
        finally:
            self.preview_button.disabled = False

    # ------------------------------------------------------------------ generate
    @property
    def busy(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def generate(self) -> threading.Thread | None:
        """Single mode: render in a background thread (returned). Batch mode: submit a batch job
        (:meth:`submit_batch`; None is returned). The Generate button."""
        if self.busy:
            return None
        jobs = self.jobs()
        if self.audio_path is None:
            self._error(_("choose or upload a speech file first"))
            return None
        if not jobs:
            self._error(_("choose or upload a video (or photo) first") if self.mode.value == "single"
                        else _("add at least one video to the batch"))
            return None
        try:
            options = self.options()
        except HeyGemError as exc:  # an option out of range: say so before any work
            self._error(shown(exc))
            return None
        if self.mode.value == "batch":
            self.submit_batch(options)
            return None
        self._cancel.clear()
        self.results = []
        self.result_box.children = ()
        self._rows = [_ItemRow(p.name) for p in jobs]
        self.items_box.children = tuple(r.box for r in self._rows)
        self.overall.value, self.overall.bar_style = 0.0, ""
        self.generate_button.disabled, self.cancel_button.disabled = True, False
        self.preview_button.disabled = True
        self._status(_("generating {n} video(s)…", n=len(jobs)), "busy")
        self._worker = threading.Thread(target=self._run_jobs, args=(self.audio_path, jobs, options),
                                        daemon=True, name="heygem-generate")
        self._worker.start()
        return self._worker

    def submit_batch(self, options: RunOptions | None = None) -> Any:
        """Queue the batch (speech + batch videos + options) as a job; its card shows progress."""
        from heygem_kernel import jobs as jobq

        try:
            job = jobq.submit_batch(runs_root=self.ws.runs, audio=self.audio_path, videos=list(self.batch),
                                    options=options or self.options(), lang=i18n.get_language())
        except HeyGemError as exc:
            self._error(shown(exc))
            return None
        self.jobs_panel.follow(job.id)
        ahead = sum(1 for j in jobq.pending(self.ws.runs) if j.id != job.id)
        self._log(f"queued batch job {job.name}: {len(job.videos)} videos with {Path(job.audio).name}")
        self._status(_("batch job {name} queued behind {n} other job(s); it runs on if this page is closed",
                       name=job.name, n=ahead) if ahead else
                     _("batch job {name} queued; it runs on if this page is closed", name=job.name), "ok")
        self.jobs_panel.refresh()
        return job

    def _resume_jobs(self) -> None:
        """Jobs left unfinished by a restart (or a killed runner) start again when the app opens."""
        from heygem_kernel import jobs as jobq

        try:
            if jobq.ensure_runner(self.ws.runs):
                self._log("resumed the batch job queue")
        except OSError as exc:
            self._error(_("cannot start the batch job runner: {error}", error=shown(os_error(exc))))

    def cancel(self) -> None:
        """Ask the running render to stop (the Cancel button)."""
        if self.busy:
            self._cancel.set()
            self.cancel_button.disabled = True
            self._status(_("cancelling…"), "busy")

    def wait(self, timeout: float | None = None) -> bool:
        """Join the render and preview threads; True when both have finished."""
        for t in (self._worker, self._previewer):
            if t is not None:
                t.join(timeout)
        return not self.busy and not (self._previewer is not None and self._previewer.is_alive())

    def _speech(self, audio: Path, language: str) -> Any:
        """Speech features computed once for a batch (in its ``language``), when the engine offers ``load_speech``."""
        load = self._engine_fn("load_speech", "audio")
        return load(audio, language=language) if load is not None else None

    def _run_jobs(self, audio: Path, jobs: list[Path], options: RunOptions) -> None:
        tracker = ProgressTracker(len(jobs))
        handler = _LogHandler(self._log)
        engine_log = logging.getLogger("heygem")  # the engine's loggers: heygem, heygem.media, ...
        old_level = engine_log.level
        engine_log.addHandler(handler)
        if engine_log.getEffectiveLevel() > logging.INFO:
            engine_log.setLevel(logging.INFO)
        done, cancelled, error = 0, False, ""
        try:
            extra = {}
            if len(jobs) > 1:
                speech = self._speech(audio, options.language)
                if speech is not None:
                    extra["speech"] = speech
            for i, video in enumerate(jobs):
                if self._cancel.is_set():
                    cancelled = True
                    break
                row = self._rows[i]
                tracker.start_item(i)
                row.set(0.0, _("starting"))
                self._log(f"[{i + 1}/{len(jobs)}] {video.name} with {audio.name}")

                def progress(stage: str, n: int, total: int, row: _ItemRow = row) -> None:
                    if tracker.update(stage, n, total):
                        row.set(tracker.item, f"{stage_label(stage)} {n}/{total}")
                        self.overall.value = tracker.overall

                try:
                    result = self.engine.run(audio, video, options=options, runs_root=self.ws.runs,
                                             progress=progress, cancel=self._cancel, **extra)
                except Cancelled:
                    row.set(stage=_("cancelled"), style="warning", final=True, cancelled=True)
                    cancelled = True
                    break
                except HeyGemError as exc:
                    row.set(stage=_("failed"), style="danger", final=True)
                    error = f"{video.name}: {shown(exc)}"
                    self._log(f"error: {exc}")
                    continue
                except Exception as exc:  # an engine bug: keep the panel alive, show the traceback
                    row.set(stage=_("failed"), style="danger", final=True)
                    error = f"{video.name}: " + _("unexpected error: {error}", error=shown(exc))
                    self._log(traceback.format_exc())
                    continue
                done += 1
                tracker.finish_item()
                row.set(1.0, _("done"), "success", final=True)
                self.overall.value = tracker.overall
                data = result.to_dict() if hasattr(result, "to_dict") else dict(vars(result))
                self.results.append(data)
                self.result_box.children += (result_card(data, self.ws, title=f"{video.name} + {audio.name}"),)
                self._log(f"wrote {data.get('output')}")
        except HeyGemError as exc:          # the speech could not be loaded: no job can run
            error = shown(exc)
            self._log(f"error: {exc}")
        except Exception as exc:
            error = _("unexpected error: {error}", error=shown(exc))
            self._log(traceback.format_exc())
        finally:
            engine_log.removeHandler(handler)
            engine_log.setLevel(old_level)
            for row in self._rows:
                if not row.final:
                    row.set(stage=_("cancelled") if cancelled else _("not run"), style="warning", final=True,
                            cancelled=cancelled)
            failed = len(jobs) - done - sum(r.cancelled for r in self._rows)
            self.overall.bar_style = "success" if done == len(jobs) else ("warning" if cancelled else "danger")
            summary = (_("{done} of {n} done, {failed} failed", done=done, n=len(jobs), failed=failed) if failed
                       else _("{done} of {n} done", done=done, n=len(jobs)))
            if cancelled:
                self._status(_("cancelled ({summary})", summary=summary), "error")
            elif error:
                self._status(f"{summary}: {error}" if len(jobs) > 1 else error, "error")
            else:
                notes = [localized_record(n) for r in self.results for n in input_notes(r)]
                # a run that went through but reported its input (silent speech, HDR converted): say so here too
                self._status(f"{summary} · ⚠ {notes[0]}" if notes else summary, "warn" if notes else "ok")
            self.generate_button.disabled, self.cancel_button.disabled = False, True
            self.preview_button.disabled = False
            self.history.refresh()
