"""Temporary files live in the run's folder and never outlive their run (issue 11 item 6)."""
from __future__ import annotations

import os
import subprocess

import numpy as np

from heygem_kernel import media, records
from heygem_kernel.pipeline import run
from heygem_kernel.options import RunOptions


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid          # exited and reaped: no process has this id now (barring reuse)


def test_the_frame_spool_is_in_the_given_folder_and_removed(tmp_path, clip_524):
    info = media.probe_video(clip_524)
    seen = []
    with media.FrameSource(info, n_out=info.n_frames + 30, spool_dir=tmp_path) as source:   # a loop: spools
        for i, (_, frame) in enumerate(source):
            if i == info.n_frames + 5:
                seen = [p.name for p in tmp_path.iterdir()]
    assert len(seen) == 1 and seen[0].startswith(f"{records.SPOOL_PREFIX}{os.getpid()}-")
    assert list(tmp_path.iterdir()) == []


def test_a_run_sweeps_what_killed_runs_left(tmp_path, speech_5s, clip_524):
    runs = tmp_path / "runs"
    old_run, cache = runs / "20260101-000000-old", runs / ".cache"
    old_run.mkdir(parents=True)
    cache.mkdir()
    dead, live = _dead_pid(), os.getpid()
    stale = [old_run / f"{records.SPOOL_PREFIX}{dead}-abc12345.raw",           # mkstemp: 8 random characters
             cache / f".analysis-x{records.TMP_MARK}{dead}-q1w2e3r4.npz"]
    kept = [old_run / f"{records.SPOOL_PREFIX}{live}-def67890.raw",          # a live run's spool
            old_run / "output.mp4", cache / "analysis-x.npz"]           # not temporaries
    for p in stale + kept:
        p.write_bytes(b"x" * 100)
    short = tmp_path / "speech.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech_5s), "-t", "1", str(short)], check=True)
    result = run(short, clip_524, runs_root=runs, options=RunOptions(sync_check=False))
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)
    assert not [p for p in result.run_dir.iterdir() if p.name.startswith(records.SPOOL_PREFIX)]


