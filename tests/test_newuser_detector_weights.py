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
