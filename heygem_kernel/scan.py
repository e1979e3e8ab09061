"""Pre-flight scan of a video before any heavy work: can it be lip-synced, and how long will it take?

    probe (readable? size, fps, variable frame rate) -> sample frames (seek, decode one each)
      -> faces per sample -> no-face / multi-face stretches -> length vs the audio -> estimate

``ok`` is False only for what makes a run impossible (unreadable file, no face in any sampled
frame); everything else (a variable frame rate, a stretch without a face, several faces, a
video shorter than the speech) is listed in ``problems`` and the run goes ahead.
"""
from __future__ import annotations

import math
import os
import subprocess
from dataclasses import asdict, dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from .errors import HeyGemError, InputError, localize_record, record_of
from .i18n import N_, NC_, SECONDS, Text, _, ljust, printable, seconds, shown, width
from .loops import MIN_LOOP_S

DEFAULT_SAMPLES = 12           # frames checked for faces, spread evenly over the clip
# Most frames one scan may check: each is a seek (its own ffmpeg) and a face detection, ~0.1-0.2 s
# of CPU, so 1000 is minutes per video; a whole-clip face check is what a run's analysis does.
MAX_SAMPLES = 1000


def check_samples(samples: int) -> None:
    """InputError (one line) for a ``--samples`` outside 1 .. :data:`MAX_SAMPLES`."""
    if not 1 <= samples <= MAX_SAMPLES:   # 0 or less was read as 1, 10**6 seeked every frame of an hour
        raise InputError("--samples must be from 1 to {most} frames, got {samples}", most=MAX_SAMPLES,
                         samples=samples)
SAMPLE_TIMEOUT_S = 60          # one seek + decode of a single frame
# Run-time estimate of one item (the speech is analysed once per batch, so it is not counted),
# fitted to `heygem run --no-cache` stage timings on this project's 2-core CPU test box under a
# load of ~4.6 (reuse backend, 5 s of speech): analysis 0.015 s/frame for 590x590 (0.35 MPx),
# 0.013 for 700x700 (0.49 MPx), 0.036 for the 1080x1920 HEVC portrait (2.07 MPx, small face);
# rendering incl. the sync check's tracker 0.016, 0.016 and 0.069 s/frame; probe + plots ~1 s.
ANALYSE_S_PER_FRAME = 0.010    # + ANALYSE_S_PER_FRAME_MPX x megapixels (decode grows with size)
ANALYSE_S_PER_FRAME_MPX = 0.012
RENDER_S_PER_FRAME = 0.004     # + RENDER_S_PER_FRAME_MPX x megapixels (decode, composite, encode)
RENDER_S_PER_FRAME_MPX = 0.032
FIXED_S = 1.0
# Learned backends run a network per frame. Not measured here (no weights on the test box):
# assumed 4x the reuse backend's render cost on a CPU. MuseTalk at full size, measured with
# random weights on the 2-core box: UNet 7.9-9.0 + VAE decoder 5.5 CPU-s per frame (+ encoder
# 2.5 CPU-s per new source frame), i.e. ~7 s a frame on 2 cores = ~400x reuse's 0.016 s at
# 590x590 (on CUDA it is the other way round; the estimate is for the CPU path).
BACKEND_FACTOR = {"reuse": 1.0, "wav2lip": 4.0, "musetalk": 400.0}
# Short inputs work, but say what to expect: under a second of footage offers the reuse backend
# only a handful of the person's own mouths; speech shorter than the sync check's correlation
# window (sync.MIN_WINDOW_S) gets no A/V offset measurement.
SHORT_VIDEO_S = 1.0


