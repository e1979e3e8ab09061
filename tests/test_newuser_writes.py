"""A new user's tour, writing side: folders that cannot be written and disks that fill up.

Before: ``--out``/``--run-dir``/``--runs-root``/``--cache-dir``/``batch --run-dir``/``sync --plot``
in a folder that exists but cannot be written (a read-only share, /proc) ended in
"internal error: OSError ..." (exit 1) after the whole analysis; a disk that filled while the
output was encoded left a broken MP4 (no ``moov``) reported as "wrote ..." with exit 0; a cache
disk that filled failed the run. Now: one line, exit 2, before any work; the writer refuses an
incomplete file; a cache that cannot be written is a warning.

/proc stands in for a read-only folder: no file can be created in it, not even by root (CI may
run as root, for whom chmod 555 does not stop anything).
"""
from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from heygem_kernel import media
from heygem_cli import heygem

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "heygem_kernel" / "assets" / "sample_speech.wav"
UNWRITABLE = Path("/proc")


def one_line_exit_2(proc: subprocess.CompletedProcess, prefix: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(prefix), last


@pytest.mark.parametrize("where", ["--out", "--run-dir", "--runs-root", "--cache-dir"])
def test_run_into_an_unwritable_folder_is_one_line_before_any_work(tmp_path, clip_524, where):
    target = {"--out": UNWRITABLE / "out.mp4"}.get(where, UNWRITABLE)
    runs = tmp_path / "runs"
    args = ["run", "--audio", SPEECH, "--video", clip_524, "--quiet", where, target]
    if where != "--runs-root":
        args += ["--runs-root", runs]
    else:   # (a cache of its own: the refusal here is the runs root's)
        args += ["--cache-dir", tmp_path / "cache"]
    proc = heygem(*args)
    one_line_exit_2(proc, f"heygem: error: cannot write to the folder {UNWRITABLE}: ")
    assert not list(runs.glob("*-talking_524")), "a run folder was made before the check"
    assert "speech" not in proc.stderr and "faces" not in proc.stderr   # no progress: no work started


def test_unwritable_folder_line_is_translated(tmp_path, clip_524):
    proc = heygem("run", "--audio", SPEECH, "--video", clip_524, "--quiet", "--run-dir", UNWRITABLE, lang="zh")
    one_line_exit_2(proc, f"heygem：错误：无法写入文件夹 {UNWRITABLE}：")


def test_batch_into_an_unwritable_folder_is_one_line(tmp_path, clip_524):
    proc = heygem("batch", "--audio", SPEECH, "--run-dir", UNWRITABLE, clip_524)
    one_line_exit_2(proc, f"heygem: error: cannot write to the folder {UNWRITABLE}: ")
    assert "Executing notebook" not in proc.stderr     # refused before papermill started
    proc = heygem("batch", "--audio", SPEECH, "--run-dir", tmp_path / "b", "--cache-dir", UNWRITABLE, clip_524)
    one_line_exit_2(proc, f"heygem: error: cannot write to the folder {UNWRITABLE}: ")
    assert not (tmp_path / "b").exists()


def test_sync_plot_into_an_unwritable_folder_is_one_line_before_the_measurement(tmp_path, clip_524):
    proc = heygem("sync", clip_524, "--plot", UNWRITABLE / "sync.png")
    one_line_exit_2(proc, f"heygem: error: cannot write to the folder {UNWRITABLE}: ")
    assert "offset" not in proc.stdout


def _frames(clip: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(clip))
    frames = [cap.read()[1] for _ in range(n)]
    cap.release()
    assert all(f is not None for f in frames)
    return frames


FILE_LIMIT = 60_000   # bytes: the encoded 1.6 s of 524x524 is several times this


def _encode(path: Path, frames: list[np.ndarray]) -> Path:
    h, w = frames[0].shape[:2]
    writer = media.VideoWriter(path, width=w, height=h, fps=25, audio=SPEECH, duration=len(frames) / 25)
    with writer:
        for frame in frames:
            writer.write(frame)
    return writer.path


def test_a_disk_filling_up_under_the_encoder_leaves_no_broken_output(tmp_path, clip_524, monkeypatch):
    frames = _frames(clip_524, 40)
    good = _encode(tmp_path / "good.mp4", frames)   # the control: the same frames, no limit
    assert media.mp4_complete(good) and good.stat().st_size > 2 * FILE_LIMIT

    real_popen = subprocess.Popen

    def full_disk() -> None:   # in ffmpeg only: writes past FILE_LIMIT fail (EFBIG) as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def popen(cmd, *args, **kwargs):
        if "libx264" in cmd:
            kwargs["preexec_fn"] = full_disk
        return real_popen(cmd, *args, **kwargs)

    monkeypatch.setattr(media.subprocess, "Popen", popen)
    out = tmp_path / "out.mp4"
    with pytest.raises(media.MediaError) as caught:
        _encode(out, frames)
    assert str(caught.value).startswith(f"{out} could not be written whole (")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.mp4"]   # no partial file left


def test_mp4_complete_on_real_files(tmp_path, clip_524, clip_vfr, clip_portrait):
    for clip in (clip_524, clip_vfr, clip_portrait):
        assert media.mp4_complete(clip)
    data = clip_524.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) - 1000])
    assert not media.mp4_complete(cut)


