"""Content-addressed cache of the video analysis (face track + mouth library).

Keys come from the *content* of the video (not its name) and the options that change the
analysis, so re-running a batch with new audio skips face detection, and a renamed or
replaced file never hits a stale entry.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

HASH_CHUNK = 1 << 20  # 1 MiB reads


def file_hash(path: str | Path) -> str:
    """sha256 of a file's bytes, memoised by (path, size, mtime) in a sidecar-free dict."""
    path = Path(path)
    stat = path.stat()
    memo_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
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
