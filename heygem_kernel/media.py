"""Video and image I/O through ffmpeg: probe, stream frames in, loop them, encode them out.

Frames are numpy arrays ``[shape=(H, W, 3)] uint8`` in BGR order (OpenCV's), streamed through
rawvideo pipes (YUV 4:2:0, converted by OpenCV) so memory never grows with the length of the video:

* :func:`probe_video` reads a file's size, rate and frame count, detecting photos and
  variable-frame-rate clips (the latter are resampled to their real average rate by timestamp,
  so the mouth stays in step with the audio).
* :func:`iter_frames` decodes exactly ``info.n_frames`` frames on a reader thread.
* :class:`FrameSource` gives any number of output frames: a trim, or a ping-pong loop whose
  backward passes read a raw spool file on disk (never a jump cut, bounded RAM).
* :class:`VideoWriter` encodes H.264 + AAC on a writer thread, as long as the audio, and only
  renames its temporary file to the final name once everything succeeded.
"""
from __future__ import annotations

import collections
import contextlib
import functools
import json
import itertools
import logging
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Callable, Iterator

import numpy as np

from .children import tied
from .errors import InputError, MediaError
from .i18n import N_, Text
from .workers import drain, stop_worker

log = logging.getLogger("heygem.media")

QUEUE_FRAMES = 4             # frames decoded / encoded ahead of the caller: overlap without RAM growth
AAC_BITRATE = "160k"         # transparent for speech, small next to the video stream
PROBE_TIMEOUT_S = 120        # ffprobe reads the whole container to count packets; never hang forever
# A CFR stream holds nominal_fps * duration packets, give or take rounding of the last frame's
# length. Any larger gap means its timestamps are irregular: even 0.5 % (a phone's 29.85 fps
# "30 fps" clip) drifts a lip-sync off by 0.3 s per minute, so the slack is absolute, not relative.
VFR_SLACK_FRAMES = 1.5
IMAGE_FORMATS = {"image2", "gif_pipe"}  # plus every "*_pipe" demuxer (png_pipe, jpeg_pipe, webp_pipe, ...)
STILL_CODECS = {"mjpeg", "png", "bmp", "webp", "tiff", "jpeg2000", "jpegls", "pgm", "ppm", "qoi"}
# HDR and wide gamut. Phones record HLG (and some PQ) in BT.2020; the output is 8-bit SDR H.264,
# so such video is converted to BT.709 on decode: to linear light with diffuse white at the
# BT.2408 reference level (203 cd/m2 = SDR 100 %, HLG 75 %), BT.2020 -> BT.709 primaries, then
# highlights above 80 % compressed (mobius keeps everything below untouched), BT.709 transfer.
# Measured on talking_590 converted to HLG this way: mean RGB within 3 levels of the SDR source,
# saturation 106.7 vs 107.8 (an untreated decode: 10 levels darker, saturation 83).
HDR_TRANSFERS = {"arib-std-b67": "HLG", "smpte2084": "PQ"}
HDR_TO_SDR = ("zscale=t=linear:npl=203,format=gbrpf32le,zscale=p=bt709,"
              "tonemap=tonemap=mobius:param=0.8:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p")
BT2020_TO_BT709 = "zscale=p=bt709:t=bt709:m=bt709:r=tv,format=yuv420p"
SDR_TAGS = {"bt709", "smpte170m", "bt470bg", "bt470m", "smpte240m", "gamma22", "gamma28", "iec61966-2-1",
            "fcc", "bt601", "film"}
ALPHA_PIX_FMTS = {"ya8", "ya16be", "ya16le"}
PILLOW_ANIMATIONS = {"gif", "apng"}   # video codecs whose files Pillow reads frame by frame
# Transparent pixels are flattened onto black (premultiplied), photos and videos alike.
FLATTEN_ALPHA = "format=rgba64le,premultiply=inplace=1"
TEXT_FORMATS = {"tty"}       # ffmpeg's ANSI-art demuxer accepts any .txt file as "video": reject it


# --------------------------------------------------------------------------------- binaries

@functools.lru_cache(maxsize=None)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: the system one if on PATH, else the one imageio-ffmpeg ships."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # not installed, or no binary for this platform
        raise MediaError("ffmpeg not found: install ffmpeg (e.g. apt install ffmpeg) ({exc})", exc=exc) from None


@functools.lru_cache(maxsize=None)
def ffprobe_exe() -> str:
    """Path of the ffprobe binary (on PATH, or next to :func:`ffmpeg_exe`)."""
    found = shutil.which("ffprobe")
    if found:
        return found
    try:
        sibling = Path(ffmpeg_exe()).with_name("ffprobe")
    except MediaError:
        sibling = None
    if sibling is not None and sibling.exists():
        return str(sibling)
    raise MediaError("ffprobe not found: install ffmpeg, which provides ffprobe (e.g. apt install ffmpeg)")


def _ff_path(path: Path) -> str:
    """An absolute ``file:`` URL so names with ':' or a leading '-' are never read as options."""
    return "file:" + str(Path(path).absolute())


def refuse_web_address(path: str | os.PathLike) -> None:
    """InputError for ``https://...`` and the like, named as given (``Path()`` would collapse its
    "//" into "no such file: https:/..."): the engine reads local files only."""
    if re.match(r"file://", str(path), re.IGNORECASE):   # a file manager's or browser's "copy location"
        from urllib.parse import unquote, urlsplit
        from .commands import shell_word
        raise InputError("{path} is a file:// address; give the file's path instead: {local}", path=str(path),
                         local=shell_word(unquote(urlsplit(str(path)).path)))
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", str(path)):
        raise InputError("{path} is a web address: heygem reads files on this machine only; download it first",
                         path=str(path))


def _check_file(path: str | os.PathLike) -> Path:
    refuse_web_address(path)
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError("no such file: {path}", path=p)
    if p.is_dir():
        raise InputError("{path} is a folder, expected a media file", path=p)
    return p


_UNREADABLE = {   # _ffprobe's ``what`` -> its one-line error (one message per kind, for the translations)
    "a video or image": N_("{path} is not a video or image that ffmpeg can read ({reason})"),
    "an audio or video file": N_("{path} is not an audio or video file that ffmpeg can read ({reason})"),
}


def _ffprobe(path: Path, args: list[str], *, what: str) -> dict[str, Any]:
    cmd = [ffprobe_exe(), "-v", "error", "-of", "json", *args, _ff_path(path)]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise MediaError("{path}: ffprobe took more than {seconds} s to read it", path=path, seconds=PROBE_TIMEOUT_S) from None
    if done.returncode != 0:
        stderr = done.stderr.decode("utf-8", "replace")
        if "moov atom not found" in stderr and _starts_like_mp4(path):  # cut short before its index
            raise MediaError("{path} is truncated or incomplete: its MP4 index (moov atom) is missing", path=path)
        reason = _last_line(stderr).replace(_ff_path(path) + ": ", "")
        raise MediaError(_UNREADABLE[what], path=path, reason=reason)
    return json.loads(done.stdout or b"{}")


