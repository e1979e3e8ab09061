"""Widget builders for media previews and result cards (layout only, no decisions).

Videos reach the page one of two ways: by URL when ``heygem serve`` serves the file
(``Workspace.url_for``; the browser streams and seeks it), or as bytes in an ipywidgets
``Video`` (plain Jupyter, small files only: the bytes travel through the kernel socket).
"""
from __future__ import annotations

import functools
import html
import mimetypes
import re
import string
from pathlib import Path
from typing import Any

import ipywidgets as W

from heygem_kernel import i18n
from heygem_kernel.i18n import N_, _

from .history import THUMBNAIL
from .media import thumbnail
from .uploads import IMAGE_EXTS, human_size
from .workspace import Workspace

INLINE_MEDIA_MAX = 48 * 1024 * 1024    # bytes sent through the kernel socket for one preview
VIDEO_WIDTH = 420                      # px, result videos
PREVIEW_WIDTH = 320                    # px, input previews
PLOT_WIDTH = 380                       # px, diagnostic plots
PLOT_LABELS = {"mel": N_("speech (mel spectrogram)"), "landmarks": N_("face landmarks and mouth mask"),
               "mouth_track": N_("mouth opening vs speech, sync curve")}
WARN_COLOUR = "#b26a00"                # notes on the input (a silent speech, HDR converted, ...)



def shown(exc: BaseException) -> str:
    """An error as the page shows it: in the page's language when the engine gave a template."""
    from heygem_kernel.errors import HeyGemError
    return exc.localized() if isinstance(exc, HeyGemError) else " ".join(str(exc).split())

_MORE = re.compile(r" \(\+(\d+) more\)$")     # heygem_kernel.jobs: a batch's further failed items


@functools.lru_cache(maxsize=4)
def _templates(lang: str) -> tuple[tuple[re.Pattern, str], ...]:
    """(regex of an English message with placeholders, its translation) of ``lang``'s catalogue,
    the most specific (longest fixed text) first."""
    table = i18n.translations(lang)
    found = []
    for msgid, msgstr in (getattr(table, "_catalog", None) or {}).items():
        if not isinstance(msgid, str) or not msgstr or "{" not in msgid:
            continue
        try:
            parsed = list(string.Formatter().parse(msgid))
        except ValueError:
            continue
        regex, names, fixed = "", set(), 0
        for literal, field, _spec, _conv in parsed:
            regex += re.escape(literal)
            fixed += len(literal.strip())
            if field is None:
                continue
            if not field.isidentifier():
                break
            regex += f"(?P={field})" if field in names else f"(?P<{field}>.+?)"
            names.add(field)
        else:
            if fixed >= 8:          # "{path}: {error}" would match anything
                found.append((fixed, re.compile(regex, re.S), msgstr))
    found.sort(key=lambda t: -t[0])
    return tuple((rx, msgstr) for _n, rx, msgstr in found)


def localized_record(text: Any, *, depth: int = 2) -> str:
    """A line the engine recorded in English (``result.json``: ``sync_verdict``, ``input_notes``;
    a batch item's error) in the page's language: a :class:`~heygem_kernel.i18n.Text` is localized,
    a plain string is matched against the catalogue's messages; unknown lines stay as they are."""
    if hasattr(text, "localized"):
        return text.localized()
    text = str(text)
    lang = i18n.get_language()
    if lang == i18n.DEFAULT or not text:
        return text
    plain = i18n.gettext(text, lang)
    if plain != text:
        return plain
    for rx, msgstr in _templates(lang):
        match = rx.fullmatch(text)
        if match is None:
            continue
        values = {k: localized_record(v, depth=depth - 1) if depth > 0 else v for k, v in match.groupdict().items()}
        out = ""
        try:
            for literal, field, _spec, _conv in string.Formatter().parse(msgstr):
                out += literal + (values[field] if field is not None else "")
        except (KeyError, ValueError):
            continue
        return out
    more = _MORE.search(text)                 # a batch's error line: "<item>: <error> (+N more)"
    if more and depth > 0:
        return localized_record(text[:more.start()], depth=depth - 1) + _(" (+{n} more)", n=more.group(1))
    head, sep, rest = text.partition(": ")
    if sep and depth > 0 and head and "\n" not in head:
        inner = localized_record(rest, depth=depth - 1)
        if inner != rest:
            return f"{head}: {inner}"
    return text


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
    return _note(_("{name} ({size}) is too large to show inline; it is at {path}", name=path.name,
                   size=human_size(size), path=path))


def image_view(path: Path, *, width: int) -> W.Widget:
    if path.stat().st_size > INLINE_MEDIA_MAX:
        return _note(_("{name} is too large to show", name=path.name))
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
        return _note(_("{name} ({size}) is too large to preview", name=path.name, size=human_size(size)))
    return W.Audio(value=path.read_bytes(), format=_format(path), autoplay=False, loop=False, controls=True)


