"""A new user's tour, long Chinese file names: 80 characters of Chinese are 240 bytes of UTF-8,
near the 255-byte limit of a file name.

Before: ``--out <80 Chinese characters>.mp4`` (a valid name) failed with "internal error:
OSError: File name too long" after the analysis, because the temporary name beside it adds
~35 bytes; a name over the limit for --out, --video, --audio, --run-dir, `scan` or
`sync --plot` was an internal error (exit 1) too. Now the temporary name is cut to fit, and a
name the disk cannot hold is one line naming it, exit 2.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from heygem_kernel import media
from heygem_cli import heygem

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "heygem_kernel" / "assets" / "sample_speech.wav"
LONG = "培训视频" * 20          # 80 characters, 240 bytes: a valid name with ".mp4"
TOO_LONG = "培训视频" * 22      # 88 characters, 264 bytes: over the limit


def last_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    return proc.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def short_inputs(tmp_path_factory, clip_524):
    folder = tmp_path_factory.mktemp("inputs")
    audio, video = folder / "speech.wav", folder / f"{LONG}.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(SPEECH), "-t", "1.5", str(audio)], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip_524), "-t", "1.2", "-c", "copy", str(video)],
                   check=True)
    return audio, video


def test_an_output_named_with_80_chinese_characters_is_written(tmp_path, short_inputs):
    audio, video = short_inputs
    out = tmp_path / f"{LONG}.mp4"
    proc = heygem("run", "--audio", audio, "--video", video, "--out", out, "--runs-root", tmp_path / "runs",
                  "--quiet", "--no-sync-check", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert media.mp4_complete(out)
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == [out.name]   # no temporary left beside it


def test_an_output_name_over_the_limit_is_one_line_before_any_work(tmp_path, short_inputs):
    audio, video = short_inputs
    out = tmp_path / f"{TOO_LONG}.mp4"
    proc = heygem("run", "--audio", audio, "--video", video, "--out", out, "--runs-root", tmp_path / "runs")
    assert last_line(proc) == (f"heygem: error: {out}: the file name is 268 bytes long, the disk allows 255; "
                               "choose a shorter one")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("command", ["run-video", "run-audio", "run-dir", "scan", "batch", "sync-plot"])
def test_names_over_the_limit_are_one_line_not_an_internal_error(tmp_path, short_inputs, command):
    audio, video = short_inputs
    long_video, long_audio, long_dir = (tmp_path / f"{TOO_LONG}.mp4", tmp_path / f"{TOO_LONG}.wav",
                                        tmp_path / TOO_LONG)
    args, named = {
        "run-video": (["run", "--audio", audio, "--video", long_video], long_video),
        "run-audio": (["run", "--audio", long_audio, "--video", video], long_audio),
        "run-dir": (["run", "--audio", audio, "--video", video, "--run-dir", long_dir], long_dir),
        "scan": (["scan", long_video], long_video),
        "batch": (["batch", "--audio", long_audio, "--run-dir", tmp_path / "b", video], long_audio),
        "sync-plot": (["sync", video, "--plot", tmp_path / f"{TOO_LONG}.png"], tmp_path / f"{TOO_LONG}.png"),
    }[command]
    line = last_line(heygem(*args, cwd=tmp_path))
    assert line.startswith(f"heygem: error: {named}: "), line
    assert line.endswith(("the name is too long for the file system",
                          "the disk allows 255; choose a shorter one")), line


def test_the_too_long_line_is_translated(tmp_path, short_inputs):
    audio, _video = short_inputs
    long_video = tmp_path / f"{TOO_LONG}.mp4"
    line = last_line(heygem("run", "--audio", audio, "--video", long_video, lang="zh", cwd=tmp_path))
    assert line == f"heygem：错误：{long_video}：名称超出文件系统允许的长度"
