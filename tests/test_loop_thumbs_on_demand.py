"""Loop thumbnails are made only for runs that plan a seamless loop (issue 9: a 1080p thumbnail
costs ~1.7 ms of CPU per frame). A face track cached without them gets them, without tracking
again, when a later run loops the same footage; the loop plan is the one a fresh analysis gives."""
from __future__ import annotations

import numpy as np

from heygem_kernel import landmarks, loops, media, pipeline
from heygem_kernel.options import RunOptions


def _counting(monkeypatch):
    calls = {"descriptor": 0, "update": 0}
    descriptor, update = loops.descriptor, landmarks.FaceTracker.update

    def counted_descriptor(frame):
        calls["descriptor"] += 1
        return descriptor(frame)

    def counted_update(self, frame):
        calls["update"] += 1
        return update(self, frame)
    monkeypatch.setattr(loops, "descriptor", counted_descriptor)
    monkeypatch.setattr(landmarks.FaceTracker, "update", counted_update)
    return calls


def test_thumbnails_are_made_when_a_loop_needs_them_and_then_cached(tmp_path, clip_590, monkeypatch):
    info = media.probe_video(clip_590)
    n, cache = info.n_frames, tmp_path / "cache"
    calls = _counting(monkeypatch)

    trim = pipeline.analyse(info, options=RunOptions(), n_frames=n, cache_dir=cache, thumbs_needed=False)
    assert trim.thumbs is None and calls == {"descriptor": 0, "update": n}

    spool = media.decode_spool(info, n_frames=n, spool_dir=tmp_path)
    looped = pipeline.analyse(info, options=RunOptions(), n_frames=n, cache_dir=cache, spool=spool)
    assert looped.cached and calls == {"descriptor": n, "update": n}   # thumbnails only: no tracking again
    assert spool.count == n            # the frames decoded for them are there for the render
    spool.close()
    again = pipeline.analyse(info, options=RunOptions(), n_frames=n, cache_dir=cache)
    assert calls == {"descriptor": n, "update": n}                     # now in the entry
    assert len(list(cache.glob("analysis-*.npz"))) == 1

    fresh = pipeline.analyse(info, options=RunOptions(), n_frames=n, cache_dir=None)
    np.testing.assert_array_equal(looped.thumbs, fresh.thumbs)
    np.testing.assert_array_equal(again.thumbs, fresh.thumbs)
    np.testing.assert_array_equal(again.raw, fresh.raw)
    assert np.any(fresh.thumbs)
    plan = dict(n_out=3 * n, fps=info.fps, mode="seamless", landmarks=fresh.track.landmarks,
                valid=fresh.track.valid, frame_size=(info.width, info.height))
    assert loops.plan_loop(thumbs=again.thumbs, **plan).to_dict() == loops.plan_loop(thumbs=fresh.thumbs,
                                                                                    **plan).to_dict()


def test_a_trim_run_makes_no_thumbnail_and_a_looping_run_on_its_cache_renders_a_seamless_loop(
        tmp_path, clip_590, speech_60s, monkeypatch):
    from heygem_kernel import run
    info = media.probe_video(clip_590)
    calls = _counting(monkeypatch)
    short = tmp_path / "short.wav"
    import subprocess
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(speech_60s), "-t", "2", str(short)], check=True)
    first = run(short, clip_590, runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache",
                options=RunOptions(sync_check=False, speaker_timing=False))
    assert calls["descriptor"] == 0 and first.n_frames == 50 < info.n_frames
    long = tmp_path / "long.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(speech_60s), "-t", "8", str(long)], check=True)
    second = run(long, clip_590, runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache",
                 options=RunOptions(sync_check=False, speaker_timing=False))
    assert second.extra["analysis_cached"] is True and second.n_frames == 200
    assert second.extra["loop"]["mode"] == "seamless"
    assert calls["descriptor"] == info.n_frames       # the whole clip once, for its loop plan
    assert len(media.read_frames(second.output)) == 200
