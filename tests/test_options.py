"""Options are checked up front: one line, exit 2, before any file is read (API, CLI, batch, panel)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from heygem_kernel import batch
from heygem_kernel.errors import InputError
from heygem_kernel.options import RunOptions

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "heygem_kernel" / "assets" / "sample_speech.wav"

# (CLI arguments, the exact one-line message on stderr)
BAD_CLI = [
    (["--fps", "0"], "heygem: error: invalid option still_fps (--fps): must be a number from 1 to 240 fps; got 0.0"),
    (["--out-height", "1"], "heygem: error: invalid option out_height (--out-height): must be a whole number "
                            "from 32 to 4320 px (or None: keep the input's); got 1"),
    (["--crf", "60"], "heygem: error: invalid option crf (--crf): must be a whole number from 0 to 51; got 60"),
    (["--batch-size", "0"], "heygem: error: invalid option batch_size (--batch-size): must be a whole number "
                            "from 1 to 1024; got 0"),
    (["--mask-scale", "nan"], "heygem: error: invalid option mask_scale (--mask-scale): must be a number "
                              "from 0.25 to 4; got nan"),
    (["--preset", "fastest"], "heygem: error: invalid option preset (--preset): must be one of ultrafast, "
                              "superfast, veryfast, faster, fast, medium, slow, slower, veryslow, placebo; "
                              "got 'fastest'"),
    (["--device", "gpu"], "heygem: error: invalid option device (--device): must be auto, cpu, cuda or cuda:N; "
                          "got 'gpu'"),
    (["--fps", "abc"], "heygem run: error: argument --fps: invalid float value: 'abc' (see heygem run -h)"),
]


@pytest.mark.parametrize("args,message", BAD_CLI, ids=[" ".join(a) for a, _ in BAD_CLI])
def test_cli_bad_option_is_one_line_exit_2_before_any_work(tmp_path, args, message):
    # the video does not even exist: the option must be refused before any input is looked at
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "run", "--audio", str(SPEECH), "--video",
                           str(tmp_path / "missing.mp4"), "--runs-root", str(tmp_path / "runs"), *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == message
    assert time.perf_counter() - t0 < 30
    assert not (tmp_path / "runs").exists()   # no run folder made


@pytest.mark.parametrize("changes,needle", [
    ({"still_fps": 0}, "still_fps (--fps)"), ({"still_fps": float("inf")}, "still_fps (--fps)"),
    ({"out_height": 1}, "out_height (--out-height)"), ({"out_height": 360.5}, "out_height"),
    ({"batch_size": True}, "batch_size"), ({"feather": -0.1}, "feather"), ({"smoothing": 1.5}, "smoothing"),
    ({"pads": (0, 10, 0)}, "pads"), ({"pads": (0, 10, 0, 9999)}, "pads"), ({"backend": "nope"}, "backend"),
    ({"detector": "nope"}, "detector"), ({"color_match": "yes"}, "color_match (--no-color-match)"),
    ({"checkpoint": ""}, "checkpoint"),
])
def test_api_rejects_out_of_range_values_with_one_line(changes, needle):
    with pytest.raises(InputError) as err:
        RunOptions(**changes)
    text = str(err.value)
    assert text.startswith(f"invalid option {needle}") and "\n" not in text
    with pytest.raises(InputError):       # replace() checks too
        RunOptions().replace(**changes)


def test_good_values_pass():
    opts = RunOptions(still_fps=30000 / 1001, out_height=720, crf=0, batch_size=1, pads=[0, 0, -5, 5],
                      device="cuda:1", preset="medium", feather=0.0, smoothing=1.0)
    assert opts.out_height == 720


def test_batch_notebook_options_are_checked_before_the_inputs(tmp_path):
    # papermill hands the notebook a dict: prepare() refuses a bad value before hashing or scanning
    with pytest.raises(InputError, match=r"^invalid option still_fps \(--fps\)"):
        batch.prepare(tmp_path / "missing.wav", [tmp_path / "missing.mp4"], run_dir=tmp_path / "b",
                      options={"still_fps": 0})
    with pytest.raises(InputError, match=r"^invalid option crf"):
        batch.make_options('{"crf": -1}')


def test_enhance_options_are_checked():
    with pytest.raises(InputError, match=r"^invalid option enhance_strength \(--enhance-strength\)"):
        RunOptions(enhance_strength=1.5)
    with pytest.raises(InputError, match=r"^invalid option enhance \(--enhance\): must be one of"):
        RunOptions(enhance="no-such-enhancer")
    with pytest.raises(InputError, match=r"^invalid option enhance_model"):
        RunOptions(enhance_model="  ")


NO_GPU = {"CUDA_VISIBLE_DEVICES": ""}      # torch sees no GPU here even on a machine that has one


@pytest.mark.parametrize("command", [["run", "--backend", "reuse"], ["run", "--backend", "wav2lip"],
                                     ["run", "--backend", "musetalk"], ["batch"]])
def test_cuda_without_a_gpu_is_one_line_for_every_backend_before_any_work(tmp_path, clip_524, speech_5s, command):
    import torch
    where = ["--run-dir", str(tmp_path / "runs" / "b")] if command == ["batch"] else ["--runs-root", str(tmp_path / "runs")]
    video = ["--video", str(clip_524)] if command[0] == "run" else [str(clip_524)]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", *command, "--audio", str(speech_5s), *video,
                           *where, "--device", "cuda"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **NO_GPU, "HEYGEM_LANG": "en"})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (f"heygem: error: device 'cuda' requested but CUDA is not available "
                           f"(torch {torch.__version__}); use --device cpu\n")
    assert not (tmp_path / "runs").exists() and time.perf_counter() - t0 < 30   # nothing made, no work done


def test_the_cuda_line_in_chinese(tmp_path, clip_524, speech_5s):
    import torch
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "run", "--audio", str(speech_5s), "--video",
                           str(clip_524), "--runs-root", str(tmp_path / "runs"), "--device", "cuda:0"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, **NO_GPU, "HEYGEM_LANG": "zh"})
    assert proc.returncode == 2
    assert proc.stderr == f"heygem：错误：请求了设备 'cuda:0'，但 CUDA 不可用（torch {torch.__version__}）；请使用 --device cpu\n"


def test_a_cuda_index_the_machine_does_not_have(monkeypatch):
    import torch
    from heygem_kernel.options import check_device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    check_device("cuda:1")
    check_device("cuda")
    with pytest.raises(InputError) as err:
        check_device("cuda:2")
    assert str(err.value) == "device 'cuda:2' requested but torch sees 2 CUDA device(s): cuda:0 to cuda:1"
    for ok in ("auto", "cpu"):           # never refused, whatever torch sees
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        check_device(ok)
