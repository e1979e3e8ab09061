"""A new user's tour, presenters filed in sub-folders (videos/2024/..., videos/2025/...).

Before: ``heygem scan videos/`` printed an empty table (header only) and exited 0, as if all were
well; ``heygem batch`` said "no videos found in videos" without saying why; and where the folder had
videos of its own too, the sub-folders' were left out in silence. Now scan refuses an empty
selection as batch does (one line, exit 2), and both name the sub-folders they did not search.
"""
from __future__ import annotations

import os
import subprocess
import sys


def heygem(*args, cwd):
    return subprocess.run([sys.executable, "-m", "heygem_kernel", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**os.environ, "HEYGEM_LANG": "en"})


def test_scan_of_sub_folders_only_is_one_line_naming_them(tmp_path, clip_524):
    for year in ("2024", "2025"):
        (tmp_path / "videos" / year).mkdir(parents=True)
        (tmp_path / "videos" / year / "主持人.mp4").symlink_to(clip_524)
    proc = heygem("scan", "videos", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == "heygem: error: no videos found in videos"
    assert lines[0].endswith(" WARNING videos: 2 sub-folder(s) not searched (give them as well): 2024, 2025"), lines


def test_a_folder_with_videos_and_a_sub_folder_scans_its_own_and_names_the_other(tmp_path, clip_524):
    (tmp_path / "videos" / "old").mkdir(parents=True)
    (tmp_path / "videos" / "甲.mp4").symlink_to(clip_524)
    (tmp_path / "videos" / "old" / "乙.mp4").symlink_to(clip_524)
    proc = heygem("scan", "videos", "--samples", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.strip().splitlines()
    assert len(rows) == 2 and rows[1].startswith("甲.mp4 "), rows
    assert [line.split(" WARNING ", 1)[1] for line in proc.stderr.splitlines() if " WARNING " in line] == [
        "videos: 1 sub-folder(s) not searched (give them as well): old"]
