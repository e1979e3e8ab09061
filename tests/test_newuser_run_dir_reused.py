"""A new user's tour: the same ``--run-dir`` given again while trying things.

Before: a run into a folder that already held a finished run, which then failed (here: a photo
with no face in it), appended its error to run.log but left the earlier run's ``result.json`` and
``params.json``: the panel's History listed the folder as the earlier success (its video, its
sync figures) and ``heygem run --from`` the folder re-ran the earlier inputs. Now a run clears the
earlier run's record files when it starts, so the folder says what happened last.
"""
from __future__ import annotations

import json
import subprocess

import cv2
import numpy as np

from heygem_cli import heygem
from heygem_widgets.history import list_runs


def test_a_failed_run_into_a_used_run_dir_does_not_keep_the_earlier_success(tmp_path, clip_590, speech_5s):
    speech, blank = tmp_path / "speech.wav", tmp_path / "blank wall.png"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(speech_5s), "-t", "1.0", str(speech)], check=True)
    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))     # a photo without a person
    run_dir = tmp_path / "runs" / "try"

    ok = heygem("run", "--audio", speech, "--video", clip_590, "--run-dir", run_dir, "--quiet", "--no-sync-check",
                cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert json.loads((run_dir / "result.json").read_text())["n_frames"] == 25
    assert (run_dir / "landmarks.png").is_file()

    failed = heygem("run", "--audio", speech, "--video", blank, "--run-dir", run_dir, "--quiet", cwd=tmp_path)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr, failed.stderr[-2000:]
    assert failed.stderr.strip().splitlines()[-1].startswith("heygem: error: no face found in")
    # the folder's record is the failed run's: no result, no parameters, no plot of the earlier video
    assert not (run_dir / "result.json").exists() and not (run_dir / "params.json").exists()
    assert not (run_dir / "landmarks.png").exists()
    (entry,) = list_runs(run_dir.parent)
    assert not entry.finished and entry.output is None
    assert entry.error.startswith("no face found in"), entry.error
    # --from the folder cannot silently re-run the earlier inputs
    again = heygem("run", "--from", run_dir, "--quiet", cwd=tmp_path)
    assert again.returncode == 2 and "Traceback" not in again.stderr, again.stderr[-2000:]
    assert "params.json" in again.stderr.strip().splitlines()[-1]

    # the earlier output itself is not destroyed by a run that failed (atomic writes)
    assert (run_dir / "output.mp4").is_file()
    # and a later good run there writes a full record again
    ok2 = heygem("run", "--audio", speech, "--video", clip_590, "--run-dir", run_dir, "--quiet", "--no-sync-check",
                 cwd=tmp_path)
    assert ok2.returncode == 0, ok2.stderr[-2000:]
    (entry,) = list_runs(run_dir.parent)
    assert entry.finished and entry.output == run_dir / "output.mp4" and entry.error is None
