"""Videos stored with non-square pixels keep their frame size and pixel aspect.

PAL/NTSC DV, HDV and some phone and camera exports store a frame narrower (or wider) than it is
shown, with a pixel aspect ratio (SAR) in the stream. The engine tracks the face on square pixels
(the displayed size); the output used to stay at that size: a 720x576 PAL file at 16:15 came out
768x576 with square pixels, and a 852x480 file at 640:639 was widened to 853 and then padded to
854 with a note blaming an "odd frame size" the file does not have.
"""
from __future__ import annotations

import subprocess

import numpy as np

from heygem_kernel import media, scan
from heygem_kernel.options import RunOptions
from heygem_kernel.pipeline import run


def _stream(path) -> tuple[int, int, str]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=width,height,sample_aspect_ratio", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True).stdout.strip().split(",")
    return int(out[0]), int(out[1]), out[2]


def _stored_frames(path, width: int, height: int) -> np.ndarray:
    """The file's frames as stored [shape=(T, height, width, 3)] (no scaling to square pixels)."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "rawvideo",
                          "-pix_fmt", "bgr24", "pipe:1"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def test_a_pal_video_keeps_its_stored_size_and_pixel_aspect(clip_590, tmp_path):
    """talking_590 as a PAL 720x576 file at 16:15: the output is 720x576 at 16:15 (shown 4:3, as
    the input), and away from the face its stored pixels match the input's."""
    pal = tmp_path / "pal.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_590), "-t", "2", "-vf",
                    "scale=720:576,setsar=16/15", "-c:v", "libx264", "-crf", "12", "-c:a", "aac", str(pal)],
                   check=True)
    info = media.probe_video(pal)
    assert (info.width, info.height, info.stored_width, info.pixel_aspect) == (768, 576, 720, "16:15")
    result = run(pal, pal, runs_root=tmp_path / "runs", options=RunOptions(sync_check=False))
    assert _stream(result.output) == (720, 576, "16:15")
    assert (result.width, result.height) == (720, 576)
    source = _stored_frames(pal, 720, 576).astype(np.float32)
    output = _stored_frames(result.output, 720, 576).astype(np.float32)
    n = min(len(source), len(output))
    # the top fifth of the frame (above the face: hair, background) and the left and right edges
    away = np.zeros((576, 720), bool)
    away[:115] = True
    away[:, :60] = away[:, -60:] = True
    error = np.abs(source[:n] - output[:n])[:, away].mean()
    assert error < 2.5, error


def test_a_slightly_non_square_file_is_not_called_odd_sized(clip_590, tmp_path):
    """852x480 at 640:639 (the fetched lectern clip's format) is shown 853 px wide: the output is
    852x480 at 640:639 and no note about an odd frame size is made."""
    clip = tmp_path / "lectern_format.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_590), "-t", "2", "-vf",
                    "scale=852:480,setsar=sar=640/639:max=1000", "-c:v", "libx264", "-crf", "18", "-c:a", "aac", str(clip)],
                   check=True)
    assert media.probe_video(clip).width == 853
    result = run(clip, clip, runs_root=tmp_path / "runs", options=RunOptions(sync_check=False))
    assert _stream(result.output) == (852, 480, "640:639")
    notes = result.extra["input_notes"]
    assert not any("odd frame size" in str(note) for note in notes), notes
    problems = scan.scan_video(clip).problems                    # heygem scan and the batch report alike
    assert not any("odd frame size" in str(p) for p in problems), problems


def test_a_photo_with_a_pixel_aspect_is_not_squeezed(clip_590, tmp_path):
    """A PNG stored 720x576 at 16:15 (shown 768x576, 4:3) was read at 720x576 as if its pixels were
    square, and its output showed the face ~6 % narrower (5:4): now it is written 720x576 at 16:15."""
    photo = tmp_path / "pal.png"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_590), "-frames:v", "1", "-vf",
                    "scale=720:576,setsar=16/15", str(photo)], check=True)
    info = media.probe_video(photo)
    assert (info.width, info.height, info.pixel_aspect) == (768, 576, "16:15")
    result = run(clip_590, photo, runs_root=tmp_path / "runs", options=RunOptions(sync_check=False))
    assert _stream(result.output) == (720, 576, "16:15")
