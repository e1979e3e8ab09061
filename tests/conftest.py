"""Shared fixtures: the real clips in ../shared/media (used by path, never copied)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("HEYGEM_MEDIA", ROOT.parent / "shared" / "media"))


def media(name: str) -> Path:
    path = MEDIA / name
    if not path.exists():
        pytest.skip(f"test media {path} not present")
    return path


@pytest.fixture(scope="session")
def media_dir() -> Path:
    if not MEDIA.is_dir():
        pytest.skip(f"test media folder {MEDIA} not present")
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
