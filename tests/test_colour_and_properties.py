"""HDR/10-bit, transparency, extra audio tracks and exact frame rates: converted and tagged, or
reported in one plain line (log, result.json, scan), never dropped silently."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from heygem_kernel import media
from heygem_kernel.options import RunOptions
from heygem_kernel.pipeline import run
from heygem_kernel.scan import scan_video

SIZE = 240


def ffmpeg(*args) -> None:
    subprocess.run([media.ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def stream(path: Path) -> dict:
    out = subprocess.run([media.ffprobe_exe(), "-v", "error", "-select_streams", "v:0", "-count_frames",
                          "-show_streams", "-of", "json", str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["streams"][0]


def frames(path: Path, n: int, *vf: str) -> np.ndarray:
    """The first n frames as BGR, decoded by ffmpeg honouring the file's colour tags."""
    cmd = [media.ffmpeg_exe(), "-v", "error", "-i", str(path), "-frames:v", str(n), *vf,
           "-pix_fmt", "bgr24", "-f", "rawvideo", "-"]
    data = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(data, np.uint8).reshape(-1, SIZE, SIZE, 3)


def colour(f: np.ndarray) -> tuple[np.ndarray, float]:
    """(mean B, G, R levels, mean HSV saturation) of frames [shape=(N, H, W, 3)]."""
    sat = np.mean([cv2.cvtColor(x, cv2.COLOR_BGR2HSV)[..., 1].mean() for x in f])
    return f.reshape(-1, 3).mean(0), float(sat)


@pytest.fixture(scope="module")
def made(tmp_path_factory, clip_590, speech_5s) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("props")
    m = {k: d / v for k, v in dict(sdr="sdr.mp4", hlg="hlg.mp4", ntsc="ntsc.mp4", png="alpha.png",
                                   mov="alpha.mov", speech="speech.wav", two_tracks="two_tracks.mkv").items()}
    ffmpeg("-i", clip_590, "-t", "1", "-an", "-vf", f"scale={SIZE}:{SIZE}", "-c:v", "libx264", "-preset",
           "ultrafast", "-crf", "10", "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709",
           m["sdr"])
    # what a phone records: 10-bit HEVC, HLG, BT.2020, SDR white at the BT.2408 reference (HLG 75 %)
    ffmpeg("-i", m["sdr"], "-vf", "zscale=t=linear:npl=203,format=gbrpf32le,"
           "zscale=p=bt2020:t=arib-std-b67:m=bt2020nc:r=tv:npl=203,format=yuv420p10le",
           "-c:v", "libx265", "-x265-params", "log-level=error", "-preset", "ultrafast", "-crf", "10",
           "-color_primaries", "bt2020", "-color_trc", "arib-std-b67", "-colorspace", "bt2020nc", m["hlg"])
    ffmpeg("-i", m["sdr"], "-vf", "fps=30000/1001", "-c:v", "libx264", "-preset", "ultrafast", m["ntsc"])
    cut = "format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='if(lt(X,40),0,255)'"   # left 40 px transparent
    ffmpeg("-i", m["sdr"], "-frames:v", "1", "-vf", cut, m["png"])
    ffmpeg("-i", m["sdr"], "-frames:v", "5", "-vf", cut.replace("rgba", "argb"), "-c:v", "qtrle", m["mov"])
    ffmpeg("-ss", "1", "-t", "1.5", "-i", speech_5s, "-ac", "1", m["speech"])
    ffmpeg("-i", m["speech"], "-f", "lavfi", "-t", "1.5", "-i", "anullsrc=r=16000:cl=mono", "-map", "0:a", "-map",
           "1:a", "-c:a", "pcm_s16le", m["two_tracks"])
    return m


def test_hlg_video_is_tone_mapped_to_tagged_bt709(tmp_path, made):
    info = media.probe_video(made["hlg"])
    assert info.hdr == "HLG" and info.bit_depth == 10 and info.color_primaries == "bt2020"
    res = run(made["speech"], made["hlg"], out=tmp_path / "o.mp4", runs_root=tmp_path / "runs",
              options=RunOptions(sync_check=False, use_cache=False))
    s = stream(res.output)
    assert (s["pix_fmt"], s["color_primaries"], s["color_transfer"], s["color_space"]) == \
        ("yuv420p", "bt709", "bt709", "bt709")
    src_mean, src_sat = colour(frames(made["sdr"], 25))
    out_mean, out_sat = colour(frames(res.output, 25))
    naive_mean, naive_sat = colour(frames(made["hlg"], 25, "-vf", "scale=in_color_matrix=bt709"))
    assert np.abs(out_mean - src_mean).max() < 4 and abs(out_sat - src_sat) < 4, (out_mean, src_mean, out_sat, src_sat)
    assert np.abs(naive_mean - src_mean).max() > 8 and src_sat - naive_sat > 15   # the clip really is HDR
    notes = json.loads((res.run_dir / "result.json").read_text())["extra"]["input_notes"]
    assert any(n.startswith("HDR video (HLG, bt2020, 10-bit): converted to BT.709 SDR") for n in notes)
    assert "10-bit colour: the output is 8-bit H.264 (yuv420p)" in notes
    log = (res.run_dir / "run.log").read_text()
    assert "HDR video (HLG" in log
    assert any(p.startswith("HDR video (HLG") for p in scan_video(made["hlg"], samples=2).problems)


