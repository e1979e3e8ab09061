"""The fast paths tell the same story as the slow ones: the run-time sync check (measured on
the output's pixels, the crop placed from the source track) agrees with ``heygem sync`` on the
written file, and a re-run with new speech on cached footage renders like a first run.
Speed itself is measured by benchmarks/bench_engine.py, not here."""
from __future__ import annotations

import inspect
import os
import subprocess

import numpy as np
import pytest

import heygem_kernel
from heygem_kernel import RunOptions, pipeline, run, sync

pytestmark = pytest.mark.slow


def _cut(src, dst, *, start: float, seconds: float):
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-ss", str(start), "-i", str(src),
                    "-t", str(seconds), "-ac", "1", str(dst)], check=True)
    return dst


def test_run_shows_its_real_signature():
    def shape(fn):
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]
    assert shape(heygem_kernel.run) == shape(pipeline.run)
    assert "out" in inspect.signature(heygem_kernel.run).parameters


def test_runtime_sync_check_agrees_with_heygem_sync_on_the_file(tmp_path, clip_590, speech_60s, monkeypatch):
    from heygem_kernel import detectors
    fits = []                                   # Face Mesh fits: the face analysis's and the meter's
    real_landmarks = detectors.MediaPipeDetector.landmarks

    def counting(self, frame, box):
        fits.append(1)
        return real_landmarks(self, frame, box)
    monkeypatch.setattr(detectors.MediaPipeDetector, "landmarks", counting)
    speech = _cut(speech_60s, tmp_path / "a.wav", start=0.0, seconds=6.0)
    first = run(speech, clip_590, runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache")
    first_fits = len(fits)
    on_file = sync.measure_video_sync(first.output, audio=speech).estimate
    # the same reading, whole frames against the file's sub-frame one: a reading near half a frame
    # may round either way (2026-12-03: the run +1, the file +0.47)
    assert abs(first.sync_offset_frames - on_file.offset_exact) <= 0.6, (first.sync_offset_frames,
                                                                        on_file.offset_exact)
    if first.sync_offset_frames == on_file.offset_frames:   # the correlation is taken at that whole lag
        assert abs(first.sync_correlation - on_file.correlation) < 0.1, (first.sync_correlation, on_file.correlation)
    t = first.timings
    assert t["decode_cpu"] > 0 and t["encode_cpu"] > 0 and t["measure"] > 0, t

    # new speech on the same footage: the face track comes from the cache, the output is as good
    other = _cut(speech_60s, tmp_path / "b.wav", start=20.0, seconds=6.0)
    fits.clear()
    again = run(other, clip_590, runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache")
    again_fits = len(fits)
    assert first.extra["analysis_cached"] is False and again.extra["analysis_cached"] is True
    # the first run fits every source frame (analysis) and every output frame (sync check); the
    # re-run only the output's: no face analysis at all (a count, not a time: the machine is shared)
    source_frames = first.extra["source_frames"]
    assert first_fits >= source_frames + first.n_frames and again_fits <= again.n_frames + 5, \
        (first_fits, again_fits, source_frames, again.n_frames)
    on_file = sync.measure_video_sync(again.output, audio=other).estimate
    assert again.sync_offset_frames == on_file.offset_frames
    assert abs(again.sync_offset_frames) <= 1 and again.sync_correlation > 0.3, again.sync_correlation
    assert np.isclose(again.duration, 6.0, atol=0.05)


def test_a_first_run_decodes_the_video_once_and_renders_the_same(tmp_path, clip_590, speech_60s, monkeypatch):
    """The frames the face analysis decoded are spooled and read back by the render (looped
    here: 6 s of speech on a 5 s clip); without that spool (too big) the video is decoded twice.
    Either way the output is the same, frame for frame."""
    from heygem_kernel import media
    speech = _cut(speech_60s, tmp_path / "a.wav", start=0.0, seconds=6.0)
    decodes = []
    real_iter_frames = media.iter_frames

    def counting(info, **kw):
        decodes.append(info.path)
        return real_iter_frames(info, **kw)
    monkeypatch.setattr(media, "iter_frames", counting)
    once = run(speech, clip_590, runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache1")
    assert len(decodes) == 1 and once.extra["loop"]["mode"] != "trim", (decodes, once.extra["loop"])
    monkeypatch.setattr(pipeline, "_decode_spool", lambda job, n_frames: None)   # as when it would not fit
    twice = run(speech, clip_590, runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache2")
    assert len(decodes) == 3
    a, b = media.read_frames(once.output), media.read_frames(twice.output)
    assert len(a) == len(b) == once.n_frames
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not [p for p in (tmp_path / "runs").rglob("*") if "heygem-frames-" in p.name]   # spools removed


def test_a_full_disk_under_the_decode_spool_only_costs_a_second_decode(tmp_path, clip_590, speech_60s, monkeypatch):
    """The spool's writes fail part-way (a full disk): the face analysis still sees every real
    frame (none repeated in its place), the render decodes the video itself, and the output is
    the same as with a working spool."""
    from heygem_kernel import media
    speech = _cut(speech_60s, tmp_path / "a.wav", start=0.0, seconds=3.0)
    good = run(speech, clip_590, runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache1")
    real_pwrite = os.pwrite

    def disk_full_after_20_frames(fd, data, offset):
        if offset >= 20 * memoryview(data).nbytes:
            return real_pwrite(fd, memoryview(data)[:100], offset)   # a short write, as on a full disk
        return real_pwrite(fd, data, offset)
    monkeypatch.setattr(media.os, "pwrite", disk_full_after_20_frames)
    full = run(speech, clip_590, runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache2")
    assert "frame spool stopped at frame 20" in full.log_path.read_text()
    a, b = media.read_frames(good.output), media.read_frames(full.output)
    assert len(a) == len(b) == good.n_frames and all(np.array_equal(x, y) for x, y in zip(a, b))
