"""A new user's tour, debugging sync by looking, in Chinese.

Before: with LANG=zh_CN.UTF-8, ``heygem sync``'s plot had every label in Chinese but its title
in English ("Sync check: 李四.mp4"). Now the title follows the language too.
"""
from __future__ import annotations

import subprocess

from heygem_kernel import diagnostics, i18n
from heygem_kernel.sync import measure_video_sync


def test_the_sync_plot_title_is_in_the_users_language(tmp_path, clip_524, monkeypatch):
    clip = tmp_path / "演讲者.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip_524), "-t", "1.6", "-c", "copy", str(clip)],
                   check=True)
    titles = []
    real = diagnostics.plot_mouth_track

    def plot(*args, **kwargs):
        titles.append(kwargs.get("title"))
        return real(*args, **kwargs)

    monkeypatch.setattr(diagnostics, "plot_mouth_track", plot)
    try:
        i18n.set_language("zh")
        report = measure_video_sync(clip, plot=tmp_path / "sync.png")
    finally:
        i18n.set_language(None)
    assert titles == ["同步检查：演讲者.mp4"]
    assert report.plot is not None and report.plot.stat().st_size > 10_000
