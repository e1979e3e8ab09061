"""A file or folder whose name is not UTF-8 (GBK, as a zip packed on Windows leaves it on Linux) is
refused in one line, exit 2, before any work. Before, heygem run rendered the whole video, then
failed with 'heygem: internal error: UnicodeEncodeError: ... surrogates not allowed' (exit 1, a
logging traceback above it from run.log) and heygem batch the same from papermill's parameters."""
from __future__ import annotations

import os

from heygem_cli import heygem

GBK_VIDEO = "讲话人".encode("gbk") + b".mp4"     # b'\xbd\xb2\xbb\xb0\xc8\xcb.mp4'
GBK_FOLDER = "资料".encode("gbk")                # b"\xd7\xca\xc1\xcf"
WHY = (": this name is not UTF-8 text (it was made on another system, e.g. GBK in a zip packed on Windows), "
       "which heygem's records cannot hold; rename it (e.g. convmv -f gbk -t utf-8 --notest NAME)")


def _named(tmp_path, name: bytes, target) -> str:
    """A link named ``name`` (raw bytes) in ``tmp_path`` to ``target``: the path as Python sees it."""
    link = os.path.join(os.fsencode(tmp_path), name)
    os.symlink(os.fsencode(target), link)
    return os.fsdecode(link)


def test_run_refuses_a_gbk_video_name_before_any_work(tmp_path, clip_524, speech_5s):
    video = _named(tmp_path, GBK_VIDEO, clip_524)
    proc = heygem("run", "--quiet", "--audio", speech_5s, "--video", video, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"heygem: error: {tmp_path}/\\xbd\\xb2\\xbb\\xb0\\xc8\\xcb.mp4{WHY}"]
    assert not (tmp_path / "runs").exists()   # no run folder: refused before the work
    assert proc.stdout == ""


def test_run_in_a_gbk_folder_names_the_folder(tmp_path, clip_524, speech_5s):
    folder = os.fsencode(tmp_path) + b"/" + GBK_FOLDER
    os.mkdir(folder)
    proc = heygem("run", "--quiet", "--audio", speech_5s, "--video", clip_524, cwd=os.fsdecode(folder))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"heygem: error: {tmp_path}/\\xd7\\xca\\xc1\\xcf{WHY}"]
    assert os.listdir(folder) == []


def test_batch_refuses_a_gbk_video_in_a_folder(tmp_path, clip_524, clip_590, speech_5s):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "good.mp4").symlink_to(clip_590)
    _named(videos, GBK_VIDEO, clip_524)
    proc = heygem("batch", "--audio", speech_5s, "--run-dir", tmp_path / "batch", videos, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"heygem: error: {videos}/\\xbd\\xb2\\xbb\\xb0\\xc8\\xcb.mp4{WHY}"]
    assert not (tmp_path / "batch").exists()


def test_zh_line(tmp_path, clip_524, speech_5s):
    video = _named(tmp_path, GBK_VIDEO, clip_524)
    proc = heygem("run", "--quiet", "--audio", speech_5s, "--video", video, lang="zh", cwd=tmp_path)
    assert proc.returncode == 2
    line, = proc.stderr.splitlines()
    assert line.startswith(f"heygem：错误：{tmp_path}/\\xbd\\xb2\\xbb\\xb0\\xc8\\xcb.mp4") and "UTF-8" in line, line
