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


TERMINAL_SIZE = (24, 120)   # rows, columns: a pty starts at 0 x 0, where tqdm draws nothing


def heygem_on_terminal(*args, lang: str = "en", cwd: Path | None = None) -> tuple[int, str]:
    """``python -m heygem_kernel ARGS`` on a terminal (a pty, stdout and stderr both): exit status and
    everything it drew, carriage returns included."""
    import fcntl
    import pty
    import struct
    import termios
    pid, fd = pty.fork()
    if pid == 0:   # the child
        os.environ["HEYGEM_LANG"] = lang
        if cwd is not None:
            os.chdir(cwd)
        os.execv(sys.executable, [sys.executable, "-m", "heygem_kernel", *map(str, args)])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", *TERMINAL_SIZE, 0, 0))
    screen = b""
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:   # the child closed the terminal
            break
        if not data:
            break
        screen += data
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), screen.decode("utf-8", "replace")
