"""Run records: the run directory, ``params.json``, ``result.json`` and the per-run log.

Every run leaves ``runs/<timestamp>-<name>/`` with the output video (unless ``out`` points
elsewhere), the options and input paths it ran with, the versions used, a readable log and
the diagnostic PNGs, so a run can be shared and reproduced.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import logging
import os
import platform
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

LOG = logging.getLogger("heygem")
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(message)s"


# result.json's "units": what each figure counts, for a reader who has only the file (a shared run report)
RESULT_UNITS = {
    "width": "px (of the output file)", "height": "px (of the output file)",
    "fps": "frames per second of the output",
    "n_frames": "video frames in the output file",
    "duration": "s: the speech, = the output's audio stream; the picture lasts n_frames / fps",
    "frames_no_face": "output frames passed through unchanged: no face found",
    "frames_mouth_covered": "output frames passed through unchanged: mouth covered (extra.mouth_covered)",
    "sync_offset_frames": "output frames (x 1000 / fps = ms); positive = the video lags the audio; "
                          "'in sync' within 1 frame",
    "sync_confidence": "peak of the mouth/speech correlation curve minus its median (like SyncNet's LSE-C); "
                       "above extra.sync_chance = a real reading",
    "sync_correlation": "Pearson r (-1..1) of the output's mouth opening (detrended) and the speech reference at "
                        "that offset",
    "timings": "s of wall-clock time per stage (*_cpu: CPU seconds of the ffmpeg decoder / encoder); total = the "
               "whole run",
    "extra.sync_chance": "the confidence unrelated speech reaches 5 % of the time for this length",
    "extra.sync_follows_source": "true: the output is off only as far as its source video reads (speaker timing "
                                 "followed the presenter; extra.speaker_timing.offset_frames)",
    "extra.sync_targets_offset_frames": "frames (sub-frame): the render's own mouth targets against the reference",
    "extra.sync_mux": "offset_ms: ms the written file's sound plays after where the checked speech was placed "
                      "(the mux; included in sync_offset_frames), correlation: r of the two loudness curves",
    "extra.speech_reverb_decay_ms": "ms the speech's fastest offsets take to fall 20 dB (dry speech 25-35; above 55: "
                                     "reverberant or compressed, a note says so; null: too little speech to tell)",
    "extra.sync_method": "what the output's mouth was compared with (never the targets that drove the render)",
    "extra.sync_verdict": "the sync reading in words, as heygem sync prints it",
    "extra.sync_reliable": "false: the offset is a guess (confidence below extra.sync_chance, a face too small to "
                           "read the lips, or too little mouth or speech; extra.sync_verdict says which)",
    "extra.speech_language": "the --language the speech was read with (auto: the English phone model)",
    "extra.speaker_timing": "the presenter's own timing, read on the source video's own sound: offset_frames "
                            "(source frames; positive = the source's mouth after its sound) and offset_ms, "
                            "confidence and chance as sync_confidence; applied_ms: ms the render drew the mouth "
                            "shapes earlier (negative: later); halves: frames, the span's two halves read alone; "
                            "speech_s: s of recognised speech read; language: the --language it was read with",
    "extra.sync_eye_distance_px": "px between the outer eye corners (lips are read from 24 px)",
    "extra.source_frames": "frames of the input video (1 for a photo)",
    "extra.frames_enhanced": "output frames whose mouth the face-restoration model (--enhance) went over",
    "extra.mouth_covered": "frames: [first, last] output frames; seconds: [start, end) in s",
    "extra.loop": "segments out / src: [first, last] frame numbers of the output / input video; start_s, at_s: s; "
                  "joins fade: frames, cost: in the clip's ordinary frame-to-frame steps; segments, joins: the "
                  "first 20 (segments_total, joins_total: all); joins_at: 'AT:KIND' for every join, AT its output "
                  "frame, KIND its index in join_kinds",
}


@dataclass(frozen=True)
class RunResult:
    """What one run produced. ``to_dict()`` is what ``result.json`` holds."""

    output: Path
    run_dir: Path
    params_path: Path
    log_path: Path
    plots: dict[str, Path]
    width: int                       # px of the output file (even: an odd input size gains an edge column/row)
    height: int
    fps: float
    n_frames: int                    # video frames in the output file (what ffprobe -count_frames reads)
    duration: float                  # s of speech = the audio stream; the picture lasts n_frames / fps,
                                     # the frame nearest the speech's end included (media.output_frames)
    frames_no_face: int
    sync_offset_frames: int | None
    sync_confidence: float | None
    sync_correlation: float | None
    timings: dict[str, float]
    backend: str
    extra: dict[str, Any] = field(default_factory=dict)  # backend-specific figures (SyncNet LSE...)
    frames_mouth_covered: int = 0    # frames passed through because a hand/object covered the mouth

    def to_dict(self) -> dict[str, Any]:
        """Paths absolute: a relative one (``--out result.mp4``, the default ``runs/`` root) means
        the run's working folder, which a reader of ``result.json`` (the panel's History) cannot know."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, Path):
                out[key] = str(value.absolute())
        out["plots"] = {k: str(Path(v).absolute()) for k, v in self.plots.items()}
        out["units"] = RESULT_UNITS
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunResult":
        data = dict(data)
        for key in ("output", "run_dir", "params_path", "log_path"):
            data[key] = Path(data[key])
        data["plots"] = {k: Path(v) for k, v in data.get("plots", {}).items()}
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def recorded_path(value: str | os.PathLike, *, run_dir: str | os.PathLike,
                  recorded_run_dir: str | os.PathLike | None = None) -> Path:
    """A path from a run's ``result.json`` where it is now. Relative ones belong to the run folder;
    an absolute one inside ``recorded_run_dir`` (the record's ``run_dir``) that is gone is looked for
    at the same place under ``run_dir``: the folder was copied to a colleague's machine, zipped, or
    the project moved, and its own files went with it."""
    path, run_dir = Path(value), Path(run_dir)
    if not path.is_absolute():
        return run_dir / path
    if recorded_run_dir is not None and not path.exists():
        try:
            return run_dir / path.relative_to(recorded_run_dir)
        except ValueError:
            pass
    return path


