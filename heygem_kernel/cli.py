"""The ``heygem`` command: one sub-command per module in :mod:`heygem_kernel.commands`.

Each command module defines ``add_parser(subparsers)`` and ``main(args) -> int``. Errors a
user can cause (:class:`HeyGemError`, and the system's refusals a user can fix: a name too long,
no permission, a read-only or full disk) print one line on stderr and exit 2; Ctrl-C exits 130
(SIGTERM 143, SIGHUP 129, after the same clean-up);
anything else is a bug and prints one line too (``-v`` shows the traceback), exit 1.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import re
import signal
import sys
import threading

from .commands import NATIVE_NOISE  # noqa: F401 - public here too (heygem batch filters with it)
from .errors import OS_REASONS, HeyGemError, os_reason
from .i18n import N_, ConsoleFormatter, Text, _
from .i18n import width as columns

COMMANDS = ("run", "sync", "scan", "batch", "doctor", "serve")



# argparse's own error messages (CPython 3.10-3.13 wording) -> our message ids, so that usage errors
# follow the user's language too; a message not listed here is shown as argparse wrote it.
USAGE_ERRORS = [(re.compile(pattern), msgid) for pattern, msgid in (
    (r"the following arguments are required: (?P<args>.+)", N_("the following arguments are required: {args}")),
    (r"unrecognized arguments: (?P<args>.+)", N_("unrecognized arguments: {args}")),
    (r"argument (?P<arg>\S+): invalid choice: (?P<value>.+?) \(choose from (?P<choices>.+)\)",
     N_("argument {arg}: invalid choice: {value} (choose from {choices})")),
    (r"argument (?P<arg>\S+): invalid (?P<kind>\w+) value: (?P<value>.+)",
     N_("argument {arg}: invalid {kind} value: {value}")),
    (r"argument (?P<arg>\S+): expected one argument", N_("argument {arg}: expected one argument")),
    (r"argument (?P<arg>\S+): expected at most one argument", N_("argument {arg}: expected at most one argument")),
    (r"argument (?P<arg>\S+): expected at least one argument", N_("argument {arg}: expected at least one argument")),
    (r"argument (?P<arg>\S+): expected (?P<n>\d+) arguments?", N_("argument {arg}: expected {n} arguments")),
    (r"argument (?P<arg>\S+): ignored explicit argument (?P<value>.+)",
     N_("argument {arg}: ignored explicit argument {value}")),
    (r"ambiguous option: (?P<option>\S+) could match (?P<matches>.+)",
     N_("ambiguous option: {option} could match {matches}")),
    (r"argument (?P<arg>\S+): not allowed with argument (?P<other>\S+)",
     N_("argument {arg}: not allowed with argument {other}")),
)]


def usage_error(message: str) -> str:
    """One of argparse's error messages, on one line, in the user's language (where we know it)."""
    message = " ".join(message.split())
    for pattern, msgid in USAGE_ERRORS:
        match = pattern.fullmatch(message)
        if match:
            return _(msgid, **match.groupdict())
    return message


# argparse's own help texts, as message ids (its gettext domain has no Chinese of ours)
ARGPARSE_TEXTS = (N_("usage: "), N_("positional arguments"), N_("options"), N_("show this help message and exit"),
                  N_("show program's version number and exit"))
_WIDE = "\u2e80-\u9fff\u3000-\u303f\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
_TOKENS = re.compile(f"[{_WIDE}]|[^\\s{_WIDE}]+|\\s+")
_NO_LINE_START = "）)，,。.；;：:、！!？?」』】》〉"   # closing punctuation stays at the end of its line


class _HelpFormatter(argparse.HelpFormatter):
    """``--help`` in the user's language: help texts, descriptions and group titles are message ids
    (``N_``, or a :class:`~heygem_kernel.i18n.Text` with values) translated when shown; Chinese lines
    are wrapped by terminal columns (a CJK character takes two) and between any two characters."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return _shown(action.help)

    def start_section(self, heading: str | None) -> None:
        super().start_section(_shown(heading))

    def add_usage(self, usage, actions, groups, prefix=None) -> None:
        super().add_usage(usage, actions, groups, prefix=_("usage: ") if prefix is None else prefix)

    def _format_text(self, text: str) -> str:
        return super()._format_text(_shown(text))

    def _split_lines(self, text: str, width: int) -> list[str]:
        if not re.search(f"[{_WIDE}]", text):
            return super()._split_lines(text, width)
        return _wrap_columns(" ".join(text.split()), width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if not re.search(f"[{_WIDE}]", text):
            return super()._fill_text(text, width, indent)
        return "\n".join(indent + line for line in _wrap_columns(" ".join(text.split()), width - len(indent)))


def _shown(text: str | None) -> str | None:
    """A help text or heading in the user's language (itself where the catalogue lacks it)."""
    if not text or text is argparse.SUPPRESS:
        return text
    return text.localized() if isinstance(text, Text) else _(text)


def _wrap_columns(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` terminal columns, breaking at spaces or beside a CJK character."""
    lines, line = [], ""
    for token in _TOKENS.findall(text):
        if token.isspace():
            token = " " if line else ""
        if line.strip() and columns(line + token.rstrip()) > width and token not in _NO_LINE_START:
            lines.append(line.rstrip())
            line = token.lstrip()
        else:
            line += token
    if line.strip():
        lines.append(line.rstrip())
    return lines


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) in the user's language: no usage block, a pointer to
    ``-h`` instead; ``--help`` in the user's language too (:class:`_HelpFormatter`)."""

    def __init__(self, *args, formatter_class=_HelpFormatter, **kwargs) -> None:
        super().__init__(*args, formatter_class=formatter_class, **kwargs)

    def error(self, message: str):
        self.exit(2, _("{prog}: error: {message} (see {prog} -h)", prog=self.prog, message=usage_error(message))
                  + "\n")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    parser = _Parser(prog="heygem", description=N_("Local lip-sync video workbench."))
    parser.add_argument("--version", action="version", version=f"heygem {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help=N_("debug logging"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"heygem_kernel.commands.{name}")
        except ModuleNotFoundError as exc:  # a command whose module is not installed
            if exc.name and exc.name.startswith("heygem_kernel.commands"):
                continue
            raise
        module.add_parser(sub)
    for command in sub.choices.values():   # also after the command: 'heygem run ... -v', as the internal
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,   # error says
                             help=N_("debug logging"))
    return parser


def _command_parser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser:
    """The sub-command's own parser (``heygem run``), else ``parser``."""
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        if command in getattr(action, "choices", {}):
            return action.choices[command]
    return parser


_INTERRUPTED = threading.Event()   # set by Ctrl-C / SIGTERM / SIGHUP: child processes' stderr is dropped
_STOP_SIGNAL = [int(signal.SIGINT)]   # the signal that stopped us (for the exit status 128 + it)


def _filter_native_stderr() -> None:
    """Drop mediapipe's C++ log lines from stderr; keep everything else, in order.

    The C++ side writes straight to file descriptor 2, so Python's logging settings cannot
    silence it: fd 2 becomes a pipe that a daemon thread filters into the real stderr. Once the
    command is interrupted, nothing more comes through it: what children (a batch's notebook
    kernel, ffmpeg) print while they are torn down is noise (a kernel's ZMQ traceback), not news.
    """
    if os.environ.get("HEYGEM_NATIVE_LOGS"):
        return
    try:
        real = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:
        return
    sys.stderr = os.fdopen(os.dup(real), "w", buffering=1, encoding="utf-8", errors="replace")

    def pump() -> None:
        with os.fdopen(read_end, "rb") as src, os.fdopen(real, "wb", buffering=0) as dst:
            for line in src:
                if not _INTERRUPTED.is_set() and not line.decode("utf-8", "replace").startswith(NATIVE_NOISE):
                    dst.write(line)

    threading.Thread(target=pump, name="heygem-stderr", daemon=True).start()


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP (``kill``, a closed terminal, a scheduler or container stopping us), raised
    in the main thread like Ctrl-C so that the same clean-up runs: no partial output, no frame spool."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop_on_signals() -> None:
    """SIGTERM and SIGHUP stop the command as Ctrl-C does (a second one kills at once); a signal
    the caller ignores (``nohup`` ignores SIGHUP) stays ignored. Each also mutes children's stderr."""
    def stop(signum: int, _frame: object) -> None:
        _INTERRUPTED.set()
        _STOP_SIGNAL[0] = signum
        signal.signal(signum, signal.SIG_DFL)
        raise Stopped(signum)

    def interrupt(_signum: int, _frame: object) -> None:
        _INTERRUPTED.set()
        raise KeyboardInterrupt

    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, stop)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, interrupt)


def _writable_matplotlib_dir() -> None:
    """Point ``MPLCONFIGDIR`` at ``<tmp>/heygem-matplotlib-<uid>`` when matplotlib could not write its
    config or cache folder under the home (a read-only home: a container, a service account).
    Otherwise every command that draws printed matplotlib's two warnings ('mkdir -p failed for path
    ...', 'Matplotlib created a temporary cache directory at /tmp/matplotlib-XXXX ... set the
    MPLCONFIGDIR environment variable'), rebuilt its font cache in a new temporary folder each time
    and left that folder behind when interrupted. Children (the batch's notebook kernel, the web
    app's kernels) inherit the setting."""
    if os.environ.get("MPLCONFIGDIR"):
        return
    from pathlib import Path
    for variable, default in (("XDG_CONFIG_HOME", ".config"), ("XDG_CACHE_HOME", ".cache")):
        folder = Path(os.environ.get(variable) or Path.home() / default) / "matplotlib"   # as matplotlib
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
        if not (folder.is_dir() and os.access(folder, os.W_OK)):
            break
    else:
        return   # matplotlib's own folders work
    import tempfile
    folder = Path(tempfile.gettempdir()) / f"heygem-matplotlib-{os.getuid()}"
    with contextlib.suppress(OSError):
        folder.mkdir(mode=0o700, exist_ok=True)
    with contextlib.suppress(OSError):   # ours alone (a shared /tmp): else matplotlib's own fallback
        if not folder.is_symlink() and folder.stat().st_uid == os.getuid() and os.access(folder, os.W_OK):
            os.environ["MPLCONFIGDIR"] = str(folder)


def _stdout_closed() -> bool:
    """Whether the reader of standard output has gone (a pipe whose other end closed reports POLLERR)."""
    import select
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLERR)
        return any(events & select.POLLERR for _fd, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def _warn_unknown_language() -> None:
    """One warning when ``$HEYGEM_LANG`` names a language without a catalogue (``fr``): the messages
    then fall back to English, which a person who set it would otherwise take for a bug. The POSIX
    locale (``LANG=fr_FR.UTF-8``) falls back silently: it is set for every program, not for this one."""
    from .i18n import ENV_LANG, LANGUAGES, normalize
    wanted = os.environ.get(ENV_LANG, "").strip()
    if wanted and normalize(wanted) is None and wanted.split(".")[0].upper() not in ("C", "POSIX"):  # C: English
        logging.getLogger("heygem").warning(Text(
            "{variable}={value} is not a language heygem has ({codes}): messages are in English",
            variable=ENV_LANG, value=wanted, codes=", ".join(sorted(LANGUAGES))))


def main(argv: list[str] | None = None) -> int:
    try:   # Ctrl-C while the commands are still loading (the first ~0.6 s) is an interruption too
        return _main(argv)
    except (KeyboardInterrupt, Exception) as exc:   # Ctrl-C: 130; SIGTERM 143, SIGHUP 129 (128 + the signal)
        if not isinstance(exc, KeyboardInterrupt) and not _INTERRUPTED.is_set():
            raise
        # a signal inside a C extension's import comes out as that import's error (numpy: ImportError)
        print(_("heygem: interrupted"), file=sys.stderr)
        code = 128 + getattr(exc, "signum", _STOP_SIGNAL[0])
        if argv is None:
            # The clean-up has run. Leave now: the interpreter's shutdown can meet a background thread
            # still inside native code (mediapipe, pocketsphinx) and abort (SIGABRT) instead of exiting.
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        return code


def _main(argv: list[str] | None) -> int:
    if argv is None:  # the real command line (not an in-process call from tests or notebooks)
        _filter_native_stderr()
        _stop_on_signals()
        _writable_matplotlib_dir()
        # a terminal or log file that cannot show a Chinese file name (latin-1, ascii) gets it escaped,
        # not an "internal error" after the run's output was written
        with contextlib.suppress(AttributeError, ValueError):
            sys.stdout.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:   # name the command's -h, which lists its options (heygem -h lists only the commands)
        _command_parser(parser, args.command).error(f"unrecognized arguments: {' '.join(unknown)}")
    args.argv = list(sys.argv[1:] if argv is None else argv)   # what was typed (`run --from` reads it)
    # A command module may show less on the console (``CONSOLE_LEVEL``: `heygem run` shows its
    # progress bars, warnings and one result or error line; its run.log has every line).
    command = sys.modules.get(getattr(args.func, "__module__", ""), None)
    level = logging.DEBUG if args.verbose else getattr(command, "CONSOLE_LEVEL", logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)   # also for records of loggers a run lowers to INFO for its run.log
        if type(handler) is logging.StreamHandler and not isinstance(handler.formatter, ConsoleFormatter):
            # a warning the engine gives as i18n.Text (a silent speech, --fps ignored) in the user's language
            old = handler.formatter or logging.Formatter()
            handler.setFormatter(ConsoleFormatter(old._fmt, old.datefmt))
        # "run failed: ..." is for run.log: the console gets the one error line below
        handler.addFilter(lambda record: not getattr(record, "run_log_only", False))
    for noisy in ("matplotlib", "PIL", "numba", "absl", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # "findfont: Failed to find font weight bold for WenQuanYi Micro Hei, now using 400." on every run
    # whose plot marks a frame without a face: the CJK font has no bold face, the plot is fine
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    _warn_unknown_language()
    try:
        return int(args.func(args) or 0)
    except HeyGemError as exc:   # in the user's language: $HEYGEM_LANG or the locale (LANG=zh_CN.UTF-8)
        print(_("heygem: error: {message}", message=exc.localized()), file=sys.stderr)
        return 2
    except BrokenPipeError:
        if not _stdout_closed():
            raise
        # `heygem scan ... | head -1`: the reader has what it wanted; say nothing, as `ls | head` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no second error at exit
        return 128 + signal.SIGPIPE
    except Exception as exc:  # a bug, not bad input: still one line, the traceback on request
        if _INTERRUPTED.is_set():   # not a bug: the signal surfaced as another error (main says interrupted)
            raise
        if isinstance(exc, OSError) and exc.errno in OS_REASONS and not args.verbose:
            reason = os_reason(exc).localized()    # a write that fails names no file: the reason alone then
            print(_("heygem: error: {path}: {reason}", path=exc.filename, reason=reason) if exc.filename
                  else _("heygem: error: {message}", message=reason), file=sys.stderr)
            return 2
        if args.verbose:
            raise
        print(_("heygem: internal error: {kind}: {message} (run with -v for the traceback)",
                kind=type(exc).__name__, message=" ".join(str(exc).split())), file=sys.stderr)
        return 1


if __name__ == "__main__":  # python -m heygem_kernel.cli
    sys.exit(main())
