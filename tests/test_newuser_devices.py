"""A new user's tour, devices and pipes as file names.

Before: ``--out /dev/null`` or ``--out /dev/stdout`` (run as root, as in many containers) had the
finished MP4 renamed over the device node: /dev/null became a regular file; ``--out -`` wrote a
file named "-"; ``--audio /dev/stdin`` fed by a pipe was "not an audio file ffmpeg can read" (the
probe read the pipe, the decoder found it empty), and fed by ``< speech.wav`` it failed the same
way (ffmpeg, a child process, opened its own stdin). Now devices, pipes and "-" are one line,
exit 2, before any work; ``/dev/stdin`` redirected from a file is that file.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "heygem_kernel" / "assets" / "sample_speech.wav"


def heygem(*args, cwd: Path | None = None, stdin=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "heygem_kernel", *map(str, args)], capture_output=True,
                          stdin=subprocess.DEVNULL if stdin is None else stdin, text=True, timeout=600, cwd=cwd,
                          env={**os.environ, "HEYGEM_LANG": "en"})


def error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(SPEECH), "-t", "1.2", str(path)], check=True)
    return path


def test_out_dev_null_is_refused_and_stays_a_device(tmp_path, clip_524, speech):
    line = error_line(heygem("run", "--audio", speech, "--video", clip_524, "--out", "/dev/null",
                             "--runs-root", tmp_path / "runs"))
    assert line == "heygem: error: /dev/null is a device or a pipe, not a file; --out needs a file name, e.g. output.mp4"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not (tmp_path / "runs").exists()


def test_out_to_a_fifo_is_refused_and_stays_a_fifo(tmp_path, clip_524, speech):
    fifo = tmp_path / "out.mp4"
    os.mkfifo(fifo)
    line = error_line(heygem("run", "--audio", speech, "--video", clip_524, "--out", fifo,
                             "--runs-root", tmp_path / "runs"))
    assert line == f"heygem: error: {fifo} is a device or a pipe, not a file; --out needs a file name, e.g. output.mp4"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_out_dash_is_refused_and_no_file_named_dash_appears(tmp_path, clip_524, speech):
    line = error_line(heygem("run", "--audio", speech, "--video", clip_524, "--out", "-", cwd=tmp_path))
    assert line == ("heygem: error: --out -: an MP4 cannot be streamed to standard output; name a file, "
                    "e.g. output.mp4")
    assert not (tmp_path / "-").exists()


def test_audio_from_a_pipe_is_one_clear_line(tmp_path, clip_524, speech):
    with subprocess.Popen(["cat", str(speech)], stdout=subprocess.PIPE) as cat:
        proc = heygem("run", "--audio", "/dev/stdin", "--video", clip_524, "--runs-root", tmp_path / "runs",
                      stdin=cat.stdout)
    assert error_line(proc) == ("heygem: error: /dev/stdin is a pipe or a device, not a file: it can be read only "
                                "once; save it to a file first")


def test_audio_redirected_from_a_file_is_that_file(tmp_path, clip_524, speech):
    with open(speech, "rb") as fh:
        proc = heygem("run", "--audio", "/dev/stdin", "--video", clip_524, "--runs-root", tmp_path / "runs",
                      "--quiet", "--no-sync-check", stdin=fh)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").glob("*-talking_524")
    params = json.loads((run_dir / "params.json").read_text(encoding="utf-8"))
    assert params["audio"] == str(speech)
    result = json.loads((run_dir / "result.json").read_text(encoding="utf-8"))
    assert abs(result["duration"] - 1.2) < 0.05
