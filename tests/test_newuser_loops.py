"""Looping footage that holds a cut (a title card, an edit): the clip must play at its own speed."""
from __future__ import annotations

import json
import subprocess

from heygem_cli import heygem
from heygem_kernel import media


def test_a_title_card_before_the_presenter_is_not_dissolved_over_the_clip(tmp_path, media_dir):
    # talking_524 (122 frames) with its first second black, looped to speech_en_5s (125 frames): the cut
    # from black to the picture (70x the clip's ordinary frame step) got 89 in-between blends, so the
    # output showed source frames 0-35 stretched over 5 s, 69 frames without a face, the rest never played
    clip = tmp_path / "title card.mp4"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", media_dir / "talking_524.mp4", "-vf",
                    "drawbox=enable='lt(t,1)':c=black:t=fill", "-c:v", "libx264", "-c:a", "copy", clip], check=True)
    proc = heygem("run", "--quiet", "--no-sync-check", "--audio", media_dir / "speech_en_5s.wav", "--video", clip,
                  "--out", tmp_path / "o.mp4", "--run-dir", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    loop = result["extra"]["loop"]
    assert result["n_frames"] == 125 and loop["mode"] == "seamless"
    assert result["frames_no_face"] == 25, result["frames_no_face"]       # the title card, once
    assert loop["inserted_frames"] <= 5, loop["inserted_frames"]
    first = loop["segments"][0]
    assert first["src"][1] >= 100 and first["out"][1] - first["src"][1] <= 5, loop["segments"]   # at its own speed
