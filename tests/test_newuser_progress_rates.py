"""A new user's tour, watching heygem run's progress bars.

Before: a bar was made at its stage's first report and counted what was already done as done in
no time: "render: 8% 16/200 [00:00<00:00, 1720740.10frame/s]", and a cached face track's bar
"faces: 100% 125/125 [..., 14563555.56frame/s]". Bars now start at what is done (tqdm initial):
the rates are the work done while they show ("?" until there is some).
"""
from __future__ import annotations

import re

from heygem_cli import heygem_on_terminal


def test_progress_rates_are_real(tmp_path, clip_524, speech_5s):
    rates = []
    for _ in range(2):   # the second run re-uses the face track: its faces bar jumps to the end
        status, screen = heygem_on_terminal(   # bars are drawn on a terminal (a log gets plain lines)
            "run", "--audio", speech_5s, "--video", clip_524, "--out", tmp_path / "o.mp4", "--cache-dir",
            tmp_path / "cache", "--runs-root", tmp_path / "runs", "--no-sync-check")
        assert status == 0, screen[-2000:]
        rates += [float(r) for r in re.findall(r"([0-9.]+)(?:frame|step)/s", screen)]
    assert rates, "no progress rate shown"
    assert max(rates) < 5000, sorted(rates)[-5:]     # 524x524 frames: a few hundred a second at most here
