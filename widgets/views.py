"""Widget builders for media previews and result cards (layout only, no decisions).

Videos reach the page one of two ways: by URL when ``heygem serve`` serves the file
(``Workspace.url_for``; the browser streams and seeks it), or as bytes in an ipywidgets
``Video`` (plain Jupyter, small files only: the bytes travel through the kernel socket).
"""
from __future__ import annotations

import html
import mimetypes
from pathlib import Path
from typing import Any

import ipywidgets as W

from .history import THUMBNAIL
from .media import thumbnail
from .uploads import IMAGE_EXTS, human_size
from .workspace import Workspace

INLINE_MEDIA_MAX = 48 * 1024 * 1024    # bytes sent through the kernel socket for one preview
VIDEO_WIDTH = 420                      # px, result videos
PREVIEW_WIDTH = 320                    # px, input previews
PLOT_WIDTH = 380                       # px, diagnostic plots



def shown(exc: BaseException) -> str:
    """An error as the page shows it: in the page's language when the engine gave a template."""
    from heygem_kernel.errors import HeyGemError
    return exc.localized() if isinstance(exc, HeyGemError) else " ".join(str(exc).split())

def hook(widget: W.DOMWidget, css_class: str) -> W.DOMWidget:
    """Add a stable CSS class (a test hook, e.g. ``heygem-generate``) and return the widget."""
    widget.add_class(css_class)
    return widget


def _note(text: str) -> W.HTML:
    return W.HTML(f"<i>{html.escape(text)}</i>")


def _format(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or ""
    return mime.split("/")[-1] or path.suffix.lstrip(".")


def video_player(path: Path, ws: Workspace, *, width: int = VIDEO_WIDTH) -> W.Widget:
    """A ``<video>`` of ``path``: by URL when served, inline when small, else a note."""
    url = ws.url_for(path)
    if url and path.suffix.lower() == ".mp4":
        return W.HTML(f'<video class="heygem-video" src="{html.escape(url)}" controls preload="metadata" '
                      f'playsinline style="max-width:{width}px;width:100%"></video>')
    size = path.stat().st_size
    if size <= INLINE_MEDIA_MAX:
        return W.Video(value=path.read_bytes(), format=_format(path), autoplay=False, loop=False,
                       controls=True, layout=W.Layout(max_width=f"{width}px"))
    return _note(f"{path.name} ({human_size(size)}) is too large to show inline; it is at {path}")


def image_view(path: Path, *, width: int) -> W.Widget:
    if path.stat().st_size > INLINE_MEDIA_MAX:
        return _note(f"{path.name} is too large to show")
    return W.Image(value=path.read_bytes(), format=path.suffix.lstrip(".").lower(),
                   layout=W.Layout(max_width=f"{width}px"))


def face_preview(path: Path, ws: Workspace) -> W.Widget:
    """Preview of a chosen video or photo before generating."""
    if path.suffix.lower() in IMAGE_EXTS:
        return image_view(path, width=PREVIEW_WIDTH)
    return video_player(path, ws, width=PREVIEW_WIDTH)


def audio_preview(path: Path) -> W.Widget:
    size = path.stat().st_size
    if size > INLINE_MEDIA_MAX:
        return _note(f"{path.name} ({human_size(size)}) is too large to preview")
    return W.Audio(value=path.read_bytes(), format=_format(path), autoplay=False, loop=False, controls=True)


def figures_html(data: dict[str, Any]) -> str:
    """The sync figures and facts of one result as a small HTML table."""
    fps = float(data.get("fps") or 0) or None
    offset = data.get("sync_offset_frames")
    rows = []
    if offset is not None:
        ms = f" ({offset * 1000 / fps:+.0f} ms)" if fps else ""
        rows.append(("A/V offset", f"{offset:+d} frames{ms}" if isinstance(offset, int) else f"{offset}{ms}"))
    for key, label, fmt in (("sync_confidence", "sync confidence", "{:.2f}"),
                            ("sync_correlation", "mouth/speech correlation", "{:.2f}"),
                            ("frames_no_face", "frames without a face", "{}"),
                            ("frames_mouth_covered", "frames with the mouth covered (untouched)", "{}"),
                            ("duration", "duration", "{:.2f} s"), ("fps", "fps", "{:.3g}"),
                            ("backend", "backend", "{}")):
        if data.get(key) is not None:
            try:
                rows.append((label, fmt.format(data[key])))
            except (TypeError, ValueError):
                rows.append((label, str(data[key])))
    if data.get("width") and data.get("height"):
        rows.append(("size", f"{data['width']}×{data['height']}, {data.get('n_frames', '?')} frames"))
    timings = data.get("timings") or {}
    if timings:
        rows.append(("time", ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()
                                       if isinstance(v, (int, float)))))
    cells = "".join(f"<tr><td style='padding-right:1em'>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                    for k, v in rows)
    return f"<table class='heygem-figures'>{cells}</table>"


def summary_line(data: dict[str, Any]) -> str:
    """One line for a history row: offset, confidence, duration, size, backend."""
    parts = []
    if data.get("sync_offset_frames") is not None:
        parts.append(f"offset {data['sync_offset_frames']:+d} frames" if isinstance(data["sync_offset_frames"], int)
                     else f"offset {data['sync_offset_frames']}")
    if isinstance(data.get("sync_confidence"), (int, float)):
        parts.append(f"confidence {data['sync_confidence']:.2f}")
    if isinstance(data.get("duration"), (int, float)):
        parts.append(f"{data['duration']:.1f} s")
    if data.get("width") and data.get("height"):
        parts.append(f"{data['width']}×{data['height']}")
    if data.get("backend"):
        parts.append(str(data["backend"]))
    return html.escape(" · ".join(parts))


def result_card(data: dict[str, Any], ws: Workspace, *, title: str) -> W.VBox:
    """Output video, thumbnail, sync figures and diagnostic plots of one run.

    ``data`` is ``RunResult.to_dict()`` (or a run's ``result.json``).
    """
    run_dir = Path(data.get("run_dir") or ".")
    output = Path(data["output"]) if data.get("output") else None
    head = W.HTML(f"<b>{html.escape(title)}</b> <small>{html.escape(run_dir.name)}</small>")
    parts: list[W.Widget] = [head]
    if output is not None and output.is_file():
        thumb = thumbnail(output, run_dir / THUMBNAIL)
        row = [image_view(thumb, width=160)] if thumb else []
        parts.append(W.HBox(row + [video_player(output, ws)], layout=W.Layout(align_items="flex-start",
                                                                               grid_gap="8px")))
    else:
        parts.append(_note(f"output {output} is missing"))
    parts.append(W.HTML(figures_html(data)))
    plots = []
    for name, p in (data.get("plots") or {}).items():
        p = Path(p)
        if p.is_file():
            plots.append(W.VBox([W.HTML(f"<small>{html.escape(name)}</small>"), image_view(p, width=PLOT_WIDTH)]))
    if plots:
        parts.append(W.HBox(plots, layout=W.Layout(flex_flow="row wrap")))
    card = W.VBox(parts, layout=W.Layout(border="1px solid #ddd", padding="6px", margin="4px 0"))
    card.add_class("heygem-result-card")
    return card
