"""Earlier runs under ``runs/``: listing, paging, deleting and zipping them.

Each run folder holds ``params.json`` (written when the run starts) and ``result.json``
(``RunResult.to_dict()``, written when it finishes), plus the output video and plots.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from heygem_kernel.errors import InputError
from heygem_kernel.records import recorded_path

RESULT_JSON = "result.json"
PARAMS_JSON = "params.json"
RUN_LOG = "run.log"
FAILED_MARK = " run failed: "          # heygem_kernel.pipeline logs it (ERROR) when a run ends with an error
LOG_TAIL_BYTES = 4096                   # the failure is the log's last line; runs' logs are small anyway
THUMBNAIL = "thumb.png"                 # written by the panel (heygem_widgets.media.thumbnail)
_STAMP = re.compile(r"^(\d{8}-\d{6})")  # run folders are named <YYYYmmdd-HHMMSS>-<video stem>


@dataclass(frozen=True)
class RunEntry:
    """One run folder as the history shows it."""

    run_dir: Path
    created: datetime
    result: dict[str, Any] = field(default_factory=dict)   # {} while running or after a failure
    params: dict[str, Any] = field(default_factory=dict)
    error: str | None = None            # why a run that wrote no result failed (its run.log), as logged

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def finished(self) -> bool:
        return bool(self.result)

    @property
    def output(self) -> Path | None:
        """The output video if it exists (``result["output"]``, relative paths to the run)."""
        out = self.result.get("output")
        if not out:
            return None
        path = recorded_path(out, run_dir=self.run_dir, recorded_run_dir=self.result.get("run_dir"))
        return path if path.is_file() else None

    @property
    def plots(self) -> dict[str, Path]:
        plots = {}
        for name, p in (self.result.get("plots") or {}).items():
            path = recorded_path(p, run_dir=self.run_dir, recorded_run_dir=self.result.get("run_dir"))
            if path.is_file():
                plots[name] = path
        return plots


@dataclass(frozen=True)
class Page:
    items: list[RunEntry]
    index: int          # 0-based page number, clamped to [0, n_pages - 1]
    n_pages: int        # >= 1, also when there are no runs
    total: int


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _created(run_dir: Path) -> datetime:
    match = _STAMP.match(run_dir.name)
    if match:
        try:
            return datetime.strptime(match.group(1), "%Y%m%d-%H%M%S")
        except ValueError:
            pass
    return datetime.fromtimestamp(run_dir.stat().st_mtime)


def run_failure(run_dir: Path) -> str | None:
    """The error a run ended with, from the last lines of its ``run.log``; None if it did not fail."""
    try:
        with open(run_dir / RUN_LOG, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - LOG_TAIL_BYTES))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if FAILED_MARK in line and " ERROR " in line:
            return line.split(FAILED_MARK, 1)[1].strip()
    return None


def is_run_dir(path: Path) -> bool:
    """A run's folder: it holds a result or its parameters, or a run.log that says the run failed
    (a run that fails on its inputs stops before it writes any JSON)."""
    return path.is_dir() and ((path / RESULT_JSON).is_file() or (path / PARAMS_JSON).is_file()
                              or run_failure(path) is not None)


def list_runs(runs_root: str | os.PathLike) -> list[RunEntry]:
    """Run folders directly under ``runs_root``, newest first (failed runs too, with their error)."""
    root = Path(runs_root)
    if not root.is_dir():
        return []
    entries = []
    for d in root.iterdir():
        if is_run_dir(d):
            result = _read_json(d / RESULT_JSON)
            entries.append(RunEntry(run_dir=d, created=_created(d), result=result, params=_read_json(d / PARAMS_JSON),
                                    error=None if result else run_failure(d)))
    return sorted(entries, key=lambda e: (e.created, e.name), reverse=True)


def page(entries: list[RunEntry], *, index: int, per_page: int) -> Page:
    """The ``index``-th page of ``per_page`` entries (index is clamped to the valid range)."""
    if per_page < 1:
        raise InputError("per_page must be >= 1, got {per_page}", per_page=per_page)
    n_pages = max(1, math.ceil(len(entries) / per_page))
    index = min(max(index, 0), n_pages - 1)
    return Page(items=entries[index * per_page:(index + 1) * per_page], index=index,
                n_pages=n_pages, total=len(entries))


def delete_run(run_dir: str | os.PathLike, *, runs_root: str | os.PathLike) -> None:
    """Delete one run folder; refuses anything that is not a run folder directly in ``runs_root``."""
    run_dir, root = Path(run_dir), Path(runs_root).resolve()
    if run_dir.is_symlink() or run_dir.resolve().parent != root or not is_run_dir(run_dir):
        raise InputError("{run_dir}: not a run folder of {root}; nothing deleted", run_dir=run_dir, root=root)
    shutil.rmtree(run_dir)


def zip_outputs(entries: list[RunEntry], *, dest_dir: str | os.PathLike) -> Path:
    """One ZIP of every finished run: ``<run>/output.mp4``, its JSON and plots.

    Videos are stored, not deflated (H.264 does not compress further). Older ZIPs in
    ``dest_dir`` are removed so the folder does not grow with each click.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    for old in dest_dir.glob("heygem-runs-*.zip"):
        old.unlink(missing_ok=True)
    path = dest_dir / f"heygem-runs-{time.strftime('%Y%m%d-%H%M%S')}.zip"
    tmp = path.with_suffix(".part")
    with zipfile.ZipFile(tmp, "w") as zf:
        for entry in entries:
            if entry.output is None:
                continue
            files = [entry.output, entry.run_dir / RESULT_JSON, entry.run_dir / PARAMS_JSON,
                     *entry.plots.values()]
            for f in dict.fromkeys(files):
                if f.is_file():
                    kind = zipfile.ZIP_STORED if f.suffix in (".mp4", ".png") else zipfile.ZIP_DEFLATED
                    zf.write(f, f"{entry.name}/{f.name}", compress_type=kind)
    tmp.replace(path)
    return path
