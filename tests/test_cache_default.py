"""One default face-track cache for `heygem run`, `heygem batch`, the notebook, the panel's preview and
the web app's jobs: ``$HEYGEM_CACHE_DIR`` or ``~/.cache/heygem`` (heygem_kernel.cache.default_dir).

Before: `heygem run` kept its face tracks in ``runs/.cache`` and `heygem batch` in ``~/.cache/heygem``,
so a presenter tried with `heygem run` and then batched was analysed twice.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from heygem_kernel import cache, pipeline
from heygem_kernel.errors import InputError
from heygem_kernel.options import RunOptions

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "heygem_kernel" / "assets" / "sample_speech.wav"
UNWRITABLE = Path("/proc")


def short_speech(tmp_path: Path, seconds: float) -> Path:
    audio = tmp_path / f"speech-{seconds}.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(SPEECH), "-t", str(seconds), str(audio)],
                   check=True)
    return audio


def heygem(*args, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "heygem_kernel", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=env, cwd=env["HOME"])


def test_a_run_then_a_batch_of_the_same_presenter_analyses_it_once(tmp_path, photo_524):
    home = tmp_path / "home"                # the real default, ~/.cache/heygem, of a user with this home
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("HEYGEM_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(HOME=str(home), HEYGEM_LANG="en")
    run = heygem("run", "--audio", short_speech(tmp_path, 1.0), "--video", photo_524, "--quiet",
                 "--no-sync-check", "--run-dir", tmp_path / "run", env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads((tmp_path / "run" / "result.json").read_text(encoding="utf-8"))
    assert result["extra"]["analysis_cached"] is False           # the run tracked the face ...
    entries = sorted((home / ".cache" / "heygem").glob("analysis-*.npz"))
    assert len(entries) == 1, entries                            # ... into ~/.cache/heygem
    assert not (home / "runs" / ".cache").exists()

    batch = heygem("batch", "--audio", short_speech(tmp_path, 1.5), "--run-dir", tmp_path / "batch",
                   "--samples", "2", "--no-sync-check", "--no-zip", photo_524, env=env)
    assert batch.returncode == 0, batch.stderr[-2000:]
    manifest = json.loads((tmp_path / "batch" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["cache_dir"] == str(home / ".cache" / "heygem")
    [item] = manifest["items"]
    assert item["status"] == "ok" and item["analysis_cached"] is True    # the batch re-used the run's track
    assert sorted((home / ".cache" / "heygem").glob("analysis-*.npz")) == entries


def test_the_preview_uses_the_same_cache(tmp_path, photo_524, caplog):
    audio = short_speech(tmp_path, 1.0)
    pipeline.run(audio, photo_524, runs_root=tmp_path / "runs", options=RunOptions(sync_check=False))
    assert len(list(cache.default_dir().glob("analysis-*.npz"))) == 1
    with caplog.at_level(logging.INFO, logger="heygem"):
        frame = pipeline.preview_frame(audio, photo_524)
    assert frame.ndim == 3
    assert any("re-used cached face track" in r.getMessage() for r in caplog.records), \
        [r.getMessage() for r in caplog.records]


def test_a_read_only_home_keeps_a_runs_cache_in_the_runs_root(tmp_path, photo_524, monkeypatch, caplog):
    monkeypatch.setenv("HOME", str(UNWRITABLE))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("HEYGEM_CACHE_DIR", raising=False)
    audio = short_speech(tmp_path, 1.0)
    with caplog.at_level(logging.WARNING, logger="heygem.cache"):
        result = pipeline.run(audio, photo_524, runs_root=tmp_path / "runs", options=RunOptions(sync_check=False))
    assert result.output.is_file()
    assert len(list((tmp_path / "runs" / ".cache").glob("analysis-*.npz"))) == 1
    assert any(f"the face-track cache is kept in {tmp_path / 'runs' / '.cache'} instead" in r.getMessage()
               for r in caplog.records)
    monkeypatch.setenv("HEYGEM_CACHE_DIR", str(UNWRITABLE / "heygem"))   # one the user named: refused at once
    with pytest.raises(InputError, match="cannot create the folder /proc/heygem"):
        pipeline.run(audio, photo_524, runs_root=tmp_path / "runs2")
    assert not (tmp_path / "runs2").exists()
