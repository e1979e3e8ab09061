"""A stand-in for the engine, for the widget tests (kept out of the package: no user can
switch a real panel to it).

``FakeEngine`` has the engine's call signatures (``run``, ``preview_frame``, ``load_speech``)
and writes a real run folder (params.json, result.json, output.mp4, plot PNGs), but the
output is only the input video muxed with the speech: no lip-sync. Tests pass it to
``Workbench(engine=FakeEngine())``.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import struct
import subprocess
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from heygem_kernel.errors import Cancelled, MediaError
from heygem_kernel.media import ffmpeg_exe
from heygem_kernel.options import RunOptions
from heygem_kernel.records import new_run_dir

STAGES = (("audio", 2), ("analyse", 5), ("render", 10), ("sync", 2))   # (stage, steps)


@dataclass(frozen=True)
class FakeResult:
    """The fields of heygem_kernel.records.RunResult that the panel reads."""

    output: Path
    run_dir: Path
    params_path: Path
    log_path: Path
    plots: dict[str, Path]
    width: int = 0
    height: int = 0
    fps: float = 25.0
    n_frames: int = 0
    duration: float = 0.0
    frames_no_face: int = 0
    sync_offset_frames: int = 0
    sync_confidence: float = 0.0
    sync_correlation: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    backend: str = "fake"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return json.loads(json.dumps(d, default=str))


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


class FakeEngine:
    """Engine double. ``encode``: mux a playable H.264 + AAC output with ffmpeg (else copy the
    video bytes); ``step_delay``: seconds per progress step; ``fail_on``: video names that
    raise :class:`MediaError`."""

    def __init__(self, *, encode: bool = True, step_delay: float = 0.0,
                 fail_on: tuple[str, ...] = (), preview: bool = True) -> None:
        self.encode, self.step_delay, self.fail_on = encode, step_delay, tuple(fail_on)
        self.calls: list[dict[str, Any]] = []
        self.started = threading.Event()
        if not preview:
            self.preview_frame = None  # type: ignore[assignment]  # as an engine without it

    def load_speech(self, path: str | Path, *, language: str = "auto") -> dict[str, Any]:
        return {"path": str(path), "language": language}

    def preview_frame(self, audio, video, *, options: RunOptions = RunOptions(),
                      frame_index: int = 0) -> np.ndarray:
        """A grey frame [shape=(64, 96, 3)] uint8 BGR with a white 'mask outline'."""
        frame = np.full((64, 96, 3), 90, np.uint8)
        frame[20:44, 30] = frame[20:44, 65] = frame[20, 30:66] = frame[43, 30:66] = 255
        return frame

    def run(self, audio, video, *, out=None, options: RunOptions = RunOptions(), run_dir=None,
            runs_root="runs", name=None, speech=None, progress: Callable | None = None,
            cancel: threading.Event | None = None, cache_dir=None) -> FakeResult:
        audio, video = Path(audio), Path(video)
        self.calls.append({"audio": audio, "video": video, "options": options, "speech": speech})
        self.started.set()
        if not audio.is_file() or not video.is_file():
            raise MediaError(f"{audio if not audio.is_file() else video}: no such file")
        if video.name in self.fail_on:
            raise MediaError(f"{video}: not a decodable video (fake engine told to fail)")
        if run_dir:
            run_dir = Path(run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
        else:
            run_dir = new_run_dir(runs_root, name or video.stem)
        params = run_dir / "params.json"
        params.write_text(json.dumps({"audio": str(audio), "video": str(video),
                                      "options": options.to_dict()}, default=str))
        timings = {}
        for stage, steps in STAGES:
            t0 = time.monotonic()
            for i in range(steps + 1):
                if cancel is not None and cancel.is_set():
                    shutil.rmtree(run_dir, ignore_errors=True)
                    raise Cancelled(f"{video}: cancelled")
                if progress is not None:
                    progress(stage, i, steps)
                if i < steps and self.step_delay:
                    time.sleep(self.step_delay)
            timings[stage] = time.monotonic() - t0
        output = Path(out) if out else run_dir / "output.mp4"
        if self.encode:
            subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(video), "-i", str(audio),
                            "-map", "0:v:0", "-map", "1:a:0", "-c:v", "libx264", "-preset", "ultrafast",
                            "-pix_fmt", "yuv420p", "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2",
                            "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(output)],
                           check=True, capture_output=True)
        else:
            shutil.copyfile(video, output)
        plots = {}
        for plot, rgb in (("mel", (40, 60, 160)), ("landmarks", (40, 160, 60)), ("mouth_track", (160, 60, 40))):
            plots[plot] = run_dir / f"{plot}.png"
            plots[plot].write_bytes(_png(120, 60, rgb))
        log = run_dir / "run.log"
        log.write_text("fake engine run\n")
        result = FakeResult(output=output, run_dir=run_dir, params_path=params, log_path=log, plots=plots,
                            width=524, height=524, n_frames=123, duration=4.9, sync_offset_frames=0,
                            sync_confidence=7.5, sync_correlation=0.61, timings=timings)
        (run_dir / "result.json").write_text(json.dumps(result.to_dict(), indent=1))
        return result