@dataclass(frozen=True)
class ScanReport:
    """What the pre-flight found out about one video. Times in seconds.

    samples     frames checked (``samples`` asked for, at most the clip's frames; 1 for a photo).
    faces       number of faces found in each sampled frame [len = len(sample_times)].
    no_face     stretches (first, last sampled time) in which no face was seen.
    multi_face  stretches in which more than one face was seen (the largest one is used).
    length      how the video meets the speech: "loop" (video shorter: looped, see
                :mod:`heygem_kernel.loops`), "trim" (video longer: its end is cut), "1:1", "still" (a photo), or None.
    fatal       reasons the video cannot work (``ok`` is False when there is any).
    problems    everything worth a look, fatal ones first.
    """

    path: str
    ok: bool
    readable: bool
    width: int = 0
    height: int = 0
    duration: float = 0.0
    fps: float = 0.0
    nominal_fps: float = 0.0
    vfr: bool = False
    is_image: bool = False
    n_frames: int = 0
    samples: int = 0
    sample_times: tuple[float, ...] = ()
    faces: tuple[int, ...] = ()
    no_face: tuple[tuple[float, float], ...] = ()
    multi_face: tuple[tuple[float, float], ...] = ()
    audio_duration: float | None = None
    length: str | None = None
    est_seconds: float | None = None
    fatal: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("sample_times", "faces", "fatal", "problems"):
            data[key] = list(data[key])
        data["fatal_i18n"] = [record_of(p) for p in self.fatal]        # see errors.localize_record
        data["problems_i18n"] = [record_of(p) for p in self.problems]
        data["no_face"] = [list(s) for s in self.no_face]
        data["multi_face"] = [list(s) for s in self.multi_face]
        data["counting"] = SCAN_CACHE_VERSION   # a batch reuses a stored scan only when faces were counted alike
        return data

    def face_ratio(self) -> float:
        """Fraction of sampled frames that show at least one face."""
        return sum(1 for f in self.faces if f > 0) / len(self.faces) if self.faces else 0.0


def scan_video(path: str | os.PathLike, *, audio_duration: float | None = None,
               samples: int = DEFAULT_SAMPLES, detector: str = "mediapipe",
               backend: str = "reuse", cache_dir: str | os.PathLike | None = None,
               video_hash: str | None = None) -> ScanReport:
    """Scan ``path`` (a video or photo); never raises for a bad file (``ok=False`` and the reason).

    ``audio_duration`` (s) of the speech it will be driven by: decides loop vs trim and the
    number of output frames in the estimate. ``cache_dir``: the face counts of the sampled frames
    (the slow part: a detection per sample) are kept there by the video's content
    (``video_hash``, its sha256, when the caller has it) and reused: a batch run again with
    another speech scans each video in a moment.
    """
    from . import media
    path = Path(path)
    adur = None if audio_duration is None else round(float(audio_duration), 3)
    try:
        info = media.probe_video(path)
    except HeyGemError as exc:
        return ScanReport(path=str(path), ok=False, readable=False, audio_duration=adur,
                          fatal=(_as_text(exc),), problems=(_as_text(exc),))

    times = _sample_times(info, samples)
    fatal: list[str] = []
    faces = _face_counts(info, times, detector=detector, cache_dir=cache_dir, video_hash=video_hash)
    undecodable = [t for t, f in zip(times, faces) if f < 0]
    faces = [max(0, f) for f in faces]
    no_face = _stretches(times, [f == 0 for f in faces])
    multi = _stretches(times, [f > 1 for f in faces])
    if not any(faces):
        fatal.append(Text(N_("no face in {path} ({n} sampled frame checked)") if len(times) == 1
                          else N_("no face in {path} ({n} sampled frames checked)"), path=path, n=len(times)))

    problems = list(fatal)
    if info.is_vfr:
        problems.append(Text("variable frame rate: header says {nominal:.3f} fps, frames arrive at {fps:.3f} "
                             "fps on average (output uses the latter)", nominal=info.nominal_fps, fps=info.fps))
    if undecodable:
        problems.append(Text("{n} sampled frame(s) could not be decoded (at {times})", n=len(undecodable),
                             times=_times(undecodable)))
    if any(faces) and no_face:
        problems.append(Text("no face at {spans} (those frames pass through unchanged)", spans=_spans(no_face)))
    if multi:
        problems.append(several_faces_note(multi, still=info.is_image))

    problems.extend(media.conversion_notes(info))   # HDR, 10-bit, alpha, extra audio tracks
    if not info.is_image and info.duration < SHORT_VIDEO_S:
        problems.append(Text(N_("very short video: {n} frame ({duration:.2f} s); its few mouths are reused for "
                                "all of the speech") if info.n_frames == 1 else
                             N_("very short video: {n} frames ({duration:.2f} s); its few mouths are reused for "
                                "all of the speech"), n=info.n_frames, duration=info.duration))
    length = None
    if adur is not None:
        problems.extend(_short_speech(adur, info.fps))
    if info.is_image:
        length = "still"
    elif adur is not None:
        n_out = media.output_frames(adur, info.fps)
        length = "loop" if n_out > info.n_frames else "trim" if n_out < info.n_frames else "1:1"
        if length == "loop" and info.duration < MIN_LOOP_S:
            problems.append(Text("video ({duration} s) shorter than the speech ({speech} s) and too short "
                                 "for seamless loops (under {min_loop:g} s): played forward and back",
                                 **_lengths(info.duration, adur), min_loop=MIN_LOOP_S))
        elif length == "loop":
            problems.append(Text("video ({duration} s) shorter than the speech ({speech} s): looped "
                                 "(seamless forward loops; --loop pingpong plays it forward and back)",
                                 **_lengths(info.duration, adur)))
        elif info.duration > adur + 1.0:
            problems.append(Text("video ({duration} s) longer than the speech ({speech} s): its end is cut",
                                 **_lengths(info.duration, adur)))
    return ScanReport(
        path=str(path), ok=not fatal, readable=True, width=info.stored_width or info.width, height=info.height,
        duration=round(info.duration, 3), fps=round(info.fps, 3), nominal_fps=round(info.nominal_fps, 3),
        vfr=bool(info.is_vfr), is_image=bool(info.is_image), n_frames=int(info.n_frames), samples=len(times),
        sample_times=tuple(times), faces=tuple(faces), no_face=no_face, multi_face=multi,
        audio_duration=adur, length=length, est_seconds=estimate_seconds(info, adur, backend=backend),
        fatal=tuple(fatal), problems=tuple(problems))


