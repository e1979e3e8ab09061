"""Batch reports: tables and plots shown by ``notebooks/batch.ipynb``, its HTML export, the ZIP.

    executed notebook -> report.html (nbconvert, no code, PNGs inlined as base64)
    manifest.json + outputs/*.mp4 (the good ones) [+ report.html] -> <run_dir>/outputs.zip

The display helpers return IPython display objects (or call ``display``), so the notebook holds
only calls; the numbers come from the manifest written by :mod:`heygem_kernel.batch`.
"""
from __future__ import annotations

import contextlib
import html
import json
import logging
import os
import re
import sys
import zipfile
from pathlib import Path
from typing import Any, Iterable

from . import records
from .articulation import language_label
from .errors import localize_record, localized_error
from .i18n import N_, ConsoleFormatter, _, get_language, gettext, seconds, shown

REPORT_HTML = "report.html"
EXECUTED_NOTEBOOK = "batch.ipynb"
ZIP_NAME = "outputs.zip"
REMOVE_OUTPUT_TAG = "remove-output"   # cells whose (log) output stays out of the report
PLOT_TITLES = {"mel": N_("Mel spectrogram of the speech"), "landmarks": N_("Landmarks on sample frames"),
               "mouth_track": N_("Mouth track against the audio")}
STATUSES = (N_("ok"), N_("failed"), N_("pending"), N_("running"), N_("cancelled"))   # shown translated
# The report's sections (heading, intro), shown in the run's language by :func:`section`.
SECTIONS = {
    "title": (N_("HeyGem batch"), N_("One speech recording drives every video of the batch.")),
    "preflight": (N_("Pre-flight"), N_("Every video was scanned before any heavy work: readable, frame rate, "
                                       "faces in sampled frames, length against the speech, and an estimated "
                                       "time. Videos that cannot work fail here.")),
    "summary": (N_("Summary"), ""),
    "items": (N_("Items"), N_("Per video: the mel spectrogram of the speech, the landmarks on sample frames "
                              "of the output, and the output's mouth opening against the speech.")),
}
_TABLE_STYLE = ("<style>.hg-table{border-collapse:collapse;font-size:13px}"
                ".hg-table th,.hg-table td{border:1px solid #ccc;padding:3px 8px;text-align:left!important}"
                ".hg-table th{background:#f3f3f3}.hg-bad{color:#b00020;font-weight:600}</style>")


# ------------------------------------------------------------------------------ notebook side
def console_logging(level: int = logging.INFO) -> None:
    """Send batch progress lines (``heygem.batch``) to stderr: the console under papermill."""
    logger = logging.getLogger("heygem.batch")
    if not any(getattr(h, "_heygem_console", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(ConsoleFormatter("%(asctime)s %(message)s", "%H:%M:%S"))   # i18n.Text localized
        handler._heygem_console = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level)


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]], *, bad_rows: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="hg-bad"' if i in bad_rows else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
    return f'{_TABLE_STYLE}<table class="hg-table"><tr>{head}</tr>{"".join(body)}</table>'


def _items(obj: Any) -> list[dict[str, Any]]:
    """Manifest entries from a BatchResult, a BatchPlan, a manifest dict or a list of entries."""
    if isinstance(obj, dict):
        return obj["items"]
    if isinstance(obj, list):
        return obj
    return list(obj.items)


def section(name: str):
    """A report section's heading and intro (:data:`SECTIONS`) in the current language, as HTML."""
    from IPython.display import HTML
    heading, intro = SECTIONS[name]
    tag = "h1" if name == "title" else "h2"
    return HTML(f"<{tag}>{html.escape(_(heading))}</{tag}>" + (f"<p>{html.escape(_(intro))}</p>" if intro else ""))


