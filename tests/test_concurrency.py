"""Jobs that run at once must not see each other (issue 11 items 4 and 5).

* The panel lets a one-frame preview run while a render runs: both get their own backend state
  (models are shared, per-job state is not) and write the shared face-track cache through
  unique temporary names.
* One batch run folder is locked by every entry point (Python API, papermill, ``heygem batch``).
"""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from heygem_kernel import backends, batch, pipeline
from heygem_kernel.errors import InputError
from heygem_kernel.media import read_frames
from heygem_kernel.options import RunOptions

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def speech_2s(tmp_path_factory, speech_5s):
    out = tmp_path_factory.mktemp("speech") / "speech_2s.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech_5s), "-t", "2", str(out)], check=True)
    return out


def _frames(path: Path) -> np.ndarray:
    return np.stack(read_frames(path))


def test_two_jobs_get_their_own_backend_state(clip_524):
    a = backends.create("reuse")
    b = backends.create("reuse")
    assert a is not b and type(a) is type(b)
    a.job_marker, b.job_marker = "a", "b"       # what prepare() sets stays per job
    assert (a.job_marker, b.job_marker) == ("a", "b")


@pytest.mark.slow
def test_preview_during_a_render_changes_neither(tmp_path, speech_2s, speech_zh, clip_524):
    opts = RunOptions(sync_check=False)
    alone = pipeline.run(speech_2s, clip_524, out=tmp_path / "alone.mp4", options=opts,
                         run_dir=tmp_path / "alone", cache_dir=tmp_path / "cache-alone")
    preview_alone = pipeline.preview_frame(speech_zh, clip_524, options=opts, frame_index=20,
                                           cache_dir=tmp_path / "cache-alone")
    cache = tmp_path / "cache-shared"               # empty: both jobs analyse and write it at once
    errors: list[BaseException] = []
    previews: list[np.ndarray] = []

    def preview_loop() -> None:                     # a person clicking Preview during the render
        try:
            for _ in range(2):
                previews.append(pipeline.preview_frame(speech_zh, clip_524, options=opts, frame_index=20,
                                                       cache_dir=cache))
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    thread = threading.Thread(target=preview_loop)
    thread.start()
    both = pipeline.run(speech_2s, clip_524, out=tmp_path / "both.mp4", options=opts,
                        run_dir=tmp_path / "both", cache_dir=cache)
    thread.join(300)
    assert not errors, errors
    assert both.n_frames == alone.n_frames
    assert np.array_equal(_frames(tmp_path / "both.mp4"), _frames(tmp_path / "alone.mp4"))
    assert all(np.array_equal(p, preview_alone) for p in previews)
    assert [p.name for p in cache.iterdir() if ".tmp" in p.name] == []   # no temporary file left


def test_a_locked_batch_folder_is_refused_by_the_api_and_the_cli(tmp_path, speech_5s, clip_524):
    run_dir = tmp_path / "batch"
    plan = batch.prepare(speech_5s, [clip_524], run_dir=run_dir, scan=False, cache_dir=tmp_path / "c")
    try:
        with pytest.raises(InputError, match=r"is in use by another batch; wait for it to finish"):
            batch.prepare(speech_5s, [clip_524], run_dir=run_dir, scan=False, cache_dir=tmp_path / "c")
        cli = subprocess.run([sys.executable, "-m", "heygem_kernel", "batch", "--audio", str(speech_5s),
                              "--run-dir", str(run_dir), str(clip_524)], capture_output=True, text=True,
                             cwd=ROOT, timeout=120)
        assert cli.returncode == 2, cli.stderr[-2000:]
        assert "Traceback" not in cli.stderr
        assert cli.stderr.strip().splitlines()[-1].startswith("heygem: error: ")
        assert "is in use by another batch" in cli.stderr
    finally:
        plan.release()
    again = batch.prepare(speech_5s, [clip_524], run_dir=run_dir, scan=False, cache_dir=tmp_path / "c")
    again.release()                                  # free once the first is released