def test_atomic_output_leaves_nothing_when_the_write_fails(tmp_path):
    target = tmp_path / "data.npz"
    try:
        with records.atomic_output(target) as tmp:
            np.savez(tmp, a=np.zeros(3))
            raise RuntimeError("disk full")
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []
    with records.atomic_output(target) as tmp:
        np.savez(tmp, a=np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["data.npz"]


def test_atomic_output_files_get_the_usual_mode(tmp_path):
    records.write_json(tmp_path / "manifest.json", {"a": 1})
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert (tmp_path / "manifest.json").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_the_cache_never_changes_the_result(tmp_path, clip_524):
    """Same video and length: the same analysis whether the cache held a shorter, a longer or no
    track (a shorter one is extended, a longer one re-used; the mouth library is rebuilt)."""
    from heygem_kernel.pipeline import analyse
    info = media.probe_video(clip_524)
    opts = RunOptions()

    def library(n: int, cache) -> tuple:
        lib = analyse(info, options=opts, n_frames=n, cache_dir=cache).library
        return lib.frames, np.round(np.asarray(lib.features), 6).tolist()

    fresh = library(60, None)
    library(20, tmp_path / "short-first")
    assert library(60, tmp_path / "short-first") == fresh       # extended from a 20-frame prefix
    library(100, tmp_path / "long-first")
    assert library(60, tmp_path / "long-first") == fresh        # cut from a 100-frame entry


def test_a_signal_while_the_encoder_starts_leaves_no_encoder_and_no_partial_file(tmp_path, speech_5s, monkeypatch):
    """Ctrl-C (or the CLI's SIGTERM) delivered inside ``subprocess.Popen``, after the fork, or just
    after it returns, before the writer keeps the handle: the writer removed its partial file but
    nobody killed the ffmpeg it had started, which then wrote that file again and left it. The
    signal is raised here at that very moment (the real ffmpeg, the real file)."""
    import signal
    real_popen, started = subprocess.Popen, []

    def popen_then_interrupt(cmd, *args, **kwargs):
        proc = real_popen(cmd, *args, **kwargs)
        if "+faststart" in cmd:                  # the encoder (not the ffprobe of the sound before it)
            started.append(proc)
            signal.raise_signal(signal.SIGINT)  # the handler runs here, before the caller's assignment
        return proc

    monkeypatch.setattr(media.subprocess, "Popen", popen_then_interrupt)
    try:
        media.VideoWriter(tmp_path / "out.mp4", width=64, height=64, fps=25, audio=speech_5s, duration=1.0)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the interrupt was lost")
    monkeypatch.undo()
    (encoder,) = started
    try:
        assert encoder.poll() is not None, "the encoder was left running"
    finally:
        encoder.kill()
        encoder.communicate(timeout=60)      # an encoder left running writes its file when its input ends
    assert list(tmp_path.iterdir()) == []


def _start_run(out, runs, audio, video):
    import sys
    return subprocess.Popen([sys.executable, "-m", "heygem_kernel", "run", "--audio", str(audio), "--video",
                             str(video), "--out", str(out), "--runs-root", str(runs), "--no-cache", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)      # its own process group: its children can be found


# Waits are generous: a run on a loaded machine (load 12 on 2 cores) is several times slower, and
# a wait that is not needed costs nothing.
WAIT_S = 600


def _wait_for_partial(folder, proc, exclude=()):
    """The encoder's temporary output file once it exists (it is there from the render's start),
    or None if the run ended first."""
    import time
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and proc.poll() is None:
        found = [p for p in folder.glob(".out.partial*") if p not in exclude]
        if found:
            return found[0]
        time.sleep(0.02)
    return None


def _wait_for_group(pgid: int) -> list[str]:
    """Wait until no live process is left in process group ``pgid``; what is still there after
    WAIT_S (command lines). kill -9 of a run stops only its Python process: the ffmpeg it had just
    started runs on, and on a loaded machine one that starts late opens (re-creates) its output
    file after the next run has swept it."""
    import time
    from pathlib import Path
    deadline = time.monotonic() + WAIT_S
    while True:
        left = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if fields[0] != "Z" and int(fields[2]) == pgid:       # state, ppid, pgrp
                    left.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200])
            except (OSError, IndexError, ValueError):
                continue
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def test_sigterm_cleans_up_like_ctrl_c_and_a_sigkilled_runs_partial_output_is_swept(tmp_path, speech_zh, clip_590):
    """kill (SIGTERM: a scheduler, a container stopping, a closed session) must not leave a partial
    output beside --out nor a frame spool of a GB in the run folder; kill -9 cannot be caught, so
    the next run writing there removes what it left."""
    import signal
    outdir, runs = tmp_path / "out dir", tmp_path / "runs"
    out = outdir / "out.mp4"
    killed = _start_run(out, runs, speech_zh, clip_590)
    left = _wait_for_partial(outdir, killed)
    assert left is not None, killed.communicate()
    killed.kill()
    killed.wait()
    assert _wait_for_group(killed.pid) == []                 # its ffmpeg children have ended too
    assert left.exists()                                     # what kill -9 leaves

    proc = _start_run(out, runs, speech_zh, clip_590)
    mine = _wait_for_partial(outdir, proc, exclude=(left,))
    assert not left.exists()                                 # swept by the next run writing there
    assert mine is not None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "heygem: interrupted", err
    assert _wait_for_group(proc.pid) == []                   # no encoder left to write a file later
    assert list(outdir.iterdir()) == []                      # no output, no partial file
    assert [p for p in runs.rglob("*") if p.name.startswith(records.SPOOL_PREFIX)] == []   # both runs'
    logs = sorted(runs.glob("*/run.log"))
    assert logs[-1].read_text().rstrip().endswith("run interrupted")


def test_the_sweep_takes_only_names_it_made(tmp_path):
    """--runs-root may be a user's own folder: a file of theirs that merely contains '.tmp-<number>-'
    is not a leftover of ours."""
    import tempfile
    dead = _dead_pid()
    folder = tmp_path / "a run"
    folder.mkdir()
    theirs = [folder / f"notes.tmp-{dead}-draft.txt", folder / f"backup.tmp-{dead}-2024-01-01.tar",
              folder / f".profile.tmp-{dead}-old"]
    ours = [folder / f".analysis-x{records.TMP_MARK}{dead}-q1w2e3r4.npz",
            folder / f"{records.SPOOL_PREFIX}{dead}-abcd_123.raw",
            folder / f".output.partial{records.TMP_MARK}{dead}-zz9y8x7w.mp4",
            folder / f".result{records.TMP_MARK}{dead}-0a1b2c3d"]
    for p in theirs + ours:
        p.write_bytes(b"x")
    # the names really are what mkstemp makes for our prefixes
    fd, made = tempfile.mkstemp(prefix=records.temp_prefix(f".result{records.TMP_MARK}"), dir=tmp_path)
    os.close(fd)
    assert records._STALE.search(os.path.basename(made))
    assert sorted(records.sweep_stale(folder)) == sorted(ours)
    assert all(p.exists() for p in theirs)
