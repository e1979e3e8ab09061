"""``heygem batch``: run notebooks/batch.ipynb headless with papermill, then the report and the ZIP.

    papermill (executed notebook DIR/batch.ipynb: manifest.json, outputs/, items/)
      -> report.html (nbconvert, no code) -> outputs.zip (good videos + manifest + report)

Exit status: 0 when every item is ok, 1 when any failed, 2 when the batch could not run at all.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import sys
from pathlib import Path

from . import NATIVE_NOISE, shell_word  # one list for the CLI's stderr and the kernel's output
from ..errors import HeyGemError, InputError, localized_error, os_reason
from ..i18n import N_, Text, _

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = PROJECT_ROOT / "notebooks" / "batch.ipynb"
KERNEL_START_TIMEOUT_S = 120     # a cold kernel on a busy 2-core box can take a while
KERNEL_ERROR_RECORD = ".kernel-error.json"   # in the run folder while the notebook runs (see _relayed)
LOG = logging.getLogger("heygem.batch")


def add_parser(sub) -> None:
    from ..scan import DEFAULT_SAMPLES, MAX_SAMPLES
    from .run import add_option_arguments
    p = sub.add_parser("batch", help=N_("lip-sync many videos to one speech: manifest, report, ZIP; resumable"),
                       description=N_("Lip-sync every VIDEO to AUDIO by executing notebooks/batch.ipynb with "
                                   "papermill. DIR gets manifest.json, outputs/, the executed notebook, "
                                   "report.html and outputs.zip. Running the same command on the same DIR skips "
                                   "finished items and retries failed ones."))
    p.add_argument("videos", nargs="*", metavar="VIDEO", help=N_("video or photo files, or folders of them "
                   "(required, unless --from names an earlier batch)"))
    p.add_argument("--audio", help=N_("the speech recording that drives every video (required, unless --from)"))
    p.add_argument("--from", dest="from_batch", metavar="BATCH",
                   help=N_("the videos, audio and options of an earlier batch (its folder or manifest.json): "
                        "`--from runs/policy-v1 --audio v2.wav --run-dir runs/policy-v2` is the same batch with "
                        "the new speech; videos, --audio and options given here replace the recorded ones"))
    p.add_argument("--run-dir", required=True, metavar="DIR", help=N_("batch folder (created; re-use it to resume)"))
    p.add_argument("--executor", choices=("local", "dask"), help=N_("local: one item after another in the "
                   "notebook's kernel; dask: fan out over a Dask cluster (default: dask with --scheduler, else local)"))
    p.add_argument("--workers", type=int, default=0,
                   help=N_("dask LocalCluster: CPU worker processes (default: half the cores; one per GPU if any); "
                           "not with --scheduler, whose cluster has its own workers (refused, exit 2)"))
    p.add_argument("--scheduler", default="", metavar="ADDRESS", help=N_("an existing Dask scheduler, e.g. tcp://host:8786"))
    p.add_argument("--cache-dir", default="", help=N_("face-track cache, shared with heygem run and the panel "
                   "(default: $HEYGEM_CACHE_DIR or ~/.cache/heygem)"))
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES,
                   help=Text("pre-flight: frames checked per video, 1 to {most}", most=MAX_SAMPLES))
    p.add_argument("--kernel", default="python3", help=N_("Jupyter kernel to run the notebook with (default: "
                   "%(default)s, i.e. this Python; or one made by `python -m ipykernel install --sys-prefix --name heygem`)"))
    p.add_argument("--notebook", default=str(NOTEBOOK), help=N_("the batch notebook (default: %(default)s)"))
    p.add_argument("--timeout", type=float, default=None, help=N_("stop the batch after this many seconds of work; the "
                   "finished items are kept and the same command goes on (default: none)"))
    p.add_argument("--no-zip", action="store_true", help=N_("do not write outputs.zip"))
    p.add_argument("--options", default="", metavar="JSON", help=N_("run options as a JSON object of RunOptions "
                   "fields (what the web app's job queue passes); fields given override the option flags"))
    add_option_arguments(p)
    p.set_defaults(func=main, parser=p)


def _from_batch(args: argparse.Namespace) -> tuple[str, list[str], dict]:
    """Audio, videos and options of ``--from BATCH`` (its manifest.json), with what the command line
    gives instead; a recorded input that is not the file the batch used is named in a warning."""
    from ..batch import make_options
    from .run import recorded_options, warn_if_changed
    path = Path(args.from_batch).expanduser()
    manifest = path / "manifest.json" if path.is_dir() else path
    try:
        record = json.loads(manifest.read_text(encoding="utf-8"))
    except OSError:
        record = None
    except ValueError as exc:
        raise InputError("{path} is not a batch record ({reason})", path=manifest, reason=exc) from None
    run = path.parent if path.is_file() else path
    one_run = isinstance(record, dict) and "video" in record and "items" not in record   # its params.json
    if (record is None or one_run) and (run / "params.json").is_file():   # one run (or one batch item): not a batch
        raise InputError("{path} is the record of one run: re-run it with heygem run --from {arg}",
                         path=run, arg=shell_word(run))
    if record is None:
        raise InputError("no batch record at {path}: --from takes a batch folder (with manifest.json) or its "
                         "manifest.json", path=manifest)
    items = record.get("items") if isinstance(record, dict) else None
    if not (items and isinstance(items, list) and record.get("audio") and isinstance(record.get("options"), dict)):
        raise InputError("{path} is not a batch record (it names no audio, videos and options)", path=manifest)
    audio = args.audio or str(record["audio"])
    if not args.audio:
        warn_if_changed(audio, record.get("audio_sha256"))
    videos = list(args.videos) or [str(item["video"]) for item in items]
    if not args.videos:
        for item in items:
            warn_if_changed(str(item["video"]), item.get("video_sha256"))
    return audio, videos, recorded_options(args, make_options(record["options"])).to_dict()


def main(args: argparse.Namespace) -> int:
    from .. import report
    from ..backends import check_options
    from ..batch import (ENV_ERROR_RECORD, ENV_LOCK_HELD, check_scheduler, check_workers, expand_videos,
                         lock_run_dir, make_options, read_manifest)
    from ..enhance import from_options
    from ..media import probe_audio
    from ..records import check_utf8_name, make_folder
    from ..options import check_device
    from ..scan import check_samples
    from .run import options_from_args

    if args.from_batch:
        audio_arg, video_args, options = _from_batch(args)
    elif args.audio is None or not args.videos:
        missing = ", ".join(name for name, given in (("--audio", args.audio), ("VIDEO", args.videos)) if not given)
        args.parser.error(f"the following arguments are required: {missing}")
    else:
        audio_arg, video_args, options = args.audio, list(args.videos), options_from_args(args).to_dict()
    run_dir = Path(args.run_dir).expanduser().absolute()
    from ..media import refuse_web_address
    refuse_web_address(audio_arg)
    audio = Path(audio_arg).expanduser().absolute()
    if not audio.is_file():
        raise InputError("no such audio file: {audio}", audio=audio)
    probe_audio(audio)      # not media / no audio track: one line now, not from the notebook's kernel
    if args.cache_dir:      # a file in the way: one line now, not an internal error in every item
        make_folder(Path(args.cache_dir).expanduser())
    check_samples(args.samples)   # options first, before any work
    if args.timeout is not None and not 0 < args.timeout < float("inf"):   # 0 and -5 meant "none" in silence
        raise InputError("--timeout must be a number of seconds above 0, got {timeout}", timeout=args.timeout)
    if args.workers < 0:
        raise InputError("--workers must be 0 (half the cores) or more, got {workers}", workers=args.workers)
    if args.executor != "local":   # dask (given, or the default with --scheduler): N would be dropped in silence
        check_workers(args.workers, args.scheduler)
    cores = os.cpu_count() or 1
    if args.workers > cores and args.executor == "dask" and not args.scheduler:   # each worker is a process with its own models: 999 filled memory
        raise InputError("--workers must be at most {cores}, the cores of this machine (each item uses several "
                         "threads already), got {workers}", cores=cores, workers=args.workers)
    for typed in args.videos or ():   # a mistyped path: one line now, as heygem run says it (a recorded
        refuse_web_address(typed)     # --from video that is gone stays one failed item)
        if not Path(typed).expanduser().exists():
            raise InputError("no such video file: {path}", path=typed)
    notes: list[dict] = []     # a folder's files left out: said now, and in the manifest and the report
    videos = [str(v) for v in expand_videos(video_args, notes=notes)]
    if not videos:
        raise InputError("no videos found in {videos}", videos=" ".join(video_args))
    for path in (audio, run_dir, *videos, *([args.cache_dir] if args.cache_dir else [])):
        check_utf8_name(Path(path).expanduser())   # a GBK name: one line, not an internal error from papermill
    if args.options:
        try:
            given = json.loads(args.options)
        except ValueError as exc:
            raise InputError("--options: not a JSON object ({error})", error=exc) from None
        if not isinstance(given, dict):
            raise InputError("--options: expected a JSON object of run options")
        options = make_options({**options, **given}).to_dict()
    from .run import warn_unused_cache_dir
    warn_unused_cache_dir(args.cache_dir, use_cache=options["use_cache"])
    from_options(make_options(options))  # a broken enhancer model: exit 2 before the notebook starts
    check_options(make_options(options))  # a missing --checkpoint too (the notebook warns of unused options)
    from ..detectors import check_detector
    check_detector(options["detector"])   # its weights missing: now, not from the notebook's kernel
    options["pads"] = list(options["pads"])  # papermill passes only JSON types faithfully
    backend = options.pop("backend")
    executor = args.executor or ("dask" if args.scheduler else "local")
    if executor == "local":              # items run here: --device cuda without a GPU fails now, once
        check_device(options["device"])  # (Dask workers check their own)
    if executor == "local" and args.workers:
        LOG.warning("%s", _("--workers applies to --executor dask: ignored; running the items one after another "
                            "here"))
    if executor == "local" and args.scheduler:
        LOG.warning("%s", _("--scheduler applies to --executor dask: ignored; running the items here"))
    if executor == "dask" and args.scheduler:   # unreachable: one line in seconds, before the notebook starts
        check_scheduler(args.scheduler)
    check_notebook(Path(args.notebook))   # before the run folder is made
    make_folder(run_dir)   # a file in the way: one line, not first a warning that its manifest is unreadable
    _refuse_another_speech(run_dir, audio)
    lock = lock_run_dir(run_dir)  # held until this process ends (a kill -9 releases it too) ...
    os.environ[ENV_LOCK_HELD] = str(run_dir)   # ... for the notebook's kernel too (our child)
    error_record = run_dir / KERNEL_ERROR_RECORD
    os.environ[ENV_ERROR_RECORD] = str(error_record)
    executed = run_dir / report.EXECUTED_NOTEBOOK
    parameters = dict(audio=str(audio), videos=videos, run_dir=str(run_dir), backend=backend, options=options,
                      executor=executor, workers=int(args.workers or 0), scheduler=args.scheduler or "",
                      cache_dir=str(Path(args.cache_dir).expanduser().absolute()) if args.cache_dir else "",
                      samples=int(args.samples), fail_on_item_error=False)   # our exit status: below
    if notes:   # only then: a --notebook copied before this parameter existed runs as before
        parameters["notes"] = notes
    try:
        execute_notebook(Path(args.notebook), executed, parameters, kernel=args.kernel, timeout=args.timeout,
                         error_record=error_record)
    finally:
        os.environ.pop(ENV_ERROR_RECORD, None)
        error_record.unlink(missing_ok=True)

    try:
        html = report.write_html(executed, run_dir / report.REPORT_HTML)
        archive = None if args.no_zip else report.write_zip(run_dir)
    except OSError as exc:   # a full disk: the items are done and recorded, only the report/ZIP is missing
        raise HeyGemError("the items are done (see {manifest}), but the report could not be written in {folder}: "
                          "{reason}", manifest=run_dir / "manifest.json", folder=run_dir,
                          reason=os_reason(exc)) from None
    manifest = read_manifest(run_dir) or {"items": []}
    items = manifest["items"]
    failed = [i for i in items if i["status"] != "ok"]
    reused = sum(1 for i in items if i.get("reused"))
    print(_("{ok} of {total} ok", ok=len(items) - len(failed), total=len(items))
          + (_(" ({n} from an earlier run)", n=reused) if reused else "")
          + (_(", {n} failed:", n=len(failed)) if failed else ""))
    for item in failed:
        print(_("  {name}: {error}", name=Path(item["video"]).name, error=localized_error(item)))
    for line in report.speech_notes(manifest):   # a silent speech: every "ok" video has its mouth closed
        print(_("note: {note}", note=line))
    print(_("manifest: {path}", path=run_dir / "manifest.json"))
    print(_("report:   {path}", path=html))
    if archive:
        print(_("zip:      {path}", path=archive))
    os.environ.pop(ENV_LOCK_HELD, None)
    if lock is not None:
        lock.close()
    return 1 if failed or not items else 0


def check_notebook(notebook: Path) -> None:
    """InputError unless ``notebook`` is a Jupyter notebook (a --notebook naming another file was
    "internal error: UnicodeDecodeError")."""
    if not notebook.is_file():
        raise InputError("batch notebook not found: {notebook}", notebook=notebook)
    try:
        import nbformat
        nbformat.read(str(notebook), as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises JSON, Unicode and validation errors alike
        raise InputError("{notebook} is not a Jupyter notebook ({reason})", notebook=notebook,
                         reason=" ".join(str(exc).split())[:200] or type(exc).__name__) from None


def _refuse_another_speech(run_dir: Path, audio: Path) -> None:
    """A batch folder holding finished videos of another speech is not written over: a command from
    the shell's history with a new --audio replaced every earlier output in silence."""
    from ..batch import read_manifest
    from ..cache import file_hash
    from ..errors import InputError
    previous = read_manifest(run_dir)
    if not previous or not previous.get("audio_sha256") or previous["audio_sha256"] == file_hash(audio):
        return
    done = [e for e in previous.get("items") or [] if e.get("status") == "ok" and e.get("output")
            and (run_dir / e["output"]).is_file()]
    if done:
        raise InputError("{run_dir} holds {n} finished video(s) of another speech ({previous}); this speech would "
                         "replace them: give a new --run-dir (heygem batch --from {from_arg} --audio {audio_arg} "
                         "--run-dir NEW runs the same videos and options)", run_dir=run_dir, n=len(done),
                         previous=previous.get("audio"), from_arg=shell_word(run_dir), audio_arg=shell_word(audio))


