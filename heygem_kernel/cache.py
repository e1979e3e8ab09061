"""Content-addressed cache of the video analysis (face track + mouth library).

Keys come from the *content* of the video (not its name) and the options that change the
analysis, so re-running a batch with new audio skips face detection, and a renamed or
replaced file never hits a stale entry.

One folder by default for everything that analyses a video (``heygem run``, ``heygem batch``, the
batch notebook, the panel and its preview, the web app's jobs): :func:`default_dir`,
``$HEYGEM_CACHE_DIR`` or ``~/.cache/heygem``, so a presenter analysed once is analysed once.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

HASH_CHUNK = 1 << 20  # 1 MiB reads
CACHE_ENV = "HEYGEM_CACHE_DIR"
LOG = logging.getLogger("heygem.cache")


def default_dir() -> Path:
    """The face-track cache shared by runs, batches and the panel: ``$HEYGEM_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/heygem``, else ``~/.cache/heygem`` (not created here)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser().absolute()
    return (Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "heygem").expanduser().absolute()


def usable_dir(given: str | os.PathLike | None, *, fallback: str | os.PathLike, use_cache: bool = True) -> Path:
    """The face-track cache folder a run or batch uses, created: ``given``, else :func:`default_dir`.

    A folder the user named (``given`` or ``$HEYGEM_CACHE_DIR``) that cannot be written is an
    :class:`~heygem_kernel.errors.InputError` now, not a failure after the face analysis; the
    default one (a service user's home may be read-only) gives way to ``fallback`` (the run's or
    batch's own folder) with one warning. With ``use_cache`` False nothing is created."""
    from .errors import InputError
    from .records import make_folder
    folder = Path(given).expanduser().absolute() if given else default_dir()
    if not use_cache:
        return folder
    if given or os.environ.get(CACHE_ENV):
        return make_folder(folder)
    try:
        return make_folder(folder)
    except InputError as exc:
        from .i18n import _
        fallback = Path(fallback).expanduser().absolute()
        LOG.warning("%s", _("{error}; the face-track cache is kept in {fallback} instead (--cache-dir or "
                            "$HEYGEM_CACHE_DIR name a shared one)", error=exc.localized(), fallback=fallback))
        return make_folder(fallback)


def file_hash(path: str | Path) -> str:
    """sha256 of a file's bytes, memoised by (path, size, mtime, inode, ctime) in a sidecar-free dict
    (ctime changes on every write and cannot be set back: a file rewritten in place with its size and
    mtime restored is hashed again)."""
    path = Path(path)
    stat = path.stat()
    memo_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns)
    if memo_key in _MEMO:
        return _MEMO[memo_key]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    _MEMO[memo_key] = digest.hexdigest()
    return _MEMO[memo_key]


_MEMO: dict[tuple, str] = {}


def key(*, video_hash: str, **params: Any) -> str:
    """A short key for a video's content hash and the options that affect its analysis."""
    blob = json.dumps({"video": video_hash, **params}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def entry_path(cache_dir: str | Path, entry_key: str) -> Path:
    return Path(cache_dir) / f"analysis-{entry_key}.npz"


def atomic_save_npz(path: Path, **arrays: Any) -> None:
    """Save ``arrays`` to ``path`` through a unique temporary file (safe with concurrent writers)."""
    import numpy as np

    from .records import atomic_output
    with atomic_output(path) as tmp:
        np.savez(tmp, **arrays)
