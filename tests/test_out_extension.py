"""``heygem run --out result``: the output is ``result.mp4`` (as ``heygem sync --plot NAME`` writes
NAME.png), not an MP4 named ``result`` that no player or file manager knows as a video."""
from __future__ import annotations

import json
import subprocess

from heygem_cli import heygem
from heygem_kernel import media


def test_out_without_extension_writes_an_mp4(tmp_path, clip_524, speech_5s):
    proc = heygem("run", "--quiet", "--no-sync-check", "--audio", speech_5s, "--video", clip_524,
                  "--out", "result", "--run-dir", "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "result.mp4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.mp4", "run"]      # no 'result', no temporaries
    assert proc.stdout.splitlines()[0].startswith("wrote result.mp4 (524x524, 25.000 fps, 5.")
    assert json.loads((tmp_path / "run" / "result.json").read_text())["output"] == str(out.absolute())
    probe = json.loads(subprocess.run([media.ffprobe_exe(), "-v", "error", "-show_entries",
                                       "stream=codec_name:format=format_name", "-of", "json", str(out)],
                                      capture_output=True, text=True, check=True).stdout)
    assert "mp4" in probe["format"]["format_name"]
    assert [s["codec_name"] for s in probe["streams"]] == ["h264", "aac"]
    assert len(media.read_frames(out, limit=3)) == 3

    # a folder of that name is still refused as before (one line, exit 2), not written beside as result.mp4
    (tmp_path / "folder").mkdir()
    proc = heygem("run", "--audio", speech_5s, "--video", clip_524, "--out", "folder", "--run-dir", "run2",
                  cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "heygem: error: folder is a folder; --out needs a file name, e.g. folder/output.mp4"), proc.stderr
    assert not (tmp_path / "folder.mp4").exists()
