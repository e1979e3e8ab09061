"""Where model checkpoints live, and whether a file is the official one.

Search order for the folder: ``$HEYGEM_CHECKPOINTS``, ``<repo>/checkpoints``, ``./checkpoints``.
Checksums of multi-hundred-MB files are cached by (path, size, mtime) in
``$HEYGEM_CACHE_DIR`` (default ``~/.cache/heygem``) so ``heygem doctor`` and run records stay
fast after the first time.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from .errors import CheckpointError
from .i18n import N_, Text
from .records import write_json

CHECKPOINTS_ENV = "HEYGEM_CHECKPOINTS"
CACHE_ENV = "HEYGEM_CACHE_DIR"
REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".tar", ".bin")
_HASH_CHUNK = 1 << 22  # 4 MiB reads


@dataclass(frozen=True)
class KnownCheckpoint:
    """An officially released file (spec sections 1.6, 2.4, 3; sizes/sums from the HF mirror)."""

    name: str
    model: str          # "generator" | "syncnet" | "quality_disc"
    size: int
    sha256: str


KNOWN_CHECKPOINTS: tuple[KnownCheckpoint, ...] = (
    KnownCheckpoint("wav2lip.pth", "generator", 435_807_851,
                    "b78b681b68ad9fe6c6fb1debc6ff43ad05834a8af8a62ffc4167b7b34ef63c37"),
    KnownCheckpoint("wav2lip_gan.pth", "generator", 435_801_865,
                    "ca9ab7b7b812c0e80a6e70a5977c545a1e8a365a6c49d5e533023c034d7ac3d8"),
    KnownCheckpoint("lipsync_expert.pth", "syncnet", 197_357_631,
                    "9b9936c721696446eeed353032cab242a8cf0eed8c46cde540366f6ae5493be5"),
    KnownCheckpoint("visual_quality_disc.pth", "quality_disc", 169_382_040,
                    "b3f8f6f7e954af02f2ffe0f3ea11f3259af89bff6e70933001c7c6bc8c145d96"),
)
KNOWN_SHA256: dict[str, KnownCheckpoint] = {k.sha256: k for k in KNOWN_CHECKPOINTS}
KNOWN_BY_NAME: dict[str, KnownCheckpoint] = {k.name: k for k in KNOWN_CHECKPOINTS}

GENERATOR_NAMES = ("wav2lip.pth", "wav2lip_gan.pth")   # default generator, first found wins
SYNCNET_NAME = "lipsync_expert.pth"


# ----------------------------------------------------------------------------- locations
def checkpoints_dir() -> Path:
    """The checkpoints folder (it may not exist yet)."""
    env = os.environ.get(CHECKPOINTS_ENV)
    if env:
        return Path(env).expanduser()
    repo = REPO_ROOT / "checkpoints"
    if repo.is_dir():
        return repo
    return Path.cwd() / "checkpoints"


def find_checkpoint(names: Iterable[str], *, directory: str | os.PathLike | None = None
                    ) -> Path | None:
    """First of ``names`` present in ``directory`` (default :func:`checkpoints_dir`)."""
    folder = Path(directory) if directory is not None else checkpoints_dir()
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


def generator_path(directory: str | os.PathLike | None = None) -> Path:
    """Default generator: ``wav2lip.pth``, else ``wav2lip_gan.pth`` (the former if neither)."""
    folder = Path(directory) if directory is not None else checkpoints_dir()
    return find_checkpoint(GENERATOR_NAMES, directory=folder) or folder / GENERATOR_NAMES[0]


def syncnet_path(directory: str | os.PathLike | None = None) -> Path:
    """Default expert SyncNet path ``checkpoints/lipsync_expert.pth`` (may not exist)."""
    folder = Path(directory) if directory is not None else checkpoints_dir()
    return folder / SYNCNET_NAME


# ----------------------------------------------------------------------------- checksums
def _cache_file() -> Path:
    from .cache import default_dir
    return default_dir() / "sha256.json"


def _load_cache() -> dict:
    try:
        return json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}


def sha256(path: str | os.PathLike, *, use_cache: bool = True) -> str:
    """Hex sha256 of a file, cached by (absolute path, size, mtime_ns)."""
    path = Path(path).resolve()
    st = path.stat()
    key = str(path)
    cache = _load_cache() if use_cache else {}
    hit = cache.get(key)
    if hit and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns:
        return hit["sha256"]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    if use_cache:
        cache[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": value}
        try:  # a read-only home must not break a run
            _cache_file().parent.mkdir(parents=True, exist_ok=True)
            write_json(_cache_file(), cache)
        except OSError:
            pass
    return value


# ----------------------------------------------------------------------------- inspection
def sniff_format(path: str | os.PathLike) -> str:
    """'zip' (torch>=1.6 / TorchScript), 'legacy' (torch<1.6 pickle), 'html' or 'unknown'."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "legacy"
    # A web page saved in place of a model: markup ('<' then a tag name, '!' or '?') in text bytes.
    # A bare '<' is not enough: 1 in 256 random or compressed files starts with one.
    text = head.lstrip().lower()
    if re.match(rb"<[a-z!?]", text) and b"\x00" not in head:
        return "html"
    return "unknown"


