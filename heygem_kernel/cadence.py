"""Frame cadence of a recording: repeated pictures and skipped timestamps (screen captures).

A clip captured from a screen (a video call or a player recorded by a screen recorder) shows its
pictures later than a camera would: the player holds each frame until the next, the recorder
grabs the screen at its own rate, and a later conversion to a fixed rate holds again. Two of the
four in-sync clips in ``../shared/media`` are such captures and want a sync zero ~65 ms later
than the camera clips (sync.py CALIBRATION). They show it in their cadence:

* talking_524 (25 fps, resampled from a ~21 fps capture) repeats the previous picture exactly
  every 6-10 frames: 13 of its 122 frames change the face region by < 0.03 of the clip's median
  frame-to-frame change; the camera clips' smallest change is 0.15 (talking_590, portrait).
* talking_vfr_700 (EV Capture, 30 fps timestamps) skips a timestamp tick on 48 of its 134 frame
  intervals (~22 fps real).

:func:`frame_cadence` counts both; ``heygem sync`` prints :meth:`Cadence.note` beside its
reading. It is a note, not a correction: how late a capture shows its pictures depends on the
capture chain, which the file does not record.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .children import tied
from .i18n import Text

# A frame "repeats" the previous one when the face region changes by less than this fraction of
# the clip's median frame-to-frame change (exact repeats measure 0.000-0.028 on talking_524,
# genuine frames >= 0.064; the camera clips' smallest change is 0.15).
REPEAT_RATIO = 0.05
THUMB = 64                   # face region compared as a THUMB x THUMB grey thumbnail
SKIP_TICKS = 1.5             # a timestamp interval this many base ticks long skipped a frame
# Worth a note when at least this share of frames (intervals) repeat (skip), and at least
# MIN_EVENTS of them: talking_524 10.7 % (13), talking_vfr_700 36 % (48); camera clips 0.
MIN_SHARE, MIN_EVENTS = 0.04, 3
# A capture repeats single pictures now and then (talking_524: runs of 1, once 2); a held picture
# several frames long is not a capture's: a photo brought to life by a run keeps every frame of a
# pause identical (runs of 3-68 frames). Only repeats in runs up to this long are counted ...
MAX_REPEAT_RUN = 2
# ... unless most pictures are held: a low-rate source converted up (talking_590 through 5 fps and
# back to 25: a new picture every 5th frame, 80 % repeats) changes at most every other frame, so the
# median gap between new pictures is >= HELD_GAP frames; then every repeat counts. A talking photo
# changes every frame while it speaks (median gap 1) and keeps its pauses uncounted.
HELD_GAP = 2


@dataclass(frozen=True)
class Cadence:
    """Frame cadence of a video: ``frames`` decoded, ``repeats`` of them showing the previous
    picture again (face region; pictures held longer than MAX_REPEAT_RUN frames not counted),
    ``skips`` timestamp intervals of >= SKIP_TICKS base ticks, ``tick_s`` the most common interval and ``span_s`` first to last timestamp (seconds)."""

    frames: int
    repeats: int
    skips: int
    tick_s: float
    span_s: float = 0.0

    @property
    def repeat_share(self) -> float:
        """Fraction of the frames that repeat the previous picture (0..1)."""
        return self.repeats / max(self.frames, 1)

    @property
    def picture_rate(self) -> float:
        """Different pictures a second: the frames that are not repeats over the clip's length
        (its timestamps' span and one tick); NaN without timestamps."""
        seconds = self.span_s + self.tick_s
        return (self.frames - self.repeats) / seconds if self.span_s > 0 and self.tick_s > 0 else float("nan")

    @property
    def repeats_frames(self) -> bool:
        return self.repeats >= max(MIN_EVENTS, MIN_SHARE * self.frames)

    @property
    def skips_ticks(self) -> bool:
        return self.skips >= max(MIN_EVENTS, MIN_SHARE * max(self.frames - 1, 1))

    def note(self) -> str:
        """One line for people when the cadence looks like a screen capture, else ""."""
        if self.repeats_frames and np.isfinite(self.picture_rate):
            return Text("the picture repeats the previous frame in {n} of {total} frames ({share:.0f} %): about "
                        "{pictures:.1f} different pictures a second at {fps:.0f} fps; a screen capture or a "
                        "frame-rate conversion, whose pictures are often shown late (~65 ms on the shared screen "
                        "captures); not corrected", n=self.repeats, total=self.frames, share=100 * self.repeat_share,
                        pictures=self.picture_rate, fps=self.frames / (self.span_s + self.tick_s))
        if self.repeats_frames:
            return Text("the picture repeats the previous frame in {n} of {total} frames ({share:.0f} %): a screen "
                        "capture or a frame-rate conversion, whose pictures are often shown late (~65 ms on the "
                        "shared screen captures); not corrected", n=self.repeats, total=self.frames,
                        share=100 * self.repeat_share)
        if self.skips_ticks:
            return Text("the timestamps skip a frame {n} times in {total} frames (about {fps:.0f} fps real): a "
                        "screen capture or dropped frames; captures often show their pictures late (~65 ms on the shared screen "
                        "captures); not corrected", n=self.skips, total=self.frames,
                        fps=(self.frames - 1) / max(self.span_s, 1e-9))
        return ""

    def to_dict(self) -> dict:
        rate = self.picture_rate
        return {"frames": self.frames, "repeats": self.repeats, "skips": self.skips,
                "tick_s": round(self.tick_s, 5), "span_s": round(self.span_s, 4),
                "repeat_share": round(self.repeat_share, 4),
                "picture_rate": round(rate, 3) if np.isfinite(rate) else None, "note": self.note()}


def _timestamps(path: Path) -> np.ndarray:
    """Presentation times (s) of the video stream's packets, sorted [shape=(N,)]."""
    from .media import ffprobe_exe
    out = subprocess.run([ffprobe_exe(), "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=pts_time", "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                         timeout=600).stdout
    times = [float(x) for x in out.replace(",", "\n").split() if x not in ("", "N/A")]
    return np.sort(np.asarray(times, np.float64))


def _face_changes(path: Path, box: tuple[int, int, int, int]) -> np.ndarray:
    """Mean absolute grey change [shape=(N-1,)] between consecutive decoded frames of the face
    region (x, y, w, h), compared as THUMB x THUMB thumbnails; frames as stored (no rate
    conversion). Streamed: memory does not grow with the video's length."""
    from .media import ffmpeg_exe, signals_held
    x, y, w, h = box
    size = THUMB * THUMB
    with signals_held():   # Ctrl-C between the start and `proc` being set: no ffmpeg left running
        proc = subprocess.Popen(tied([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0",
                                      "-fps_mode", "passthrough", "-vf",
                                      f"crop={w}:{h}:{x}:{y},scale={THUMB}:{THUMB}:flags=area,format=gray",
                                      "-f", "rawvideo", "-"]), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    changes, prev = [], None
    try:
        while True:
            buf = proc.stdout.read(size)
            if len(buf) < size:
                break
            thumb = np.frombuffer(buf, np.uint8).astype(np.float32)
            if prev is not None:
                changes.append(float(np.abs(thumb - prev).mean()))
            prev = thumb
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    return np.asarray(changes, np.float64)


def _repeats(change: np.ndarray) -> np.ndarray:
    """Which frame-to-frame changes [shape=(N-1,)] repeat the previous picture [bool]: below
    REPEAT_RATIO of the typical change of a new picture. That typical change is the median of the
    changes that are not repeats (found from the top: the 95th percentile first), since a clip whose
    pictures are mostly held has a repeat, i.e. encoder noise, as its plain median."""
    typical = float(np.percentile(change, 95))
    for _ in range(5):
        new = change >= REPEAT_RATIO * typical
        if not new.any():
            break
        typical, before = float(np.median(change[new])), typical
        if typical == before:
            break
    return change < REPEAT_RATIO * typical if typical > 0 else np.zeros(change.shape, bool)


def _held(repeat: np.ndarray) -> bool:
    """Most pictures are held: the median gap between new pictures is >= HELD_GAP frames."""
    gaps = np.diff(np.flatnonzero(~repeat))
    return bool(gaps.size) and float(np.median(gaps)) >= HELD_GAP


def _short_repeats(repeat: np.ndarray) -> int:
    """Frames of ``repeat`` [bool, shape=(N,)] that lie in runs of at most MAX_REPEAT_RUN."""
    edges = np.diff(np.concatenate(([0], repeat.astype(np.int8), [0])))
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return int(lengths[lengths <= MAX_REPEAT_RUN].sum())


def frame_cadence(video: str | Path, *, track) -> Cadence | None:
    """Repeated pictures and skipped timestamps of ``video``; ``track`` its FaceTrack (the face
    region compared is the median box of its faces). None without a face or with < 3 frames."""
    video = Path(video)
    boxes = track.face_boxes()
    if not np.isfinite(boxes).any():
        return None
    x0, y0, x1, y1 = np.nanmedian(boxes, axis=0)
    pad = 0.1 * max(x1 - x0, y1 - y0)
    x0, y0 = max(0, int(x0 - pad)), max(0, int(y0 - pad))
    x1, y1 = min(track.width, int(x1 + pad)), min(track.height, int(y1 + pad))
    w, h = (x1 - x0) // 2 * 2, (y1 - y0) // 2 * 2
    if w < 4 or h < 4:
        return None
    change = _face_changes(video, (x0, y0, w, h))
    if change.shape[0] < 2:
        return None
    repeat = _repeats(change)
    repeats = int(repeat.sum()) if _held(repeat) else _short_repeats(repeat)
    times = _timestamps(video)
    skips, tick, span = 0, 0.0, 0.0
    if times.shape[0] >= 3:
        span = float(times[-1] - times[0])
        steps = np.diff(times)
        steps = steps[steps > 0]
        if steps.size:
            vals, counts = np.unique(np.round(steps, 4), return_counts=True)
            tick = float(vals[np.argmax(counts)])
            skips = int(np.count_nonzero(steps >= SKIP_TICKS * tick))
    return Cadence(frames=int(change.shape[0] + 1), repeats=repeats, skips=skips, tick_s=tick, span_s=span)
