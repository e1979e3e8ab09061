"""A new user's tour, a hospital's batch folders named with spaces ("批量 结果/第一 期").

Before: the one-line refusals that suggest a command printed the paths as they are, e.g. "give a new
--run-dir (heygem batch --from /data/批量 结果/第一 期 --audio /data/培训 素材/新 讲解.wav --run-dir NEW
...)": pasted into a shell that is --from /data/批量 plus stray words. Now the paths inside a suggested
command are shell-quoted (shlex.quote), so the command can be copied as it is.
"""
from __future__ import annotations

import re
import shlex
import subprocess

from heygem_cli import heygem


def test_suggested_commands_keep_paths_with_spaces_whole(tmp_path, clip_590, speech_zh, speech_5s):
    photo = tmp_path / "培训 素材" / "王 医生.jpg"
    photo.parent.mkdir()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "1", "-i", str(clip_590), "-frames:v", "1", str(photo)],
                   check=True)
    run_dir = tmp_path / "批量 结果" / "第一 期"
    first = heygem("batch", "--audio", speech_zh, "--run-dir", run_dir, "--cache-dir", tmp_path / "cache", photo)
    assert first.returncode == 0, first.stderr[-2000:]

    # another speech into the same folder: refused, with the command that does it right
    again = heygem("batch", "--audio", speech_5s, "--run-dir", run_dir, photo)
    assert again.returncode == 2, again.stderr
    command = re.search(r"\((heygem batch --from .*) --run-dir NEW", again.stderr).group(1)
    assert shlex.split(command) == ["heygem", "batch", "--from", str(run_dir), "--audio", str(speech_5s)], command
    zh = heygem("batch", "--audio", speech_5s, "--run-dir", run_dir, photo, lang="zh")
    assert shlex.quote(str(run_dir)) in zh.stderr and "--run-dir 新文件夹" in zh.stderr, zh.stderr

    # a batch folder given to heygem run --from, and one of its items given to heygem batch --from
    wrong = heygem("run", "--from", run_dir)
    assert wrong.returncode == 2
    words = shlex.split(re.search(r"re-run it with (heygem batch --from .*), or one", wrong.stderr).group(1))
    assert words == ["heygem", "batch", "--from", str(run_dir)], wrong.stderr
    item = run_dir / "items" / "王_医生"
    assert (item / "params.json").is_file()
    one = heygem("batch", "--from", item, "--run-dir", tmp_path / "新 批量")
    assert one.returncode == 2
    words = shlex.split(re.search(r"re-run it with (heygem run --from .*)$", one.stderr.strip()).group(1))
    assert words == ["heygem", "run", "--from", str(item)], one.stderr