def figures_html(data: dict[str, Any]) -> str:
    """The sync figures and facts of one result as a small HTML table."""
    fps = float(data.get("fps") or 0) or None
    offset = data.get("sync_offset_frames")
    extra = data.get("extra") or {}
    rows = []
    if extra.get("sync_verdict"):       # the check's own words: "in sync", "low confidence: ... a guess"
        rows.append((_("sync"), localized_record(extra["sync_verdict"])))
    if offset is not None:
        ms = _(" ({ms} ms)", ms=f"{offset * 1000 / fps:+.0f}") if fps else ""
        rows.append((_("A/V offset"), _("{n} frames", n=f"{offset:+d}") + ms if isinstance(offset, int)
                     else f"{offset}{ms}"))
    if data.get("sync_confidence") is not None and extra.get("sync_chance") is not None:
        try:
            rows.append((_("sync confidence"), _("{confidence} (chance level {chance})",
                                                 confidence=f"{data['sync_confidence']:.2f}",
                                                 chance=f"{extra['sync_chance']:.2f}")))
        except (TypeError, ValueError):
            pass
    for key, label, fmt in (("sync_confidence", N_("sync confidence"), "{:.2f}"),
                            ("sync_correlation", N_("mouth/speech correlation"), "{:.2f}"),
                            ("frames_no_face", N_("frames without a face"), "{}"),
                            ("frames_mouth_covered", N_("frames with the mouth covered (untouched)"), "{}"),
                            ("duration", N_("duration"), lambda s: i18n.seconds(s, ".2f")),   # 秒 in Chinese
                            ("fps", N_("fps"), "{:.3f}"),   # as heygem run says it: 29.970, not "30"
                            ("backend", N_("backend"), "{}")):
        if data.get(key) is not None and not any(r[0] == _(label) for r in rows):
            try:
                rows.append((_(label), fmt(data[key]) if callable(fmt) else fmt.format(data[key])))
            except (TypeError, ValueError):
                rows.append((_(label), str(data[key])))
    if data.get("width") and data.get("height"):
        rows.append((_("size"), _("{width}×{height}, {n} frames", width=data["width"], height=data["height"],
                                  n=data.get("n_frames", "?"))))
    timings = data.get("timings") or {}
    if timings:
        rows.append((_("time"), ", ".join(f"{k} {i18n.seconds(v)}" for k, v in timings.items()
                                          if isinstance(v, (int, float)))))
    cells = "".join(f"<tr><td style='padding-right:1em'>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                    for k, v in rows)
    notes = "".join(f"<div class='heygem-note' style='color:{WARN_COLOUR}'>⚠ {html.escape(localized_record(n))}</div>"
                    for n in input_notes(data))
    return f"{notes}<table class='heygem-figures'>{cells}</table>"


def input_notes(data: dict[str, Any]) -> list[Any]:
    """What the run reported about its inputs (``extra.input_notes``: a silent speech, HDR tone
    mapped, ...), as recorded."""
    notes = (data.get("extra") or {}).get("input_notes") or []
    return [n for n in notes if n] if isinstance(notes, (list, tuple)) else [notes]


def summary_line(data: dict[str, Any]) -> str:
    """One line for a history row: offset, confidence, duration, size, backend."""
    parts = []
    offset = data.get("sync_offset_frames")
    if offset is not None:
        parts.append(_("offset {n} frames", n=f"{offset:+d}" if isinstance(offset, int) else offset))
        if (data.get("extra") or {}).get("sync_reliable") is False:
            parts[-1] += " " + _("(a guess)")
    if isinstance(data.get("sync_confidence"), (int, float)):
        parts.append(_("confidence {confidence}", confidence=f"{data['sync_confidence']:.2f}"))
    if isinstance(data.get("duration"), (int, float)):
        parts.append(i18n.seconds(data["duration"]))
    if data.get("width") and data.get("height"):
        parts.append(f"{data['width']}×{data['height']}")
    if data.get("backend"):
        parts.append(str(data["backend"]))
    if input_notes(data):
        parts.append("⚠ " + _("{n} note(s) on the input", n=len(input_notes(data))))
    return html.escape(" · ".join(parts))


def result_card(data: dict[str, Any], ws: Workspace, *, title: str) -> W.VBox:
    """Output video, thumbnail, sync figures and diagnostic plots of one run.

    ``data`` is ``RunResult.to_dict()`` (or a run's ``result.json``).
    """
    run_dir = Path(data.get("run_dir") or ".")
    output = Path(data["output"]) if data.get("output") else None
    folder = f" <small>{html.escape(run_dir.name)}</small>" if run_dir.name != title else ""
    head = W.HTML(f"<b>{html.escape(title)}</b>{folder}")
    parts: list[W.Widget] = [head]
    if output is not None and output.is_file():
        thumb = thumbnail(output, run_dir / THUMBNAIL)
        row = [image_view(thumb, width=160)] if thumb else []
        parts.append(W.HBox(row + [video_player(output, ws)], layout=W.Layout(align_items="flex-start",
                                                                               grid_gap="8px")))
    else:
        parts.append(_note(_("output {path} is missing", path=output)))
    parts.append(W.HTML(figures_html(data)))
    plots = []
    for name, p in (data.get("plots") or {}).items():
        p = Path(p)
        if p.is_file():
            label = _(PLOT_LABELS[name]) if name in PLOT_LABELS else name
            plots.append(W.VBox([W.HTML(f"<small>{html.escape(label)}</small>"), image_view(p, width=PLOT_WIDTH)]))
    if plots:
        parts.append(W.HBox(plots, layout=W.Layout(flex_flow="row wrap")))
    card = W.VBox(parts, layout=W.Layout(border="1px solid #ddd", padding="6px", margin="4px 0"))
    card.add_class("heygem-result-card")
    return card
