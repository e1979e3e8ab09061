"""A new user's tour, the panel's result card for NTSC footage (29.97 fps, what US cameras record).

Before: the card's "fps" row said "30" (format .3g) for a 30000/1001 output that heygem run reports
as 29.970 fps, and 23.976 read "24"; its "duration" row said "1.00 s" in a Chinese page, where every
other time is 秒. Now fps has three decimals as the CLI's line, and the duration is in the page's unit.
"""
from __future__ import annotations

import re
import subprocess

from heygem_kernel import RunOptions, i18n, run
from heygem_widgets.views import figures_html


def rows(html_text: str) -> dict[str, str]:
    return dict(re.findall(r"<tr><td[^>]*>(.*?)</td><td>(.*?)</td></tr>", html_text))


def test_the_card_gives_ntsc_rate_and_seconds_in_the_pages_unit(tmp_path, clip_524, speech_5s):
    ntsc = tmp_path / "ntsc.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_524), "-t", "1", "-vf", "fps=30000/1001",
                    "-c:a", "copy", str(ntsc)], check=True)
    speech = tmp_path / "s.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech_5s), "-t", "1", str(speech)], check=True)
    result = run(speech, ntsc, out=tmp_path / "o.mp4", runs_root=tmp_path / "runs",
                 options=RunOptions(sync_check=False))
    data = result.to_dict()
    rate = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream=r_frame_rate",
                           "-of", "csv=p=0", str(result.output)], capture_output=True, text=True, check=True)
    assert rate.stdout.strip() == "30000/1001"
    en = rows(figures_html(data))
    assert en["fps"] == "29.970" and en["duration"] == "1.00 s", en
    try:
        i18n.set_language("zh")
        zh = rows(figures_html(data))
    finally:
        i18n.set_language(None)
    assert zh["帧率"] == "29.970" and zh["时长"] == "1.00 秒", zh