def estimate_seconds(info, audio_duration: float | None, *, backend: str = "reuse") -> float:
    """Rough run time (s) of one item on a CPU: ``info`` (a VideoInfo) driven by ``audio_duration`` s."""
    from . import media
    n_out = info.n_frames if audio_duration is None else media.output_frames(audio_duration, info.fps)
    n_src = min(info.n_frames, n_out)
    mpx = info.width * info.height / 1e6
    analyse = n_src * (ANALYSE_S_PER_FRAME + ANALYSE_S_PER_FRAME_MPX * mpx)
    render = n_out * (RENDER_S_PER_FRAME + RENDER_S_PER_FRAME_MPX * mpx) * BACKEND_FACTOR.get(backend, 4.0)
    return round(FIXED_S + analyse + render, 1)


# ----------------------------------------------------------------------------------- helpers
def _short_speech(seconds: float, fps: float) -> list[str]:
    """A note for speech too short for the sync check (or for any output frame at all)."""
    from . import media
    from .audio import MIN_SOUND
    from .sync import MIN_WINDOW_S
    if seconds < MIN_SOUND:
        return [Text("speech of {ms:.0f} ms is too short: at least {min_ms:.0f} ms are needed", ms=seconds * 1e3,
                     min_ms=MIN_SOUND * 1e3)]
    if seconds < MIN_WINDOW_S:
        n = media.output_frames(seconds, fps)
        return [Text(N_("very short speech: {seconds:.2f} s ({n} output frame); too short for the sync check "
                        "(needs {window:g} s)") if n == 1 else
                     N_("very short speech: {seconds:.2f} s ({n} output frames); too short for the sync check "
                        "(needs {window:g} s)"), seconds=seconds, n=n, window=MIN_WINDOW_S)]
    return []


def _lengths(video_s: float, speech_s: float) -> dict[str, str]:
    """Video and speech lengths in s with as many decimals (1-3) as it takes to tell them apart:
    a 50 fps clip of 250 frames against 5.0155 s of speech was 'video (5.0 s) shorter than the
    speech (5.0 s)'."""
    for digits in (1, 2, 3):
        duration, speech = f"{video_s:.{digits}f}", f"{speech_s:.{digits}f}"
        if duration != speech:
            break
    return {"duration": duration, "speech": speech}