def preflight_table(items: Any):
    """The pre-flight table (one row per video, :data:`heygem_kernel.scan.TABLE_COLUMNS`) as HTML."""
    from IPython.display import HTML

    from .scan import TABLE_COLUMNS, table_rows
    entries = _items(items)
    reports = []
    for e in entries:
        if e.get("scan"):
            reports.append(e["scan"])
        else:  # finished earlier without a scan record, or unreadable before scanning
            reports.append({"path": e["video"], "ok": e["status"] != "failed", "readable": e["status"] != "failed",
                            "problems": [localized_error(e)] if e.get("error") else [], "width": e.get("width", 0),
                            "height": e.get("height", 0), "fps": e.get("fps") or 0.0, "nominal_fps": e.get("fps") or 0.0,
                            "duration": e.get("duration") or 0.0})
    rows = table_rows(reports)
    bad = {i for i, r in enumerate(reports) if not r.get("ok")}
    return HTML(_speech_notes(_manifest_of(items)) + _table([shown(c) for c in TABLE_COLUMNS], rows, bad_rows=bad))


def speech_notes(manifest: dict[str, Any]) -> list[str]:
    """What the batch's speech itself is reported for (it holds no sound), then what was left out of the
    videos given (a folder's files that are not videos, sub-folders), one line each, in the user's language."""
    return [localize_record(note, note.get("template"))
            for note in (manifest.get("speech_notes") or []) + (manifest.get("batch_notes") or [])
            if isinstance(note, dict)]


def _speech_notes(manifest: dict[str, Any]) -> str:
    return "".join(f'<p class="hg-note"><b>{html.escape(_("note: {note}", note=line))}</b></p>'
                   for line in speech_notes(manifest))


SUMMARY_COLUMNS = (N_("video"), N_("status"), N_("output"), N_("time"), N_("frames"), N_("no face"),
                   N_("mouth covered"), N_("sync offset"), N_("confidence"), N_("correlation"), N_("loop"), N_("error"))
LOOP_SHOWN = 8    # source ranges and joins listed per item (the manifest has them all)
LOOP_MODES = {"seamless": N_("seamless"), "pingpong": N_("ping-pong"), "trim": N_("trim"),   # extra.loop's mode
              "still": N_("still")}


def loop_text(loop: dict[str, Any] | None, *, short: bool = False) -> str:
    """A run's loop plan (``result.json`` extra.loop) in words: ``seamless, 7 joins`` (short) or
    ``seamless: source frames 0-72, 42-118; joins at 2.8 s, 6.0 s`` plus its fallback note."""
    if not loop:
        return ""
    joins = loop.get("joins") or []
    n_joins = loop.get("joins_total", len(joins))   # a long plan's record lists only its first joins
    mode = _(LOOP_MODES.get(loop["mode"], loop["mode"]))
    if short:
        return _("{mode}, {joins}", mode=mode, joins=_("{n} joins", n=n_joins)) if loop["mode"] == "seamless" else mode
    segs = loop.get("segments") or []
    n_segs = loop.get("segments_total", len(segs))
    ranges = ", ".join(f"{s['src'][0]}-{s['src'][1]}" for s in segs[:LOOP_SHOWN]) + (" ..." if n_segs > LOOP_SHOWN else "")
    if joins:
        times = seconds(", ".join(f"{j['at_s']:.1f}" for j in joins[:LOOP_SHOWN])) + (" ..." if n_joins > LOOP_SHOWN else "")
        text = _("{mode}: source frames {ranges}; joins at {times}", mode=mode, ranges=ranges, times=times)
    else:
        text = _("{mode}: source frames {ranges}", mode=mode, ranges=ranges)
    note = localize_record(loop.get("note_i18n"), None) or (gettext(loop["note"]) if loop.get("note") else "")
    return _("{text} ({note})", text=text, note=note) if note else text   # full-width brackets in Chinese


def covered_text(entry: dict) -> str:
    """'12 (1.20-1.68 s)': frames passed through because the mouth was covered, and where."""
    n = entry.get("frames_mouth_covered")
    if n is None:
        return ""
    spans = ", ".join(f"{a:.2f}-{b:.2f}" for a, b in (s["seconds"] for s in entry.get("mouth_covered") or []))
    return f"{n} ({seconds(spans)})" if n and spans else str(n)