def safe_name(text: str, *, max_len: int = 60) -> str:
    """A file-system friendly name that keeps letters of any script (Chinese names stay readable)."""
    text = re.sub(r"[^\w.-]+", "_", text, flags=re.UNICODE).strip("._")
    return (text or "run")[:max_len]


def make_folder(path: str | os.PathLike) -> Path:
    """Create the folder ``path`` (and its parents) and check that a file can be made in it, or
    raise a one-line :class:`InputError`: a file in the way, no permission, a read-only disk."""
    from .errors import InputError
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError("{path} is a file, expected a folder", path=path)
    from .errors import os_reason
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError("cannot create the folder {path}: {reason}", path=path, reason=os_reason(exc)) from None
    import tempfile
    try:   # every caller writes into it: a read-only disk or folder is one line now, not after the work
        fd, probe = tempfile.mkstemp(prefix=temp_prefix(f".write-check{TMP_MARK}"), dir=path)
    except OSError as exc:
        raise InputError("cannot write to the folder {path}: {reason}", path=path, reason=os_reason(exc)) from None
    os.close(fd)
    os.unlink(probe)
    return path


def new_run_dir(runs_root: str | Path, name: str) -> Path:
    """Create ``<runs_root>/<YYYYmmdd-HHMMSS>-<name>/`` (suffix -2, -3... if it exists)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = make_folder(runs_root) / f"{stamp}-{safe_name(name)}"
    path, n = base, 1
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")


def _dist_version(name: str) -> str:
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def versions(*, tools: dict[str, str] | None = None) -> dict[str, str]:
    """Versions of the interpreter, the libraries already imported, and ffmpeg.

    ``tools``: :func:`tool_versions`, when a caller asked for it earlier (a run does so on a
    thread while it works: the git and ffmpeg calls cost ~0.15 s, at the run's very end)."""
    tools = tool_versions() if tools is None else tools
    found = {"python": platform.python_version(), "platform": tools["platform"]}
    for mod in ("numpy", "cv2", "mediapipe", "librosa", "pocketsphinx", "torch", "onnxruntime", "diffusers",
                "transformers"):
        module = sys.modules.get(mod)
        if module is not None:   # pocketsphinx has no __version__: its installed distribution's
            found[mod] = str(getattr(module, "__version__", None) or _dist_version(mod))
    from . import __version__
    found["heygem_kernel"] = __version__
    found.update({k: v for k, v in tools.items() if k != "platform"})   # heygem_source, ffmpeg
    return found


def tool_versions() -> dict[str, str]:
    """The part of :func:`versions` that does not depend on what is imported: the platform, the
    engine's git revision and ffmpeg's version (child processes: slow enough to run early)."""
    found = {"platform": platform.platform()}
    source = _source_revision()
    if source:
        found["heygem_source"] = source
    with contextlib.suppress(Exception):
        import subprocess
        from .media import ffmpeg_exe
        first = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True, timeout=10)
        found["ffmpeg"] = first.stdout.split("\n", 1)[0].replace("ffmpeg version ", "").split(" Copyright")[0]
    return found


