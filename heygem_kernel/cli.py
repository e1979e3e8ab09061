"""The ``heygem`` command: one sub-command per module in :mod:`heygem_kernel.commands`.

Each command module defines ``add_parser(subparsers)`` and ``main(args) -> int``. Errors a
user can cause (:class:`HeyGemError`) print one line on stderr and exit 2; Ctrl-C exits 130.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .errors import HeyGemError

COMMANDS = ("run", "sync", "scan", "batch", "doctor", "serve")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    parser = argparse.ArgumentParser(prog="heygem", description="Local lip-sync video workbench.")
    parser.add_argument("--version", action="version", version=f"heygem {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("matplotlib", "PIL", "numba", "absl", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except HeyGemError as exc:
        print(f"heygem: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("heygem: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # python -m heygem_kernel.cli
    sys.exit(main())
