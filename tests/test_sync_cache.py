"""``heygem sync`` reads and fills the face-track cache of runs and batches (content hash): a second
check of a recording, or a check of a video a run analysed, does not track the face again, and
reads the same as tracking it (before, every check ran the face tracker over every frame)."""
from __future__ import annotations

import json

from heygem_cli import heygem
from heygem_kernel import landmarks
from heygem_kernel.sync import measure_video_sync


def _reading(report) -> tuple:
    e = report.estimate
    return e.offset_frames, e.offset_exact, e.confidence, e.correlation, report.n_frames, report.frames_no_face


def test_second_check_reads_the_cached_track(tmp_path, monkeypatch, media_dir):
    clip = media_dir / "talking_590.mp4"
    calls = []
    update = landmarks.FaceTracker.update
    monkeypatch.setattr(landmarks.FaceTracker, "update", lambda self, frame: calls.append(1) or update(self, frame))

    tracked = measure_video_sync(clip)                       # no cache: landmarks.track_video
    n = len(calls)
    assert n == tracked.n_frames == 125
    first = measure_video_sync(clip, cache_dir=tmp_path)     # not cached yet: tracked and filed
    assert len(calls) == 2 * n
    (entry,) = tmp_path.glob("analysis-*.npz")
    filed = entry.stat().st_mtime_ns
    second = measure_video_sync(clip, cache_dir=tmp_path)
    assert len(calls) == 2 * n                               # the tracker did not run
    assert entry.stat().st_mtime_ns == filed and list(tmp_path.iterdir()) == [entry]
    assert _reading(second) == _reading(first) == _reading(tracked)


def test_sync_after_a_run_reuses_its_analysis(tmp_path, clip_524, speech_5s):
    cache = tmp_path / "cache"
    env = ("--cache-dir", cache)
    ran = heygem("run", "--quiet", "--no-sync-check", "--audio", speech_5s, "--video", clip_524,
                 "--out", tmp_path / "o.mp4", "--run-dir", tmp_path / "run", *env)
    assert ran.returncode == 0, ran.stderr
    (entry,) = cache.glob("analysis-*.npz")
    filed = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}

    checked = heygem("sync", clip_524, "--json", "--no-plot", "-v", *env)
    assert checked.returncode == 0, checked.stderr
    assert f"analysis: re-used cached face track {entry.name} (122 frames)" in checked.stderr
    # without -v the console holds the report alone (before: an INFO line on stderr every time)
    quiet = heygem("sync", clip_524, "--json", "--no-plot", *env)
    assert quiet.returncode == 0 and quiet.stderr == "" and json.loads(quiet.stdout) == json.loads(checked.stdout)
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == filed    # nothing written

    fresh = heygem("sync", clip_524, "--json", "--no-plot", "--no-cache", *env)
    assert fresh.returncode == 0, fresh.stderr
    assert "re-used" not in fresh.stderr
    assert "--cache-dir is not used with --no-cache: ignored" in fresh.stderr
    keys = ("offset_frames", "offset_exact", "confidence", "correlation", "n_frames", "frames_no_face")
    cached, tracked = json.loads(checked.stdout), json.loads(fresh.stdout)
    assert {k: cached[k] for k in keys} == {k: tracked[k] for k in keys}


def test_run_after_a_check_reuses_its_analysis(tmp_path, clip_524, speech_5s):
    cache = tmp_path / "cache"
    checked = heygem("sync", clip_524, "--json", "--no-plot", "--cache-dir", cache)
    assert checked.returncode == 0, checked.stderr
    (entry,) = cache.glob("analysis-*.npz")
    ran = heygem("run", "--quiet", "--no-sync-check", "--audio", speech_5s, "--video", clip_524,
                 "--out", tmp_path / "o.mp4", "--run-dir", tmp_path / "run", "--cache-dir", cache)
    assert ran.returncode == 0, ran.stderr
    log = (tmp_path / "run" / "run.log").read_text()
    assert f"analysis: re-used cached face track {entry.name} (122 frames)" in log
    assert json.loads((tmp_path / "run" / "result.json").read_text())["extra"]["analysis_cached"] is True
