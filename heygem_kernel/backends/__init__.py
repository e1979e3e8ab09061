"""Registry of lip-sync backends: ``create("reuse")``, ``available()``.

Backends register by name; heavy modules (torch) are imported only when their backend
is created, so ``import heygem_kernel`` stays cheap.
"""
from __future__ import annotations

import copy
import importlib
import threading
from pathlib import Path
from typing import Any

from ..errors import InputError
from .base import BACKEND_OPTIONS, AudioFeatures, Backend, FrameBatch, JobContext, MouthPatch

# name -> "module:Class" (imported lazily)
_REGISTRY: dict[str, str] = {
    "reuse": "heygem_kernel.backends.reuse:ReuseBackend",
    "wav2lip": "heygem_kernel.backends.wav2lip:Wav2LipBackend",
    "musetalk": "heygem_kernel.backends.musetalk:MuseTalkBackend",
}
_CACHE: dict[tuple, tuple[tuple, Backend]] = {}   # (name, arguments) -> (its files' states, backend)
_CACHE_LOCK = threading.Lock()


def register(name: str, target: str) -> None:
    """Register a backend class given as ``"package.module:ClassName"``."""
    _REGISTRY[name] = target


def available() -> list[str]:
    return sorted(_REGISTRY)


def backend_class(name: str) -> type[Backend]:
    if name not in _REGISTRY:
        raise InputError("unknown backend {name!r}; choose one of: {choices}",
                         name=name, choices=", ".join(available()))
    module, _, cls = _REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def check_options(options: Any) -> list[str]:
    """Check ``options`` (a RunOptions) for its backend before any work; return its warnings.

    Raises :class:`InputError` (one line, every backend) for a ``checkpoint`` or ``models_dir``
    that does not exist, or that the backend cannot use as given (:meth:`Backend.check_model_options`).
    Returns warning lines, in the user's language: one naming the backend and the options it does
    not use (e.g. ``--checkpoint`` with ``reuse``; ``--device`` with ``reuse`` and no face
    restoration), one for ``--enhance-strength`` without face restoration; those options are not dropped in silence. Imports the backend's module, not its
    model (no torch).
    """
    from ..i18n import Text
    from ..options import RunOptions, check_model_paths, option_label
    check_model_paths(options)
    cls = backend_class(options.backend)
    cls.check_model_options(options)       # e.g. one file where musetalk loads a folder: refused
    ignored = cls.ignored_options(options)
    restoring = bool(options.enhance or options.enhance_model)   # the enhancer runs on --device too
    if not cls.uses_device and not restoring and options.device != RunOptions.device:
        ignored.append("device")
    # Text: English in run.log, the user's language on the console (i18n.ConsoleFormatter)
    lines = [Text("the {backend} backend does not use {options}: ignored", backend=options.backend,
                  options=", ".join(option_label(name) for name in ignored))] if ignored else []
    if not restoring and options.enhance_strength != RunOptions.enhance_strength:
        lines.append(Text("{option} applies to face restoration (--enhance), which is off: ignored",
                          option=option_label("enhance_strength")))
    return lines


def create(name: str, *, cached: bool = True, **kwargs: Any) -> Backend:
    """A backend ``name`` for one job.

    With ``cached`` the model loads once per process (again when one of its files is replaced:
    :meth:`Backend.model_files`) and every call returns a fresh shallow copy of the loaded
    backend: the copies share the weights, but each job's state (set by ``prepare``) is its own,
    so two jobs at once (the panel's preview during a render, two threads of a worker) never see
    each other's speech or face track.
    """
    if not cached:
        return backend_class(name)(**kwargs)
    files = backend_class(name).model_files(checkpoint=kwargs.get("checkpoint"), models_dir=kwargs.get("models_dir"))
    key = (name, tuple(sorted((k, str(v)) for k, v in kwargs.items())))
    state = tuple(map(_file_state, files))
    with _CACHE_LOCK:               # two first calls at once must not load the model twice
        if key not in _CACHE or _CACHE[key][0] != state:
            _CACHE.pop(key, None)   # a replaced file: the old model is let go before the new one loads
            _CACHE[key] = (state, backend_class(name)(**kwargs))
        return copy.copy(_CACHE[key][1])


def _file_state(path: Path) -> tuple:
    """(path, size, mtime_ns) of a model file: a file replaced under its name loads anew."""
    try:
        st = path.stat()
    except OSError:
        return (str(path), None, None)
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


__all__ = ["BACKEND_OPTIONS", "AudioFeatures", "Backend", "FrameBatch", "JobContext", "MouthPatch",
           "available", "backend_class", "check_options", "create", "register"]
