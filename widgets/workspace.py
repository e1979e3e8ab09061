"""The workspace (folders, limits, served URLs) lives in the engine, :mod:`heygem_kernel.workspace`,
so that ``heygem serve`` needs nothing from this package; re-exported here for the panel."""
from __future__ import annotations

from heygem_kernel.workspace import (DEFAULT_MAX_UPLOAD_MB, DOWNLOADS_DIR, ENV_FILES_URL,  # noqa: F401
                                     ENV_MAX_UPLOAD_MB, ENV_MEDIA_DIRS, ENV_RESTRICT_PICKS, ENV_ROOT, MB,
                                     NOTEBOOK, RUNS_DIR, UPLOADS_DIR, Workspace, find_root)
