"""media.py on the real clips: probing, streaming decode, ping-pong, encoding, bad input."""
from __future__ import annotations

import dataclasses
import json
import os
import struct
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from heygem_kernel import media
from heygem_kernel.errors import InputError, MediaError
from heygem_kernel.records import _umask


# ----------------------------------------------------------------------------- helpers

def ffprobe_streams(path) -> dict:
    out = subprocess.run([media.ffprobe_exe(), "-v", "error", "-of", "json", "-show_streams", "-show_format",
                          str(path)], capture_output=True, check=True).stdout
    data = json.loads(out)
    streams = {s["codec_type"]: s for s in data["streams"]}
    streams["format"] = data["format"]
    return streams


def top_level_boxes(path) -> list[str]:
    """Names of the top-level MP4 boxes in file order."""
    names, data = [], open(path, "rb").read()
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
        names.append(kind.decode("latin-1"))
        if size == 0:
            break
        pos += size
    return names


def child_ffmpegs() -> list[int]:
    """Live (non-zombie) ffmpeg child processes of this test process."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        name = stat[stat.find("(") + 1:stat.rfind(")")]
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == os.getpid() and fields[0] != "Z" and name.startswith("ffmpeg"):
            pids.append(int(entry))
    return pids


def short_wav(src, dst, seconds: float):
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), "-t", str(seconds), str(dst)], check=True)
    return dst


def first_frames(info, n, size=None):
    gen = media.iter_frames(info, size=size)
    frames = [next(gen) for _ in range(n)]
    gen.close()
    return frames


def single_line_naming(err: Exception, path) -> str:
    text = str(err)
    assert "\n" not in text
    assert str(path) in text
    return text


# ----------------------------------------------------------------------------- probing

@pytest.mark.parametrize("fixture, size, n_frames, codec", [
    ("clip_590", (590, 590), 125, "h264"),
    ("clip_524", (524, 524), 122, "h264"),
    ("clip_portrait", (1080, 1920), 250, "hevc"),
])
def test_probe_constant_rate_clips(request, fixture, size, n_frames, codec):
    info = media.probe_video(request.getfixturevalue(fixture))
    assert (info.width, info.height) == size
    assert info.fps == 25.0 and info.nominal_fps == 25.0
    assert info.n_frames == n_frames
    assert info.duration == pytest.approx(n_frames / 25.0, abs=0.01)
    assert info.codec == codec
    assert not info.is_vfr and not info.is_image and info.has_audio


def test_probe_detects_variable_frame_rate(clip_vfr):
    info = media.probe_video(clip_vfr)
    assert info.is_vfr
    assert info.nominal_fps == 30.0
    assert info.fps == pytest.approx(135 / 6.1, abs=0.05)   # ~22.13: the real rate, not the header's
    assert info.n_frames == 135
    assert (info.width, info.height) == (700, 700)


def test_probe_detects_a_few_dropped_frames_as_vfr(tmp_path):
    """30 fps header, every 40th frame missing (a phone under load): 2 % slow, 0.6 s of drift a
    minute if delivered at 30 fps, so it must be treated as variable rate."""
    path = tmp_path / "drops.mp4"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=s=64x64:r=30:d=4",
                    "-vf", "select='not(eq(mod(n,40),39))'", "-fps_mode", "vfr", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    info = media.probe_video(path)
    assert info.is_vfr and info.nominal_fps == 30.0
    assert info.fps == pytest.approx(info.n_frames / info.duration, rel=1e-6)
    assert 29.0 < info.fps < 29.8
    assert sum(1 for _ in media.iter_frames(info)) == info.n_frames


def test_probe_reads_the_audio_delay_of_the_container(tmp_path, clip_590, clip_vfr):
    assert media.probe_video(clip_590).audio_delay == 0.0
    assert media.probe_video(clip_vfr).audio_delay == pytest.approx(-0.033, abs=0.001)  # picture starts late
    late = tmp_path / "audio_late.mp4"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", str(clip_590), "-itsoffset", "0.2",
                    "-i", str(clip_590), "-map", "0:v", "-map", "1:a", "-c", "copy", str(late)], check=True)
    assert media.probe_video(late).audio_delay == pytest.approx(0.2, abs=0.03)


def test_probe_audio_of_wav_and_of_video(speech_5s, clip_590):
    wav = media.probe_audio(speech_5s)
    assert (wav.sample_rate, wav.channels, wav.codec) == (44100, 2, "pcm_s16le")
    assert wav.duration == pytest.approx(5.0155, abs=0.01)
    track = media.probe_audio(clip_590)
    assert track.codec == "aac" and track.duration == pytest.approx(5.015, abs=0.01)


@pytest.mark.parametrize("fixture", ["clip_vfr", "clip_portrait"])
def test_probe_cache_gives_the_fresh_probe_without_running_ffprobe(request, fixture, tmp_path, monkeypatch):
    clip = request.getfixturevalue(fixture)
    fresh = media.probe_video(clip)
    assert media.probe_video(clip, cache_dir=tmp_path) == fresh           # probed, then written
    assert len(list(tmp_path.glob("probe-*.json"))) == 1

    def no_process(*args, **kwargs):
        raise AssertionError("a cached probe ran ffprobe/ffmpeg")
    monkeypatch.setattr(media.subprocess, "run", no_process)
    monkeypatch.setattr(media.subprocess, "Popen", no_process)
    assert media.probe_video(clip, cache_dir=tmp_path) == fresh           # every field, VFR rate included
    copy = tmp_path / "copy.mp4"                                          # same bytes elsewhere: same facts,
    copy.write_bytes(clip.read_bytes())                                   # its own path
    assert media.probe_video(copy, cache_dir=tmp_path) == dataclasses.replace(fresh, path=copy)


def test_probe_cache_never_serves_a_file_changed_in_place(tmp_path, clip_590, clip_524):
    """The same path rewritten with other content of the same size and mtime (a restored backup,
    cp --preserve) is probed afresh: the key is the content hash, not the file's name or stat."""
    a, b = clip_590.read_bytes(), clip_524.read_bytes()
    size = max(len(a), len(b))                          # trailing zeros: both still read as their clip
    a, b = a.ljust(size, b"\0"), b.ljust(size, b"\0")
    video, cache_dir = tmp_path / "presenter.mp4", tmp_path / "cache"
    video.write_bytes(a)
    stamp = video.stat().st_mtime_ns
    assert media.probe_video(video, cache_dir=cache_dir).width == 590
    with open(video, "r+b") as fh:                      # in place: same inode
        fh.write(b)
    os.utime(video, ns=(stamp, stamp))
    assert video.stat().st_size == size and video.stat().st_mtime_ns == stamp
    assert (media.probe_video(video, cache_dir=cache_dir).width, media.probe_video(video).n_frames) == (524, 122)
    (entry,) = [p for p in cache_dir.glob("probe-*.json") if json.loads(p.read_text())["width"] == 524]
    entry.write_text("{half a fi")                      # a damaged entry is probed again, not an error
    assert media.probe_video(video, cache_dir=cache_dir).width == 524


