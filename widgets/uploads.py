"""Saving browser uploads safely, and finding media already on the machine.

A browser sends any file name it likes (``../../.bashrc``, ``C:\\x\\a.mp4``, an empty name);
nothing here trusts it. Uploads never overwrite an existing file.
"""
from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from heygem_kernel.batch import VIDEO_EXTENSIONS
from heygem_kernel.errors import InputError

# What the engine reads (heygem batch takes the same from a folder): the README's flv, phones' .3gp,
# camcorders' .mts, Windows' .wmv, voice recorders' .amr and .wma were refused here when chosen
AUDIO_EXTS = frozenset({".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".opus", ".wma", ".amr", ".aif", ".aiff",
                        ".mp2"})
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})   # not TIFF: a browser cannot preview it
VIDEO_EXTS = frozenset(VIDEO_EXTENSIONS) - IMAGE_EXTS - {".tif", ".tiff"}
SPEECH_EXTS = AUDIO_EXTS | VIDEO_EXTS   # a video's own soundtrack can drive another video
FACE_EXTS = VIDEO_EXTS | IMAGE_EXTS

MAX_NAME_CHARS = 80                     # keeps paths short and readable in the panel
# Letters and digits of any script stay (a Chinese name stays readable); everything else, path
# separators and shell/URL specials included, becomes "_". \w is Unicode-aware on str patterns.
_UNSAFE = re.compile(r"[^\w.-]+")
_UNSAFE_EXT = re.compile(r"[^A-Za-z0-9]+")


def sanitize_filename(name: str, *, fallback: str = "upload") -> str:
    """A safe, readable base name for ``name``: no folders, no leading dots, only letters and
    digits (of any script), ``.``, ``_`` and ``-``; the extension is ASCII and lower case.

    >>> sanitize_filename("../../etc/passwd")
    'passwd'
    >>> sanitize_filename("C:\\\\clips\\\\my talk (1).MP4")
    'my_talk_1.mp4'
    >>> sanitize_filename("培训 第1版.mp4")
    '培训_第1版.mp4'
    """
    base = re.split(r"[\\/]", str(name).replace("\x00", ""))[-1]
    base = unicodedata.normalize("NFKC", base)   # full-width forms -> plain; composed accents
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = ext, ""
    stem = _UNSAFE.sub("_", stem).strip("._-")
    ext = _UNSAFE_EXT.sub("", ext).lower()[:10]
    stem = (stem or fallback)[: MAX_NAME_CHARS - len(ext) - 1]
    return f"{stem}.{ext}" if ext else stem


def check_upload(name: str, size: int, *, max_bytes: int, allowed: frozenset[str] | None = None) -> None:
    """Raise :class:`InputError` (a one-line message for the panel) if the upload is refused."""
    if size > max_bytes:
        raise InputError("{name}: {size} is over the {limit} upload limit; copy the file onto this machine "
                         "and pick it from the list instead", name=name, size=human_size(size),
                         limit=human_size(max_bytes))
    if size <= 0:
        raise InputError("{name}: the uploaded file is empty", name=name)
    ext = Path(sanitize_filename(name)).suffix
    if allowed is not None and ext not in allowed:
        raise InputError("{name}: expected one of {choices}", name=name, choices=", ".join(sorted(allowed)))


def save_upload(*, name: str, content: bytes | memoryview, folder: str | os.PathLike,
                max_bytes: int, allowed: frozenset[str] | None = None) -> Path:
    """Write an uploaded file into ``folder`` under a sanitised, not yet used name.

    ``a.mp4`` becomes ``a-1.mp4`` when ``a.mp4`` exists; the file is created exclusively so
    two uploads at once cannot overwrite each other. Returns the new path.
    """
    size = memoryview(content).nbytes
    check_upload(name, size, max_bytes=max_bytes, allowed=allowed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    safe = Path(sanitize_filename(name))
    for n in range(10_000):
        path = folder / (safe.name if n == 0 else f"{safe.stem}-{n}{safe.suffix}")
        try:
            with open(path, "xb") as f:
                f.write(content)
            return path
        except FileExistsError:
            continue
    raise InputError("{folder}: too many files named like {name}", folder=folder, name=safe.name)


def list_media(folders: list[Path] | tuple[Path, ...], exts: frozenset[str]) -> list[Path]:
    """Media files (by extension) directly inside ``folders``, newest first."""
    found = []
    for folder in folders:
        try:
            entries = list(Path(folder).iterdir())
        except OSError:
            continue
        found += [p for p in entries if p.suffix.lower() in exts and p.is_file()]
    return sorted(set(found), key=lambda p: (-p.stat().st_mtime, p.name))


def human_size(n: int | float) -> str:
    """``1536`` -> ``'1.5 KB'`` (binary units, as file managers show them)."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
