"""A home where matplotlib cannot make its folders (read-only: a container, a service account; here
~/.config and ~/.cache are files in the way, which a non-root user and root both meet) does not put
matplotlib's warnings on the console. Before, every heygem run / sync printed 'mkdir -p failed for
path ~/.config/matplotlib ...' and 'Matplotlib created a temporary cache directory at
/tmp/matplotlib-XXXX ... it is highly recommended to set the MPLCONFIGDIR environment variable ...',
rebuilt the font cache in a new temporary folder, and a Ctrl-C left that folder in /tmp."""
from __future__ import annotations

import os
import subprocess
import sys


def _env(tmp_path) -> dict:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".config").write_text("not a folder")
    (home / ".cache").write_text("not a folder")
    (tmp_path / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "HEYGEM_CACHE_DIR")}
    return {**env, "HOME": str(home), "TMPDIR": str(tmp_path / "tmp"), "HEYGEM_LANG": "en"}


def test_run_and_sync_in_an_unwritable_home_say_nothing_of_matplotlib(tmp_path, photo_524, clip_590, speech_5s):
    env = _env(tmp_path)
    run = subprocess.run([sys.executable, "-m", "heygem_kernel", "run", "--quiet", "--audio", str(speech_5s),
                          "--video", str(photo_524), "--out", "说话.mp4", "--run-dir", "run", "--cache-dir", "cache"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""   # was matplotlib's two warnings
    assert (tmp_path / "run" / "mouth_track.png").is_file()
    sync = subprocess.run([sys.executable, "-m", "heygem_kernel", "sync", str(clip_590), "--plot", "同步.png",
                           "--cache-dir", "cache"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert sync.returncode == 0, sync.stderr
    assert "matplotlib" not in sync.stderr.lower(), sync.stderr
    assert (tmp_path / "同步.png").is_file()
    # one folder of its own for matplotlib's font cache, kept for the next command; no /tmp/matplotlib-XXXX
    assert [p.name for p in (tmp_path / "tmp").iterdir()] == [f"heygem-matplotlib-{os.getuid()}"]
