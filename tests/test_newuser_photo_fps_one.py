"""``heygem run --video photo --fps 1`` writes 1 frame a second, as its summary says. The NTSC snap
(29.97 -> 30000/1001) took 1 for 1000/1001 (it is within 0.001 of it): the file was 0.999 fps, its
frames 1.001 s apart and its picture 3 ms longer than the sound, under 'wrote ... (1.000 fps ...)'."""
from __future__ import annotations

import json
import subprocess

from heygem_cli import heygem
from heygem_kernel import media


def _video_stream(path) -> dict:
    return json.loads(subprocess.run([media.ffprobe_exe(), "-v", "error", "-select_streams", "v", "-show_entries",
                                      "stream=r_frame_rate,avg_frame_rate,nb_frames", "-of", "json", str(path)],
                                     capture_output=True, text=True, check=True).stdout)["streams"][0]


def test_fps_1_is_one_frame_a_second(tmp_path, photo_524, speech_5s):
    speech = tmp_path / "讲话 3秒.wav"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", str(speech_5s), "-t", "3", str(speech)], check=True)
    proc = heygem("run", "--quiet", "--no-sync-check", "--audio", speech, "--video", photo_524, "--fps", "1",
                  "--out", "一帧每秒.mp4", "--run-dir", "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("wrote 一帧每秒.mp4 (524x524, 1.000 fps, 3.00 s"), proc.stdout
    assert _video_stream(tmp_path / "一帧每秒.mp4") == {"r_frame_rate": "1/1", "avg_frame_rate": "1/1", "nb_frames": "3"}

    # the NTSC rates a user types are still the exact ones
    proc = heygem("run", "--quiet", "--no-sync-check", "--audio", speech, "--video", photo_524, "--fps", "29.97",
                  "--out", "ntsc.mp4", "--run-dir", "run2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _video_stream(tmp_path / "ntsc.mp4")["r_frame_rate"] == "30000/1001"
