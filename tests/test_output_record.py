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
