"""``heygem batch --from OLD --language X``: the language given now wins over the recorded one, an
omitted one keeps the recorded one, and the batch's log, manifest and each item's params.json say
which language the speech was analysed in (the log named only the audio file)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _batch(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "heygem_kernel", "batch", "--no-zip", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "HEYGEM_LANG": "en"})


def _languages(run_dir: Path) -> tuple[str, list[str]]:
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert [i["status"] for i in manifest["items"]] == ["ok"]
    items = [json.loads((run_dir / "items" / i["name"] / "params.json").read_text(encoding="utf-8"))
             for i in manifest["items"]]
    return manifest["options"]["language"], [p["options"]["language"] for p in items]


def test_language_given_with_from_wins_and_is_logged(tmp_path, photo_524, speech_zh):
    speech = tmp_path / "speech.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(speech_zh), "-t", "1.2", str(speech)], check=True)
    first = _batch("--audio", speech, "--run-dir", tmp_path / "zh", photo_524, "--language", "zh", "--no-sync-check")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "analysing the speech once for 1 item(s) (language zh): " in first.stderr
    assert _languages(tmp_path / "zh") == ("zh", ["zh"])

    given = _batch("--from", tmp_path / "zh", "--run-dir", tmp_path / "en", "--language", "en")
    assert given.returncode == 0, given.stderr[-2000:]
    assert "(language en)" in given.stderr and "(language zh)" not in given.stderr
    assert _languages(tmp_path / "en") == ("en", ["en"])

    kept = _batch("--from", tmp_path / "zh", "--run-dir", tmp_path / "kept")   # none given: the recorded one
    assert kept.returncode == 0, kept.stderr[-2000:]
    assert "(language zh)" in kept.stderr
    assert _languages(tmp_path / "kept") == ("zh", ["zh"])