def execute_notebook(notebook: Path, executed: Path, parameters: dict, *, kernel: str,
                     timeout: float | None = None, error_record: Path | None = None) -> None:
    """papermill ``notebook`` -> ``executed`` in this process; kernel output streams to the console.

    A notebook error becomes one :class:`HeyGemError` line (the executed notebook keeps the traceback);
    one of ours keeps its class and, from the record the kernel left in ``error_record``
    (``$HEYGEM_ERROR_RECORD``), its template, so it is shown in the user's language.
    """
    import papermill as pm
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    check_notebook(notebook)
    try:
        KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        raise InputError("no Jupyter kernel named {kernel!r}; install one with `{executable} -m ipykernel "
                         "install --sys-prefix --name heygem` and pass --kernel heygem",
                         kernel=kernel, executable=sys.executable) from None
    timed_out = _TimeoutSeen()   # nbclient's own "Timeout waiting ..." lines: our one line below says it
    logging.getLogger("papermill").addFilter(timed_out)
    try:
        # interrupt_on_timeout: the kernel stops its item as Ctrl-C does (partial output removed, the record
        # says "run interrupted") and is then shut down idle; shut down busy, it printed a ZMQ traceback
        pm.execute_notebook(str(notebook), str(executed), parameters=parameters, kernel_name=kernel,
                            progress_bar=False, log_output=False, stdout_file=_Console(sys.stdout),
                            stderr_file=_Console(sys.stderr),
                            start_timeout=KERNEL_START_TIMEOUT_S, cwd=None,   # nbclient takes whole seconds
                            execution_timeout=None if timeout is None else max(1, math.ceil(timeout)),
                            interrupt_on_timeout=True)
    except (CellTimeoutError, pm.PapermillExecutionError) as exc:
        # --timeout: the items run in one cell, so it bounds the whole batch's work
        # the interrupt nbclient sends on a timeout ends the cell with KeyboardInterrupt; ipykernel 7.4
        # prints it on stderr instead of as an error output, and papermill then names it
        # "CellExecutionError" (tests/test_newuser_batch_kernel.py)
        if isinstance(exc, pm.PapermillExecutionError) and not (
                timed_out.seen and exc.ename in ("KeyboardInterrupt", "CellExecutionError")):
            raise _notebook_failed(exc, error_record, executed) from None
        raise HeyGemError("the batch stopped after --timeout {timeout} s; the finished items are kept: run the same "
                          "command again (with a longer --timeout) to go on", timeout=f"{timeout:g}") from None
    except DeadKernelError:   # killed (the OOM killer, kill -9) or crashed: the finished items are in the manifest
        raise HeyGemError("the batch's notebook kernel died (killed, or out of memory?); the finished items are "
                          "kept: run the same command again to go on from where it stopped") from None
    finally:
        logging.getLogger("papermill").removeFilter(timed_out)


