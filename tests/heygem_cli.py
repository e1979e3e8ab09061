"""The ``heygem`` command as a user runs it, for tests: a fresh interpreter, its own language."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def heygem(*args, lang: str = "en", cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m heygem_kernel ARGS`` with ``HEYGEM_LANG=lang``: exit status, stdout and stderr as text."""
    env = {**os.environ, "HEYGEM_LANG": lang}
    return subprocess.run([sys.executable, "-m", "heygem_kernel", *map(str, args)], capture_output=True,
                          text=True, timeout=600, env=env, cwd=cwd)