def test_probe_cache_is_not_shared_across_versions_of_the_probing_code(clip_590, tmp_path, monkeypatch):
    media.probe_video(clip_590, cache_dir=tmp_path)
    monkeypatch.setattr(media, "_probe_code", lambda: "media.py as edited later")
    media.probe_video(clip_590, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("probe-*.json"))) == 2


def test_probe_cache_that_cannot_be_written_costs_only_time(clip_590, tmp_path):
    in_the_way = tmp_path / "cache"
    in_the_way.write_text("a file where the cache folder should be")
    assert media.probe_video(clip_590, cache_dir=in_the_way) == media.probe_video(clip_590)


def test_probe_cache_keeps_no_errors(clip_590, tmp_path):
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(clip_590.read_bytes()[:1000])
    for _ in range(2):
        with pytest.raises(MediaError, match="truncated|not a video") as err:
            media.probe_video(noise, cache_dir=tmp_path)
        single_line_naming(err.value, noise)
    assert not list(tmp_path.glob("probe-*"))


def test_probe_audio_is_remembered_until_the_file_changes(tmp_path, monkeypatch):
    """Same size, same mtime, other content (1 s at 16 kHz vs 2 s at 8 kHz: 32000 bytes of samples
    each) written in place: probed again."""
    path = tmp_path / "speech.wav"
    def write(rate: int, seconds: int) -> None:
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(np.full(rate * seconds, 1000, np.int16).tobytes())
    write(16000, 1)
    first = media.probe_audio(path)
    assert (first.sample_rate, first.duration) == (16000, pytest.approx(1.0))
    calls = []
    real_run = media.subprocess.run
    monkeypatch.setattr(media.subprocess, "run", lambda *a, **k: calls.append(a) or real_run(*a, **k))
    assert media.probe_audio(path) == first and calls == []        # remembered: no ffprobe
    stamp, size = path.stat().st_mtime_ns, path.stat().st_size
    write(8000, 2)
    os.utime(path, ns=(stamp, stamp))
    assert path.stat().st_size == size
    again = media.probe_audio(path)
    assert (again.sample_rate, again.duration) == (8000, pytest.approx(2.0)) and len(calls) == 1


