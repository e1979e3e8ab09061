"""Headless batches: one speech recording drives many videos.

    prepare  (hash inputs, pre-flight scan, decide what to skip / fail / run; writes manifest.json)
      -> execute (audio features once, items fanned out over an executor, manifest after each item)

``run_batch`` does both. Every item's record lives in ``<run_dir>/manifest.json``::

    {"audio": ..., "options": {...}, "items": [{"video", "status": "ok" | "failed" | "pending",
      "output" (relative to run_dir), "error" (one line), "timings", "sync_offset_frames", ...}]}

Resume: an item is skipped when the manifest holds an "ok" entry with the same key (content
hashes of video, audio and model files + the options that change the output: those the backend
reads) whose output file is still there (an item made with the sync check also serves a batch
without it); failed and unfinished items run again. The manifest is rewritten atomically after every
item and the engine renames a finished video into place, so ``kill -9`` loses at most the
items in flight and never leaves a half-written video under its final name.

Cancel: ``cancel`` (anything with ``is_set()``; by default the file named by
``$HEYGEM_CANCEL_FILE``, see :class:`CancelFlag`) is checked before every item and inside the
engine; items it stops stay "pending" (error "cancelled"), so the same batch again runs them.
Progress: each running item writes ``items/<name>/progress.json`` ({"stage", "n", "total",
"fraction"}, at most every :data:`PROGRESS_EVERY_S`), so that a page can show it live.

Executors (registry :data:`EXECUTORS`): ``"local"`` runs items one by one in this process;
``"dask"`` fans them out over a Dask distributed cluster (worker processes, one item at a time
each; one worker per GPU with a ``GPU=1`` resource), the model being created once per worker.
"""
from __future__ import annotations

import ast
import contextlib
import dataclasses
import datetime as _dt
import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from . import records
from .errors import BatchItemsFailed, HeyGemError, InputError, os_reason, record_of
from .i18n import N_, Text
from .options import RunOptions

