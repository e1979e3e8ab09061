"""Shared fixtures: the real clips in ../shared/media (used by path, never copied).

A missing clip FAILS its tests (it never skips them): a green run must mean the real-media
tests ran. ``HEYGEM_MEDIA`` points elsewhere.
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("HEYGEM_MEDIA", ROOT.parent / "shared" / "media"))
sys.path.insert(0, str(Path(__file__).resolve().parent))   # tests' own helpers (fake_engine)

# A suite started as a background job of a non-interactive shell (`bash .ci/run &` in a script)
# inherits SIGINT ignored, and so does every heygem process it starts: the Ctrl-C tests
# (test_cli, test_tempfiles) then found "the interrupt was lost" and a batch finishing with exit 0.
# They test what a terminal's Ctrl-C does, so the suite takes SIGINT back (a handler, unlike an
# ignored signal, is not inherited: its children get the default again).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def media(name: str) -> Path:
    path = MEDIA / name
    if not path.exists():
        pytest.fail(f"test media {path} is missing: the tests need ../shared/media beside the "
                    "project (or HEYGEM_MEDIA=folder)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def media_dir() -> Path:
    if not MEDIA.is_dir():
        pytest.fail(f"test media folder {MEDIA} is missing (or set HEYGEM_MEDIA=folder)", pytrace=False)
    return MEDIA


@pytest.fixture(scope="session")
def clip_590() -> Path:
    return media("talking_590.mp4")


@pytest.fixture(scope="session")
def clip_524() -> Path:
    return media("talking_524.mp4")


@pytest.fixture(scope="session")
def clip_vfr() -> Path:
    return media("talking_vfr_700.mp4")


@pytest.fixture(scope="session")
def clip_portrait() -> Path:
    return media("portrait_1080x1920.mp4")


@pytest.fixture(scope="session")
def speech_5s() -> Path:
    return media("speech_en_5s.wav")


@pytest.fixture(scope="session")
def speech_60s() -> Path:
    return media("speech_en_60s.wav")


@pytest.fixture(scope="session")
def speech_zh() -> Path:
    return media("speech_zh_8s.wav")


@pytest.fixture
def photo_524(tmp_path, clip_524) -> Path:
    """A photo of a presenter with a Chinese name: talking_524's first frame as ``tmp_path/主持人.png``."""
    import cv2
    cap = cv2.VideoCapture(str(clip_524))
    ok, frame = cap.read()
    cap.release()
    assert ok
    photo = tmp_path / "主持人.png"
    cv2.imwrite(str(photo), frame)
    return photo


@pytest.fixture(autouse=True)
def _own_face_track_cache(monkeypatch, tmp_path_factory):
    """Each test its own default face-track cache (cache.default_dir), as each had its own runs/.cache
    before runs and batches shared ~/.cache/heygem: a first run is a first run, and no test fills the
    user's cache. A test that names a cache (--cache-dir, cache_dir=, HEYGEM_CACHE_DIR) uses that."""
    monkeypatch.setenv("HEYGEM_CACHE_DIR", str(tmp_path_factory.mktemp("heygem-cache")))