# ----------------------------------------------------------------------------- decoding

def test_iter_frames_count_shape_and_colour_order(clip_524):
    import cv2
    info = media.probe_video(clip_524)
    frames = list(media.iter_frames(info))
    assert len(frames) == info.n_frames == 122
    assert all(f.shape == (524, 524, 3) and f.dtype == np.uint8 and f.flags.writeable for f in frames)
    cap = cv2.VideoCapture(str(clip_524))
    ok, ref = cap.read()
    cap.release()
    assert ok
    # BGR like OpenCV (a channel swap would give a large difference on a skin-toned face)
    assert np.abs(frames[0].astype(int) - ref.astype(int)).mean() < 2.0
    assert np.abs(frames[0].astype(int) - ref[:, :, ::-1].astype(int)).mean() > 5.0


def test_iter_frames_scales_with_ffmpeg(clip_portrait):
    info = media.probe_video(clip_portrait)
    frames = first_frames(info, 5, size=(270, 480))
    assert [f.shape for f in frames] == [(480, 270, 3)] * 5
    assert frames[0].std() > 10   # a real picture, not a blank buffer


def test_vfr_frames_follow_timestamps(clip_vfr):
    """The resampled stream is the source frames in order, each held for its real display time."""
    info = media.probe_video(clip_vfr)
    small = (32, 32)
    out = np.stack(list(media.iter_frames(info, size=small))).reshape(135, -1).astype(np.float32)
    source = list(media.iter_frames(dataclasses.replace(info, is_vfr=False), size=small))  # as stored
    source = np.stack(source).reshape(len(source), -1).astype(np.float32)
    dist = np.stack([np.abs(source - frame).mean(axis=1) for frame in out])   # [shape=(135, n_source)]
    match = dist.argmin(axis=1)
    assert dist.min(axis=1).max() < 1.0                   # every output frame is a source frame
    assert np.all(np.diff(match) >= 0)                    # never goes back in time
    assert len(np.unique(match)) > 120                    # and skips (almost) none
    # its frames were shot at a steady ~22 fps (the 30 fps time base only quantises the stamps),
    # so resampled at the real rate nearly every frame i is source frame i: no drift against audio
    assert (match == np.arange(135)).mean() > 0.95


def test_closing_iter_frames_early_stops_ffmpeg(clip_portrait):
    info = media.probe_video(clip_portrait)
    gen = media.iter_frames(info)
    next(gen)
    assert child_ffmpegs()
    gen.close()
    assert child_ffmpegs() == []


def test_iter_frames_pads_with_last_frame_when_ffmpeg_runs_short(clip_590):
    info = media.probe_video(clip_590)
    longer = dataclasses.replace(info, n_frames=info.n_frames + 3)
    frames = list(media.iter_frames(longer, size=(64, 64)))
    assert len(frames) == 128
    assert all(np.array_equal(frames[-1], f) for f in frames[-4:])


def rss_bytes() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_memory_stays_bounded_over_a_long_pingpong(clip_590, tmp_path):
    """590x590 frames are 1 MB: keeping the 125 decoded ones would add 130 MB; streaming holds a few."""
    info = media.probe_video(clip_590)
    before, peak = rss_bytes(), 0
    with media.FrameSource(info, n_out=info.n_frames + 10, spool_dir=tmp_path) as source:
        for i, (src, frame) in enumerate(source):
            peak = max(peak, rss_bytes())
    assert src == info.n_frames - 11
    assert peak - before < 40 * 2**20