def _starts_like_mp4(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(8)[4:8] == b"ftyp"


def _last_line(stderr: bytes | str | collections.deque) -> str:
    if isinstance(stderr, collections.deque):
        lines = list(stderr)
    else:
        text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
        lines = text.splitlines()
    lines = [ln.strip() for ln in lines if ln.strip()]
    return lines[-1] if lines else "no message"


def _float(value: Any, default: float = 0.0) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out if out == out else default  # NaN -> default


def _rate(text: str | None) -> float:
    """'30000/1001' -> 29.97; '0/0' or missing -> 0."""
    try:
        return float(Fraction(text)) if text else 0.0
    except (ValueError, ZeroDivisionError):
        return 0.0


def _tag_duration(stream: dict[str, Any]) -> float:
    """Matroska keeps a stream's length in a 'DURATION' tag as HH:MM:SS.nnnnnnnnn."""
    text = (stream.get("tags") or {}).get("DURATION")
    try:
        h, m, s = str(text).split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    except (ValueError, AttributeError):
        return 0.0


# --------------------------------------------------------------------------------- probing

@dataclass(frozen=True)
class VideoInfo:
    """What :func:`iter_frames` will deliver for one video or photo.

    ``width``/``height`` are as displayed (rotation metadata and non-square pixels applied).
    ``fps`` is the constant rate frames are delivered at, which is also the output rate;
    ``nominal_fps`` is what the header claims (they differ for variable-frame-rate clips).
    ``n_frames`` frames are delivered at ``fps``; ``duration`` is the video stream's length in s.
    ``audio_delay`` is how many seconds the first audio track starts after the picture
    (container start times; 0 where not given, without audio, and for photos).
    """

    path: Path
    width: int
    height: int
    fps: float
    nominal_fps: float
    n_frames: int
    duration: float
    is_image: bool
    is_vfr: bool
    codec: str
    has_audio: bool
    audio_delay: float = 0.0
    # colour and the rest of what an 8-bit H.264 output may not carry (see :func:`conversion_notes`)
    pix_fmt: str = ""            # ffprobe's pixel format, e.g. "yuv420p10le", "yuva420p", "rgba"
    bit_depth: int = 8           # bits per colour sample
    color_transfer: str = ""     # ffprobe names: "arib-std-b67" (HLG), "smpte2084" (PQ), "bt709", ...
    color_primaries: str = ""    # "bt2020", "bt709", ... ("" when untagged)
    color_space: str = ""        # YUV matrix: "bt2020nc", "bt709", "smpte170m", ...
    has_alpha: bool = False      # a transparency channel (PNG, ProRes 4444, QuickTime RLE/PNG, VP9 alpha)
    audio_tracks: int = 0        # audio streams in the file (the output carries only the speech)
    rate: str = ""               # the exact nominal rate, e.g. "30000/1001" (constant-rate videos)
    # non-square pixels (PAL/NTSC DV, HDV, anamorphic): the stored width and the pixel aspect ratio
    # ("16:15"); frames are delivered at the displayed ``width`` (square pixels, for the face's
    # geometry) and a run's output is scaled back to ``stored_width`` with the same pixel aspect,
    # so the file keeps the input's frame size. 0 / "" for square pixels.
    stored_width: int = 0
    pixel_aspect: str = ""

    @property
    def hdr(self) -> str | None:
        """"HLG" or "PQ" for high-dynamic-range video (by its transfer function), else None."""
        return HDR_TRANSFERS.get(self.color_transfer)

    @property
    def exact_fps(self) -> Fraction:
        """``fps`` as an exact fraction: the nominal rate of a constant-rate video (30000/1001 stays so)."""
        if self.rate and not self.is_vfr:
            with contextlib.suppress(ValueError, ZeroDivisionError):
                return Fraction(self.rate)
        # a photo's --fps 29.97 / 23.976 / 59.94 (or a variable rate averaging that) means the NTSC rate
        # N*1000/1001, not 2997/100, which editors and broadcast chains do not take for it
        ntsc = round(self.fps * 1.001)      # nearer N*1000/1001 than N itself: --fps 1 stays 1/1, not 1000/1001
        if ntsc > 0 and abs(self.fps - ntsc * 1000 / 1001) < min(1e-3, abs(self.fps - ntsc)):
            return Fraction(ntsc * 1000, 1001)
        return Fraction(self.fps).limit_denominator(100_000)


@dataclass(frozen=True)
class AudioInfo:
    """First audio stream of a file: ``duration`` in s, ``sample_rate`` in Hz."""

    duration: float
    sample_rate: int
    channels: int
    codec: str
    tracks: int = 1              # audio streams in the file (only the first is used)


def probe_video(path: str | os.PathLike, *, still_fps: float = 25.0,
                cache_dir: str | os.PathLike | None = None) -> VideoInfo:
    """Probe a video or photo; raise :class:`MediaError` (one line naming the file) if unusable.

    Photos are recognised by content (ffprobe's image demuxers, or a single still-codec frame)
    and become one frame at ``still_fps``. A clip whose packet count disagrees with its
    header rate x duration is variable-frame-rate: it is delivered at its real average rate.
    ``cache_dir``: keep the result there (``probe-<key>.json``), keyed by the file's content
    hash (see :func:`_probe_cache_path`), so a re-run of an unchanged file spawns no ffprobe.
    """
    p = _check_file(path)
    if cache_dir is None:
        return _probe_video(p, still_fps)
    entry = _probe_cache_path(Path(cache_dir), p, still_fps)
    info = _load_probe(entry, p)
    if info is None:
        info = _probe_video(p, still_fps)   # errors are never cached: a bad file is probed (and named) each time
        _save_probe(entry, info)
    return info


@functools.lru_cache(maxsize=None)
def _probe_code() -> str:
    """sha256 of this module's source: any change to how files are probed (or to VideoInfo) makes
    new cache entries, with no version number for anyone to forget to bump."""
    import hashlib
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def _probe_cache_path(cache_dir: Path, path: Path, still_fps: float) -> Path:
    """The cache entry of ``path``'s probe: keyed by the sha256 of its bytes (which every run computes
    anyway, for the face-track cache and params.json, memoised per process), so a file edited,
    replaced or copied over at the same path, even with its size and mtime kept, never reuses a
    stale result, and an identical copy elsewhere shares it. The ffmpeg build (what it can decode
    is part of the answer) and this module's code are part of the key."""
    from . import cache
    tools = []
    for exe in (ffprobe_exe(), ffmpeg_exe()):
        st = os.stat(exe)
        tools.append((str(Path(exe).resolve()), st.st_size, st.st_mtime_ns))
    key = cache.key(video_hash=cache.file_hash(path), kind="probe", code=_probe_code(),
                    still_fps=float(still_fps), tools=tools)
    return cache_dir / f"probe-{key}.json"


def _load_probe(entry: Path, path: Path) -> VideoInfo | None:
    try:
        data = json.loads(entry.read_text(encoding="utf-8"))
        return VideoInfo(path=path, **data)
    except (OSError, ValueError, TypeError):   # none yet, half-written by a killed run, an older layout
        return None


def _save_probe(entry: Path, info: VideoInfo) -> None:
    from .records import write_json
    data = {k: v for k, v in vars(info).items() if k != "path"}   # the path is the caller's: a copy shares it
    try:
        write_json(entry, data)
    except OSError as exc:   # costs the next run a probe; the face-track cache's warning names the folder
        log.debug("probe cache not written: %s", exc)


def _probe_video(p: Path, still_fps: float) -> VideoInfo:
    # The first-frame decode check runs beside ffprobe's packet count: two processes, the wall time of one
    check = _start_decode_check(p)
    try:
        return _probe_video_with(p, still_fps, check)
    finally:   # not needed (a photo, an error) or done: never left running or unreaped
        if check.poll() is None:
            check.kill()
        check.wait()
        check.stdout.close()


AUDIO_ONLY = N_("{path} is audio only: it has an audio track but no video stream; choose a video or photo of "
                "the person")   # heygem sync words it for itself: it takes no photo


def _probe_video_with(p: Path, still_fps: float, check: subprocess.Popen) -> VideoInfo:
    # -pattern_type none: a photo named like "img%03d.png" is that one file, not an image sequence
    data = _ffprobe(p, ["-pattern_type", "none", "-count_packets", "-show_streams", "-show_format"],
                    what="a video or image")
    fmt = data.get("format") or {}
    streams = data.get("streams") or []
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not (s.get("disposition") or {}).get("attached_pic")), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    has_audio = audio is not None
    colour = _colour_facts(video or {}, streams)
    format_name = str(fmt.get("format_name", ""))
    if video is None or format_name in TEXT_FORMATS or video.get("codec_name") == "ansi":
        if video is None and has_audio:
            raise MediaError(AUDIO_ONLY, path=p)
        raise MediaError("{path} is not a video or image that ffmpeg can read", path=p)

    codec = str(video.get("codec_name", "?"))
    packets = int(_float(video.get("nb_read_packets")))
    header_frames = int(_float(video.get("nb_frames")))
    width, height = _display_size(video)
    if width <= 0 or height <= 0:
        raise MediaError("{path} is not a video or image that ffmpeg can read (no frame size)", path=p)

    is_image = (format_name in IMAGE_FORMATS or format_name.endswith("_pipe")
                or (codec in STILL_CODECS and packets <= 1))
    if is_image:
        width, height = _image_size(p, width, height)
        stored = (int(_float(video.get("width"))), int(_float(video.get("height"))))
        aspect = _pixel_aspect(video) if (width, height) == stored else {}   # not with an EXIF quarter turn
        if aspect:   # a PNG/JPEG with a pixel aspect: shown (and tracked) wider, written back as stored
            width = int(round(width * _sar(video)))
        return VideoInfo(path=p, width=width, height=height, fps=float(still_fps),
                         nominal_fps=float(still_fps), n_frames=1, duration=1.0 / still_fps,
                         is_image=True, is_vfr=False, codec=codec, has_audio=False, **colour, **aspect)

    if packets <= 0:
        raise MediaError("{path} holds no video frames", path=p)
    if header_frames > 0 and packets < 0.95 * header_frames:
        raise MediaError("{path} is truncated or damaged: only {packets} of {header_frames} video frames are present", path=p, packets=packets, header_frames=header_frames)

    nominal = _rate(video.get("r_frame_rate")) or _rate(video.get("avg_frame_rate"))
    # Matroska's DURATION tag is where the stream ends, not how long it lasts: a stream starting
    # at 0.064 s (an MP4 with B-frames remuxed) would otherwise read 1.6 frames long at 25 fps: VFR
    own = _float(video.get("duration")) or max(0.0, _tag_duration(video) - max(0.0, _float(video.get("start_time"))))
    # a file written as a stream (a browser's MediaRecorder WebM, a piped .mkv) declares no length at
    # all: its frames' timestamps are the only measure (packets / rate would call any VFR clip CFR)
    duration = own or _float(fmt.get("duration")) or _packet_span(p) or (packets / nominal if nominal else 0.0)
    if nominal and abs(packets - nominal * duration) > VFR_SLACK_FRAMES:
        # fewer or more frames than the rate says: a variable rate, or a duration that is not the
        # frames' own: a container's is its longest stream's (a longer sound track), and a file cut
        # short (Matroska has no frame count for the check above) keeps the length it was written for
        span, kept = _packet_facts(p)
        if 0 < kept < packets:   # an edit list's pre-roll (a stream-copy cut, ffmpeg -ss -c copy): never shown
            packets = kept
        if own and 0 < span < 0.9 * own:
            raise MediaError("{path} is truncated: decoded {duration:.2f} s of the {declared:.2f} s its header "
                             "declares", path=p, duration=span, declared=own)
        duration = span if not own and span > 0 else duration
    if duration <= 0:
        raise MediaError("{path} has a video stream of zero duration", path=p)
    expected = nominal * duration
    is_vfr = nominal <= 0 or abs(packets - expected) > VFR_SLACK_FRAMES
    if is_vfr:
        fps = packets / duration  # real average rate; frames are resampled to it by timestamp
        n_frames = max(1, round(duration * fps))
    else:
        fps, n_frames = nominal, packets
    if not _decodes_a_frame(check):
        raise MediaError("{path} has a video stream but none of its frames can be decoded", path=p)
    audio_delay = _float(audio.get("start_time")) - _float(video.get("start_time")) if has_audio else 0.0
    return VideoInfo(path=p, width=width, height=height, fps=float(fps), nominal_fps=float(nominal or fps),
                     n_frames=int(n_frames), duration=float(duration), is_image=False, is_vfr=is_vfr,
                     codec=codec, has_audio=has_audio, audio_delay=audio_delay, **colour, **_pixel_aspect(video),
                     rate="" if is_vfr else str(video.get("r_frame_rate") or ""))