def _sample_times(info, samples: int) -> list[float]:
    """Evenly spread frame times (s), centred in ``samples`` equal slices of the clip."""
    if info.is_image:
        return [0.0]
    n = max(1, min(int(samples), info.n_frames))
    step = info.duration / n
    return [round(min((i + 0.5) * step, max(0.0, info.duration - 1.0 / info.fps)), 3) for i in range(n)]


def _grab(info, t: float) -> np.ndarray | None:
    """One frame [shape=(H, W, 3)] uint8 BGR at time ``t`` (fast seek), displayed size; None if it fails."""
    from . import media
    if info.is_image:
        frames = media.iter_frames(info)
        try:
            return next(iter(frames))
        finally:
            getattr(frames, "close", lambda: None)()
    w, h = info.width, info.height
    source = ["-i", str(Path(info.path).absolute())]
    # A fast seek lands on the keyframe before t; in a file without an index (MPEG-TS, .MTS) with keyframes
    # seconds apart it lands mid-GOP and gives no frame at all, and a batch refused such clips as 'no face'
    # though they render: then the frame is decoded from the start.
    for seek in (["-ss", f"{t:.3f}", *source], [*source, "-ss", f"{t:.3f}"]):
        cmd = [media.ffmpeg_exe(), "-nostdin", "-v", "error", *seek, "-map", "0:v:0", "-frames:v", "1",
               "-vf", f"scale={w}:{h},setsar=1", "-pix_fmt", "bgr24", "-f", "rawvideo", "pipe:1"]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=SAMPLE_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return None
        if len(done.stdout) == w * h * 3:
            return np.frombuffer(done.stdout, np.uint8).reshape(h, w, 3).copy()
    return None


SCAN_CACHE_VERSION = 2   # bump when face counting changes (2: detections on the same face count once)


def _face_counts(info, times: list[float], *, detector: str, cache_dir, video_hash: str | None) -> list[int]:
    """Faces in the frame at each of ``times`` (-1: not decodable), from ``cache_dir`` when this video's
    content was counted at those times before."""
    import json

    from .detectors import get_detector
    entry = None
    if cache_dir is not None:
        from .cache import file_hash, key
        from .detectors import detector_version
        try:
            entry = Path(cache_dir) / "scan-{}.json".format(key(
                video_hash=video_hash or file_hash(info.path), times=times, detector=detector_version(detector),
                name=detector, version=SCAN_CACHE_VERSION))
            faces = json.loads(entry.read_text(encoding="utf-8"))["faces"]
            if len(faces) == len(times):
                return [int(f) for f in faces]
        except (OSError, ValueError, KeyError, TypeError):
            pass
    faces = []
    det = get_detector(detector)
    try:
        for t in times:
            frame = _grab(info, t)
            faces.append(-1 if frame is None else _count_faces(det, frame))
    finally:
        det.close()
    if entry is not None and min(faces, default=0) >= 0:   # a frame that did not decode (a timeout) is tried again
        from .records import write_json
        try:
            write_json(entry, {"faces": faces, "times": times})
        except OSError:   # a full or read-only cache costs the next scan time, not this one
            pass
    return faces


def several_faces_note(spans: tuple[tuple[float, float], ...], *, still: bool = False) -> Text:
    """The line for stretches (first, last time in seconds) where a video shows several faces;
    for a photo (``still``), without times or following."""
    if still:
        return Text("several faces in the photo (lip-synced: the largest)")
    return Text("several faces at {spans} (lip-synced: the largest in the first frame with a face, "
                "followed from there)", spans=_spans(spans))


def several_faces(faces: np.ndarray, fps: float, *, still: bool = False) -> Text | None:
    """:func:`several_faces_note` from a run's face counts [shape=(N,)] (distinct faces at frame i's
    full detection, 0 where it found none, ``detectors.NOT_COUNTED`` where none ran: ``Analysis.faces_seen``);
    None when no detection saw two. A detection that found no face ends a stretch (before, it was
    stored as "none ran", and a stretch ran on over a gap without a face)."""
    from .detectors import NOT_COUNTED
    looked = np.flatnonzero(np.asarray(faces) != NOT_COUNTED)
    flags = [bool(faces[i] > 1) for i in looked]
    if not any(flags):
        return None
    return several_faces_note(_stretches([i / fps for i in looked], flags), still=still)


