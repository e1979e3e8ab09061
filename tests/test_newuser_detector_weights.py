"""A new user's tour, ``--detector face_alignment`` without (all of) its weights.

Before: "face_alignment detector: weights file 2DFAN4-cd938726ad.zip and s3fd-619a316812.pth not found
together in one of A, B, C; copy it there": two files called "file", "copy it there" with three
places named. Now one missing file and two read differently, and both say "into one of them".
"""
from __future__ import annotations

import pytest

from heygem_kernel import detectors
from heygem_kernel.errors import InputError


def test_the_missing_weights_are_named_plainly(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    monkeypatch.setattr(detectors, "_hub_dirs", lambda: [hub, tmp_path])   # only these folders are searched
    with pytest.raises(InputError) as both:
        detectors.FaceAlignmentDetector()
    assert str(both.value) == (
        f"face_alignment detector: weights files {detectors.FAN_WEIGHTS} and {detectors.S3FD_WEIGHTS} not found "
        f"together in {hub / 'checkpoints'}, {tmp_path / 'checkpoints'}; copy them into one of them (weights are "
        f"never downloaded)")
    (hub / "checkpoints" / detectors.S3FD_WEIGHTS).write_bytes(b"")   # one of the two is there
    with pytest.raises(InputError) as one:
        detectors.FaceAlignmentDetector()
    assert str(one.value) == (
        f"face_alignment detector: weights file {detectors.FAN_WEIGHTS} not found in {hub / 'checkpoints'}, "
        f"{tmp_path / 'checkpoints'}; copy it into one of them (weights are never downloaded)")


def test_a_run_with_those_weights_missing_stops_before_any_work(tmp_path, monkeypatch, photo_524, speech_5s):
    """Before: the run made its folder and started the speech analysis (its progress bar showed) before
    the detector was made and refused; now the line comes first and nothing is made."""
    from heygem_kernel import RunOptions, run
    monkeypatch.setattr(detectors, "_hub_dirs", lambda: [tmp_path / "hub"])
    with pytest.raises(InputError, match="^face_alignment detector: weights files "):
        run(speech_5s, photo_524, out=tmp_path / "o.mp4", runs_root=tmp_path / "runs",
            options=RunOptions(detector="face_alignment"))
    assert not (tmp_path / "runs").exists() and not (tmp_path / "o.mp4").exists()


def test_a_batch_with_those_weights_missing_starts_no_notebook(tmp_path, photo_524, speech_5s):
    """Before: the notebook kernel started and wrote the batch folder before its first item refused."""
    import os
    import subprocess
    import sys
    hub = tmp_path / "hub"
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "batch", "--audio", str(speech_5s), "--run-dir",
                           str(tmp_path / "批次"), "--detector", "face_alignment", str(photo_524)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "HEYGEM_LANG": "en", "TORCH_HOME": str(hub), "HOME": str(tmp_path)})
    if (detectors.PROJECT_ROOT / "checkpoints" / detectors.FAN_WEIGHTS).is_file():
        assert "weights" not in proc.stderr          # this checkout has them: nothing to refuse
        return
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().startswith("heygem: error: face_alignment detector: weights file")
    assert "Notebook" not in proc.stderr and not (tmp_path / "批次").exists()