def _packet_span(p: Path, stream: str = "v:0") -> float:
    """Seconds from the first packet's start to the last one's end of ``stream`` (0.0 if unreadable)."""
    return _packet_facts(p, stream)[0]


def _packet_facts(p: Path, stream: str = "v:0") -> tuple[float, int]:
    """(:func:`_packet_span`, packets shown) of ``stream``: packets an edit list marks discarded
    (flag D: the pre-roll before a stream-copy cut's first keyframe) count for neither."""
    try:
        out = subprocess.run([ffprobe_exe(), "-v", "error", "-select_streams", stream, "-show_entries",
                              "packet=pts_time,duration_time,flags", "-of", "csv=p=0", _ff_path(p)],
                             capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL).stdout
    except subprocess.TimeoutExpired:
        return 0.0, 0
    packets = [(_float(f[0], np.nan), _float(f[1], np.nan)) for f in (line.split(",") for line in out.split())
               if len(f) >= 2 and "D" not in (f[2] if len(f) > 2 else "")]
    times = np.asarray([t for t, _ in packets if np.isfinite(t)], np.float64)
    if times.shape[0] < 2:
        return 0.0, len(packets)
    last = max((pk for pk in packets if np.isfinite(pk[0])), key=lambda pk: pk[0])
    step = last[1] if last[1] > 0 else float(np.median(np.diff(np.sort(times))))
    return float(last[0] - times.min() + step), len(packets)


def _colour_facts(video: dict[str, Any], streams: list[dict[str, Any]]) -> dict[str, Any]:
    """Pixel format, bit depth, colour tags, alpha and audio-track count of a probed file."""
    pix_fmt = str(video.get("pix_fmt") or "")
    depth = int(_float(video.get("bits_per_raw_sample")))
    if depth <= 0:  # from the pixel format's name: yuv420p10le, p010le, gray12le -> 10, 10, 12; rgb48le -> 16
        found = re.search(r"(9|10|12|14|16)(le|be)$", pix_fmt)
        depth = int(found.group(1)) if found else 16 if re.search(r"(48|64)(le|be)$", pix_fmt) else 8
    alpha = pix_fmt in ALPHA_PIX_FMTS or pix_fmt.startswith(("yuva", "gbrap", "rgba", "bgra", "argb", "abgr", "ya"))
    alpha = alpha or str((video.get("tags") or {}).get("alpha_mode", "")) == "1"  # VP9/VP8 alpha in WebM
    tags = {k: str(video.get(k) or "") for k in ("color_transfer", "color_primaries", "color_space")}
    tags = {k: "" if v in ("unknown", "reserved", "unspecified") else v for k, v in tags.items()}
    return dict(pix_fmt=pix_fmt, bit_depth=depth, has_alpha=alpha, **tags,
                audio_tracks=sum(1 for s in streams if s.get("codec_type") == "audio"))


def conversion_notes(info: VideoInfo, *, size: tuple[int, int] | None = None) -> list[str]:
    """One plain line per property of ``info`` that the 8-bit SDR H.264/AAC output changes or drops.

    ``size``: the (width, height) of the output file's frames (default: the input's stored size,
    ``render.written_size``); an odd side cannot be carried (see :func:`encoded_size`) and is
    reported with the size the file gets.
    """
    notes = []
    width, height = size or (info.stored_width or info.width, info.height)   # the file's: stored, not displayed
    if encoded_size(width, height) != (width, height):
        out_w, out_h = encoded_size(width, height)
        notes.append(Text("odd frame size {width}x{height}: H.264 (yuv420p) needs even sizes, so the output is "
                          "{out_width}x{out_height} (the edge pixels repeated)", width=width, height=height,
                          out_width=out_w, out_height=out_h))
    if info.hdr:
        how = (Text("converted to BT.709 SDR (zscale, mobius tone mapping); the output is tagged BT.709")
               if has_filter("zscale") else
               Text("this ffmpeg has no zscale filter, so it is NOT tone mapped: colours will look dark and grey"))
        notes.append(Text("HDR video ({hdr}, {primaries}, {bits}-bit): {how}", hdr=info.hdr,
                          primaries=info.color_primaries or Text("untagged primaries"), bits=info.bit_depth, how=how))
    elif info.color_primaries == "bt2020":
        notes.append(Text("wide-gamut BT.2020 video: converted to BT.709 colours (zscale); the output is tagged "
                          "BT.709"))
    if info.bit_depth > 8:
        notes.append(Text("{bits}-bit colour: the output is 8-bit H.264 (yuv420p)", bits=info.bit_depth))
    if info.has_alpha and not ((info.is_image or info.codec in PILLOW_ANIMATIONS) and _opaque_pixels(info.path)):
        notes.append(Text("transparency ({pix_fmt}) dropped: H.264 has no alpha channel; transparent areas "
                          "become black", pix_fmt=info.pix_fmt or Text("alpha channel")))
    if not info.is_image and (re.search(r"(422|444)", info.pix_fmt)
                              or info.pix_fmt.startswith(("rgb", "bgr", "gbr", "argb", "abgr"))):
        notes.append(Text("full-colour {pix_fmt} input: the output has 4:2:0 chroma (H.264 yuv420p)",
                          pix_fmt=info.pix_fmt))
    if info.audio_tracks > 1:
        notes.append(Text("{n} audio tracks in the video: the output carries only the speech",
                          n=info.audio_tracks))
    return notes