def _zip_complete(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return bool(zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


class _Inert:
    """Stands in for every class a legacy checkpoint names: nothing from the file runs."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setitem__(self, key, value) -> None:
        pass

    def __setstate__(self, state) -> None:
        pass

    def append(self, item) -> None:
        pass

    def extend(self, items) -> None:
        pass


# bytes per element of the legacy typed storages
_STORAGE_BYTES = {"DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2,
                  "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1,
                  "ByteStorage": 1, "BoolStorage": 1}


def _legacy_complete(path: Path) -> bool | None:
    """Walk a torch<1.6 file (magic, protocol, sys_info, object, storage keys, raw storages)
    without executing it; False if the storages run past the end, None if unparseable."""
    import pickle
    import struct

    storages: dict[str, int] = {}   # key -> bytes per element

    class Walker(pickle.Unpickler):
        def find_class(self, module, name):
            return type(name, (_Inert,), {})

        def persistent_load(self, pid):
            if isinstance(pid, tuple) and len(pid) > 2 and pid[0] == "storage":
                storages[str(pid[2])] = _STORAGE_BYTES.get(getattr(pid[1], "__name__", ""), 0)
            return None

    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            for _ in range(4):               # magic number, protocol, sys_info, the object
                Walker(fh).load()
            keys = Walker(fh).load()
            for key in keys:
                n = fh.read(8)
                if len(n) < 8:
                    return False
                width = storages.get(str(key), 0)
                if not width:
                    return None
                fh.seek(struct.unpack("<q", n)[0] * width, 1)
                if fh.tell() > size:
                    return False
            return True
    except EOFError:
        return False
    except Exception:  # noqa: BLE001 - an unexpected layout: we cannot tell
        return None


@dataclass(frozen=True)
class CheckpointInfo:
    """What :func:`inspect_checkpoint` found out about one file.

    status: "official" (sha256 of a released file), "unknown" (a loadable-looking file we do
    not know: fine-tunes, re-saves), "truncated?" (smaller than the official file of that
    name, or an incomplete zip), "not a checkpoint" (HTML page, random bytes).
    """

    path: Path
    size: int
    sha256: str | None
    status: str
    format: str
    known: KnownCheckpoint | None = None
    detail: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        d["known"] = self.known.name if self.known else None
        return d


def inspect_checkpoint(path: str | os.PathLike, *, hash: bool = True) -> CheckpointInfo:
    """Size, format, sha256 and official/unknown/truncated status of one file (no torch)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("checkpoint not found: {path}", path=path)
    size = path.stat().st_size
    fmt = sniff_format(path)
    digest = sha256(path) if hash else None
    if digest and digest in KNOWN_SHA256:
        known = KNOWN_SHA256[digest]
        return CheckpointInfo(path, size, digest, "official", fmt, known,
                              f"{known.name}, {known.model}")
    same_name = KNOWN_BY_NAME.get(path.name)
    if fmt in ("html", "unknown"):
        what = Text("an HTML page") if fmt == "html" else Text("not a PyTorch file")
        return CheckpointInfo(path, size, digest, "not a checkpoint", fmt, same_name,
                              Text("{what} ({size:,} bytes)", what=what, size=size))
    complete = _zip_complete(path) if fmt == "zip" else _legacy_complete(path)
    if complete is False:
        what = Text("zip archive without its directory") if fmt == "zip" else Text("data ends early")
        return CheckpointInfo(path, size, digest, "truncated?", fmt, same_name,
                              Text("{what}: cut short at {size:,} bytes", what=what, size=size))
    if complete is None and same_name and size < same_name.size:
        return CheckpointInfo(path, size, digest, "truncated?", fmt, same_name,
                              Text("{size:,} of the official {official_size:,} bytes", size=size,
                                   official_size=same_name.size))
    detail = Text("not an official release: a fine-tune or re-save?")
    if same_name and size != same_name.size:
        detail = Text("not an official release: a fine-tune or re-save? ({size:,} bytes; the official file is "
                      "{official_size:,})", size=size, official_size=same_name.size)
    return CheckpointInfo(path, size, digest, "unknown", fmt, same_name, detail)


def scan(directory: str | os.PathLike | None = None, *, hash: bool = True
         ) -> list[CheckpointInfo]:
    """Inspect every checkpoint-looking file directly inside ``directory``."""
    folder = Path(directory) if directory is not None else checkpoints_dir()
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in CHECKPOINT_SUFFIXES)
    return [inspect_checkpoint(p, hash=hash) for p in files]


def verify(path: str | os.PathLike, *, expected_sha256: str | None = None) -> CheckpointInfo:
    """Inspect ``path`` and raise :class:`CheckpointError` if it is unusable or mismatched."""
    info = inspect_checkpoint(path)
    if expected_sha256 and info.sha256 != expected_sha256.lower():
        raise CheckpointError("{path} has sha256 {sha256}, expected {expected_sha256}",
                              path=info.path, sha256=info.sha256, expected_sha256=expected_sha256)
    if info.status in ("not a checkpoint", "truncated?"):
        ref = info.known or KNOWN_BY_NAME[GENERATOR_NAMES[0]]
        template = (N_("{path} is not a checkpoint: {detail}; the official {official_name} is "
                       "{official_size:,} bytes: re-download it") if info.status == "not a checkpoint"
                    else N_("{path} is truncated: {detail}; the official {official_name} is "
                            "{official_size:,} bytes: re-download it"))
        raise CheckpointError(template, path=info.path, detail=info.detail, official_name=ref.name,
                              official_size=ref.size)
    return info


__all__ = ["CHECKPOINTS_ENV", "KNOWN_CHECKPOINTS", "KNOWN_SHA256", "KnownCheckpoint",
           "CheckpointInfo", "checkpoints_dir", "find_checkpoint", "generator_path",
           "syncnet_path", "sha256", "sniff_format", "inspect_checkpoint", "scan", "verify"]