LOG = logging.getLogger("heygem.batch")

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
LOCK_FILE = ".batch.lock"
# The run folder whose lock this process's parent holds for it: ``heygem batch`` takes the lock
# and then runs the batch notebook in a kernel (another process), whose prepare() must not
# wait for its own parent.
ENV_LOCK_HELD = "HEYGEM_BATCH_LOCK_HELD"
OUTPUTS_DIR = "outputs"          # <run_dir>/outputs/<name>.mp4: the finished videos
ITEMS_DIR = "items"              # <run_dir>/items/<name>/: each item's engine run record
# An item that failed pre-flight never ran: its entry's "run_dir" is null, and this says why.
NO_RUN_DIR = "failed pre-flight: the item did not run, so no run folder was made"
VIDEO_EXTENSIONS = {".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".flv", ".mpg", ".mpeg", ".ts",
                    ".mts", ".m2ts", ".3gp", ".wmv", ".mxf", ".vob",      # camcorders, phones, Windows, broadcast
                    ".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
WORKER_START_TIMEOUT_S = 60     # s; a local Dask worker that has not joined by then is not waited for
SKIPPED_NAMES_SHOWN = 5          # a folder's skipped files named in the warning, then "..."
# Options that change how a run goes, not what it produces: not part of an item's key.
NON_OUTPUT_OPTIONS = frozenset({"use_cache"})
PROGRESS_EVERY_S = 0.5           # progress.json rewrites at most this often (plus the last one)
ENV_CANCEL_FILE = "HEYGEM_CANCEL_FILE"  # set by heygem_kernel.jobs: the job's cancel flag file
# Set by ``heygem batch``: where the notebook's kernel (another process) leaves the record of a
# HeyGemError that ends the batch; papermill hands back only its English line.
ENV_ERROR_RECORD = "HEYGEM_ERROR_RECORD"
KEY_VERSION = 2                  # bump when outputs of the same inputs + options would change

Runner = Callable[..., Any]      # heygem_kernel.run's signature


# ----------------------------------------------------------------------------------- inputs
def expand_videos(videos: str | os.PathLike | Sequence[str | os.PathLike], *,
                  notes: list | None = None) -> list[Path]:
    """Videos of a batch as absolute paths, in order.

    ``videos`` is a list of files and/or folders (each folder contributes its video and photo
    files, sorted by name), one path, or the text of a list as papermill's ``-p videos '[a, b]'``
    passes it (JSON or unquoted). A path given twice is kept once; a folder's files that are not
    videos or photos by their extension are named in a warning (and, with ``notes``, appended to it
    as ``{"template", "values"}`` records: the manifest and the report carry them).
    """
    if isinstance(videos, (str, os.PathLike)):
        text = str(videos).strip()
        if text.startswith("[") and text.endswith("]"):
            videos = _parse_list(text)
        else:
            videos = [text] if text else []
    found: list[Path] = []
    for entry in videos:
        from .media import refuse_web_address
        refuse_web_address(entry)
        path = Path(str(entry)).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            found += [p for p in files if p.suffix.lower() in VIDEO_EXTENSIONS]
            skipped = [p.name for p in files if p.suffix.lower() not in VIDEO_EXTENSIONS]
            if skipped:   # a presenter recorded as .MOD or .heic must not vanish from the batch without a word
                _input_note(notes, Text("{folder}: {n} file(s) skipped, not a video or photo by their extension: "
                                        "{names}", folder=str(path), n=len(skipped), names=_shown_names(skipped)))
            folders = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
            if folders:   # videos/2024/*.mp4: not searched, and not in silence either
                _input_note(notes, Text("{folder}: {n} sub-folder(s) not searched (give them as well): {names}",
                                        folder=str(path), n=len(folders), names=_shown_names(folders)))
        else:
            found.append(path)
    unique: dict[Path, Path] = {}
    repeated = []
    for p in found:      # `videos/*.mp4 videos/`: the same presenter twice would be rendered twice
        key = Path(os.path.abspath(p))   # "./a.mp4" and "a.mp4" are one; two names (links) stay two
        if key in unique:
            repeated.append(p.name)
        else:
            unique[key] = p.absolute()
    if repeated:
        from .i18n import _
        LOG.warning("%s", _("given more than once, run once: {names}", names=", ".join(dict.fromkeys(repeated))))
    return list(unique.values())


def _shown_names(names: list[str]) -> str:
    return ", ".join(names[:SKIPPED_NAMES_SHOWN]) + (", ..." if len(names) > SKIPPED_NAMES_SHOWN else "")


def _input_note(notes: list | None, text: Any) -> None:
    """Warn (in the user's language) and keep the note's record for the manifest (``notes``, if given)."""
    LOG.warning("%s", text.localized())
    if notes is not None:
        notes.append(record_of(text))


def _parse_list(text: str) -> list[str]:
    for parse in (json.loads, ast.literal_eval):
        with contextlib.suppress(ValueError, SyntaxError):
            value = parse(text)
            if isinstance(value, (list, tuple)):
                return [str(v) for v in value]
    return [part.strip().strip("'\"") for part in text[1:-1].split(",") if part.strip()]


def make_options(options: RunOptions | dict | str | None = None, *, backend: str | None = None) -> RunOptions:
    """A :class:`RunOptions` from an instance, a dict (papermill parameter) or its JSON text;
    ``backend`` overrides the one inside. Unknown keys are an :class:`InputError`."""
    if isinstance(options, str):
        options = json.loads(options) if options.strip() else {}
    if options is None:
        options = RunOptions()
    if isinstance(options, dict):
        fields = {f.name: f for f in dataclasses.fields(RunOptions)}
        unknown = sorted(set(options) - set(fields))
        if unknown:
            raise InputError("unknown run option(s) {unknown}; expected some of: {fields}",
                             unknown=", ".join(unknown), fields=", ".join(fields))
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
        options = RunOptions(**values)
    if backend:
        options = options.replace(backend=backend)
    return options


def item_key(*, video_hash: str, audio_hash: str, options: RunOptions, models: Sequence[str] = ()) -> str:
    """Identity of an item's output: what it was made from, not what the files are called
    (``models``: the backend's model files by content, see :func:`_key_options`)."""
    from . import cache
    opts = {k: v for k, v in options.to_dict().items() if k not in NON_OUTPUT_OPTIONS}
    extra = {"models": list(models)} if models else {}   # none (reuse): the keys made before them hold
    return cache.key(video_hash=video_hash, v=KEY_VERSION, audio=audio_hash, options=opts, **extra)


def one_line(exc: BaseException) -> str:
    """A person-readable single line for any exception (HeyGemErrors are one line already)."""
    text = str(exc) if isinstance(exc, HeyGemError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__


# --------------------------------------------------------------------------------- manifest
def read_manifest(run_dir: str | Path) -> dict[str, Any] | None:
    """The manifest of ``run_dir``, or None if there is none (or it is unreadable)."""
    path = Path(run_dir) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        LOG.warning("ignoring unreadable %s (%s): every item runs again", path, exc)
        return None
    return data if isinstance(data, dict) and isinstance(data.get("items"), list) else None


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Atomically replace ``run_dir/manifest.json`` (temporary file, fsync, rename)."""
    manifest["updated"] = _now()
    items = manifest["items"]
    for entry in items:
        _reorder(entry)
    manifest["summary"] = {s: sum(1 for i in items if i["status"] == s) for s in ("ok", "failed", "pending")}
    records.write_json(run_dir / MANIFEST, manifest)


ENTRY_ORDER = ("index", "name", "video", "status", "error", "error_i18n", "output", "output_bytes", "run_dir",
               "run_dir_reason", "reused", "stage", "wall_s", "worker", "timings", "width", "height", "fps",
               "n_frames", "duration",
               "frames_no_face", "frames_mouth_covered", "mouth_covered", "input_notes", "input_notes_i18n",
               "sync_offset_frames",
               "sync_confidence", "sync_correlation", "sync_reliable", "sync_chance", "sync_follows_source",
               "speaker_timing", "analysis_cached",
               "loop", "backend", "plots", "key", "video_sha256", "scan")


def _reorder(entry: dict[str, Any]) -> None:
    """Put an entry's most useful fields first, in place (a manifest is read by people too)."""
    ordered = {k: entry[k] for k in ENTRY_ORDER if k in entry}
    ordered.update((k, v) for k, v in entry.items() if k not in ordered)
    entry.clear()
    entry.update(ordered)


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


@dataclass(frozen=True)
class CancelFlag:
    """A cancel request that crosses processes: set when the file ``path`` exists (picklable,
    so Dask workers can check it too)."""

    path: str

    def is_set(self) -> bool:
        return os.path.exists(self.path)

    @classmethod
    def from_env(cls) -> "CancelFlag | None":
        path = os.environ.get(ENV_CANCEL_FILE)
        return cls(path) if path else None


class _ProgressFile:
    """The engine's ``progress(stage, n, total)`` -> ``progress.json`` (atomic, throttled)."""

    def __init__(self, path: Path) -> None:
        self.path, self.last = path, 0.0

    def __call__(self, stage: str, n: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S and n < total:
            return
        self.last = now
        fraction = min(1.0, n / total) if total else 0.0
        with contextlib.suppress(OSError):
            records.write_json(self.path, {"stage": stage, "n": n, "total": total, "fraction": round(fraction, 4)})


# -------------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class ItemJob:
    """Everything a worker needs to run one item (picklable; paths absolute)."""

    index: int
    name: str
    video: str
    audio: str
    output: str
    run_dir: str
    cache_dir: str
    options: RunOptions
    key: str


@dataclass(frozen=True)
class ItemOutcome:
    """What came back from a worker: the engine's ``RunResult.to_dict()`` or a one-line error."""

    index: int
    ok: bool
    result: dict[str, Any] | None
    error: str | None
    wall_s: float
    worker: str
    cancelled: bool = False
    error_i18n: dict | None = None   # the error's template and values (errors.localize_record)


def check_run_dir(run_dir: Path) -> None:
    """Refuse, in one line before any work, a batch folder whose files of the names a batch writes
    (manifest, report, ZIP, executed notebook) are not an earlier batch's (its lock file, or a
    manifest with audio and items): a folder's own report.html or manifest.json (a web app's) was
    replaced in silence."""
    from .report import EXECUTED_NOTEBOOK, REPORT_HTML, ZIP_NAME
    if not run_dir.is_dir() or (run_dir / LOCK_FILE).exists():
        return
    try:
        record = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None
    if isinstance(record, dict) and "audio" in record and isinstance(record.get("items"), list):
        return
    if records.is_run_record(run_dir):   # its manifest and items/ would sit loose beside that run's records
        raise InputError("{path} is the folder of one heygem run, not a batch's: give the batch a new or empty "
                         "--run-dir", path=run_dir)
    # files only: a folder in the way is not replaced (the write fails in one line where it happens)
    present = [name for name in (MANIFEST, REPORT_HTML, ZIP_NAME, EXECUTED_NOTEBOOK) if (run_dir / name).is_file()]
    if present:
        raise InputError("{path} holds files that are not a heygem batch's ({names}): this batch would replace "
                         "them; give a new or empty --run-dir", path=run_dir, names=", ".join(present))


def lock_run_dir(run_dir: str | os.PathLike):
    """Take the exclusive lock of a batch run folder, or raise :class:`InputError` at once.

    Two batches writing one folder would delete each other's partial files and overwrite the
    manifest, so every entry point (``heygem batch``, plain papermill, the Python API, the
    panel) goes through :func:`prepare`, which takes this lock. It is an ``flock`` on
    ``run_dir/.batch.lock``: released by ``close()`` on the returned handle, or by the
    operating system when the process ends (kill -9 included), so a dead batch never leaves
    a folder locked. Returns None when ``$HEYGEM_BATCH_LOCK_HELD`` names this folder (the
    parent process holds the lock for this one).
    """
    run_dir = Path(run_dir).expanduser().absolute()
    if os.environ.get(ENV_LOCK_HELD) == str(run_dir):
        return None
    check_run_dir(run_dir)
    handle = records.try_lock(records.make_folder(run_dir) / LOCK_FILE)
    if handle is None:
        raise InputError("{path} is in use by another batch; wait for it to finish or choose another run folder",
                         path=run_dir)
    return handle


@dataclass
class BatchPlan:
    """A prepared batch: the manifest as it stands and the jobs still to run.

    ``lock`` is the run folder's lock (see :func:`lock_run_dir`), held from :func:`prepare`
    until :func:`execute` ends (or :meth:`release`).
    """

    run_dir: Path
    audio: Path
    options: RunOptions
    cache_dir: Path
    manifest: dict[str, Any]
    jobs: list[ItemJob]
    lock: Any = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def items(self) -> list[dict[str, Any]]:
        return self.manifest["items"]

    def release(self) -> None:
        """Release the run folder's lock (safe to call twice)."""
        if self.lock is not None:
            self.lock.close()
            self.lock = None


@dataclass(frozen=True)
class BatchResult:
    """The batch after execution. ``items`` are the manifest entries (paths relative to run_dir)."""

    run_dir: Path
    manifest_path: Path
    items: list[dict[str, Any]]
    n_ok: int
    n_failed: int
    n_skipped: int
    wall_s: float

    @property
    def ok(self) -> bool:
        return self.n_failed == 0

    def outputs(self) -> list[Path]:
        return [self.run_dir / i["output"] for i in self.items if i["status"] == "ok"]


def _relays_errors(fn: Callable) -> Callable:
    """A :class:`HeyGemError` leaving ``fn`` also leaves its record (template and values, see
    :meth:`HeyGemError.to_record`) in the file ``$HEYGEM_ERROR_RECORD`` names, when it is set, so
    that ``heygem batch`` can show it in the user's language."""
    @functools.wraps(fn)
    def relaying(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HeyGemError as exc:
            path = os.environ.get(ENV_ERROR_RECORD)
            if path:
                with contextlib.suppress(OSError):
                    records.write_json(Path(path), {"kind": type(exc).__name__, "message": str(exc),
                                                    "record": exc.to_record()})
            raise
    return relaying


@_relays_errors
def prepare(audio: str | os.PathLike, videos: str | os.PathLike | Sequence[str | os.PathLike], *,
            run_dir: str | os.PathLike, options: RunOptions | dict | str | None = None,
            backend: str | None = None, cache_dir: str | os.PathLike | None = None,
            samples: int | None = None, scan: bool = True, notes: Sequence[dict] = ()) -> BatchPlan:
    """Hash inputs, scan each video (pre-flight) and decide, per item, skip / fail / run.

    Items already finished with the same key are kept as they are (``"reused": true``); items
    whose scan shows they cannot work (unreadable, no face) fail here with the reason; the rest
    become jobs. Writes the manifest (jobs marked ``"pending"``) before returning.
    Raises :class:`InputError` / :class:`MediaError` when the audio itself is unusable. ``notes``: what
    a caller that expanded the folders itself left out (:func:`expand_videos`' records; heygem batch),
    kept in the manifest's ``batch_notes`` with this call's own and shown in the report.
    """
    from . import backends, cache, enhance, media
    from .cache import file_hash
    from .scan import DEFAULT_SAMPLES, scan_video

    samples = DEFAULT_SAMPLES if samples is None else int(samples)
    run_dir = Path(run_dir).expanduser().absolute()
    options = make_options(options, backend=backend)
    for warning in backends.check_options(options):   # a missing --checkpoint fails the batch here, once;
        LOG.warning("%s", warning)                     # options the backend does not use: said once
    enhance.from_options(options)  # a missing or broken enhancer model fails the batch here, once
    cache_dir = cache.usable_dir(cache_dir, fallback=run_dir / ".cache", use_cache=options.use_cache)
    audio = Path(audio).expanduser().absolute()
    if not audio.is_file():
        raise InputError("no such audio file: {audio}", audio=audio)
    audio_info = media.probe_audio(audio)
    from .audio import SAMPLE_RATE, _length_guessed, load_audio, silence_note
    wav = load_audio(audio)
    if _length_guessed(audio):   # a VBR .mp3 without a Xing header, a raw .aac: ffprobe's length is a guess
        audio_info = dataclasses.replace(audio_info, duration=wav.shape[0] / SAMPLE_RATE)
    # a silent speech (a muted microphone, the wrong track) closes every mouth: said once for the batch, in
    # the report and on the console (it was only in each item's result.json)
    silent = silence_note(wav, name=audio.name)
    del wav
    speech_notes = [] if silent is None else [record_of(silent)]
    if silent is not None:
        LOG.warning("%s", silent)
    audio_hash = file_hash(audio)
    if isinstance(notes, str):   # plain papermill: -p notes '[...]' arrives as text
        try:
            notes = json.loads(notes) if notes.strip() else []
        except ValueError:
            raise InputError("notes: expected a JSON list of note records, got {notes!r}", notes=notes) from None
    batch_notes = [n for n in notes or () if isinstance(n, dict)]   # files of a folder left out, sub-folders
    paths = expand_videos(videos, notes=batch_notes)
    if not paths:
        raise InputError("no videos given (videos={videos!r})", videos=videos)
    lock = lock_run_dir(run_dir)
    try:
        return _plan(audio, paths, run_dir=run_dir, options=options, cache_dir=cache_dir, samples=samples,
                     scan=scan, audio_info=audio_info, audio_hash=audio_hash, lock=lock, speech_notes=speech_notes,
                     batch_notes=batch_notes)
    except BaseException:
        if lock is not None:
            lock.close()
        raise


def _key_options(options: RunOptions) -> tuple[RunOptions, list[str]]:
    """``options`` as they name an output, and the backend's model files by content: only the
    options the backend reads (a ``--checkpoint`` that ``reuse`` ignores does not re-run finished
    items); model files, the enhancer's too, by their sha256, not their path (a replaced model
    file re-runs the items; the same file moved does not)."""
    from . import backends, checkpoints, enhance
    enhancer = enhance.from_options(options)  # loaded once: prepare checked it already
    cls = backends.backend_class(options.backend)
    files = cls.model_files(checkpoint=options.checkpoint, models_dir=options.models_dir)
    models = [checkpoints.sha256(path) if path.is_file() else "missing" for path in files]   # in their order
    options = cls.output_options(options)
    if files:
        options = options.replace(checkpoint=None, models_dir=None)
    from .articulation import normalise_language
    options = options.replace(language=normalise_language(options.language))   # zh-CN = cmn = zh
    if enhancer is not None:
        return options.replace(enhance_model=f"sha256:{enhancer.sha256}"), models
    unused = {"enhance_strength": RunOptions.enhance_strength}   # no face restoration: nothing reads it,
    if not cls.uses_device:                                     # nor, without a network, the device
        unused["device"] = RunOptions.device
    return options.replace(**unused), models


def _plan(audio: Path, paths: list[Path], *, run_dir: Path, options: RunOptions, cache_dir: Path,
          samples: int, scan: bool, audio_info: Any, audio_hash: str, lock: Any,
          speech_notes: list[dict] = (), batch_notes: list[dict] = ()) -> BatchPlan:
    """The body of :func:`prepare`, run while holding the run folder's lock."""
    from .cache import file_hash
    from .scan import SCAN_CACHE_VERSION, scan_video

    key_options, models = _key_options(options)
    previous = read_manifest(run_dir) or {"items": []}
    done = {e["key"]: e for e in previous["items"] if e.get("status") == "ok" and e.get("key")
            and _output_intact(run_dir, e)}
    made_for = previous.get("options") or {}   # a scan counts faces with a detector, estimates for a backend
    same = made_for.get("detector") == options.detector and made_for.get("backend") == options.backend
    old_scans = {(e.get("video_sha256"), (e.get("scan") or {}).get("samples")): e["scan"]
                 for e in previous["items"] if same and e.get("scan") and (e["scan"].get("ok"))
                 and e["scan"].get("counting") == SCAN_CACHE_VERSION}   # counted as today (scan.py)

    entries: list[dict[str, Any]] = []
    for index, video in enumerate(paths):
        entry: dict[str, Any] = {"index": index, "video": str(video), "status": "pending"}
        try:
            entry["video_sha256"] = file_hash(video)
        except OSError as exc:
            err = InputError("cannot read {video}: {reason}", video=video, reason=os_reason(exc))
            entry.update(status="failed", error=str(err), error_i18n=err.to_record(), key=None)
            entries.append(entry)
            continue
        key = item_key(video_hash=entry["video_sha256"], audio_hash=audio_hash, options=key_options, models=models)
        entry["key"] = key
        measured = key if options.sync_check else item_key(   # the same video, its A/V offset measured too
            video_hash=entry["video_sha256"], audio_hash=audio_hash, options=key_options.replace(sync_check=True),
            models=models)
        hit = key if key in done else measured if measured in done else None
        if hit is not None:  # finished before with the same inputs and options (or more: the sync check)
            entry.update({k: v for k, v in done[hit].items() if k not in ("index", "video")}, reused=True)
            entries.append(entry)
            continue
        if scan:
            report = old_scans.get((entry["video_sha256"], samples))
            if report is None or report.get("audio_duration") != round(audio_info.duration, 3):
                report = scan_video(video, audio_duration=audio_info.duration, samples=samples,
                                    detector=options.detector, backend=options.backend,
                                    cache_dir=cache_dir if options.use_cache else None,
                                    video_hash=entry["video_sha256"]).to_dict()
            entry["scan"] = report
            if not report["ok"]:
                one = len(report["fatal"]) == 1 and report.get("fatal_i18n")      # its template, if it has one
                entry.update(status="failed", error="; ".join(report["fatal"]), stage="preflight",
                             error_i18n=report["fatal_i18n"][0] if one else None)
        entries.append(entry)

    _assign_names(entries)
    _warn_replaced(previous, entries, run_dir)
    jobs: list[ItemJob] = []
    for entry in entries:
        if entry["status"] == "failed":   # failed pre-flight: nothing was made, not even a run folder
            entry.update(output=None, run_dir=None, run_dir_reason=NO_RUN_DIR)
        entry.setdefault("output", f"{OUTPUTS_DIR}/{entry['name']}.mp4")
        entry.setdefault("run_dir", f"{ITEMS_DIR}/{entry['name']}")
        if entry["status"] == "pending":
            entry["error"] = entry["error_i18n"] = None
            for stale in (run_dir / OUTPUTS_DIR).glob(f".{entry['name']}.partial*"):  # left by a killed run
                stale.unlink(missing_ok=True)
            jobs.append(ItemJob(index=entry["index"], name=entry["name"], video=entry["video"], audio=str(audio),
                                output=str(run_dir / entry["output"]), run_dir=str(run_dir / entry["run_dir"]),
                                cache_dir=str(cache_dir), options=options, key=entry["key"]))

    manifest = {
        "format": MANIFEST_FORMAT, "created": previous.get("created") or _now(),
        "audio": str(audio), "audio_sha256": audio_hash, "audio_duration": round(audio_info.duration, 3),
        "backend": options.backend, "options": options.to_dict(), "cache_dir": str(cache_dir),
        "speech_notes": list(speech_notes),   # {"template", "values"} each (errors.localize_record)
        "batch_notes": list(batch_notes),     # the same: what was left out of the videos given
        "items": entries,
    }
    write_manifest(run_dir, manifest)
    n_reused = sum(1 for e in entries if e.get("reused"))
    n_failed = sum(1 for e in entries if e["status"] == "failed")
    LOG.info("batch %s: %d video%s: %d to run, %d already done, %d failed pre-flight",
             run_dir, len(entries), "" if len(entries) == 1 else "s", len(jobs), n_reused, n_failed)
    return BatchPlan(run_dir=run_dir, audio=audio, options=options, cache_dir=cache_dir,
                     manifest=manifest, jobs=jobs, lock=lock)


def _warn_replaced(previous: dict[str, Any], entries: list[dict[str, Any]], run_dir: Path) -> None:
    """One warning naming the finished outputs this run will write over: the same videos run again in
    the folder with other options (a changed --crf re-rendered them in silence, helper-41)."""
    finished = {e.get("name"): e for e in previous.get("items") or [] if e.get("status") == "ok"}
    replaced = [e["name"] for e in entries if e["status"] == "pending" and e.get("name") in finished
                and finished[e["name"]].get("key") != e.get("key") and _output_intact(run_dir, finished[e["name"]])]
    if replaced:
        LOG.warning("%s", Text("{n} finished output(s) in {folder} were made with another speech or other options "
                               "and will be replaced: {names} (a new --run-dir keeps them)", n=len(replaced),
                               folder=str(run_dir / OUTPUTS_DIR), names=_shown_names(replaced)).localized())


def _output_intact(run_dir: Path, entry: dict[str, Any]) -> bool:
    out = run_dir / (entry.get("output") or "")
    try:
        return out.is_file() and out.stat().st_size == entry.get("output_bytes")
    except OSError:
        return False


def _assign_names(entries: list[dict[str, Any]]) -> None:
    """A unique, stable name per item (its output file stem): the video's stem, -2, -3... on clashes.
    Reused items keep theirs."""
    from .records import safe_name
    taken = {e["name"] for e in entries if e.get("reused")}
    for entry in entries:
        if entry.get("reused"):
            continue
        base = safe_name(Path(entry["video"]).stem)
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name)
        entry["name"] = name


# ---------------------------------------------------------------------------------- running
def run_item(job: ItemJob, speech: Any = None, runner: Runner | None = None, cancel: Any = None) -> ItemOutcome:
    """Run one item through the engine (in whatever process the executor chose). Never raises:
    any failure comes back as a one-line error so a broken item fails alone."""
    import socket

    from .errors import Cancelled
    t0 = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    if cancel is not None and cancel.is_set():
        return ItemOutcome(job.index, False, None, "cancelled", 0.0, worker, cancelled=True)
    if runner is None:
        from . import run as runner
    item_dir = Path(job.run_dir)
    if item_dir.exists():  # records of an earlier, unfinished attempt
        shutil.rmtree(item_dir, ignore_errors=True)
    item_dir.mkdir(parents=True, exist_ok=True)
    Path(job.output).parent.mkdir(parents=True, exist_ok=True)
    try:
        result = runner(job.audio, job.video, out=job.output, options=job.options, run_dir=item_dir,
                        speech=speech, cache_dir=job.cache_dir,
                        progress=_ProgressFile(item_dir / records.PROGRESS_JSON), cancel=cancel)
        data = result.to_dict() if hasattr(result, "to_dict") else dict(result)
        return ItemOutcome(job.index, True, data, None, time.perf_counter() - t0, worker)
    except Cancelled:
        return ItemOutcome(job.index, False, None, "cancelled", time.perf_counter() - t0, worker, cancelled=True)
    except BaseException as exc:  # noqa: B036 - a worker must report, not die (KeyboardInterrupt re-raised)
        if isinstance(exc, KeyboardInterrupt):
            raise
        if not isinstance(exc, HeyGemError):
            (item_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
            # an engine bug, not bad input: say so, and where the details are, not just numpy's words
            values = {"reason": one_line(exc), "log": f"{ITEMS_DIR}/{item_dir.name}/error.log"}
            template = N_("internal error ({reason}); traceback in {log}")
            return ItemOutcome(job.index, False, None, template.format(**values), time.perf_counter() - t0, worker,
                               error_i18n={"template": template, "values": values})
        return ItemOutcome(job.index, False, None, one_line(exc), time.perf_counter() - t0, worker,
                           error_i18n=exc.to_record())


def _record(run_dir: Path, entry: dict[str, Any], outcome: ItemOutcome) -> None:
    """Fold a worker's outcome into the item's manifest entry (paths made relative to run_dir)."""
    entry.update(wall_s=round(outcome.wall_s, 3), worker=outcome.worker, reused=False)
    if outcome.cancelled:  # not a failure of the item: the same batch again runs it
        entry.update(status="pending", error="cancelled", stage="cancelled", output=entry.get("output"))
        return
    if not outcome.ok:
        entry.update(status="failed", error=outcome.error, error_i18n=outcome.error_i18n, stage="run",
                     output=None)
        return
    res = outcome.result or {}
    out = Path(res.get("output") or run_dir / entry["output"])
    try:
        entry["output_bytes"] = out.stat().st_size
    except OSError:
        err = HeyGemError("the engine reported {output} but it is not there", output=out)
        entry.update(status="failed", error=str(err), error_i18n=err.to_record(), stage="run", output=None)
        return
    entry.update(status="ok", error=None, error_i18n=None, output=_rel(run_dir, out), stage=None)
    for k in ("width", "height", "fps", "n_frames", "duration", "frames_no_face", "sync_offset_frames",
              "sync_confidence", "sync_correlation", "timings", "backend"):
        entry[k] = res.get(k)
    extra = res.get("extra") or {}
    entry["analysis_cached"] = extra.get("analysis_cached")
    entry["sync_reliable"] = extra.get("sync_reliable")   # False: the offset is a guess
    entry["sync_chance"] = extra.get("sync_chance")
    entry["sync_follows_source"] = extra.get("sync_follows_source")   # off as its source reads
    spk = extra.get("speaker_timing")
    entry["speaker_timing"] = ({k: spk.get(k) for k in ("measured", "offset_frames", "applied", "applied_ms", "note",
                                                        "note_i18n")} if isinstance(spk, dict) else None)
    entry["loop"] = extra.get("loop")   # the loop plan: source ranges and joins
    entry["frames_mouth_covered"] = res.get("frames_mouth_covered", 0)   # passed through: hand over the mouth
    entry["mouth_covered"] = extra.get("mouth_covered") or []
    entry["input_notes"] = extra.get("input_notes") or []   # HDR, alpha... (one line each)
    entry["input_notes_i18n"] = extra.get("input_notes_i18n") or []   # their records, or None each
    entry["plots"] = {k: _rel(run_dir, Path(v)) for k, v in (res.get("plots") or {}).items()}


def _rel(run_dir: Path, path: Path) -> str:
    try:
        return Path(path).absolute().relative_to(run_dir).as_posix()
    except ValueError:
        return str(path)


@_relays_errors
def execute(plan: BatchPlan, *, executor: str = "local", workers: int | None = None,
            scheduler: str | None = None, runner: Runner | None = None, speech: Any = None,
            progress: bool = True, cancel: Any = None) -> BatchResult:
    """Run the plan's jobs on ``executor`` ("local" or "dask"), updating the manifest after each.

    The speech is analysed once here (or passed in as ``speech``) and shipped to every job.
    ``progress``: one log line per finished item, plus a tqdm.std bar when stderr is a terminal.
    ``cancel``: see the module docstring (default: :meth:`CancelFlag.from_env`).
    """
    try:
        return _execute(plan, executor=executor, workers=workers, scheduler=scheduler, runner=runner,
                        speech=speech, progress=progress, cancel=cancel)
    finally:
        plan.release()


def _execute(plan: BatchPlan, *, executor: str, workers: int | None, scheduler: str | None,
             runner: Runner | None, speech: Any, progress: bool, cancel: Any) -> BatchResult:
    t0 = time.perf_counter()
    cancel = cancel if cancel is not None else CancelFlag.from_env()
    by_index = {e["index"]: e for e in plan.items}
    n_total = len(plan.jobs)
    if plan.jobs:
        if executor == "dask" and scheduler:   # unreachable: one line now, not after the speech + 30 s
            check_workers(workers, scheduler)
            check_scheduler(scheduler)
        if speech is None:
            from .audio import load_speech
            LOG.info("analysing the speech once for %d item(s) (language %s): %s", n_total, plan.options.language,
                     plan.audio)
            speech = load_speech(plan.audio, language=plan.options.language)
        bar = _bar(n_total, enabled=progress)
        with get_executor(executor, workers=workers, scheduler=scheduler, options=plan.options) as ex:
            for done, outcome in enumerate(ex.map(run_item, plan.jobs, speech=speech, runner=runner, cancel=cancel), 1):
                entry = by_index[outcome.index]
                _record(plan.run_dir, entry, outcome)
                write_manifest(plan.run_dir, plan.manifest)
                LOG.info("[%d/%d] %s: %s in %.1f s%s", done, n_total, entry["name"], entry["status"],
                         outcome.wall_s, "" if entry["status"] == "ok" else f" ({entry['error']})")
                bar.update(1)
        bar.close()
    plan.manifest["wall_s"] = round(time.perf_counter() - t0, 3)
    plan.manifest["executor"] = executor
    if cancel is not None and cancel.is_set():
        plan.manifest["cancelled"] = True
    write_manifest(plan.run_dir, plan.manifest)
    items = plan.items
    return BatchResult(run_dir=plan.run_dir, manifest_path=plan.run_dir / MANIFEST, items=items,
                       n_ok=sum(1 for e in items if e["status"] == "ok"),
                       n_failed=sum(1 for e in items if e["status"] != "ok"),
                       n_skipped=sum(1 for e in items if e.get("reused")),
                       wall_s=plan.manifest["wall_s"])


def run_batch(audio: str | os.PathLike, videos: str | os.PathLike | Sequence[str | os.PathLike], *,
              run_dir: str | os.PathLike, options: RunOptions | dict | str | None = None,
              backend: str | None = None, executor: str = "local", workers: int | None = None,
              scheduler: str | None = None, cache_dir: str | os.PathLike | None = None,
              samples: int | None = None, runner: Runner | None = None, progress: bool = True) -> BatchResult:
    """Lip-sync every video in ``videos`` to ``audio`` into ``run_dir``: :func:`prepare` then
    :func:`execute`. Re-running it on the same ``run_dir`` skips finished items."""
    plan = prepare(audio, videos, run_dir=run_dir, options=options, backend=backend,
                   cache_dir=cache_dir, samples=samples)
    return execute(plan, executor=executor, workers=workers, scheduler=scheduler, runner=runner,
                   progress=progress)


def raise_if_failed(result: BatchResult) -> None:
    """Raise :class:`BatchItemsFailed` naming the items (video file names) that failed or did not finish.

    The batch notebook's last cell (``fail_on_item_error``): under plain papermill the exit status then
    says that items failed, as ``heygem batch``'s does, after the report cells have rendered."""
    failed = [Path(e["video"]).name for e in result.items if e["status"] != "ok"]
    if failed:
        raise BatchItemsFailed("{failed} of {total} items of the batch failed or did not finish: {names} "
                               "(reasons in {manifest}; the same batch again retries them)",
                               failed=len(failed), total=len(result.items), names=", ".join(failed),
                               manifest=result.manifest_path)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int, *, enabled: bool):
    if not enabled or not getattr(sys.stderr, "isatty", lambda: False)():
        return _NoBar()  # in a notebook / papermill the log lines are the progress
    from tqdm.std import tqdm  # never tqdm.auto: a widget bar is frozen at 0 % in a report
    return tqdm(total=total, desc="batch", unit="video", file=sys.stderr, mininterval=5, ascii=True)


# --------------------------------------------------------------------------------- executors
class LocalExecutor:
    """Items one after the other in this process (the backend model is created once)."""

    name = "local"

    def __init__(self, **_: Any) -> None:
        pass

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def map(self, fn: Callable[..., ItemOutcome], jobs: Iterable[ItemJob], **shared: Any) -> Iterator[ItemOutcome]:
        for job in jobs:
            yield fn(job, **shared)


DASHBOARD = ":0"                 # Dask dashboard on a free port (needs bokeh; logged when it runs)
SCHEDULER_CHECK_S = 3.0          # s: a scheduler that is up answers a TCP connect in milliseconds, also
                                 # across a data centre; the Client's own 30 s wait is for a busy one
SOCKET_SCHEMES = ("tcp", "tls", "ws", "wss")   # Dask's comm schemes that are a host:port socket


def check_workers(workers: int | None, scheduler: str | None) -> None:
    """``--workers N`` sizes the local Dask cluster this batch starts; with ``--scheduler`` the items
    run on that cluster's own workers, so N would be dropped in silence: an :class:`InputError`."""
    if workers and scheduler:
        raise InputError("--workers {workers} sizes the Dask cluster a batch starts on this machine; with "
                         "--scheduler {scheduler} the items run on that cluster's own workers: drop --workers "
                         "(or start the cluster with the workers you want)", workers=workers, scheduler=scheduler)


def check_scheduler(address: str, *, timeout: float = SCHEDULER_CHECK_S) -> None:
    """Refuse a Dask scheduler address that cannot work, in at most ``timeout`` seconds and
    before any work: one :class:`InputError` line for an address Dask cannot parse (a missing or
    non-numeric port, an unknown scheme) or a host:port that does not accept a connection.

    Only the socket is tried (the Dask handshake comes with the Client). ``inproc://`` and
    ``ucx://`` addresses are parsed, not connected to.
    """
    import socket
    try:
        from distributed.comm import registry
        from distributed.comm.addressing import parse_address, parse_host_port
    except ImportError as exc:
        raise InputError("--executor dask needs the 'distributed' package: pip install "
                         "'heygem-workbench[batch]'") from exc
    try:
        scheme, location = parse_address(str(address).strip())
        registry.get_backend(scheme)
        host, port = parse_host_port(location) if scheme in SOCKET_SCHEMES else (None, None)
    except (ValueError, TypeError) as exc:
        raise InputError("not a Dask scheduler address: {scheduler!r} ({reason}); expected e.g. "
                         "tcp://HOST:8786", scheduler=address, reason=" ".join(str(exc).split())) from None
    if host is None:
        return
    from .i18n import Text
    try:   # refused / unknown host / no route: said at once (Dask's connect would retry until its timeout)
        with socket.create_connection((host or "127.0.0.1", port), timeout=timeout):
            pass
    except OSError as exc:
        reason = (Text("no answer in {seconds:g} s", seconds=timeout) if isinstance(exc, TimeoutError)
                  else os_reason(exc))
        raise InputError("cannot reach the Dask scheduler {scheduler}: {reason}", scheduler=address,
                         reason=reason) from None
    try:   # something listens: is it a Dask scheduler? (another service made the notebook fail much later)
        kind = _run_coroutine(_scheduler_identity(address, timeout))
    except Exception as exc:   # noqa: BLE001 - a foreign protocol fails in many ways (MemoryError on a bogus frame)
        silent = isinstance(exc, TimeoutError) or "timed out" in str(exc).lower()
        raise InputError("{scheduler} is not a Dask scheduler: it does not complete Dask's handshake ({reason})",
                         scheduler=address, reason=Text("no answer in {seconds:g} s", seconds=timeout) if silent
                         else Text("it answers in another protocol")) from None
    if kind != "Scheduler":
        raise InputError("{scheduler} is a Dask {kind}, not a scheduler; give the scheduler's address",
                         scheduler=address, kind=kind)


async def _scheduler_identity(address: str, timeout: float) -> str:
    """The ``type`` a Dask server at ``address`` says it is ("Scheduler", "Worker", ...)."""
    import asyncio

    from distributed.comm import connect
    comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
    try:
        await asyncio.wait_for(comm.write({"op": "identity", "reply": True}), timeout)
        answer = await asyncio.wait_for(comm.read(), timeout)
    finally:
        comm.abort()
    return str(answer.get("type")) if isinstance(answer, dict) else type(answer).__name__


def _run_coroutine(coroutine):
    """``asyncio.run`` also where an event loop is already running (a Jupyter kernel): on a thread."""
    import asyncio
    import concurrent.futures
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class DaskExecutor:
    """Items fanned out over Dask distributed worker processes, results in completion order.

    ``scheduler``: address of an existing cluster ("tcp://host:8786"); otherwise a LocalCluster
    is started: one worker per visible GPU (each pinned by ``CUDA_VISIBLE_DEVICES`` and declaring
    ``GPU=1``) when the options want a GPU and one is there, else ``workers`` CPU workers.
    Each worker runs one item at a time; the speech is scattered to every worker once.
    """

    name = "dask"

    def __init__(self, *, workers: int | None = None, scheduler: str | None = None,
                 options: RunOptions | None = None) -> None:
        check_workers(workers, scheduler)
        self.workers = workers
        self.scheduler = scheduler
        self.options = options or RunOptions()
        self._stack = contextlib.ExitStack()
        self.client = None
        self.resources: dict[str, int] | None = None

    def __enter__(self) -> "DaskExecutor":
        try:
            from dask.distributed import Client
        except ImportError as exc:
            raise InputError("--executor dask needs the 'distributed' package: pip install "
                             "'heygem-workbench[batch]'") from exc
        quiet = logging.getLogger("distributed")  # its INFO lines would drown the batch's progress
        level = quiet.level
        quiet.setLevel(logging.WARNING)
        self._stack.callback(quiet.setLevel, level)
        if self.scheduler:
            try:
                self.client = self._stack.enter_context(Client(self.scheduler, timeout="30s"))
            except (OSError, TimeoutError) as exc:
                raise InputError("cannot reach the Dask scheduler {scheduler}: {reason}",
                                 scheduler=self.scheduler, reason=one_line(exc)) from exc
            info = self.client.scheduler_info()
            has_gpu = any("GPU" in (w.get("resources") or {}) for w in info.get("workers", {}).values())
            self.resources = {"GPU": 1} if has_gpu else None
        else:
            cluster = self._stack.enter_context(self._local_cluster())
            self.client = self._stack.enter_context(Client(cluster))
            # Every worker joined before the first submit: a late one (a loaded machine, a GPU
            # worker's CUDA start) would otherwise see the early items queued on the first worker.
            try:
                self.client.wait_for_workers(len(cluster.worker_spec), timeout=WORKER_START_TIMEOUT_S)
            except TimeoutError:   # the ones that came run the batch; the rest join when they can
                LOG.warning("dask: not every worker started within %d s", WORKER_START_TIMEOUT_S)
        n_workers = len(self.client.scheduler_info().get("workers", {}))
        LOG.info("dask: %d worker(s) at %s%s (dashboard %s)", n_workers, self.client.scheduler.address,
                 ", GPU=1 per item" if self.resources else "", self.client.dashboard_link)
        return self

    def _local_cluster(self):
        from dask.distributed import LocalCluster, Nanny, Scheduler, SpecCluster
        gpus = visible_gpus() if self.options.device != "cpu" else []
        common = {"nthreads": 1, "memory_limit": 0, "silence_logs": logging.ERROR}
        if gpus:
            self.resources = {"GPU": 1}
            workers = {f"gpu{g}": {"cls": Nanny, "options": {**common, "resources": {"GPU": 1},
                                                               "env": {"CUDA_VISIBLE_DEVICES": str(g)}}}
                       for g in gpus}
            return SpecCluster(workers=workers, silence_logs=logging.ERROR,
                               scheduler={"cls": Scheduler, "options": {"dashboard_address": DASHBOARD}})
        n = max(1, int(self.workers or max(1, (os.cpu_count() or 2) // 2)))
        return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, memory_limit=0,
                            dashboard_address=DASHBOARD, silence_logs=logging.ERROR)

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()

    def map(self, fn: Callable[..., ItemOutcome], jobs: Iterable[ItemJob], *, speech: Any = None,
            **shared: Any) -> Iterator[ItemOutcome]:
        from dask.distributed import as_completed
        jobs = list(jobs)
        speech_ref = self.client.scatter(speech, broadcast=True) if speech is not None else None
        futures = {}
        for job in jobs:
            fut = self.client.submit(fn, job, speech_ref, key=f"heygem-item-{job.index}-{job.key}-{time.time_ns()}",
                                     pure=False, resources=self.resources, **shared)
            futures[fut] = job
        for fut in as_completed(futures):
            job = futures[fut]
            try:
                yield fut.result()
            except Exception as exc:  # the worker itself died (out of memory, killed): fail the item
                yield ItemOutcome(job.index, False, None, f"worker lost: {one_line(exc)}", 0.0, "?",
                                  error_i18n={"template": N_("worker lost: {reason}"),
                                              "values": {"reason": one_line(exc)}})


EXECUTORS: dict[str, type] = {"local": LocalExecutor, "dask": DaskExecutor}


def get_executor(name: str, **kwargs: Any):
    """A new executor by registry name (:data:`EXECUTORS`)."""
    try:
        return EXECUTORS[name](**kwargs)
    except KeyError:
        raise InputError("unknown executor {name!r}; choose one of: {choices}",
                         name=name, choices=", ".join(EXECUTORS)) from None


def visible_gpus() -> list[int]:
    """Indices of the NVIDIA GPUs this process may use (nvidia-smi; respects CUDA_VISIBLE_DEVICES)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    count = sum(1 for line in out.splitlines() if line.startswith("GPU "))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v.strip() for v in visible.split(",") if v.strip() and v.strip() != "-1"]
        return [int(v) for v in ids if v.isdigit() and int(v) < count]
    return list(range(count))