def _source_revision() -> str | None:
    """The git commit the engine runs from, "+modified" when tracked files differ from it, or None
    outside a git checkout: the version number stays 0.1.0 from one change to the next, so it alone
    cannot tell a colleague which code made a run."""
    import subprocess
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+modified" if dirty.returncode == 0 and dirty.stdout.strip() else "")


TMP_MARK = ".tmp-"          # in every temporary name atomic_output makes (stale ones are swept)
SPOOL_PREFIX = "heygem-frames-"   # media.FrameSource's frame spool (up to 4 GiB), in the run folder
# Temporary names carry the writing process's id, so a later run can tell a dead process's
# leftovers (kill -9, power loss) from a live one's: ".<stem>.tmp-<pid>-<random><suffix>" /
# "heygem-frames-<pid>-<random>.raw", <random> being mkstemp's 8 characters. The whole name must match:
# the runs root may be a user's folder, and "notes.tmp-2023-draft.txt" there is not ours to delete.
_STALE = re.compile(rf"^(?:{re.escape(SPOOL_PREFIX)}|\..*{re.escape(TMP_MARK)})(\d+)-[a-z0-9_]{{8}}(?:\.[^.]*)?$")


TEMP_STEM_BYTES = 160   # of a file's name in its temporary's: names hold 255 bytes (NAME_MAX), and the
                        # temporary adds ".", ".partial", ".tmp-", a pid, "-", 8 random characters, the suffix


def temp_stem(stem: str) -> str:
    """``stem`` cut to :data:`TEMP_STEM_BYTES` bytes of UTF-8 (whole characters), for temporary names:
    a file named near the 255-byte limit (80 Chinese characters) is a valid output, and its temporary
    beside it must be one too."""
    raw = os.fsencode(stem)
    return stem if len(raw) <= TEMP_STEM_BYTES else raw[:TEMP_STEM_BYTES].decode("utf-8", "ignore")


