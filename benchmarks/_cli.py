"""Command lines of the benchmarks: argparse with ``--help``, one-line errors (exit status 2) and
inputs checked while parsing, before any heavy work (a missing clip is not found after minutes of
runs). Imported as ``from _cli import ...``: ``python benchmarks/NAME.py`` puts this folder on sys.path.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

MEDIA = Path(os.environ.get("HEYGEM_MEDIA", Path(__file__).resolve().parents[2] / "shared" / "media"))


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr, exit status 2 (as the ``heygem`` command's)."""

    def __init__(self, doc: str, **kwargs) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(description=doc, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} -h)\n")


def existing_file(text: str) -> Path:
    """An argparse ``type``: a path to an existing file."""
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path


def existing_dir(text: str) -> Path:
    """An argparse ``type``: a path to an existing folder."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"no such folder: {text}")
    return path


def media_file(text: str) -> Path:
    """An argparse ``type``: a path, or a file name in ../shared/media ($HEYGEM_MEDIA)."""
    path = Path(text)
    if not path.is_file() and not path.is_absolute() and (MEDIA / text).is_file():
        path = MEDIA / text
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}" + ("" if path.is_absolute() else f" (nor in {MEDIA})"))
    return path


def media_stem(text: str) -> str:
    """An argparse ``type``: the name of a clip NAME.mp4 in ../shared/media, without ``.mp4``."""
    if not (MEDIA / f"{text}.mp4").is_file():
        raise argparse.ArgumentTypeError(f"no such clip: {MEDIA / text}.mp4")
    return text


def positive(kind: type) -> Callable[[str], float | int]:
    """An argparse ``type``: a number of ``kind`` (int or float) above 0."""
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be above 0: {text}")
        return value
    convert.__name__ = f"positive {kind.__name__}"
    return convert


def run(main: Callable[[], int | None]) -> None:
    """Call ``main`` and exit with its status; the engine's input errors (:class:`HeyGemError`: a clip
    without a face, an incomplete models folder) end it with one line on stderr, exit status 2."""
    from heygem_kernel.errors import HeyGemError
    try:
        code = main()
    except HeyGemError as exc:
        print(f"{Path(sys.argv[0]).name}: error: {exc}", file=sys.stderr)
        code = 2
    sys.exit(code or 0)
