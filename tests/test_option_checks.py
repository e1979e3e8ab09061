"""Options are checked before any work, the same way for every backend: a model path that does
not exist is one line and exit 2; options the chosen backend does not use are one warning line
naming the backend (they were dropped in silence); a Dask scheduler that cannot answer is one line
within seconds (it took ~35 s: the notebook, the speech analysis, then Dask's 30 s connect wait)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from heygem_kernel import backends
from heygem_kernel.batch import SCHEDULER_CHECK_S
from heygem_kernel.media import probe_video
from heygem_kernel.options import RunOptions

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = backends.available()
WARNING = "WARNING the {backend} backend does not use {options}: ignored"


def heygem(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "heygem_kernel", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def error_line(proc: subprocess.CompletedProcess) -> str:
    """The one line of a refused command (exit 2, no traceback)."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr.strip().splitlines()[-1]


def warnings(stderr: str) -> list[str]:
    """The WARNING lines of a run's console, without their time stamp."""
    return [line.split(" ", 1)[1] for line in stderr.splitlines() if " WARNING " in line]


def test_the_backends_declare_which_model_options_they_read(tmp_path):
    model = tmp_path / "model.pth"
    model.write_bytes(b"weights")
    given = RunOptions(checkpoint=str(model), models_dir=str(tmp_path), pads=(5, 5, 5, 5))
    ignored = {b: backends.backend_class(b).ignored_options(given.replace(backend=b)) for b in BACKENDS}
    assert ignored == {"reuse": ["checkpoint", "models_dir", "pads"],    # no weights, no face box
                       "wav2lip": ["models_dir"],
                       "musetalk": ["pads"]}      # its checkpoint: a file of its folder (used) or refused
    assert backends.backend_class("musetalk").ignored_options(RunOptions(backend="musetalk",
                                                                         checkpoint=str(tmp_path))) == []
    for b in BACKENDS:                                                   # defaults are never "given"
        assert backends.check_options(RunOptions(backend=b, pads=[0, 10, 0, 0])) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_missing_model_path_is_one_line_for_every_backend(tmp_path, backend, clip_524, speech_5s):
    runs = tmp_path / "runs"
    for flag, name, value in (("--checkpoint", "checkpoint", "nope.pth"), ("--models-dir", "models_dir", "nowhere")):
        t0 = time.perf_counter()
        proc = heygem("run", "--audio", speech_5s, "--video", clip_524, "--backend", backend, flag, value,
                      "--runs-root", runs, "--quiet", cwd=tmp_path)
        assert error_line(proc) == f"heygem: error: {name} ({flag}): no such file or folder: {value}"
        assert not runs.exists()                                         # before any work: no run folder
        assert time.perf_counter() - t0 < 30
    proc = heygem("run", "--audio", speech_5s, "--video", clip_524, "--backend", backend, "--models-dir",
                  speech_5s, "--runs-root", runs, "--quiet")
    assert error_line(proc) == (f"heygem: error: models_dir (--models-dir): {speech_5s} is a file; "
                                "give the folder that holds the model files")


STRENGTH_WARNING = ("WARNING enhance_strength (--enhance-strength) applies to face restoration (--enhance), "
                    "which is off: ignored")


