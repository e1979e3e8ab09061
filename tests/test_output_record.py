"""The run record says what the output file holds: frame count and frame size, checked with ffprobe."""
from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from heygem_kernel import media
from heygem_kernel.options import RunOptions
from heygem_kernel.pipeline import run


def ffmpeg(*args) -> None:
    subprocess.run([media.ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def video_stream(path: Path) -> dict:
    out = subprocess.run([media.ffprobe_exe(), "-v", "error", "-select_streams", "v:0", "-count_frames",
                          "-show_entries", "stream=width,height,nb_read_frames", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["streams"][0]


# durations on and beside the half-frame points where round() (halves to even) and ffmpeg's -t disagree
@pytest.mark.parametrize("rate,seconds", [(Fraction(25), 2.5), (Fraction(25), 2.42), (Fraction(25), 2.46),
                                          (Fraction(25), 0.06), (Fraction(30000, 1001), 3.3867),
                                          (Fraction(30000, 1001), 2.419), (Fraction(2213, 100), 1.0)])
def test_the_writer_holds_exactly_output_frames(tmp_path, rate, seconds):
    n = media.output_frames(seconds, rate)
    with media.VideoWriter(tmp_path / "o.mp4", width=32, height=32, fps=rate, audio=None, duration=seconds) as w:
        for i in range(n):
            w.write(np.full((32, 32, 3), i % 250, np.uint8))
    assert int(video_stream(tmp_path / "o.mp4")["nb_read_frames"]) == n   # none cloned in, none cut off


def test_result_n_frames_is_what_the_file_holds(tmp_path, clip_524, speech_5s):
    speech = tmp_path / "speech_2.5s.wav"          # 62.5 frames at 25 fps: the file holds 63
    ffmpeg("-i", speech_5s, "-t", "2.5", speech)
    res = run(speech, clip_524, out=tmp_path / "o.mp4", runs_root=tmp_path / "runs",
              options=RunOptions(sync_check=False, use_cache=False))
    held = int(video_stream(res.output)["nb_read_frames"])
    record = json.loads((res.run_dir / "result.json").read_text())
    assert held == record["n_frames"] == res.n_frames == 63


def test_an_odd_frame_size_is_kept_whole_and_reported(tmp_path, clip_590, speech_5s):
    video = tmp_path / "odd.mp4"                   # a real clip at an odd size (MPEG-4 allows it)
    ffmpeg("-i", clip_590, "-t", "2", "-vf", "format=yuv444p,crop=589:587:0:0", "-pix_fmt", "yuv420p",
           "-c:v", "mpeg4", "-q:v", "2", "-an", video)
    speech = tmp_path / "speech_2s.wav"
    ffmpeg("-i", speech_5s, "-t", "2", speech)
    assert (media.probe_video(video).width, media.probe_video(video).height) == (589, 587)
    res = run(speech, video, out=tmp_path / "o.mp4", runs_root=tmp_path / "runs",
              options=RunOptions(sync_check=False, use_cache=False))
    held = video_stream(res.output)
    record = json.loads((res.run_dir / "result.json").read_text())
    assert (int(held["width"]), int(held["height"])) == (record["width"], record["height"]) == (590, 588)
    note = ("odd frame size 589x587: H.264 (yuv420p) needs even sizes, so the output is 590x588 "
            "(the edge pixels repeated)")
    assert note in record["extra"]["input_notes"]
    assert note in res.log_path.read_text()
    # nothing lost or shifted: the background above the face is the input's, pixel for pixel
    src, out = media.read_frames(video, limit=1)[0], media.read_frames(res.output, limit=1)[0]
    a, b = out[:120, :589].astype(int), src[:120].astype(int)
    aligned = np.abs(a - b).mean()
    shifted = min(np.abs(a[:, 1:] - b[:, :-1]).mean(), np.abs(a[1:] - b[:-1]).mean())   # by one pixel
    print(f"background difference: aligned {aligned:.2f}, shifted by 1 px {shifted:.2f}")
    assert aligned < 3.0 and aligned < shifted / 2
    assert np.abs(out[:587, 589].astype(int) - out[:587, 588].astype(int)).mean() < 3.0   # the repeated edge


def test_params_record_the_phone_recogniser_version():
    """pocketsphinx has no __version__; params.json said "?" for the library that places every mouth."""
    from importlib import metadata

    import pocketsphinx  # noqa: F401 - imported by every run's speech analysis
    from heygem_kernel import records
    assert records.versions()["pocketsphinx"] == metadata.version("pocketsphinx") != "?"


def test_a_cli_run_with_relative_paths_is_found_by_the_history(tmp_path, clip_590, speech_5s):
    """`heygem run ... --out result.mp4` with the default runs/ root, as the README shows: result.json
    named its output and plots relative to the shell's folder, the History read them relative to the
    run folder, and showed neither."""
    import sys

    from heygem_widgets import history
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip_590), "-frames:v", "1", str(work / "me.png")],
                   check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech_5s), "-t", "1", str(work / "s.wav")], check=True)
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "run", "--audio", "s.wav", "--video", "me.png",
                           "--out", "result.mp4", "--quiet", "--no-sync-check"], cwd=work, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (entry,) = history.list_runs(work / "runs")
    assert entry.output == work / "result.mp4"
    assert sorted(entry.plots) == ["landmarks", "mel", "mouth_track"]
    assert all(p.is_file() for p in entry.plots.values())