def output_colour_tags(info: VideoInfo) -> dict[str, str]:
    """Colour tags for the output: BT.709 after an HDR/BT.2020 conversion, else the input's own
    (pixels pass through the pipeline's YUV pipes unchanged, so they stay true), else none."""
    if info.hdr or info.color_primaries == "bt2020":
        return {"color_primaries": "bt709", "color_trc": "bt709", "colorspace": "bt709"}
    tags = {"color_primaries": info.color_primaries, "color_trc": info.color_transfer,
            "colorspace": info.color_space}
    return {k: v for k, v in tags.items() if v in SDR_TAGS}


@functools.lru_cache(maxsize=None)
def has_filter(name: str) -> bool:
    """Whether this ffmpeg has the video filter ``name`` (zscale needs --enable-libzimg)."""
    try:
        done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-filters"], capture_output=True, text=True,
                              timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(line.split()[1:2] == [name] for line in done.stdout.splitlines() if line.strip())


def _display_size(stream: dict[str, Any]) -> tuple[int, int]:
    """Coded size -> displayed size: non-square pixels stretched, quarter turns swap W and H."""
    w, h = int(_float(stream.get("width"))), int(_float(stream.get("height")))
    sar = _sar(stream)
    if sar != 1:
        w = int(round(w * sar))
    if _quarter_turn(stream):
        w, h = h, w
    return w, h


def _quarter_turn(stream: dict[str, Any]) -> bool:
    rotation = _float((stream.get("tags") or {}).get("rotate"))
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            rotation = _float(side["rotation"])
    return round(abs(rotation)) % 180 == 90


def _pixel_aspect(stream: dict[str, Any]) -> dict[str, Any]:
    """VideoInfo's ``stored_width`` and ``pixel_aspect`` of a stream with non-square pixels (none for
    square ones, and for a quarter-turned stream, whose output is written upright with square pixels)."""
    sar = _sar(stream)
    if sar == 1 or _quarter_turn(stream):
        return {}
    return {"stored_width": int(_float(stream.get("width"))), "pixel_aspect": f"{sar.numerator}:{sar.denominator}"}


def _sar(stream: dict[str, Any]) -> Fraction:
    try:
        num, den = (int(x) for x in str(stream.get("sample_aspect_ratio", "1:1")).split(":"))
        return Fraction(num, den) if num > 0 and den > 0 else Fraction(1)
    except ValueError:
        return Fraction(1)