def test_exact_ntsc_rate_kept_through_a_loop_and_extra_audio_track_reported(tmp_path, made):
    assert stream(made["ntsc"])["r_frame_rate"] == "30000/1001"
    res = run(made["two_tracks"], made["ntsc"], out=tmp_path / "o.mp4", runs_root=tmp_path / "runs",
              options=RunOptions(sync_check=False, use_cache=False))      # 1.5 s of speech, 1 s of video
    s = stream(res.output)
    assert s["r_frame_rate"] == s["avg_frame_rate"] == "30000/1001"
    assert int(s["nb_read_frames"]) == round(1.5 * 30000 / 1001)
    notes = json.loads((res.run_dir / "result.json").read_text())["extra"]["input_notes"]
    assert notes == ["two_tracks.mkv has 2 audio tracks: only the first is used as the speech"]


def test_transparent_photo_is_flattened_on_black_and_reported(tmp_path, made):
    res = run(made["speech"], made["png"], out=tmp_path / "o.mp4", runs_root=tmp_path / "runs",
              options=RunOptions(sync_check=False, use_cache=False))
    f = frames(res.output, 3)
    assert f[:, :, 4:36].max() <= 20 and f[:, :, 60:].mean() > 60     # transparent strip black, picture kept
    notes = json.loads((res.run_dir / "result.json").read_text())["extra"]["input_notes"]
    assert notes == ["transparency (rgba) dropped: H.264 has no alpha channel; transparent areas become black"]


def test_video_with_alpha_is_probed_flattened_and_scanned(made):
    info = media.probe_video(made["mov"])
    assert info.has_alpha and info.pix_fmt == "argb"
    first = next(iter(media.iter_frames(info)))
    assert first[:, 4:36].max() <= 3 and first[:, 60:].mean() > 60
    problems = scan_video(made["mov"], samples=1).problems
    assert any(p.startswith("transparency (argb) dropped") for p in problems)
    assert any(p.startswith("full-colour argb input") for p in problems)


def test_16_bit_photos_keep_their_levels(tmp_path, made):
    grey8, grey16, rgb48 = tmp_path / "g8.png", tmp_path / "g16.png", tmp_path / "rgb48.png"
    ffmpeg("-i", made["sdr"], "-frames:v", "1", "-pix_fmt", "gray", grey8)
    ffmpeg("-i", made["sdr"], "-frames:v", "1", "-pix_fmt", "gray16be", grey16)
    ffmpeg("-i", made["sdr"], "-frames:v", "1", "-pix_fmt", "rgb48be", rgb48)
    ref = next(iter(media.iter_frames(media.probe_video(grey8)))).astype(float)
    info = media.probe_video(grey16)
    assert info.bit_depth == 16 and "16-bit colour: the output is 8-bit H.264 (yuv420p)" in media.conversion_notes(info)
    got = next(iter(media.iter_frames(info))).astype(float)
    assert np.abs(got - ref).mean() < 1.0          # not clipped to white
    colour48 = next(iter(media.iter_frames(media.probe_video(rgb48))))
    assert 40 < colour48.mean() < 200 and colour48.std() > 20


def test_pq_video_is_tone_mapped_on_decode(tmp_path, made):
    pq = tmp_path / "pq.mp4"   # HDR10: PQ, BT.2020, 10-bit, SDR white at 203 cd/m2 (BT.2408)
    ffmpeg("-i", made["sdr"], "-frames:v", "5", "-vf", "zscale=t=linear:npl=203,format=gbrpf32le,"
           "zscale=p=bt2020:t=smpte2084:m=bt2020nc:r=tv:npl=203,format=yuv420p10le", "-c:v", "libx265",
           "-x265-params", "log-level=error", "-preset", "ultrafast", "-crf", "10", "-color_primaries", "bt2020",
           "-color_trc", "smpte2084", "-colorspace", "bt2020nc", pq)
    info = media.probe_video(pq)
    assert info.hdr == "PQ" and media.output_colour_tags(info)["color_trc"] == "bt709"
    got = np.stack([f for _, f in zip(range(5), media.iter_frames(info))])
    # the pipeline's frames are BT.709 YUV read with OpenCV's BT.601 matrix: compare like with like
    ref = frames(made["sdr"], 5, "-vf", "scale=in_color_matrix=bt709:out_color_matrix=bt601")
    (gm, gs), (rm, rs) = colour(got), colour(ref)
    assert np.abs(gm - rm).max() < 4 and abs(gs - rs) < 4, (gm, rm, gs, rs)
    assert rs - colour(frames(pq, 5))[1] > 15          # read without tone mapping it is grey: the check can fail
