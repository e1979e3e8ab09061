"""``heygem run``'s progress: on a terminal one bar at a time, the speech analysis (on its own thread
beside the face analysis) shown on the faces bar; in a log (not a terminal: CI, a batch) plain lines.

Before: the speech bar and the faces bar took turns on the terminal (speech 0/1, faces, then the speech
bar again over the finished faces), and a log got tqdm's carriage-return redraws as one endless line.
"""
from __future__ import annotations

import re

from heygem_cli import heygem, heygem_on_terminal

LINE = re.compile(r"^(speech|faces|render): (\d+)% \((\d+)/(\d+)\)$")


def _run_args(tmp_path, clip, speech) -> list[str]:
    return ["run", "--audio", str(speech), "--video", str(clip), "--out", str(tmp_path / "out.mp4"),
            "--runs-root", str(tmp_path / "runs")]


def test_a_log_gets_plain_progress_lines(tmp_path, clip_590, speech_5s):
    proc = heygem(*_run_args(tmp_path, clip_590, speech_5s), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "\r" not in proc.stderr
    progress = [m.groups() for m in map(LINE.match, proc.stderr.splitlines()) if m]
    assert progress[0][0] == "speech" and ("faces", "100", "125", "125") in progress
    assert progress[-1] == ("render", "100", "125", "125") and ("speech", "100", "1", "1") in progress
    for stage in ("faces", "render"):   # a line at its start and at each quarter, not one per frame
        assert 3 <= sum(1 for p in progress if p[0] == stage) <= 5


def test_on_a_terminal_the_speech_shows_on_the_faces_bar(tmp_path, clip_590, speech_5s):
    status, screen = heygem_on_terminal(*_run_args(tmp_path, clip_590, speech_5s), cwd=tmp_path)
    assert status == 0, screen[-3000:]
    shown = [s.strip() for s in re.split(r"[\r\n]", screen) if s.strip()]
    bars = [s.split(":")[0] for s in shown if re.match(r"^(speech|faces|render):\s+\d+%\|", s)]
    first_faces = bars.index("faces")
    assert "speech" not in bars[first_faces:], bars        # no speech bar taking turns with the faces bar
    faces = [s for s in shown if s.startswith("faces:")]
    assert any(s.endswith("speech …]") for s in faces) and faces[-1].endswith("speech ✓]"), faces[-3:]
    assert bars[-1] == "render" and "wrote " in shown[-2]