def summary_rows(items: Any) -> list[list[str]]:
    rows = []
    for e in _items(items):
        ok = e["status"] == "ok"
        t = e.get("wall_s")
        rows.append([
            Path(e["video"]).name,
            _(e["status"]) + (_(" (earlier run)") if e.get("reused") else ""),
            e.get("output", "") if ok else "",
            "" if t is None else seconds(t),
            "" if e.get("n_frames") is None else str(e["n_frames"]),
            "" if e.get("frames_no_face") is None else str(e["frames_no_face"]),
            covered_text(e),
            _("not measurable") if e.get("sync_reliable") is False else   # a guess, or a silent speech
            "" if e.get("sync_offset_frames") is None else
            _("{offset} frames, as in the source video", offset=f"{e['sync_offset_frames']:+d}")
            if e.get("sync_follows_source") else   # heygem run's words: a presenter followed, not a fault
            _("{offset} frames", offset=f"{e['sync_offset_frames']:+d}"),
            "" if e.get("sync_confidence") is None else
            _("{confidence} (chance {chance})", confidence=f"{e['sync_confidence']:.2f}",
              chance=f"{e['sync_chance']:.2f}") if e.get("sync_chance") is not None else
            f"{e['sync_confidence']:.2f}",
            "" if e.get("sync_correlation") is None else f"{e['sync_correlation']:.2f}",
            loop_text(e.get("loop"), short=True),
            localized_error(e) or "",
        ])
    return rows


def summary_table(result: Any):
    """The batch summary (counts, audio, backend, then one row per item) as HTML."""
    from IPython.display import HTML
    entries = _items(result)
    n_ok = sum(1 for e in entries if e["status"] == "ok")
    n_reused = sum(1 for e in entries if e.get("reused"))
    run_dir = getattr(result, "run_dir", None)
    manifest = _manifest_of(result)
    esc = html.escape
    lines = [f"<p><b>{esc(_('{ok} of {total} videos ok', ok=n_ok, total=len(entries)))}</b>"
             + (esc(_(" ({n} from an earlier run)", n=n_reused)) if n_reused else "")
             + (esc(_(", {n} failed", n=len(entries) - n_ok)) if n_ok < len(entries) else "")
             + (" &middot; " + esc(_("this run took {seconds} s", seconds=f"{manifest['wall_s']:.1f}"))
                if manifest.get("wall_s") is not None else "")
             + "</p>"]
    if manifest.get("audio"):
        lines.append("<p>" + esc(_("speech: {path} ({seconds} s)", path=manifest["audio"],
                                   seconds=f"{manifest.get('audio_duration', 0):.1f}"))
                     + " &middot; " + esc(_("backend: {name}", name=manifest.get("backend")))
                     + " &middot; " + esc(_("speech language: {language}", language=_language(manifest)))
                     + (" &middot; " + esc(_("folder: {path}", path=run_dir)) if run_dir else "") + "</p>")
    bad = {i for i, e in enumerate(entries) if e["status"] != "ok"}
    said = speech_notes(manifest)   # the batch's own notes, shown above the table, not again per item
    return HTML("".join(lines) + _speech_notes(manifest)
                + _table([_(c) for c in SUMMARY_COLUMNS], summary_rows(entries), bad_rows=bad)
                + "".join(f'<p class="hg-note">{esc(_("{name}: {note}", name=Path(e["video"]).name, note=note))}</p>'
                          for e in entries if e["status"] == "ok"
                          for note in item_notes(e, said=said)))


def _language(manifest: dict[str, Any]) -> str:
    code = (manifest.get("options") or {}).get("language") or "auto"
    try:
        return language_label(code)
    except Exception:  # noqa: BLE001 - a code this version does not know (a newer manifest): shown as it is
        return str(code)


def speaker_timing_text(entry: dict) -> str:
    """The item's per-speaker timing in words ("" when the run did not read it): what its source read
    and what the render did with it (``result.json`` extra.speaker_timing)."""
    spk = entry.get("speaker_timing") or {}
    if spk.get("applied") and spk.get("offset_frames") is not None:
        ms = float(spk.get("applied_ms") or 0.0)    # positive: shapes drawn earlier (a presenter whose lips lead)
        line = (N_("speaker timing: the source video reads {offset} frames; mouth shapes drawn {ms} ms earlier")
                if ms >= 0 else
                N_("speaker timing: the source video reads {offset} frames; mouth shapes drawn {ms} ms later"))
        return _(line, offset=f"{spk['offset_frames']:+.1f}", ms=f"{abs(ms):.0f}")
    if spk.get("note"):
        return _("speaker timing not applied: {reason}", reason=localize_record(spk.get("note_i18n"), spk["note"]))
    return ""