def _image_size(path: Path, width: int, height: int) -> tuple[int, int]:
    """Photos from phones are stored sideways with an EXIF orientation tag: apply it."""
    try:
        from PIL import Image
        with Image.open(path) as im:
            orientation = im.getexif().get(0x0112, 1)
            w, h = im.size
    except Exception:  # a format Pillow lacks: trust ffprobe (no EXIF there)
        return width, height
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _start_decode_check(path: Path) -> subprocess.Popen:
    """Start decoding until the first picture comes out (a 16x16 grey thumbnail, 256 bytes).
    One decoder thread: frame threading would read several frames before it gives the first."""
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "quiet", "-threads", "1", "-i", _ff_path(path), "-map", "0:v:0",
           "-frames:v", "1", "-vf", "scale=16:16", "-pix_fmt", "gray", "-f", "rawvideo", "pipe:1"]
    with signals_held():   # Ctrl-C between the start and the caller holding the child: none left running
        return subprocess.Popen(tied(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def _decodes_a_frame(check: subprocess.Popen) -> bool:
    """Whether the decode started by :func:`_start_decode_check` delivered its picture."""
    try:
        out, _ = check.communicate(timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False
    return len(out) == 16 * 16


def probe_audio(path: str | os.PathLike) -> AudioInfo:
    """Probe the first audio stream of any file ffmpeg reads (a WAV, an MP3, a video's track).

    Remembered for the life of the process by (path, size, mtime, inode, ctime), the key of
    :func:`heygem_kernel.cache.file_hash`'s memo: a run asked three times (the run's check, the speech
    decode, the encoder) and spawned ffprobe each time. Any write to the file changes its ctime."""
    p = _check_file(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
    info = _AUDIO_PROBES.get(key)
    if info is None:
        info = _probe_audio(p)   # errors are not remembered: a bad file is probed (and named) each time
        if len(_AUDIO_PROBES) >= 256:
            _AUDIO_PROBES.clear()
        _AUDIO_PROBES[key] = info
    return info


_AUDIO_PROBES: dict[tuple, AudioInfo] = {}


def _probe_audio(p: Path) -> AudioInfo:
    data = _ffprobe(p, ["-show_streams", "-show_format"], what="an audio or video file")
    fmt = data.get("format") or {}
    if str(fmt.get("format_name", "")) in TEXT_FORMATS:
        raise MediaError("{path} is not an audio or video file that ffmpeg can read", path=p)
    audio = next((s for s in data.get("streams") or [] if s.get("codec_type") == "audio"), None)
    if audio is None:
        raise MediaError("{path} has no audio track", path=p)
    duration = (_float(audio.get("duration")) or _tag_duration(audio) or _float(fmt.get("duration"))
                or _packet_span(p, "a:0"))   # a browser's MediaRecorder WebM declares no length: its packets'
    if duration <= 0:
        raise MediaError("{path} contains no audio", path=p)
    return AudioInfo(duration=duration, sample_rate=int(_float(audio.get("sample_rate"))),
                     channels=int(_float(audio.get("channels"))), codec=str(audio.get("codec_name", "?")),
                     tracks=sum(1 for s in data.get("streams") or [] if s.get("codec_type") == "audio"))


# --------------------------------------------------------------------------------- reading

Account = Callable[[str, float], None]   # account(name, seconds): where ffmpeg's CPU time is reported


def _reap(proc: subprocess.Popen, account: Account | None = None, name: str = "") -> int:
    """Wait for ``proc`` and return its exit status; with ``account``, report the CPU seconds
    (user + system) it used as ``account(name, seconds)`` (``os.wait4`` has them; ``wait`` not)."""
    if proc.returncode is None and account is not None:
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except ChildProcessError:  # reaped elsewhere meanwhile
            return proc.wait()
        proc.returncode = os.waitstatus_to_exitcode(status)
        account(name, usage.ru_utime + usage.ru_stime)
    return proc.wait()


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL ``proc`` unless already reaped, without reaping it (``Popen.kill`` polls first)."""
    if proc.returncode is None:
        try:
            os.kill(proc.pid, 9)
        except ProcessLookupError:
            pass


class _Stderr:
    """Drain a process's stderr on a thread (a full pipe would block it), keeping the last lines."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=20)
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()

    def _run(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.lines.append(raw.decode("utf-8", "replace").rstrip())

    def last(self) -> str:
        self._thread.join(timeout=2)
        return _last_line(self.lines)


# swscale's fast RGB<->YUV conversion rounds down (every decode/encode generation darkened
# pixels by ~2 levels) and its exact mode is 3x slower than decoding HEVC. So frames cross the
# pipes as YUV 4:2:0 and OpenCV converts them (BT.601, exact rounding, SIMD: ~1.4 ms per 1080p
# frame): pass-through pixels stay within 1 level over three generations and the pipes carry
# half the bytes. Odd sizes (I420 needs even ones) fall back to swscale's exact mode.
SWS_EXACT = "accurate_rnd+full_chroma_int"


def _yuv_pipe(width: int, height: int) -> bool:
    return width % 2 == 0 and height % 2 == 0


def _decode_cmd(info: VideoInfo, width: int, height: int) -> list[str]:
    filters = []
    if (info.hdr or info.color_primaries == "bt2020") and has_filter("zscale"):
        filters.append(HDR_TO_SDR if info.hdr else BT2020_TO_BT709)
    if info.has_alpha:
        filters.append(FLATTEN_ALPHA)
    if info.is_vfr:  # pick, for each output tick, the frame shown at that time
        filters.append(f"fps=fps={Fraction(info.fps).limit_denominator(100_000)}")
    shrink = width <= info.width and height <= info.height and (width, height) != (info.width, info.height)
    # always scale to the displayed size: applies non-square pixels (a no-op otherwise)
    filters.append(f"scale={width}:{height}:flags={'area' if shrink else 'bicubic'}+{SWS_EXACT},setsar=1")
    pix_fmt = "yuv420p" if _yuv_pipe(width, height) else "bgr24"
    return [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", _ff_path(info.path),
            "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", ",".join(filters), "-fps_mode", "passthrough",
            "-sws_flags", f"bicubic+{SWS_EXACT}", "-pix_fmt", pix_fmt, "-f", "rawvideo", "pipe:1"]


def _read_exact(stream: IO[bytes], out: np.ndarray) -> bool:
    """Fill ``out`` from the pipe; False at end of stream (a partial last frame is dropped)."""
    view = memoryview(out).cast("B")
    got = 0
    while got < len(view):
        n = stream.readinto(view[got:])
        if not n:
            return False
        got += n
    return True


def read_frames(path: str | os.PathLike, *, limit: int | None = None) -> list[np.ndarray]:
    """The first ``limit`` (default all) frames of a short video, each [shape=(H, W, 3)] uint8
    BGR, in memory: for tests, benchmarks and checks on short clips. The engine itself streams
    (:func:`iter_frames`)."""
    frames = iter_frames(probe_video(path))
    try:
        return list(itertools.islice(frames, limit))
    finally:
        frames.close()


POOL_FRAMES = 24          # frame buffers a FramePool keeps (60 s of 1080p: 96 kept 649 MB peak, 24: 587, none: 581)
POOL_BYTES = 1 << 30      # ... and at most this many bytes of them (4K frames: 42)


class FramePool:
    """Frame buffers ``[shape=shape]`` uint8, re-used once nothing else refers to them.

    A 1080p BGR frame is 6 MB; a fresh one costs ~1,500 page faults (~2-4 ms of kernel time:
    the engine maps every big buffer separately so that memory stays flat in the video's
    length, see ``pipeline._return_big_buffers_to_the_os``). Decoding, looping and blending
    make two or three per output frame, so a long render spent ~15 % of its CPU zeroing pages.
    :meth:`take` hands out a kept buffer whose only reference is the pool's own (every holder
    of it, or of a view of it, has let go), else a new one. Nothing is ever handed out twice
    at once, so no caller changes: a frame is dropped, not returned. Thread-safe.
    """

    def __init__(self, shape: tuple[int, ...], *, limit: int = POOL_FRAMES) -> None:
        self.shape = tuple(int(n) for n in shape)
        self.limit = max(1, min(int(limit), POOL_BYTES // max(1, int(np.prod(self.shape)))))
        self._kept: list[np.ndarray] = []
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> np.ndarray:
        """A writable C-contiguous uint8 array of ``shape`` that no one else holds (contents undefined)."""
        with self._lock:
            n = len(self._kept)
            for k in range(n):
                i = (self._next + k) % n
                if sys.getrefcount(self._kept[i]) <= _POOL_ONLY_REFS:
                    self._next = i + 1
                    return self._kept[i]
            buf = np.empty(self.shape, np.uint8)
            if n < self.limit:
                self._kept.append(buf)
            return buf

    def copy(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` copied into a pooled buffer."""
        out = self.take()
        np.copyto(out, frame)
        return out


def _refs_of_a_pooled_buffer() -> int:
    kept = [np.empty(1, np.uint8)]
    return sys.getrefcount(kept[0])   # the same expression as in take(): list slot + argument


_POOL_ONLY_REFS = _refs_of_a_pooled_buffer()


def iter_frames(info: VideoInfo, *, size: tuple[int, int] | None = None,
                account: Account | None = None, spool: "FrameSpool | None" = None,
                pool: FramePool | None = None) -> Iterator[np.ndarray]:
    """Yield exactly ``info.n_frames`` frames ``[shape=(H, W, 3)] uint8`` BGR, each a writable
    array no one else holds (a new one, or from ``pool``: a :class:`FramePool` of that shape).

    ``size=(w, h)`` has ffmpeg scale them. ``account("decode_cpu", seconds)`` gets the CPU time
    of the ffmpeg decoder when it exits. A reader thread decodes up to :data:`QUEUE_FRAMES`
    ahead. If ffmpeg delivers fewer frames the last one is repeated; closing the generator early
    stops ffmpeg. Raises :class:`MediaError` if not even one frame decodes. ``spool`` (empty,
    made by :func:`decode_spool` for this size) receives each decoded frame as it crosses the
    pipe, on the reader thread: frames repeated past ffmpeg's end are not in it.
    """
    width, height = size or (info.width, info.height)
    if pool is not None and pool.shape != (height, width, 3):
        raise ValueError(f"the frame pool holds {pool.shape} arrays, the frames are {(height, width, 3)}")
    if spool is not None and ((spool.width, spool.height) != (width, height) or spool.i420 != _yuv_pipe(width, height)
                              or spool.compress):
        raise ValueError("the spool does not match the decoded frames (make it with decode_spool)")
    if info.is_image:
        yield _read_image(info, width, height)
        return
    with signals_held():   # see _start_decode_check
        proc = subprocess.Popen(tied(_decode_cmd(info, width, height)), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    stderr = _Stderr(proc.stderr)
    frames: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=QUEUE_FRAMES)
    stop = threading.Event()

    def put(item: np.ndarray | None) -> bool:
        while not stop.is_set():
            try:
                frames.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    yuv = _yuv_pipe(width, height)

    def reader() -> None:
        nonlocal spool
        import cv2
        # One I420 buffer, reused: each frame's BGR array is new (it travels on), but a fresh
        # 3 MB buffer per 1080p frame costs ~1 ms of page faults (big buffers are mmapped).
        pipe_buffer = np.empty((height * 3 // 2, width), np.uint8) if yuv else None
        try:
            for _ in range(info.n_frames):
                raw = pipe_buffer if yuv else pool.take() if pool is not None else np.empty((height, width, 3), np.uint8)
                if not _read_exact(proc.stdout, raw):
                    break
                if spool is not None:
                    try:
                        spool.put(raw)
                    except MediaError as exc:   # disk full: keep decoding; the spool stays short, so
                        log.warning("frame spool stopped at frame %d (%s): the render decodes the video "
                                    "again", spool.count, exc)
                        spool = None          # readers of it decode instead (it no longer covers them)
                frame = (cv2.cvtColor(raw, cv2.COLOR_YUV2BGR_I420, dst=None if pool is None else pool.take())
                         if yuv else raw)
                if not put(frame):
                    break
        except (OSError, ValueError):  # pipe closed under us by an early close
            pass
        finally:
            put(None)

    thread = threading.Thread(target=reader, name="heygem-decode", daemon=True)
    thread.start()
    delivered, last = 0, None
    try:
        while (frame := frames.get()) is not None:
            delivered += 1
            last = frame
            yield frame
        if last is None:
            proc.wait(timeout=10)
            raise MediaError("{path}: ffmpeg decoded no frames ({last})", path=info.path, last=stderr.last())
        if delivered < info.n_frames:
            log.debug("%s: ffmpeg gave %d of %d frames, repeating the last", info.path, delivered, info.n_frames)
        for _ in range(info.n_frames - delivered):
            yield last.copy()
    finally:
        stop.set()
        _kill(proc)
        _reap(proc, account, "decode_cpu")
        while True:  # unblock a reader waiting on a full queue
            try:
                frames.get_nowait()
            except queue.Empty:
                break
        thread.join(timeout=5)
        proc.stdout.close()
        proc.stderr.close()


def _opaque_pixels(path: Path) -> bool:
    """A photo or animation (GIF, APNG) whose every pixel is opaque (screenshots, exports: RGBA PNGs at
    255; GIFs, which ffmpeg decodes as bgra whether or not a colour is transparent), so flattening it
    changes nothing and there is nothing to say; False when it cannot be told. An animation's frames
    are read as shown (Pillow composes each over the ones before): ~4 ms a 640x360 GIF frame."""
    try:
        from PIL import Image, ImageSequence
        with Image.open(path) as im:
            return all(frame.convert("RGBA").getchannel("A").getextrema()[0] == 255
                       for frame in ImageSequence.Iterator(im))
    except Exception:
        return False


def _read_image(info: VideoInfo, width: int, height: int) -> np.ndarray:
    """Decode a photo with its EXIF orientation applied (Pillow), falling back to ffmpeg."""
    try:
        from PIL import Image, ImageOps
        with Image.open(info.path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:  # flatten onto black
                rgba = im.convert("RGBA")
                im = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
            if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):    # 16-bit grey: convert("RGB") would clip to white
                grey = np.asarray(im).astype(np.float32)
                peak = 65535.0 if im.mode.startswith("I;16") or grey.max() > 255 else 255.0
                rgb = np.repeat(np.clip(grey * (255.0 / peak) + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
            else:
                rgb = np.asarray(im.convert("RGB"))
        frame = np.ascontiguousarray(rgb[:, :, ::-1])
    except Exception:
        literal = ["-f", "image2", "-pattern_type", "none"] if "%" in info.path.name else []   # see probe_video
        cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", *literal, "-i", _ff_path(info.path), "-map", "0:v:0",
               "-frames:v", "1", "-vf", f"scale={info.width}:{info.height},setsar=1",
               "-pix_fmt", "bgr24", "-f", "rawvideo", "pipe:1"]
        done = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL, timeout=PROBE_TIMEOUT_S)
        if len(done.stdout) != info.width * info.height * 3:
            raise MediaError("{path}: the image could not be decoded ({last_line})", path=info.path, last_line=_last_line(done.stderr)) from None
        frame = np.frombuffer(done.stdout, np.uint8).reshape(info.height, info.width, 3).copy()
    if frame.shape[:2] != (height, width):
        import cv2
        shrink = width < frame.shape[1] and height < frame.shape[0]
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return frame


def pingpong_index(i: int, n: int) -> int:
    """Source frame of output frame ``i`` when looping ``n`` frames forth and back: 0..n-1, n-2..1, 0, ..."""
    if n <= 1:
        return 0
    r = i % (2 * (n - 1))
    return r if r < n else 2 * (n - 1) - r


# Frame spool: raw frames up to 4 GiB (~27 s of 1080p at 25 fps), high-quality JPEG beyond.
RAW_SPOOL_LIMIT = 4 << 30
SPOOL_JPEG_QUALITY = 97


def spooled_frame_bytes(width: int, height: int, *, i420: bool = False) -> int:
    """Bytes of one raw frame in a :class:`FrameSpool`: BGR, or the decoder's I420 (half)."""
    return width * height * 3 // (2 if i420 else 1)


class FrameSpool:
    """Decoded frames [shape=(H, W, 3)] uint8 BGR, put in order and read back in any order,
    from a temporary file (``os.pwrite`` / ``os.pread``), so RAM holds none of them.

    ``compress`` stores high-quality JPEG (~15x smaller, differences below the H.264 encoder's
    own) instead of raw frames: for clips whose raw frames would not fit ``RAW_SPOOL_LIMIT``.
    ``i420``: frames are put as the decoder's I420 pipe buffers [shape=(H * 3 // 2, W)] (half the
    bytes of BGR; :func:`decode_spool`) and converted to BGR when read, exactly as the decoder does.
    The file lives in ``spool_dir`` (the run's folder: up to 4 GiB, not a RAM-backed /tmp) under
    a name that marks it temporary, and is deleted by :meth:`close`.
    """

    def __init__(self, *, width: int, height: int, spool_dir: str | os.PathLike | None = None,
                 compress: bool = False, i420: bool = False, source: str | os.PathLike = "") -> None:
        from .records import SPOOL_PREFIX, temp_prefix
        if i420 and (compress or not _yuv_pipe(width, height)):
            raise ValueError(f"an I420 spool needs even sizes and raw frames, got {width}x{height}")
        self.width, self.height, self.compress, self.i420 = int(width), int(height), bool(compress), bool(i420)
        self.source = source                  # the video the frames came from (error messages)
        self.count = 0                        # frames [0, count) are in the spool
        self._frame_bytes = spooled_frame_bytes(self.width, self.height, i420=self.i420)
        self._index: list[tuple[int, int]] = []   # JPEG: (offset, length) per frame
        self._end = 0
        self._i420: np.ndarray | None = None  # get()'s read buffer (I420 spools)
        self._read_lock = threading.Lock()
        self._fd, self.path = tempfile.mkstemp(prefix=temp_prefix(SPOOL_PREFIX), suffix=".raw", dir=spool_dir)

    def put(self, frame: np.ndarray) -> None:
        """Append frame number ``count`` (the frame itself is not kept or changed)."""
        if self._fd is None:
            raise ValueError("put() on a closed frame spool")
        if self.compress:
            import cv2
            ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, SPOOL_JPEG_QUALITY])
            if not ok:
                raise MediaError("{path}: could not compress a frame for the frame spool", path=self.source)
            self._write(data.data, self._end)
            self._index.append((self._end, len(data)))
            self._end += len(data)
        else:
            self._write(np.ascontiguousarray(frame).data, self.count * self._frame_bytes)
        self.count += 1

    def _write(self, data: memoryview, offset: int) -> None:
        """All of ``data`` at ``offset``, or MediaError (a short write is a full disk, not a frame)."""
        try:
            reason = None if os.pwrite(self._fd, data, offset) == memoryview(data).nbytes else "disk full?"
        except OSError as exc:
            from .errors import os_reason
            reason = os_reason(exc)
        if reason is not None:
            raise MediaError("{path}: could not write the frame spool {spool} ({reason})", path=self.source,
                             spool=self.path, reason=reason)

    def get(self, i: int, *, out: np.ndarray | None = None) -> np.ndarray:
        """A writable array holding spooled frame ``i`` (0 <= i < count): ``out`` [shape=(H, W, 3)]
        uint8 when given (raw spools fill it), else a new one."""
        if not 0 <= i < self.count:
            raise IndexError(f"frame {i} is not in the spool (0..{self.count - 1})")
        if self.compress:
            import cv2
            offset, length = self._index[i]
            data = os.pread(self._fd, length, offset)
            frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if frame is None or len(data) != length:
                raise MediaError("{path}: frame spool {spool} is damaged (disk full?)", path=self.source,
                                 spool=self.path)
            return frame
        if out is not None and (out.shape != (self.height, self.width, 3) or out.dtype != np.uint8
                                or not out.flags.c_contiguous):
            raise ValueError(f"out must be a C-contiguous ({self.height}, {self.width}, 3) uint8 array")
        if self.i420:   # read into one reused I420 buffer (a fresh one costs page faults), then convert
            with self._read_lock:
                if self._i420 is None:
                    self._i420 = np.empty((self.height * 3 // 2, self.width), np.uint8)
                self._pread(self._i420, i)
                import cv2
                return cv2.cvtColor(self._i420, cv2.COLOR_YUV2BGR_I420, dst=out)
        frame = out if out is not None else np.empty((self.height, self.width, 3), np.uint8)
        self._pread(frame, i)
        return frame

    def _pread(self, buffer: np.ndarray, i: int) -> None:
        got = os.preadv(self._fd, [memoryview(buffer).cast("B")], i * self._frame_bytes)
        if got != self._frame_bytes:
            raise MediaError("{path}: frame spool {spool} is short (disk full?)", path=self.source, spool=self.path)

    def close(self) -> None:
        """Delete the spool file (safe to call twice)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            Path(self.path).unlink(missing_ok=True)

    def __enter__(self) -> "FrameSpool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def decode_spool(info: VideoInfo, *, n_frames: int, spool_dir: str | os.PathLike | None = None,
                 limit: int | None = None) -> FrameSpool | None:
    """A raw spool for the first ``n_frames`` frames :func:`iter_frames` decodes at the video's
    size (I420 where the pipe carries I420: half the bytes), or None when they would not fit
    ``limit`` bytes (default ``RAW_SPOOL_LIMIT``) or the video is a photo."""
    i420 = _yuv_pipe(info.width, info.height)
    frame_bytes = spooled_frame_bytes(info.width, info.height, i420=i420)
    if info.is_image or n_frames * frame_bytes > (RAW_SPOOL_LIMIT if limit is None else limit):
        return None
    return FrameSpool(width=info.width, height=info.height, spool_dir=spool_dir, i420=i420, source=info.path)


class FrameSource:
    """``n_out`` output frames from a video: iterate to get ``(src_index, frame [shape=(H, W, 3)])``.

    ``n_out <= n_frames``: the first ``n_out`` frames are streamed (trim). ``n_out > n_frames``:
    ping-pong (:func:`pingpong_index`, no jump cut); the first forward pass streams from ffmpeg
    into a :class:`FrameSpool`, later passes read it back, so RAM stays at a few frames whatever
    the length (raw frames while they fit ``RAW_SPOOL_LIMIT`` bytes, JPEG beyond). A photo
    repeats its one frame. With a ``plan`` (:class:`heygem_kernel.loops.LoopPlan`, e.g. seamless
    loops) the output follows its source frames and cross-fades instead, read through the same
    spool. ``decoded``: a spool that already holds the source's first frames at this size (the
    face analysis fills one): when it holds every frame needed, nothing is decoded again. Its
    own spool is deleted on :meth:`close` (or leaving the ``with`` block); ``decoded`` is the
    caller's to close.
    """

    def __init__(self, info: VideoInfo, *, n_out: int, size: tuple[int, int] | None = None,
                 spool_dir: str | os.PathLike | None = None, plan=None, account: Account | None = None,
                 decoded: FrameSpool | None = None) -> None:
        if n_out < 0:
            raise ValueError(f"n_out must be >= 0, got {n_out}")
        if plan is not None and len(plan) != n_out:
            raise ValueError(f"the loop plan has {len(plan)} frames, expected {n_out}")
        self.info = info
        self.n_out = int(n_out)
        self.plan = plan   # heygem_kernel.loops.LoopPlan: source frames (and cross-fades) per output frame
        self.width, self.height = size or (info.width, info.height)
        self.spool_dir = spool_dir
        self.account = account   # account("decode_cpu", seconds): the decoder's CPU time, when it exits
        self.decoded = decoded
        self.reused_decode = False   # True once every frame came from ``decoded`` (no ffmpeg)
        self._gen: Iterator[np.ndarray] | None = None
        self._spool: FrameSpool | None = None    # our own: frames read again in a loop
        self._pool = FramePool((self.height, self.width, 3))   # frame buffers, re-used once the encoder is done

    def __len__(self) -> int:
        return self.n_out

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        n = self.info.n_frames
        if self.n_out == 0:
            return
        try:
            if self.info.is_image:
                self._gen = iter_frames(self.info, size=(self.width, self.height), account=self.account)
                still = next(self._gen)
                for i in range(self.n_out):
                    yield 0, self._pool.copy(still)
                return
            planned = self.plan is not None and self.plan.mode not in ("trim", "still")
            looped = planned or self.n_out > n
            fetch = self._fetcher(needed=n if looped else self.n_out, spool=looped)
            if planned:
                for t in range(self.n_out):
                    a, b, w = self.plan.frame_sources(t)
                    frame = fetch(a)
                    if b >= 0:
                        frame = self.plan.compose(frame, fetch(b), w, out=frame)   # cross-fade (aligned: loop_morph.morph_frames), in place
                    yield a, frame
            else:
                for i in range(self.n_out):
                    src = pingpong_index(i, n) if i >= n else i
                    yield src, fetch(src)
        finally:
            self.close()

    def _fetcher(self, *, needed: int, spool: bool):
        """``fetch(k)``: a new array of source frame k. Frames come from ``decoded`` when it
        holds all ``needed`` of them; else ffmpeg decodes them in order (into our own spool when
        ``spool``: a loop reads them again), stopping once the last one is read."""
        given = self.decoded
        if given is not None and (given.width, given.height) == (self.width, self.height) \
                and given.count >= needed:
            self.reused_decode = True
            return lambda k: given.get(k, out=self._pool.take())
        self._gen = iter_frames(self.info, size=(self.width, self.height), account=self.account, pool=self._pool)
        if spool:
            compress = self.info.n_frames * spooled_frame_bytes(self.width, self.height) > RAW_SPOOL_LIMIT
            self._spool = FrameSpool(width=self.width, height=self.height, spool_dir=self.spool_dir,
                                     compress=compress, source=self.info.path)
        decoded = 0

        def fetch(k: int) -> np.ndarray:
            nonlocal decoded
            if k < decoded:
                return self._spool.get(k, out=self._pool.take())
            while True:
                frame = next(self._gen)
                if self._spool is not None:
                    self._spool.put(frame)
                decoded += 1
                if decoded >= needed:
                    self._close_decoder()
                if decoded > k:
                    return frame
        return fetch

    def _close_decoder(self) -> None:
        if self._gen is not None:
            self._gen.close()
            self._gen = None

    def close(self) -> None:
        """Stop ffmpeg and delete our own spool file (safe to call twice)."""
        self._close_decoder()
        if self._spool is not None:
            self._spool.close()
            self._spool = None


# --------------------------------------------------------------------------------- writing

def encoded_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of the H.264 file :class:`VideoWriter` writes for frames of ``width`` x ``height``.

    yuv420p needs even sides, and H.264 crops 4:2:0 pictures only in steps of 2 pixels, so an
    odd size cannot be carried: one column/row copied from the edge is added (nothing is lost).
    """
    return width + width % 2, height + height % 2


def output_frames(seconds: float, rate: Fraction | float) -> int:
    """Frames a :class:`VideoWriter` output of ``seconds`` at ``rate`` fps holds (at least 1).

    ffmpeg's ``-t`` (given in microseconds) cuts at the frame grid point nearest the end,
    halves rounding up (av_rescale_q): 2.5 s at 25 fps holds 63 frames, 2.49 s holds 62.
    Python's ``round`` rounds halves to even and would say 62, so render exactly this many.
    """
    rate = rate if isinstance(rate, Fraction) else Fraction(float(rate)).limit_denominator(100_000)
    end = Fraction(_seconds_arg(seconds)) * rate         # the end in frames, as ffmpeg reads -t
    return max(1, int(end + Fraction(1, 2)))            # floor(x + 1/2): x >= 0


def _seconds_arg(seconds: float) -> str:
    """``seconds`` as ffmpeg's ``-t`` gets it (microseconds, the unit ffmpeg parses it into)."""
    return f"{seconds:.6f}"


def _partial_path(path: Path) -> Path:
    """A fresh temporary name beside ``path`` for ffmpeg to write: unique per writer, so two runs
    writing one --out at once never share (and corrupt) one file, and carrying this process's id
    so :func:`records.sweep_stale` removes it if the process is killed."""
    from .records import TMP_MARK, _umask, temp_prefix, temp_stem
    fd, name = tempfile.mkstemp(prefix=temp_prefix(f".{temp_stem(path.stem)}.partial{TMP_MARK}"),
                                suffix=path.suffix or ".mp4", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())   # mkstemp makes 0600; the output gets the mode open() would give
    os.close(fd)
    return Path(name)


_HELD_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP that arrive inside the block take effect at its end, where they are
    raised again (the handlers in place before: KeyboardInterrupt, the CLI's stop, or the default).

    For the few lines that start a child process and keep its handle: an interrupt raised inside
    ``subprocess.Popen`` after the fork, or between its return and the assignment, leaves a child
    that nobody kills (an encoder that then re-creates the partial file its writer has just removed).
    Only the main thread gets Python's signal exceptions; elsewhere the block does nothing.
    """
    import signal
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    before = {}
    for name in _HELD_SIGNALS:
        signum = getattr(signal, name, None)
        handler = None if signum is None else signal.getsignal(signum)
        if handler is None or handler is signal.SIG_IGN:   # not set from Python, or ignored: left alone
            continue
        before[signum] = handler
        signal.signal(signum, lambda number, _frame: caught.append(number))
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


def mp4_complete(path: str | os.PathLike) -> bool:
    """Whether the MP4 (ISO BMFF) file at ``path`` is whole: its top-level boxes tile the file
    exactly and include the index (``moov``) and the media data (``mdat``).

    ffmpeg 5.1 reports a failed write (ENOSPC, EFBIG) and still exits 0, leaving a file cut off
    at the point the disk filled, usually without ``moov``: no player can open it.
    """
    size, pos, seen = os.path.getsize(path), 0, set()
    with open(path, "rb") as fh:
        while pos < size:
            fh.seek(pos)
            head = fh.read(16)
            if len(head) < 8:
                return False
            box, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if box == 1:                       # 64-bit size follows the type
                box = int.from_bytes(head[8:16], "big") if len(head) == 16 else 0
            elif box == 0:                     # the box runs to the end of the file
                box = size - pos
            if box < 8 or pos + box > size:
                return False
            seen.add(kind)
            pos += box
    return {b"moov", b"mdat"} <= seen


class VideoWriter:
    """Encode frames ``[shape=(height, width, 3)] uint8`` BGR to H.264 (yuv420p, +faststart) with AAC audio.

    ``audio``: any ffmpeg-readable file (a WAV, or a video whose first audio track is used).
    The output lasts exactly ``duration`` (default: the audio's duration); if fewer frames were
    written the last one is held. yuv420p needs even sizes, so an odd width/height gets one
    extra column/row copied from the edge. ffmpeg writes ``.<stem>.partial.tmp-<pid>-<random><suffix>``
    next to the target, renamed on a clean :meth:`close`; an exception in the ``with`` block or :meth:`abort`
    kills ffmpeg and deletes it. Encoding runs on a thread behind a bounded queue.
    ``pixel_aspect``: (stored width, "16:15") to write square-pixel frames back at a non-square
    input's stored width and pixel aspect (:attr:`VideoInfo.pixel_aspect`); frames are still given
    at ``width`` x ``height``.
    """

    def __init__(self, path: str | os.PathLike, *, width: int, height: int, fps: float | Fraction,
                 audio: str | os.PathLike | None, duration: float | None = None,
                 crf: int = 18, preset: str = "veryfast", colour: dict[str, str] | None = None,
                 account: Account | None = None, pixel_aspect: tuple[int, str] | None = None) -> None:
        if width <= 0 or height <= 0 or fps <= 0:
            raise ValueError(f"bad output geometry {width}x{height} @ {fps} fps")
        # an exact rate (Fraction, e.g. VideoInfo.exact_fps) is kept as is: 30000/1001 stays 30000/1001
        self.rate = fps if isinstance(fps, Fraction) else Fraction(float(fps)).limit_denominator(100_000)
        self.colour = dict(colour or {})  # -color_primaries / -color_trc / -colorspace values
        self.path = Path(path).expanduser()
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.audio = _check_file(audio) if audio is not None else None
        if duration is None and self.audio is not None:
            duration = probe_audio(self.audio).duration
        elif self.audio is not None:
            probe_audio(self.audio)  # fail early, naming the file, if it has no audio track
        self.duration = duration
        self.account = account   # account("encode_cpu", seconds): the encoder's CPU time, when it exits
        self.frames_written = 0
        self._even_w, self._even_h = encoded_size(self.width, self.height)
        self.pixel_aspect = pixel_aspect   # (stored width, "16:15"): the file gets that width and pixel aspect
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial: Path | None = None
        self._proc: subprocess.Popen | None = None
        try:   # Ctrl-C / SIGTERM can land anywhere in here: no ffmpeg and no partial file outlive it
            with signals_held():   # ... once both are known: a signal inside is raised at the block's end
                self.partial = _partial_path(self.path)
                self._proc = subprocess.Popen(tied(self._command(crf, preset)),   # kill -9 of the run ends it too
                                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                              bufsize=0)
            self._stderr = _Stderr(self._proc.stderr)
            self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=QUEUE_FRAMES)
            self._error: BaseException | None = None
            self._closed = False
            self._thread = threading.Thread(target=self._pump, name="heygem-encode", daemon=True)
            self._thread.start()
        except BaseException:
            if self._proc is not None:
                self._proc.kill()
                self._proc.wait()
            if self.partial is not None:
                self.partial.unlink(missing_ok=True)
            raise

    def _command(self, crf: int, preset: str) -> list[str]:
        rate = self.rate
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{self._even_w}x{self._even_h}",
               "-framerate", str(rate), "-i", "pipe:0"]
        if self.audio is not None:
            # the sound from its first sample, as the speech was analysed (audio.load_audio): a video's
            # track that starts after its picture kept that start, so the mouth led the sound by it
            cmd += ["-i", _ff_path(self.audio), "-map", "0:v:0", "-map", "1:a:0", "-af", "asetpts=PTS-STARTPTS",
                    "-c:a", "aac", "-b:a", AAC_BITRATE]
        else:
            cmd += ["-map", "0:v:0"]
        filters = []
        if self.pixel_aspect is not None:   # square-pixel frames back to the input's stored width and pixel aspect
            stored, aspect = self.pixel_aspect
            stored_w, _ = encoded_size(int(stored), self._even_h)
            filters.append(f"scale={stored_w}:{self._even_h}:flags=area+{SWS_EXACT},setsar=sar={aspect.replace(':', '/')}:max=65535")
        if self.duration is not None:  # hold the last frame up to the audio's end; -t cuts exactly there
            filters.append("tpad=stop=-1:stop_mode=clone")
        if filters:
            cmd += ["-vf", ",".join(filters)]
        if self.duration is not None:
            cmd += ["-t", _seconds_arg(self.duration)]
        cmd += ["-c:v", "libx264", "-preset", preset, "-crf", str(int(crf)), "-pix_fmt", "yuv420p",
                "-r", str(rate)]
        for key, value in self.colour.items():
            cmd += [f"-{key}", value]
        cmd += ["-movflags", "+faststart", _ff_path(self.partial)]
        return cmd

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, frame: np.ndarray) -> None:
        """Queue one frame ``[shape=(height, width, 3)] uint8`` BGR (blocks while the encoder is behind)."""
        if self._closed:
            raise ValueError(f"{self.path}: write() after close()")
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame {frame.shape} {frame.dtype} does not match the writer's "
                             f"({self.height}, {self.width}, 3) uint8")
        while True:
            if self._error is not None:
                raise self._failure()
            try:
                self._queue.put(frame, timeout=0.1)
                break
            except queue.Full:
                continue
        self.frames_written += 1

    def _pump(self) -> None:
        import cv2
        i420 = np.empty((self._even_h * 3 // 2, self._even_w), np.uint8)   # reused: see iter_frames
        try:
            while (frame := self._queue.get()) is not None:
                if (self._even_w, self._even_h) != (self.width, self.height):
                    pad = ((0, self._even_h - self.height), (0, self._even_w - self.width), (0, 0))
                    frame = np.pad(frame, pad, mode="edge")
                # BGR -> I420 here (exact, SIMD) rather than in swscale: see SWS_EXACT
                cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_BGR2YUV_I420, dst=i420)
                self._proc.stdin.write(i420.data)
        except (OSError, ValueError) as exc:  # BrokenPipe: ffmpeg stopped reading
            # rc 0: it reached `-t duration` and finished; frames past the audio's end are dropped
            if _reap(self._proc, self.account, "encode_cpu") != 0:
                self._error = exc
            drain(self._queue)  # so write()/close() never block

    def _failure(self) -> MediaError:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        return MediaError("ffmpeg could not write {path}: {last}", path=self.path, last=self._stderr.last())

    def close(self) -> Path:
        """Finish encoding and move the file into place; returns the output path."""
        if self._closed:
            return self.path
        self._closed = True
        stop_worker(self._queue, self._thread)
        self._thread.join()
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        rc = _reap(self._proc, self.account, "encode_cpu")
        if self.frames_written == 0:
            self.partial.unlink(missing_ok=True)
            raise MediaError("no frames were written to {path}", path=self.path)
        if self._error is not None or rc != 0:
            self.partial.unlink(missing_ok=True)
            raise MediaError("ffmpeg could not write {path}: {last}", path=self.path, last=self._stderr.last())
        if not mp4_complete(self.partial):   # ffmpeg 5 exits 0 when the disk fills while it writes
            self.partial.unlink(missing_ok=True)
            raise MediaError("{path} could not be written whole ({free} MB free on its disk): {last}",
                             path=self.path, free=shutil.disk_usage(self.path.parent).free // 2**20,
                             last=self._stderr.last())
        os.replace(self.partial, self.path)
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and delete the partial file; the target path is left untouched."""
        if self._closed and self._proc.poll() is not None:
            self.partial.unlink(missing_ok=True)
            return
        self._closed = True
        if self._proc.poll() is None:
            self._proc.kill()
        stop_worker(self._queue, self._thread)
        self._thread.join(timeout=10)
        self._proc.wait()
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        self.partial.unlink(missing_ok=True)