def check_file_name(path: str | os.PathLike) -> Path:
    """``path`` if its name fits the file system (255 bytes of UTF-8: 85 Chinese characters), else a
    one-line :class:`InputError`, before any work (the rename at the end would fail)."""
    from .errors import InputError
    path = Path(path)
    try:
        limit = os.pathconf(path.parent if path.parent.is_dir() else ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    size = len(os.fsencode(path.name))
    if size > limit:
        raise InputError("{path}: the file name is {size} bytes long, the disk allows {limit}; choose a shorter "
                         "one", path=path, size=size, limit=limit)
    return path


def check_utf8_name(path: str | os.PathLike) -> Path:
    """``path`` if its absolute name is UTF-8 text, else a one-line :class:`InputError` naming the
    first file or folder whose name is not, before any work. A name made on another system (GBK from
    a zip packed on Windows) reaches Python as lone surrogates that no log, JSON record or notebook
    can hold: the run failed after its render with 'internal error: UnicodeEncodeError'."""
    from .errors import InputError
    path = Path(path)
    whole = path.absolute()
    if not _utf8(whole):
        bad = next(p for p in (*reversed(whole.parents), whole) if not _utf8(p))   # the first such name
        shown = os.fsencode(bad).decode("utf-8", "backslashreplace")
        raise InputError("{path}: this name is not UTF-8 text (it was made on another system, e.g. GBK in a zip "
                         "packed on Windows), which heygem's records cannot hold; rename it (e.g. convmv -f gbk "
                         "-t utf-8 --notest NAME)", path=shown)
    return path


def _utf8(path: str | os.PathLike) -> bool:
    try:
        str(path).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def temp_prefix(stem: str) -> str:
    """Prefix of a temporary file of this process (see :func:`sweep_stale`)."""
    return f"{stem}{os.getpid()}-"


def sweep_stale(folder: str | os.PathLike, *, only: str | None = None) -> list[Path]:
    """Delete the temporary files in ``folder`` whose writing process no longer runs.

    Returns what was removed. Files of live processes (another run writing here now) and
    everything that is not one of our temporaries are left alone; with ``only``, so is every
    name that does not start with it (a user's folder: just the partial file of one output).
    """
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for path in entries:
        match = _STALE.search(path.name)
        if match is None or (only is not None and not path.name.startswith(only)) or not path.is_file() or _alive(int(match.group(1))):
            continue
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            pass
    if removed:
        LOG.info("removed %d temporary file(s) left in %s by an earlier run that was stopped", len(removed), folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:      # someone else's process: alive
        return True
    return True


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a unique temporary path beside ``path``; rename it over ``path`` when the block
    ends cleanly, delete it when the block raises.

    The name is unique per call (``tempfile.mkstemp``), so two writers of one file (two
    threads of one process, e.g. the panel's preview and a render) never share a temporary
    file: readers see the old file or a whole new one, never half of one. The extension is
    kept (``np.savez`` and ffmpeg pick formats by it).
    """
    import tempfile
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=temp_prefix(f".{temp_stem(path.stem)}{TMP_MARK}"), suffix=path.suffix,
                                dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())   # mkstemp makes 0600; the file gets the mode open() would give
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def try_lock(path: str | os.PathLike):
    """An exclusive ``flock`` on ``path`` (created if missing), or None when another process
    (or another open of it in this one) holds it. ``close()`` on the returned handle releases
    it; so does the end of the process, kill -9 included, so a dead holder never leaves it locked."""
    import fcntl
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _umask() -> int:
    """The process's umask, read without changing it (os.umask would, for every thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically so readers never see half a file, even after a crash or kill -9:
    a unique temporary name (:func:`atomic_output`), flushed to disk (fsync), then renamed."""
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False, default=str)
        fh.flush()
        os.fsync(fh.fileno())


# What a run writes into its folder besides the output and run.log (pipeline._record, pipeline._plots)
RECORD_FILES = ("result.json", "params.json", "mel.png", "landmarks.png", "mouth_track.png")
# A batch item's progress while it runs: <batch run_dir>/items/<name>/progress.json, in the item's run
# folder before the run's own records (written by heygem_kernel.batch, read by heygem_kernel.jobs)
PROGRESS_JSON = "progress.json"


def check_run_dir(run_dir: str | os.PathLike, *, output_inside: bool, keep: tuple[str, ...] = ()) -> None:
    """Refuse, in one line before any work, a ``--run-dir`` whose files of the names a run writes
    (:data:`RECORD_FILES`, ``run.log``, and ``output.mp4`` when the output goes there) are not an
    earlier run's record: a project folder's own ``params.json`` or ``result.json`` was replaced in
    silence (and removed by :func:`clear_record`). An earlier run's folder is re-used as before. A folder
    that is neither a record nor empty is refused too (a folder of run folders, ``/tmp``): ``keep`` names
    files that may already be there (the output ``--out`` names inside it, a batch item's progress file)."""
    from .errors import InputError
    folder = Path(run_dir)
    if not folder.is_dir():
        return
    names = [*RECORD_FILES, "run.log", *(["output.mp4"] if output_inside else [])]
    present = [name for name in names if (folder / name).is_file()]   # files: what a run would replace
    if present and not is_run_record(folder):
        raise InputError("{path} holds files that are not a heygem run record ({names}): this run would replace "
                         "them; give a new or empty --run-dir", path=folder, names=", ".join(present))
    if present:
        return
    make_folder(folder)   # an unwritable one (/proc, read-only media) says so, not that it is not empty
    # Not a record and none of its names: the folder must be empty (hidden files, a batch item's
    # progress file and the output named by --out aside), or the record lands loose among other files:
    # `--run-dir runs` wrote params.json and the plots beside the run folders, `--run-dir /tmp` into /tmp.
    try:
        others = sorted(p.name for p in folder.iterdir() if not p.name.startswith(".") and p.name not in keep)
    except OSError:
        return                     # unreadable: making the folder's files will say so in one line
    if others:
        runs = [name for name in others if (folder / name).is_dir() and is_run_record(folder / name)]
        if runs:
            raise InputError("{path} is a folder of runs (it holds {names}): give a new folder for this run, such "
                             "as {path}/NAME", path=folder, names=", ".join(runs[:3]))
        raise InputError("{path} is not empty and is not a heygem run folder (it holds {names}): give a new or "
                         "empty --run-dir", path=folder, names=", ".join(others[:3]) + (", ..." if len(others) > 3 else ""))


def is_run_record(folder: Path) -> bool:
    """An earlier run's folder: its params.json names audio, video and options, or its run.log holds a
    run's first line (a run that failed before writing params.json)."""
    try:
        record = json.loads((folder / "params.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None
    if isinstance(record, dict) and {"audio", "video", "options"} <= record.keys():
        return True
    try:
        with open(folder / "run.log", encoding="utf-8", errors="replace") as fh:
            return " run: audio=" in fh.read(1 << 16)
    except OSError:
        return False


def clear_record(run_dir: str | os.PathLike) -> list[Path]:
    """Remove an earlier run's record files (:data:`RECORD_FILES`) from ``run_dir`` before a new run
    writes there (``--run-dir`` given again, a batch item retried): a new run that then fails must
    not leave the old ``result.json`` saying it succeeded (History, ``--from``). ``run.log`` is
    appended to and the old output is kept (atomic writes: a failed run never replaces it).
    Returns the files removed."""
    removed = []
    for name in RECORD_FILES:
        path = Path(run_dir) / name
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:      # read-only: the run's own writes will say so in one line
            LOG.debug("cannot remove %s: %s", path, exc)
            continue
        removed.append(path)
    return removed


@contextlib.contextmanager
def run_log(path: Path) -> Iterator[logging.Logger]:
    """Send the ``heygem`` logger to ``path`` for the duration of a run."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT, "%H:%M:%S"))
    handler.setLevel(logging.DEBUG)
    LOG.addHandler(handler)
    old_level = LOG.level
    if LOG.getEffectiveLevel() > logging.INFO:
        LOG.setLevel(logging.INFO)
    try:
        yield LOG
    finally:
        LOG.removeHandler(handler)
        LOG.setLevel(old_level)
        handler.close()
