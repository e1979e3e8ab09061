"""Where the panel reads and writes: the workspace folders and how the page reaches them.

``heygem serve`` describes the workspace to the notebook's kernel through environment
variables (a Voila kernel has no other channel); in plain Jupyter they are unset and the
workspace is found from the current folder. Engine side (no widgets), so that the server,
the job queue and the panel share it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

# Environment variables set by heygem_kernel.serve for the kernels it starts.
ENV_ROOT = "HEYGEM_ROOT"                # workspace root (holds uploads/, runs/, notebooks/)
ENV_MAX_UPLOAD_MB = "HEYGEM_MAX_UPLOAD_MB"
ENV_FILES_URL = "HEYGEM_FILES_URL"      # URL prefix under which the root is served ("/voila/files/")
ENV_MEDIA_DIRS = "HEYGEM_MEDIA_DIRS"    # extra folders offered in the "file on this machine" picker
ENV_RESTRICT_PICKS = "HEYGEM_RESTRICT_PICKS"  # "1": typed paths must lie in uploads/ or the media dirs

DEFAULT_MAX_UPLOAD_MB = 512             # the issue asks for >= 200 MB; a 1080p minute is ~100-300 MB
UPLOADS_DIR = "uploads"
RUNS_DIR = "runs"
DOWNLOADS_DIR = "_downloads"            # ZIPs, inside runs/ so that they are served like outputs
NOTEBOOK = Path("notebooks") / "workbench.ipynb"
MB = 1024 * 1024


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` that holds ``notebooks/workbench.ipynb``.

    A notebook kernel runs in ``notebooks/``, so this finds the project from there; anywhere
    else the current folder is the workspace.
    """
    start = Path(start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / NOTEBOOK).is_file():
            return folder
    return start


@dataclass(frozen=True)
class Workspace:
    """Folders of one panel and the limits that apply to it."""

    root: Path
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * MB
    files_url: str | None = None        # None: the page cannot fetch files by URL (plain Jupyter)
    media_dirs: tuple[Path, ...] = field(default_factory=tuple)
    restrict_picks: bool = False        # served off loopback: no reading arbitrary files by path

    def __post_init__(self) -> None:   # Workspace(root="~/heygem") from a notebook: "str / str" TypeError
        object.__setattr__(self, "root", Path(self.root).expanduser())
        object.__setattr__(self, "media_dirs", tuple(Path(d).expanduser() for d in self.media_dirs))

    @property
    def uploads(self) -> Path:
        return self.root / UPLOADS_DIR

    @property
    def runs(self) -> Path:
        return self.root / RUNS_DIR

    @property
    def downloads(self) -> Path:
        return self.runs / DOWNLOADS_DIR

    @classmethod
    def from_env(cls, root: str | os.PathLike | None = None) -> "Workspace":
        env = os.environ
        root = Path(root or env.get(ENV_ROOT) or find_root()).resolve()
        mb = float(env.get(ENV_MAX_UPLOAD_MB) or DEFAULT_MAX_UPLOAD_MB)
        dirs = tuple(Path(p) for p in env.get(ENV_MEDIA_DIRS, "").split(os.pathsep) if p)
        return cls(root=root, max_upload_bytes=int(mb * MB), files_url=env.get(ENV_FILES_URL) or None,
                   media_dirs=dirs, restrict_picks=env.get(ENV_RESTRICT_PICKS) == "1")

    def may_read(self, path: str | os.PathLike) -> bool:
        """Whether the panel may use ``path`` as an input (always, unless ``restrict_picks``)."""
        if not self.restrict_picks:
            return True
        path = Path(path).resolve()
        return any(path.is_relative_to(Path(d).resolve()) for d in (self.uploads, *self.media_dirs))

    def url_for(self, path: str | os.PathLike) -> str | None:
        """The URL the page can load ``path`` from, or None when it is not served.

        Only some files under ``uploads/`` and ``runs/`` are served (heygem_kernel.serve.FILE_ALLOWLIST).
        """
        if not self.files_url:
            return None
        path = Path(path).resolve()
        for folder in (self.uploads, self.runs):
            try:
                rel = path.relative_to(folder.resolve())
            except ValueError:
                continue
            return self.files_url + quote(f"{folder.name}/{rel.as_posix()}")
        return None
