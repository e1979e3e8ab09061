"""Registry of lip-sync backends: ``create("reuse")``, ``available()``.

Backends register by name; heavy modules (torch) are imported only when their backend
is created, so ``import heygem_kernel`` stays cheap.
"""
from __future__ import annotations

import importlib
from typing import Any

from ..errors import InputError
from .base import AudioFeatures, Backend, FrameBatch, JobContext, MouthPatch

# name -> "module:Class" (imported lazily)
_REGISTRY: dict[str, str] = {
    "reuse": "heygem_kernel.backends.reuse:ReuseBackend",
    "wav2lip": "heygem_kernel.backends.wav2lip:Wav2LipBackend",
}
_CACHE: dict[tuple, Backend] = {}


def register(name: str, target: str) -> None:
    """Register a backend class given as ``"package.module:ClassName"``."""
    _REGISTRY[name] = target


def available() -> list[str]:
    return sorted(_REGISTRY)


def backend_class(name: str) -> type[Backend]:
    if name not in _REGISTRY:
        raise InputError(f"unknown backend {name!r}; choose one of: {', '.join(available())}")
    module, _, cls = _REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def create(name: str, *, cached: bool = True, **kwargs: Any) -> Backend:
    """Create (or re-use: models load once per process) the backend ``name``."""
    key = (name, tuple(sorted((k, str(v)) for k, v in kwargs.items())))
    if cached and key in _CACHE:
        return _CACHE[key]
    backend = backend_class(name)(**kwargs)
    if cached:
        _CACHE[key] = backend
    return backend


__all__ = ["AudioFeatures", "Backend", "FrameBatch", "JobContext", "MouthPatch",
           "available", "backend_class", "create", "register"]
