"""A new user's tour, ``heygem scan`` of a presenter's photo beside a clip.

Before: the photo's row gave its duration as "0.0 s" (and the batch report's pre-flight table "0.0 秒"),
a length that contradicts the 5 s talking photo it makes. A photo has no length: the cell is "-".
"""
from __future__ import annotations

import os
import re
import subprocess
import sys


def test_a_photos_duration_cell_is_a_dash(tmp_path, photo_524, clip_524):
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "scan", str(photo_524), str(clip_524),
                           "--samples", "2"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HEYGEM_LANG": "en"})
    assert proc.returncode == 0, proc.stderr
    header, photo, clip = (re.split(r"\s{2,}", line) for line in proc.stdout.splitlines())
    at = header.index("duration")
    assert photo[at] == "-" and clip[at] == "4.9 s", (photo, clip)