def _count_faces(det, frame: np.ndarray) -> int:
    """Faces with landmarks in ``frame``; small faces too (the detector's thorough pass), each
    counted once (:func:`heygem_kernel.detectors.distinct_faces`)."""
    from .detectors import distinct_faces
    return distinct_faces(det, frame, det.boxes(frame, thorough=True))


def _stretches(times: list[float], flags: list[bool]) -> tuple[tuple[float, float], ...]:
    """Runs of consecutive flagged samples as (first time, last time)."""
    runs, start, last = [], None, None
    for t, flag in zip(times, flags):
        if flag:
            start = t if start is None else start
            last = t
        elif start is not None:
            runs.append((start, last))
            start = None
    if start is not None:
        runs.append((start, last))
    return tuple(runs)


def _times(ts: list[float]) -> Text:
    """'1.0, 2.5 s' (秒 in Chinese)."""
    return Text(SECONDS, seconds=", ".join(f"{t:.1f}" for t in ts))


def _spans(spans) -> Text:
    """'1.0-2.0, 3.5 s' (秒 in Chinese)."""
    return Text(SECONDS, seconds=", ".join(f"{a:.1f}" if math.isclose(a, b) else f"{a:.1f}-{b:.1f}" for a, b in spans))


# ------------------------------------------------------------------------------------ tables
# "ok": the video can be used (可用 in Chinese; a batch item's "ok" is 成功, a model file's 正常)
TABLE_COLUMNS = (N_("video"), NC_("scan table: the video can be used", "ok"), N_("size"), N_("fps"), N_("duration"), N_("faces"), N_("length"),
                 N_("est."), N_("problems"))


LENGTH_WORDS = (N_("still"), N_("loop"), N_("trim"))   # ScanReport.length ("1:1" needs no translation)


def _as_text(exc: HeyGemError) -> str:
    """An engine error as a translatable :class:`Text` (its English line unchanged)."""
    text = Text(exc.template, **exc.values)
    return text if str(text) == str(exc) else str(exc)


def table_rows(reports: list[ScanReport | dict[str, Any]]) -> list[list[str]]:
    """One row of text cells per report (columns :data:`TABLE_COLUMNS`), for the CLI and the report."""
    rows = []
    for rep in reports:
        r = rep.to_dict() if isinstance(rep, ScanReport) else rep
        faces = r.get("faces") or []
        fps = "" if not r.get("readable") else (
            _("{fps:.2f} (VFR, header {nominal:.2f})", fps=r["fps"], nominal=r["nominal_fps"]) if r.get("vfr")
            else f"{r['fps']:.2f}")
        rows.append([
            Path(r["path"]).name,
            _("yes") if r.get("ok") else _("NO"),
            f"{r['width']}x{r['height']}" if r.get("readable") else "",
            fps,
            ("-" if r.get("is_image") else seconds(r["duration"])) if r.get("readable") else "",   # a photo: no length
            f"{sum(1 for f in faces if f > 0)}/{len(faces)}"
            + (_(", max {n}", n=max(faces)) if faces and max(faces) > 1 else "") if r.get("readable") else "",
            _(r["length"]) if r.get("length") else "",
            seconds(r["est_seconds"], ".0f") if r.get("est_seconds") is not None else "",
            _("; ").join(localize_record(rec, p) for p, rec in
                         zip(r.get("problems") or [], r.get("problems_i18n") or repeat(None))) or "-",
        ])
    return rows


def format_table(reports: list[ScanReport | dict[str, Any]]) -> str:
    """A plain-text table of scan reports (fixed-width columns; problems last, unpadded)."""
    rows = [[printable(c) for c in row] for row in [[shown(c) for c in TABLE_COLUMNS]] + table_rows(reports)]
    widths = [max(width(r[i]) for r in rows) for i in range(len(TABLE_COLUMNS) - 1)]
    lines = []
    for row in rows:
        cells = [ljust(c, w) for c, w in zip(row, widths)] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