class _TimeoutSeen(logging.Filter):
    """Drops nbclient's "Timeout waiting for execute reply" / "Interrupting kernel" log lines, noting them."""

    seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith(("Timeout waiting for execute reply", "Interrupting kernel")):
            self.seen = True
            return False
        return True


def _notebook_failed(exc, error_record: Path | None, executed: Path) -> HeyGemError:
    if exc.ename in _heygem_error_names():  # bad input for the whole batch, e.g. the audio
        return _relayed(exc, error_record)
    return HeyGemError("the batch notebook failed in cell {exec_count}: {ename}: {evalue} (traceback in {executed})",
                       exec_count=exc.exec_count, ename=exc.ename, evalue=exc.evalue, executed=executed)




def _relayed(exc, error_record: Path | None) -> HeyGemError:
    """The kernel's error as one of ours: its template and values from the record it left (when
    that record is of this very error), else its English line; ``str()`` is the kernel's line."""
    from .. import errors
    cls = getattr(errors, exc.ename, HeyGemError)
    try:
        left = json.loads(error_record.read_text(encoding="utf-8")) if error_record else None
    except (OSError, ValueError):
        left = None
    err = None
    if isinstance(left, dict) and left.get("kind") == exc.ename and left.get("message") == exc.evalue:
        with contextlib.suppress(KeyError, IndexError, ValueError, TypeError, AttributeError):
            err = errors.from_record(left["record"], cls)
    if err is None:
        err = cls(exc.evalue)
    err.args = (exc.evalue,)                  # the English line exactly as the kernel wrote it
    return err


class _Console:
    """Kernel output -> a console stream, whole lines, without native log noise."""

    def __init__(self, stream) -> None:
        self.stream, self.buffer = stream, ""

    def write(self, text: str) -> int:
        self.buffer += text
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            if not line.startswith(NATIVE_NOISE):
                self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def _heygem_error_names() -> set[str]:
    from .. import errors
    return {name for name, obj in vars(errors).items()
            if isinstance(obj, type) and issubclass(obj, HeyGemError)}