def test_rotated_phone_video_is_delivered_upright(tmp_path):
    """A display-matrix rotation (phones film sideways) swaps width and height, as players show it."""
    plain, turned = tmp_path / "plain.mp4", tmp_path / "turned.mp4"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=s=64x32:r=25:d=0.4",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(plain)], check=True)
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", str(plain), "-c", "copy",
                    "-metadata:s:v", "rotate=90", str(turned)], check=True)
    info = media.probe_video(turned)
    assert (info.width, info.height) == (32, 64) and info.n_frames == 10
    (upright,) = first_frames(info, 1)
    (original,) = first_frames(media.probe_video(plain), 1)
    assert upright.shape == (64, 32, 3)
    assert min(np.abs(np.rot90(original, k).astype(int) - upright).mean() for k in (1, 3)) < 1.0


# ----------------------------------------------------------------------------- ping-pong

def test_pingpong_index_never_jumps():
    assert [media.pingpong_index(i, 4) for i in range(10)] == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert [media.pingpong_index(i, 2) for i in range(5)] == [0, 1, 0, 1, 0]
    assert [media.pingpong_index(i, 1) for i in range(3)] == [0, 0, 0]
    seq = [media.pingpong_index(i, 7) for i in range(100)]
    assert max(abs(a - b) for a, b in zip(seq, seq[1:])) == 1


def test_frame_source_pingpong_content_and_spool_cleanup(clip_590, tmp_path):
    info = dataclasses.replace(media.probe_video(clip_590), n_frames=10)   # the first 10 frames
    direct = first_frames(info, 10, size=(100, 100))
    with media.FrameSource(info, n_out=31, size=(100, 100), spool_dir=tmp_path) as source:
        got = []
        for out_i, (src_i, frame) in enumerate(source):
            if out_i == 12:
                spools = list(tmp_path.iterdir())
                assert len(spools) == 1 and spools[0].stat().st_size == 10 * 100 * 100 * 3
            got.append((src_i, frame))
    assert [s for s, _ in got] == [media.pingpong_index(i, 10) for i in range(31)]
    for i, (src_i, frame) in enumerate(got):
        assert np.array_equal(frame, direct[src_i]), i
    # mirrored positions show the very same picture: 8 and 10 are both source frame 8
    assert np.array_equal(got[8][1], got[10][1]) and not np.array_equal(got[8][1], got[9][1])
    assert list(tmp_path.iterdir()) == []


def test_frame_source_trim_does_not_spool(clip_590, tmp_path):
    info = media.probe_video(clip_590)
    with media.FrameSource(info, n_out=6, size=(64, 64), spool_dir=tmp_path) as source:
        got = list(source)
        assert list(tmp_path.iterdir()) == []
    assert [s for s, _ in got] == list(range(6))
    assert child_ffmpegs() == []


def test_frame_pool_hands_out_only_buffers_no_one_holds():
    pool = media.FramePool((4, 6, 3))
    a, b = pool.take(), pool.take()
    assert a.shape == (4, 6, 3) and a.dtype == np.uint8 and a.flags.writeable and a.flags.c_contiguous
    assert not np.shares_memory(a, b)
    row = a[1]                      # a view keeps its buffer out of the pool
    a_id = id(a)
    del a
    c = pool.take()
    assert not np.shares_memory(c, row) and not np.shares_memory(c, b)
    del row, c
    assert id(pool.take()) == a_id  # let go of (and its views too): re-used, not a new allocation
    assert len(pool._kept) == 3


def test_frame_source_re_uses_frame_buffers_in_a_long_loop(clip_590, tmp_path):
    """A 375-frame ping-pong of 125 frames, each frame let go once read (as the encoder does):
    a handful of buffers serve every frame (each new 1 MB frame cost 256 page faults), and the
    pictures are those of a direct decode."""
    info = media.probe_video(clip_590)
    direct = {i: int(f.astype(np.int64).sum()) for i, f in enumerate(first_frames(info, info.n_frames))}
    n_out = 3 * info.n_frames
    with media.FrameSource(info, n_out=n_out, spool_dir=tmp_path) as source:
        sums, srcs = [], []
        for src, frame in source:
            assert any(frame is kept for kept in source._pool._kept)
            sums.append(int(frame.astype(np.int64).sum()))
            srcs.append(src)
        assert len(source._pool._kept) <= media.QUEUE_FRAMES + 4
    assert len(sums) == n_out and all(sums[i] == direct[s] for i, s in enumerate(srcs))


# ----------------------------------------------------------------------------- photos

