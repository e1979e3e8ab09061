"""The face-track cache key: everything that changes the analysis, nothing else (video content,
analysis version, detector and the installed package behind it; not the render's options)."""
from __future__ import annotations

from heygem_kernel import detectors, media, pipeline
from heygem_kernel.options import RunOptions

N = 10   # frames: enough to make and re-read an entry


def _analyse(info, cache, **options):
    return pipeline.analyse(info, options=RunOptions(**options), n_frames=N, want_library=False, cache_dir=cache)


def test_the_cache_follows_the_detector_package_and_ignores_render_options(tmp_path, clip_524, monkeypatch):
    info, cache = media.probe_video(clip_524), tmp_path / "cache"
    first = _analyse(info, cache)
    assert not first.cached
    same = _analyse(info, cache, smoothing=0.9, mask_scale=2.0, backend="wav2lip", still_fps=30.0, crf=30,
                    language="zh", loop="pingpong")      # options of later stages: the same face track
    assert same.cached and len(list(cache.glob("analysis-*.npz"))) == 1
    from importlib import metadata
    installed = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "99.0" if name == "mediapipe" else installed(name))
    upgraded = _analyse(info, cache)
    assert not upgraded.cached                           # it was served the old version's points
    assert len(list(cache.glob("analysis-*.npz"))) == 2
    assert detectors.detector_version("mediapipe") == "mediapipe 99.0"
