"""Diagnostic plots are written whole or not at all: under a temporary name beside the target, renamed
when complete, the temporary removed when the write fails (a full disk, here a file-size limit); and
``heygem sync --plot NAME.svg`` writes an SVG.

Before: each PNG was written in place (a failed write left a truncated plot over the good one), and a
``--plot`` named .svg, .pdf or .jpg got PNG bytes under that name.
"""
from __future__ import annotations

import subprocess
import sys

from heygem_cli import heygem

FILE_SIZE_LIMIT = 8192   # bytes: both plots of 5 s of speech are larger, so their second write fails
WRITE_TWICE = f"""
import resource, signal, sys
from pathlib import Path
from heygem_kernel import audio, diagnostics
mel = audio.melspectrogram(audio.load_audio(sys.argv[1]))
folder = Path(sys.argv[2])
for name in ("mel.png", "mel.svg"):
    diagnostics.plot_mel(mel, folder / name)          # a whole plot, as an earlier run left it
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)        # a write past the limit fails (EFBIG), as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, ({FILE_SIZE_LIMIT}, resource.RLIM_INFINITY))
for name in ("mel.png", "mel.svg"):
    try:
        diagnostics.plot_mel(mel[:, ::-1], folder / name)
        print(name, "written")
    except OSError as exc:
        print(name, "failed", exc.errno)
"""


def test_a_plot_that_cannot_be_written_leaves_the_earlier_one_and_no_temporary(tmp_path, speech_5s):
    folder = tmp_path / "run"
    folder.mkdir()
    proc = subprocess.run([sys.executable, "-c", WRITE_TWICE, str(speech_5s), str(folder)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split("\n")[:2] == ["mel.png failed 27", "mel.svg failed 27"]   # EFBIG
    assert sorted(p.name for p in folder.iterdir()) == ["mel.png", "mel.svg"]          # no temporary left
    png, svg = (folder / "mel.png").read_bytes(), (folder / "mel.svg").read_bytes()
    assert len(png) > FILE_SIZE_LIMIT and png.startswith(b"\x89PNG") and png.rstrip().endswith(b"IEND\xaeB`\x82")
    assert len(svg) > FILE_SIZE_LIMIT and svg.rstrip().endswith(b"</svg>")            # the earlier plots, whole


def test_sync_plot_is_written_in_the_format_its_name_asks_for(tmp_path, clip_590):
    plot = tmp_path / "plots" / "sync.svg"
    proc = heygem("sync", clip_590, "--plot", plot, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert plot.read_bytes().lstrip().startswith(b"<?xml") and b"<svg" in plot.read_bytes()
    assert [p.name for p in plot.parent.iterdir()] == ["sync.svg"]