def test_photo_detected_by_content_and_repeated(tmp_path):
    import cv2
    picture = np.zeros((81, 120, 3), np.uint8)
    picture[:, :60] = (255, 0, 0)  # blue left half in BGR
    path = tmp_path / "photo.dat"  # a PNG under a meaningless extension
    ok, data = cv2.imencode(".png", picture)
    path.write_bytes(data.tobytes())
    info = media.probe_video(path, still_fps=30.0)
    assert info.is_image and info.n_frames == 1 and info.fps == 30.0
    assert (info.width, info.height) == (120, 81)
    with media.FrameSource(info, n_out=4) as source:
        got = list(source)
    assert [s for s, _ in got] == [0, 0, 0, 0]
    assert all(np.array_equal(f, picture) for _, f in got)


def test_a_photo_named_like_an_image_sequence_is_that_one_file(tmp_path, clip_590, monkeypatch):
    """"img%03d.png" is a file name, not ffmpeg's image-sequence pattern (it failed with 'No such
    file or directory'); the ffmpeg fallback decoder (Pillow failing) reads it literally too."""
    (frame,) = media.read_frames(clip_590, limit=1)
    import cv2
    path = tmp_path / "img%03d.png"
    assert cv2.imwrite(str(path), frame)
    info = media.probe_video(path)
    assert info.is_image and (info.width, info.height) == (frame.shape[1], frame.shape[0])
    (got,) = list(media.iter_frames(info))
    assert np.array_equal(got, frame)
    import PIL.Image
    monkeypatch.setattr(PIL.Image, "open", lambda *a, **k: (_ for _ in ()).throw(OSError("no Pillow")))
    (got,) = list(media.iter_frames(info))
    assert np.abs(got.astype(int) - frame).max() <= 2


