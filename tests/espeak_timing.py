"""Synthetic speech with known phoneme timing: espeak-ng (libespeak-ng) through ctypes.

``synthesize(text, voice)`` returns 16 kHz mono float32 speech and the phonemes espeak-ng
spoke, each with its start time in seconds (the library's phoneme events carry their sample
position), so tests know exactly when a bilabial closes the lips, in any language espeak-ng
speaks (cmn, ja, de, en ...). Test helper only: the engine never synthesises speech.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_EVENT_PHONEME, _EVENT_LIST_TERMINATED = 7, 0
_POS_CHARACTER, _CHARS_UTF8 = 1, 1


class _Id(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _Id)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_lock = threading.Lock()
_lib = None
_rate = 0


@dataclass(frozen=True)
class Phoneme:
    """One phoneme espeak-ng spoke: its mnemonic (``-x`` notation) and start time in seconds."""

    name: str
    start: float


def _library():
    global _lib, _rate
    if _lib is None:
        path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        lib = ctypes.CDLL(path)
        lib.espeak_Initialize.restype = ctypes.c_int
        _rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_PHONEME_EVENTS)
        if _rate <= 0:
            raise RuntimeError("espeak-ng could not be initialised")
        _lib = lib
    return _lib


def synthesize(text: str, voice: str, *, rate: int = 16000) -> tuple[np.ndarray, list[Phoneme]]:
    """Speak ``text`` with espeak-ng ``voice``: (wav [shape=(S,)] float32 at ``rate``, phonemes)."""
    from math import gcd

    from scipy.signal import resample_poly
    with _lock:
        lib = _library()
        chunks: list[np.ndarray] = []
        events: list[tuple[str, int]] = []

        def callback(wav, n, ev):
            if n > 0 and wav:
                chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            i = 0
            while ev[i].type != _EVENT_LIST_TERMINATED:
                if ev[i].type == _EVENT_PHONEME:
                    name = ev[i].id.string.decode("utf-8", "replace")
                    events.append((name, ev[i].audio_position))
                i += 1
            return 0

        cb = _CALLBACK(callback)
        lib.espeak_SetSynthCallback(cb)
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        data = text.encode("utf-8") + b"\0"
        lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
        native = _rate
    wav = (np.concatenate(chunks) if chunks else np.zeros(0, np.int16)).astype(np.float32) / 32768.0
    g = gcd(native, rate)
    wav = resample_poly(wav, rate // g, native // g).astype(np.float32)
    phonemes = [Phoneme(name, ms / 1000.0) for name, ms in events if name]
    return wav, phonemes
