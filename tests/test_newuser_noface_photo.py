"""A new user's tour, a photo in which no face can be found (a picture of the backdrop).

Before: "heygem: error: no face found in 背景.jpg (1 frames checked)". Now "(1 frame checked)";
a video still says "(N frames checked)".
"""
from __future__ import annotations

import os
import subprocess
import sys


def test_a_faceless_photo_says_one_frame(tmp_path, clip_590, speech_5s):
    photo = tmp_path / "背景.jpg"   # the flag behind the speaker, no face in it
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip_590), "-vf", "crop=120:120:0:0",
                    "-frames:v", "1", str(photo)], check=True)
    for lang, line in (("en", "heygem: error: no face found in 背景.jpg (1 frame checked)"),
                       ("zh", "heygem：错误：在 背景.jpg 中没有找到人脸（检查了 1 帧）")):
        proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "run", "--audio", str(speech_5s), "--video",
                               photo.name, "--out", "说话.mp4", "--quiet"], capture_output=True, text=True,
                              timeout=300, cwd=tmp_path, env={**os.environ, "HEYGEM_LANG": lang})
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert proc.stderr.strip().splitlines()[-1] == line
        assert not list(tmp_path.glob("说话*")) and not list(tmp_path.glob(".说话*"))