def test_jpeg_exif_orientation_applied(tmp_path):
    from PIL import Image
    path = tmp_path / "phone photo.jpg"
    img = Image.new("RGB", (160, 90), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6   # "rotate 90 CW to display": stored landscape, shown portrait
    img.save(path, exif=exif.tobytes())
    info = media.probe_video(path)
    assert info.is_image and (info.width, info.height) == (90, 160)
    (frame,) = list(media.iter_frames(info))
    assert frame.shape == (160, 90, 3)
    assert abs(int(frame[80, 45, 2]) - 200) < 8   # red channel is last in BGR


# ----------------------------------------------------------------------------- encoding

def encode(out, clip, audio, n=25, size=None, **kw):
    info = media.probe_video(clip)
    w, h = size or (info.width, info.height)
    with media.FrameSource(info, n_out=n, size=(w, h)) as source, \
            media.VideoWriter(out, width=w, height=h, fps=info.fps, audio=audio, **kw) as writer:
        for _, frame in source:
            writer.write(frame)
    return out


def test_video_writer_output_properties(clip_590, speech_5s, tmp_path):
    audio = short_wav(speech_5s, tmp_path / "speech.wav", 1.5)
    audio_duration = media.probe_audio(audio).duration
    out = encode(tmp_path / "我的 视频.mp4", clip_590, audio, n=30, size=(296, 296))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    s = ffprobe_streams(out)
    assert (s["video"]["codec_name"], s["video"]["pix_fmt"]) == ("h264", "yuv420p")
    assert (s["video"]["width"], s["video"]["height"]) == (296, 296)
    assert s["video"]["r_frame_rate"] == "25/1"
    assert s["audio"]["codec_name"] == "aac"
    assert abs(float(s["video"]["duration"]) - audio_duration) <= 1 / 25
    assert abs(float(s["format"]["duration"]) - audio_duration) <= 1 / 25
    boxes = top_level_boxes(out)
    assert boxes.index("moov") < boxes.index("mdat")   # +faststart: playable while downloading
    # the file reads back with our own reader, spaces and Chinese characters included
    info = media.probe_video(out)
    assert info.n_frames == int(s["video"]["nb_frames"]) and info.has_audio
    assert not info.is_vfr and info.fps == 25.0


def test_video_writer_holds_last_frame_to_audio_end_and_drops_extra(clip_524, tmp_path):
    """Audio taken from a video file's track; 10 frames for 4.9 s of audio, then 140 for it."""
    audio_duration = media.probe_audio(clip_524).duration
    few = ffprobe_streams(encode(tmp_path / "few.mp4", clip_524, clip_524, n=10, size=(64, 64)))
    many = ffprobe_streams(encode(tmp_path / "many.mp4", clip_524, clip_524, n=140, size=(64, 64)))
    for s in (few, many):
        assert s["audio"]["codec_name"] == "aac"
        assert abs(float(s["video"]["duration"]) - audio_duration) <= 1 / 25


def test_video_writer_odd_size_pads_with_edge(tmp_path):
    out = tmp_path / "odd.mp4"
    frame = np.full((51, 75, 3), 230, np.uint8)
    with media.VideoWriter(out, width=75, height=51, fps=25, audio=None) as writer:
        for _ in range(5):
            writer.write(frame)
    info = media.probe_video(out)
    assert (info.width, info.height) == (76, 52) and info.n_frames == 5
    (first,) = first_frames(info, 1)
    assert first[:, -1].mean() > 200 and first[-1, :].mean() > 200   # edge copy, not black


def test_no_partial_file_after_exception_or_abort(clip_590, speech_5s, tmp_path):
    out = tmp_path / "out.mp4"
    frame = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(RuntimeError):
        with media.VideoWriter(out, width=64, height=64, fps=25, audio=speech_5s) as writer:
            for _ in range(10):
                writer.write(frame)
            raise RuntimeError("user code failed mid-render")
    assert list(tmp_path.iterdir()) == []
    writer = media.VideoWriter(out, width=64, height=64, fps=25, audio=speech_5s)
    writer.write(frame)
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    assert child_ffmpegs() == []


def test_two_writers_of_one_output_each_leave_a_whole_file(speech_5s, tmp_path):
    """Two runs given the same --out at once: each writes its own temporary file, so the output is
    one whole file (the last to finish), never a mix, and the other run does not fail."""
    out = tmp_path / "same.mp4"
    first = media.VideoWriter(out, width=64, height=48, fps=25, audio=speech_5s, duration=1.0)
    second = media.VideoWriter(out, width=64, height=48, fps=25, audio=speech_5s, duration=2.0)
    for _ in range(50):
        first.write(np.full((48, 64, 3), 40, np.uint8))
        second.write(np.full((48, 64, 3), 200, np.uint8))
    first.close()
    assert abs(float(ffprobe_streams(out)["format"]["duration"]) - 1.0) < 0.05
    second.close()
    streams = ffprobe_streams(out)
    assert int(streams["video"]["nb_frames"]) == 50 and abs(float(streams["format"]["duration"]) - 2.0) < 0.05
    (frame,) = media.read_frames(out, limit=1)
    assert frame.mean() > 150                          # the second writer's frames, whole
    assert [p.name for p in tmp_path.iterdir()] == ["same.mp4"]       # no temporary left
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # the mode open() gives


def test_video_writer_ffmpeg_failure_is_media_error(tmp_path):
    out = tmp_path / "bad.mp4"
    with pytest.raises(MediaError, match="ffmpeg could not write .*bad.mp4"):
        with media.VideoWriter(out, width=64, height=64, fps=25, audio=None, preset="no-such-preset") as writer:
            for _ in range(50):
                writer.write(np.zeros((64, 64, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_video_writer_rejects_audio_without_track(clip_590, tmp_path):
    silent = tmp_path / "silent.mp4"
    with media.VideoWriter(silent, width=64, height=64, fps=25, audio=None) as writer:
        writer.write(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(MediaError) as err:
        media.VideoWriter(tmp_path / "out.mp4", width=64, height=64, fps=25, audio=silent)
    assert "has no audio track" in single_line_naming(err.value, silent)


# ----------------------------------------------------------------------------- bad input

def test_missing_file(tmp_path):
    path = tmp_path / "nope.mp4"
    with pytest.raises(InputError, match="no such file") as err:
        media.probe_video(path)
    single_line_naming(err.value, path)


@pytest.mark.parametrize("name, content", [
    ("garbage.mp4", bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8))),
    ("notes.txt", b"this is a text file, not a video\n" * 30),   # ffmpeg's 'tty' demuxer would take it
], ids=["random-bytes", "text"])
def test_not_media(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MediaError) as err:
        media.probe_video(path)
    assert "is not a video or image that ffmpeg can read" in single_line_naming(err.value, path)
    with pytest.raises(MediaError):
        media.probe_audio(path)


def test_audio_file_given_as_video(speech_5s, tmp_path):
    """A WAV, and an .mp4 that holds only AAC audio (what a phone's voice memo or an export with
    the video track off makes): the line says it is audio only, not that ffmpeg cannot read it."""
    aac_mp4 = tmp_path / "speech.mp4"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", str(speech_5s), "-vn", "-c:a", "aac", str(aac_mp4)],
                   check=True)
    for path in (speech_5s, aac_mp4):
        with pytest.raises(MediaError) as err:
            media.probe_video(path)
        assert single_line_naming(err.value, path) == (f"{path} is audio only: it has an audio track but no video "
                                                       "stream; choose a video or photo of the person")


def test_truncated_mp4(clip_590, tmp_path):
    data = clip_590.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])  # index (moov) at the end: gone
    with pytest.raises(MediaError, match="truncated") as err:
        media.probe_video(cut)
    single_line_naming(err.value, cut)
    # same with the index first (a "faststart" file): the frames themselves are missing
    fast = tmp_path / "fast.mp4"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", str(clip_590), "-c", "copy", "-movflags", "+faststart",
                    str(fast)], check=True)
    data = fast.read_bytes()
    fast_cut = tmp_path / "fast_cut.mp4"
    fast_cut.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(MediaError, match="truncated") as err:
        media.probe_video(fast_cut)
    single_line_naming(err.value, fast_cut)


