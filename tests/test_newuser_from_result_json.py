"""``heygem run --from RUN/result.json`` (the record a user just read) re-runs RUN: it said
'RUN/result.json is not a run record (it names no audio, video and options)' of the run's own
record, the file next to the params.json that --from wanted."""
from __future__ import annotations

import json
import subprocess

from heygem_cli import heygem
from heygem_kernel import media


def test_from_the_runs_result_json(tmp_path, photo_524, speech_5s):
    first, second = tmp_path / "第一 段.wav", tmp_path / "第二 段.wav"
    for out, start in ((first, "0"), (second, "2")):
        subprocess.run([media.ffmpeg_exe(), "-v", "error", "-ss", start, "-i", str(speech_5s), "-t", "1.2", str(out)],
                       check=True)
    proc = heygem("run", "--quiet", "--no-sync-check", "--mask-scale", "1.2", "--audio", first, "--video", photo_524,
                  "--run-dir", "一", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    again = heygem("run", "--quiet", "--from", tmp_path / "一" / "result.json", "--audio", second, "--run-dir", "二",
                   cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    params = json.loads((tmp_path / "二" / "params.json").read_text(encoding="utf-8"))
    assert params["audio"] == str(second) and params["video"] == str(photo_524)
    assert params["options"]["mask_scale"] == 1.2 and params["options"]["sync_check"] is False   # the recorded ones
