"""An item that failed pre-flight has no run folder: its manifest entry says ``"run_dir": null`` and
why, instead of naming a folder that does not exist (before: ``items/<name>``, never made).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from heygem_kernel import batch



@pytest.fixture
def not_a_video(tmp_path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("a text file named like a video\n")
    return path


def test_an_item_failed_pre_flight_has_no_run_folder_in_the_manifest(tmp_path, clip_524, not_a_video, speech_5s):
    run_dir = tmp_path / "batch"
    plan = batch.prepare(speech_5s, [clip_524, not_a_video], run_dir=run_dir, samples=2)
    plan.release()
    good, bad = json.loads((run_dir / batch.MANIFEST).read_text())["items"]
    assert good["status"] == "pending" and good["run_dir"] == "items/talking_524"
    assert bad["status"] == "failed" and bad["stage"] == "preflight" and str(not_a_video) in bad["error"]
    assert bad["run_dir"] is None and bad["run_dir_reason"] == batch.NO_RUN_DIR
    assert not (run_dir / "items" / "notes").exists()