def test_zero_decodable_frames(clip_590, tmp_path):
    """A valid container whose video payload is noise: packets exist, pictures do not."""
    fast = tmp_path / "fast.mp4"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", str(clip_590), "-an", "-c", "copy",
                    "-movflags", "+faststart", str(fast)], check=True)
    data = bytearray(fast.read_bytes())
    pos = 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"mdat":
            data[pos + 8:pos + size] = np.random.default_rng(1).integers(0, 256, size - 8, dtype=np.uint8).tobytes()
            break
        pos += size
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(bytes(data))
    with pytest.raises(MediaError, match="none of its frames can be decoded") as err:
        media.probe_video(noise)
    single_line_naming(err.value, noise)


def test_probe_audio_errors(tmp_path):
    empty = tmp_path / "empty.wav"
    with wave.open(str(empty), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"")
    with pytest.raises(MediaError, match="contains no audio") as err:
        media.probe_audio(empty)
    single_line_naming(err.value, empty)
    with pytest.raises(InputError, match="no such file"):
        media.probe_audio(tmp_path / "missing.wav")


def test_long_clips_ping_pong_through_a_compressed_spool(monkeypatch, tmp_path, clip_524):
    """Past RAW_SPOOL_LIMIT the spool holds JPEGs: the mirrored frames stay within encoder noise."""
    import heygem_kernel.media as m
    monkeypatch.setattr(m, "RAW_SPOOL_LIMIT", 1)
    info = m.probe_video(clip_524)
    src = list(m.iter_frames(info))
    with m.FrameSource(info, n_out=info.n_frames + 30, spool_dir=tmp_path) as source:
        out = []
        for item in source:
            out.append(item)
            if len(out) == info.n_frames + 1:
                spool = Path(source._spool.path)
                assert spool.exists() and spool.stat().st_size < info.n_frames * info.width * info.height
    assert not list(tmp_path.iterdir())
    for i in (info.n_frames, info.n_frames + 29):
        s, frame = out[i]
        assert s == m.pingpong_index(i, info.n_frames)
        assert np.abs(frame.astype(int) - src[s].astype(int)).mean() < 1.5


def test_colours_survive_repeated_encode_decode_generations(tmp_path):
    """Exact RGB<->YUV rounding: a frame re-encoded three times keeps its colour (within 2 levels)."""
    frame = np.zeros((64, 64, 3), np.uint8)
    frame[..., 0], frame[..., 1], frame[..., 2] = 60, 128, 200
    speech = Path(__file__).resolve().parents[1] / "heygem_kernel" / "assets" / "sample_speech.wav"
    current = frame
    for g in range(3):
        path = tmp_path / f"gen{g}.mp4"
        with media.VideoWriter(path, width=64, height=64, fps=25, audio=speech, duration=0.4) as w:
            for _ in range(10):
                w.write(current)
        current = next(media.iter_frames(media.probe_video(path)))
    assert np.abs(current[16:48, 16:48].astype(int) - frame[16:48, 16:48].astype(int)).max() <= 2