def input_notes(entry: dict) -> list[str]:
    """The item's input notes (reverberant speech, HDR, alpha...) in the user's language where their
    records were kept (``input_notes_i18n``), else as stored (English)."""
    notes = entry.get("input_notes") or []
    kept = entry.get("input_notes_i18n") or []
    return [localize_record(kept[i] if i < len(kept) and isinstance(kept[i], dict) else None, str(note))
            for i, note in enumerate(notes)]


def item_notes(entry: dict, *, said: Iterable[str] = ()) -> list[str]:
    """What the report says under an item beside its figures: its input notes (reverberant speech, HDR,
    alpha...; not those in ``said``, the batch's own notes: a silent speech is said once, not per item)
    and, when its output reads off as far as its source does, why."""
    said = set(said)
    notes = [note for note in input_notes(entry) if note not in said]
    if entry.get("sync_follows_source"):
        notes.append(_("the output reads off only as far as its source video does: {timing}",
                       timing=speaker_timing_text(entry)))
    return notes


def _manifest_of(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    run_dir = getattr(obj, "run_dir", None)
    if run_dir is not None and (Path(run_dir) / "manifest.json").exists():
        return json.loads((Path(run_dir) / "manifest.json").read_text(encoding="utf-8"))
    return getattr(obj, "manifest", {}) or {}


def show_items(result: Any, *, run_dir: str | os.PathLike | None = None) -> None:
    """Per item: a heading, its figures, and its diagnostic PNGs embedded (mel spectrogram,
    landmarks on sample frames, mouth track against the audio); failed items show their error."""
    from IPython.display import Image, Markdown, display
    run_dir = Path(run_dir or getattr(result, "run_dir", "."))
    said = set(speech_notes(_manifest_of(result)))   # the batch's notes: said once, above
    for e in _items(result):
        name = Path(e["video"]).name
        if e["status"] != "ok":
            display(Markdown(_("### {name}: failed", name=name)
                             + f"\n\n`{localized_error(e) or _('unknown error')}`"))
            continue
        facts = [_("output {path}", path=f"`{e['output']}`")]
        if e.get("width"):
            facts.append(f"{e['width']}x{e['height']}, {e['fps']:.2f} fps, {seconds(e['duration'], '.2f')}")
        if e.get("sync_reliable") is False and e.get("sync_confidence") is None:   # a silent speech: not checked
            facts.append(_("sync not checked: the speech holds no sound"))
        elif e.get("sync_reliable") is False:
            facts.append(_("sync not measurable (confidence {confidence} below the chance level)",
                           confidence=f"{e['sync_confidence']:.2f}"))
        elif e.get("sync_offset_frames") is not None:
            facts.append(_("sync offset {offset} frames, confidence {confidence}",
                           offset=f"{e['sync_offset_frames']:+d}", confidence=f"{e['sync_confidence']:.2f}"))
        timing = speaker_timing_text(e)
        if timing:
            facts.append(timing)
        if e.get("analysis_cached"):
            facts.append(_("face track from the cache"))
        if e.get("loop") and e["loop"].get("mode") != "trim":
            facts.append(loop_text(e["loop"]))
        notes = [n for n in input_notes(e) if n not in said]   # the speaker timing is among the facts
        display(Markdown(f"### {name}\n\n" + " · ".join(facts)
                         + "".join("\n\n" + _("note: {note}", note=note) for note in notes)))
        for key, rel in (e.get("plots") or {}).items():
            path = run_dir / rel
            if path.is_file():
                title = _(PLOT_TITLES[key]) if key in PLOT_TITLES else key
                display(Markdown(f"**{title}**"))
                display(Image(filename=str(path), alt=f"{title}: {name}"))


# ---------------------------------------------------------------------------------- exports
# The lab template loads require.js and MathJax from cdnjs: a report has no widgets and no formulas,
# and opening it (a hospital's footage, an air-gapped machine) must not call out to the internet.
EXTERNAL_SCRIPT = re.compile(r'<script\b[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>', re.IGNORECASE)


def write_html(notebook: str | os.PathLike, html_path: str | os.PathLike | None = None) -> Path:
    """Export an executed notebook to a self-contained HTML report without code cells, that loads
    nothing from the internet.

    Output PNGs are inlined (base64); outputs of cells tagged :data:`REMOVE_OUTPUT_TAG` (logs)
    and papermill's parameter cells are left out.
    """
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    notebook = Path(notebook)
    html_path = Path(html_path) if html_path else notebook.with_name(REPORT_HTML)
    config = Config()
    config.TagRemovePreprocessor.remove_all_outputs_tags = {REMOVE_OUTPUT_TAG}
    config.TagRemovePreprocessor.remove_cell_tags = {"parameters", "injected-parameters", "remove-cell"}
    config.TagRemovePreprocessor.enabled = True
    quiet = logging.getLogger("heygem.report.nbconvert")
    quiet.setLevel(logging.ERROR)  # the lab template drops our alt texts, then warns that they are missing
    nb = nbformat.read(notebook, as_version=4)
    # the browser tab and <html lang>: "Notebook" and "en" before (the lab template's defaults), also in
    # a Chinese report (a browser may then pick a Japanese font for its characters)
    nb.metadata["title"] = _("HeyGem batch report: {folder}", folder=html_path.absolute().parent.name)
    with _base_jupyter_path():
        exporter = HTMLExporter(config=config, template_name="lab", exclude_input=True, exclude_input_prompt=True,
                                exclude_output_prompt=True, log=quiet,
                                language_code=get_language())   # "en" | "zh": ISO 639-1, as nbconvert wants
        exporter.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
        body, _resources = exporter.from_notebook_node(nb)
    body = EXTERNAL_SCRIPT.sub("", body)
    with records.atomic_output(html_path) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return html_path


def base_jupyter_dir() -> Path | None:
    """The base interpreter's share/jupyter when this is a venv made with --system-site-packages:
    it sees nbconvert and voila but not their templates (jupyter_path() searches the venv only)."""
    base = Path(sys.base_prefix) / "share" / "jupyter"
    return base if sys.prefix != sys.base_prefix and (base / "nbconvert").is_dir() else None


def jupyter_path_with_base() -> str | None:
    """``$JUPYTER_PATH`` with :func:`base_jupyter_dir` added, or None when nothing needs adding."""
    base, old = base_jupyter_dir(), os.environ.get("JUPYTER_PATH")
    if base is None or str(base) in (old or "").split(os.pathsep):
        return None
    return os.pathsep.join(p for p in (old, str(base)) if p)


@contextlib.contextmanager
def _base_jupyter_path():
    """nbconvert's templates found from a venv too (see :func:`base_jupyter_dir`)."""
    new, old = jupyter_path_with_base(), os.environ.get("JUPYTER_PATH")
    if new is None:
        yield
        return
    os.environ["JUPYTER_PATH"] = new
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old


def count_embedded_pngs(html_path: str | os.PathLike) -> int:
    """Number of base64-inlined PNG images in an HTML file."""
    return len(re.findall(r"data:image/png;base64,", Path(html_path).read_text(encoding="utf-8")))


def write_zip(run_dir: str | os.PathLike, *, zip_path: str | os.PathLike | None = None,
              include_report: bool = True) -> Path:
    """ZIP the good outputs (status "ok" in the manifest) with ``manifest.json`` (and the report).

    Videos are stored, not deflated (they are compressed already). Written to a temporary name
    and renamed, so a reader never sees half an archive.
    """
    run_dir = Path(run_dir)
    manifest_path = run_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    zip_path = Path(zip_path) if zip_path else run_dir / ZIP_NAME
    with records.atomic_output(zip_path) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        zf.write(manifest_path, "manifest.json", compress_type=zipfile.ZIP_DEFLATED)
        report = run_dir / REPORT_HTML
        if include_report and report.is_file():
            zf.write(report, REPORT_HTML, compress_type=zipfile.ZIP_DEFLATED)
        done: set[str] = set()  # two inputs with the same content share one output
        for e in manifest["items"]:
            if e["status"] != "ok" or not e.get("output"):
                continue
            out = run_dir / e["output"]
            if out.is_file() and e["output"] not in done:
                zf.write(out, e["output"], compress_type=zipfile.ZIP_STORED)
                done.add(e["output"])
    return zip_path
