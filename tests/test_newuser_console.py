"""What a user sees on the console of a good run: the result lines, warnings about the input, and
no library chatter."""
from __future__ import annotations

import json
import subprocess

from heygem_cli import heygem
from heygem_kernel import media


def test_frames_without_a_face_bring_no_font_warning(tmp_path, media_dir):
    # talking_524 with its first second black (a title card): landmarks.png marks those frames
    # 'no face' in bold, and the CJK font has no bold face: 'WARNING findfont: Failed to find font
    # weight bold for WenQuanYi Micro Hei, now using 400.' was printed among the result lines
    clip = tmp_path / "title card.mp4"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", media_dir / "talking_524.mp4", "-vf",
                    "drawbox=enable='lt(t,1)':c=black:t=fill", "-c:v", "libx264", "-c:a", "copy", clip], check=True)
    proc = heygem("run", "--quiet", "--no-sync-check", "--audio", media_dir / "speech_en_5s.wav", "--video", clip,
                  "--out", tmp_path / "o.mp4", "--run-dir", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["frames_no_face"] >= 20     # the plot does draw 'no face' frames
    assert "findfont" not in proc.stderr, proc.stderr
    assert proc.stderr.strip() == "", proc.stderr