def test_a_cache_that_cannot_be_written_is_a_warning_not_a_failed_run(tmp_path, clip_524, monkeypatch):
    import heygem_kernel as hk
    from heygem_kernel import cache

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cache, "atomic_save_npz", no_space)
    video = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip_524), "-t", "1.2", "-c", "copy", str(video)],
                   check=True)
    result = hk.run(SPEECH, video, out=tmp_path / "out.mp4", runs_root=tmp_path / "runs",
                    options=hk.RunOptions(sync_check=False))
    assert media.mp4_complete(result.output)
    log = Path(result.log_path).read_text(encoding="utf-8")
    assert "face-track cache not written (No space left on device)" in log


def test_a_batch_whose_home_is_read_only_keeps_its_cache_in_the_run_folder(tmp_path, photo_524, monkeypatch, caplog):
    """Before: the default face-track cache ~/.cache/heygem on a read-only home (a service user's, a
    container's) failed every item: "cannot create the folder ~/.cache/heygem". Now the batch keeps its
    cache in its own folder, with one warning; a cache the user named (HEYGEM_CACHE_DIR) is refused at once."""
    import logging

    from heygem_kernel import batch
    from heygem_kernel.errors import InputError

    photo = photo_524
    monkeypatch.setenv("HOME", str(UNWRITABLE))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("HEYGEM_CACHE_DIR", raising=False)
    run_dir = tmp_path / "batch"
    with caplog.at_level(logging.WARNING, logger="heygem.cache"):
        result = batch.run_batch(SPEECH, [photo], run_dir=run_dir, options={"sync_check": False}, progress=False)
    assert [item["status"] for item in result.items] == ["ok"], result.items
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    assert manifest["cache_dir"] == str(run_dir / ".cache")
    assert list((run_dir / ".cache").glob("analysis-*.npz"))       # the cache is there, used
    assert any(f"the face-track cache is kept in {run_dir / '.cache'} instead" in r.getMessage()
               for r in caplog.records)

    monkeypatch.setenv("HEYGEM_CACHE_DIR", str(UNWRITABLE / "heygem"))
    with pytest.raises(InputError, match="cannot create the folder /proc/heygem"):
        batch.run_batch(SPEECH, [photo], run_dir=tmp_path / "again", progress=False)


def test_the_systems_reason_is_in_the_users_language():
    """Before: "无法写入文件夹 /mnt/share：Read-only file system" (the system's English inside a Chinese line)."""
    from heygem_kernel.errors import InputError, os_reason
    exc = OSError(errno.EROFS, os.strerror(errno.EROFS), "/mnt/share")
    err = InputError("cannot write to the folder {path}: {reason}", path="/mnt/share", reason=os_reason(exc))
    assert str(err) == "cannot write to the folder /mnt/share: the disk is read-only"
    assert err.localized("zh") == "无法写入文件夹 /mnt/share：磁盘为只读"
    other = OSError(errno.EIO, os.strerror(errno.EIO))
    assert os_reason(other) == os.strerror(errno.EIO)          # the rest: the system's own words