def test_reuse_says_it_ignores_a_checkpoint_and_pads_and_runs(tmp_path, clip_524, speech_5s):
    model = tmp_path / "wav2lip.pth"
    model.write_bytes(b"weights")
    out, run_dir = tmp_path / "out.mp4", tmp_path / "run"
    proc = heygem("run", "--audio", speech_5s, "--video", clip_524, "--checkpoint", model, "--pads", 1, 2, 3, 4,
                  "--enhance-strength", "0.5", "--fps", "30", "--device", "cpu", "--out", out, "--run-dir", run_dir,
                  "--quiet", "--no-sync-check", "--no-cache", "--cache-dir", tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr[-2000:]
    cache_line = "WARNING --cache-dir is not used with --no-cache: ignored"
    assert warnings(proc.stderr)[0] == cache_line and not (tmp_path / "cache").exists()
    line = WARNING.format(backend="reuse", options="checkpoint (--checkpoint), pads (--pads), device (--device)")
    fps_line = ("WARNING still_fps (--fps) is the frame rate of a photo's output: talking_524.mp4 is a video and keeps "
                "its own (25.000 fps); ignored")
    assert warnings(proc.stderr)[1:] == [line, STRENGTH_WARNING, fps_line]   # strength, fps... were dropped in silence
    assert out.stat().st_size > 10_000
    assert probe_video(out).fps == 25.0
    log = (run_dir / "run.log").read_text(encoding="utf-8")
    assert line in log and STRENGTH_WARNING in log and fps_line in log  # the shared record says so too
    assert backends.check_options(RunOptions(enhance="gfpgan", enhance_strength=0.5, device="cpu")) == []  # used
    assert backends.check_options(RunOptions(backend="wav2lip", device="cpu")) == []   # a network reads it
    assert json.loads((run_dir / "params.json").read_text())["options"]["pads"] == [1, 2, 3, 4]


MUSETALK_ONE_FILE = ("heygem: error: checkpoint (--checkpoint): {path} is one file, and the musetalk backend loads "
                     "MuseTalk's models folder: give it with --models-dir DIR (it holds musetalkV15/unet.pth and "
                     "musetalk.json, sd-vae/ and whisper/, as MuseTalk's download_weights.sh lays them out)")


def test_musetalk_refuses_a_lone_model_file_in_one_line(tmp_path, clip_524, speech_5s):
    """It said the file was ignored, then failed on the default folder: the user's model was never looked at."""
    unet = tmp_path / "unet.pth"
    unet.write_bytes(b"weights")
    runs = tmp_path / "runs"
    proc = heygem("run", "--audio", speech_5s, "--video", clip_524, "--backend", "musetalk", "--checkpoint", unet,
                  "--runs-root", runs, "--quiet")
    assert error_line(proc) == MUSETALK_ONE_FILE.format(path=unet)
    assert warnings(proc.stderr) == []                 # refused, not "ignored"
    assert not runs.exists()                           # before any work
    proc = heygem("batch", clip_524, "--audio", speech_5s, "--run-dir", tmp_path / "batch",
                  "--backend", "musetalk", "--checkpoint", unet)
    assert error_line(proc) == MUSETALK_ONE_FILE.format(path=unet)
    assert not (tmp_path / "batch").exists()


def test_musetalk_takes_a_file_in_its_models_folder_as_that_folder(tmp_path, clip_524, speech_5s):
    models = tmp_path / "models"
    unet = models / "musetalkV15" / "unet.pth"
    unet.parent.mkdir(parents=True)
    unet.write_bytes(b"<html>login</html>")
    (models / "musetalkV15" / "musetalk.json").write_text("{}")
    args = ("run", "--audio", speech_5s, "--video", clip_524, "--backend", "musetalk", "--runs-root",
            tmp_path / "runs", "--quiet", "--checkpoint", unet)
    proc = heygem(*args)           # the load reached the user's folder (not checkpoints/musetalk)
    assert error_line(proc) == (f"heygem: error: {unet} is not a checkpoint: an HTML page (18 bytes); "
                                "expected the MuseTalk 1.5 UNet weights (~3.4 GB): "
                                "re-download it")
    assert warnings(proc.stderr) == []
    assert error_line(heygem(*args, "--models-dir", models)) == error_line(proc)    # both naming one folder
    other = tmp_path / "other"
    other.mkdir()
    assert error_line(heygem(*args, "--models-dir", other)) == (
        f"heygem: error: checkpoint (--checkpoint) {unet} names the MuseTalk folder {models}, but models_dir "
        f"(--models-dir) names {other}: give one of them")
    from heygem_kernel.backends.musetalk import models_dir_for
    assert models_dir_for(checkpoint=models / "whisper" / "model.safetensors") == models   # the alternatives too
    assert models_dir_for(checkpoint=models) == models
    assert models_dir_for(models_dir=other) == other


@pytest.mark.parametrize("backend, extra, ignored, error", [
    ("wav2lip", ["--models-dir", "{tmp}"], "models_dir (--models-dir)", "is not a PyTorch checkpoint (empty file"),
    ("musetalk", ["--pads", "0", "0", "0", "0"], "pads (--pads)", "MuseTalk file missing: "),
])
def test_learned_backends_warn_of_what_they_ignore_before_loading(tmp_path, clip_524, speech_5s, backend, extra,
                                                                  ignored, error):
    """Without weights here: the warning comes first, then the backend's own one-line load error."""
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    models = tmp_path / "models"
    models.mkdir()
    model_args = ["--checkpoint", empty] if backend == "wav2lip" else ["--models-dir", models]
    proc = heygem("run", "--audio", speech_5s, "--video", clip_524, "--backend", backend, *model_args,
                  *[a.format(tmp=tmp_path) for a in extra], "--runs-root", tmp_path / "runs", "--quiet")
    assert error in error_line(proc)
    assert warnings(proc.stderr) == [WARNING.format(backend=backend, options=ignored)]


def test_batch_refuses_a_missing_checkpoint_before_the_notebook(tmp_path, clip_524, speech_5s):
    run_dir = tmp_path / "batch"
    proc = heygem("batch", clip_524, "--audio", speech_5s, "--run-dir", run_dir, "--checkpoint", tmp_path / "no.pth")
    assert error_line(proc) == f"heygem: error: checkpoint (--checkpoint): no such file or folder: {tmp_path}/no.pth"
    assert not run_dir.exists()
    proc = heygem("batch", clip_524, "--audio", speech_5s, "--run-dir", run_dir,
                  "--options", json.dumps({"backend": "wav2lip", "models_dir": str(tmp_path / "none")}))
    assert error_line(proc) == (f"heygem: error: models_dir (--models-dir): no such file or folder: "
                                f"{tmp_path}/none")
    assert not run_dir.exists()


# ------------------------------------------------------------------------------ --scheduler
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listener(reply: bytes | None) -> int:
    """A real TCP server on localhost that is not Dask: silent (``None``) or answering ``reply``."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []

    def serve() -> None:
        while True:
            conn, _ = server.accept()
            held.append(conn)
            if reply is not None:
                conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1]


def test_an_unreachable_scheduler_is_one_line_in_seconds(tmp_path, clip_524, speech_5s):
    port = _closed_port()
    silent = _listener(None)
    http = _listener(b"HTTP/1.0 426 Upgrade Required\r\nconnection: close\r\n\r\n")
    cases = [
        (f"tcp://127.0.0.1:{port}", f"cannot reach the Dask scheduler tcp://127.0.0.1:{port}: Connection refused"),
        (f"tcp://127.0.0.1:{http}", f"tcp://127.0.0.1:{http} is not a Dask scheduler: it does not complete Dask's "
                                    "handshake (it answers in another protocol)"),
        (f"tcp://127.0.0.1:{silent}", f"tcp://127.0.0.1:{silent} is not a Dask scheduler: it does not complete "
                                      f"Dask's handshake (no answer in {SCHEDULER_CHECK_S:g} s)"),
        ("tcp://127.0.0.1", "not a Dask scheduler address: 'tcp://127.0.0.1' (missing port number in address "
                            "'127.0.0.1'); expected e.g. tcp://HOST:8786"),
    ]
    for address, line in cases:
        run_dir = tmp_path / "batch"
        t0 = time.perf_counter()
        proc = heygem("batch", clip_524, "--audio", speech_5s, "--run-dir", run_dir, "--scheduler", address)
        took = time.perf_counter() - t0
        assert error_line(proc) == f"heygem: error: {line}"
        assert not run_dir.exists()                      # the notebook never started
        assert took < SCHEDULER_CHECK_S + 10, (address, took)   # was ~35 s; a cold interpreter takes a few


def test_serve_checks_its_scheduler_before_it_starts():
    port = _closed_port()
    proc = heygem("serve", "--scheduler", f"tcp://127.0.0.1:{port}", "--port", _closed_port())
    assert error_line(proc) == f"heygem: error: cannot reach the Dask scheduler tcp://127.0.0.1:{port}: Connection refused"


def test_the_batch_api_checks_its_scheduler_before_the_speech_analysis(tmp_path, clip_524, speech_5s):
    from heygem_kernel import batch
    from heygem_kernel.errors import InputError

    port = _closed_port()
    plan = batch.prepare(speech_5s, [clip_524], run_dir=tmp_path / "b", samples=1, cache_dir=tmp_path / "c")
    t0 = time.perf_counter()
    with pytest.raises(InputError) as err:
        batch.execute(plan, executor="dask", scheduler=f"tcp://127.0.0.1:{port}", progress=False)
    assert str(err.value) == f"cannot reach the Dask scheduler tcp://127.0.0.1:{port}: Connection refused"
    assert time.perf_counter() - t0 < SCHEDULER_CHECK_S          # no speech analysis, no 30 s wait
    assert [i["status"] for i in batch.read_manifest(tmp_path / "b")["items"]] == ["pending"]


def test_the_job_queue_refuses_model_options_before_queueing(tmp_path, clip_524, speech_5s):
    """The web app's queue took a mistyped --checkpoint and failed the job later, in the runner."""
    from heygem_kernel import jobs
    from heygem_kernel.errors import InputError
    runs = tmp_path / "runs"
    unet = tmp_path / "unet.pth"
    unet.write_bytes(b"weights")
    for options, line in (({"backend": "wav2lip", "checkpoint": str(tmp_path / "no.pth")},
                           f"checkpoint (--checkpoint): no such file or folder: {tmp_path}/no.pth"),
                          ({"backend": "musetalk", "checkpoint": str(unet)},
                           MUSETALK_ONE_FILE.format(path=unet).removeprefix("heygem: error: "))):
        with pytest.raises(InputError) as err:
            jobs.submit_batch(runs_root=runs, audio=speech_5s, videos=[clip_524], options=options, start=False)
        assert str(err.value) == line
        assert jobs.list_jobs(runs) == [] and not list(runs.glob("*batch*"))   # nothing queued, no folder
