"""A new user's tour, the policy changed: the same presenters, the same settings, a new speech.

Before: the only way was to type the first batch's command again (every presenter's path and
every option), though its manifest holds them all. Now ``heygem batch --from OLD --audio new.wav
--run-dir NEW`` runs OLD's videos with OLD's options and the new speech; videos, --audio and
options given on the command line replace the recorded ones; bad records are one line.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "heygem_kernel" / "assets" / "sample_speech.wav"


def heygem(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "heygem_kernel", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=cwd, env={**os.environ, "HEYGEM_LANG": "en"})


def _manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def test_a_new_speech_for_an_earlier_batch(tmp_path, photo_524, speech_zh):
    photo = photo_524
    v1, v2 = tmp_path / "政策_v1.wav", tmp_path / "政策_v2.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(speech_zh), "-t", "1.0", str(v1)], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-ss", "3", "-i", str(speech_zh), "-t", "1.4", str(v2)],
                   check=True)
    first = heygem("batch", "--audio", v1, "--run-dir", tmp_path / "v1", photo, "--mask-scale", "1.2",
                   "--language", "zh", "--no-zip", "--no-sync-check")
    assert first.returncode == 0, first.stderr[-2000:]

    again = heygem("batch", "--from", tmp_path / "v1", "--audio", v2, "--run-dir", tmp_path / "v2", "--crf", "20",
                   "--no-zip")
    assert again.returncode == 0, again.stderr[-2000:]
    old, new = _manifest(tmp_path / "v1"), _manifest(tmp_path / "v2")
    assert new["audio"] == str(v2) and abs(new["audio_duration"] - 1.4) < 0.05
    assert [i["video"] for i in new["items"]] == [str(photo)]
    assert new["options"] == {**old["options"], "crf": 20}          # mask, language, no sync check kept
    assert [i["status"] for i in new["items"]] == ["ok"]
    assert (tmp_path / "v2" / new["items"][0]["output"]).is_file()
    assert "sha256" not in again.stderr                            # the recorded photo is the same file

    # the same folder with another speech (a command from the shell's history, --audio changed): every
    # finished output of v1 was replaced in silence; now refused before any work, v1 untouched
    v1_output = tmp_path / "v1" / old["items"][0]["output"]
    before = v1_output.read_bytes()
    over = heygem("batch", "--audio", v2, "--run-dir", tmp_path / "v1", photo)
    assert over.returncode == 2 and over.stderr.strip() == (
        f"heygem: error: {tmp_path / 'v1'} holds 1 finished video(s) of another speech ({v1}); this speech would "
        f"replace them: give a new --run-dir (heygem batch --from {tmp_path / 'v1'} --audio {v2} --run-dir NEW "
        "runs the same videos and options)"), over.stderr
    assert v1_output.read_bytes() == before and _manifest(tmp_path / "v1") == old
    same = heygem("batch", "--audio", v1, "--run-dir", tmp_path / "v1", photo, "--mask-scale", "1.2",
                  "--language", "zh", "--no-zip", "--no-sync-check")
    assert same.returncode == 0 and "1 already done" in same.stderr, same.stderr[-2000:]   # resuming still works

    # the other command's record: 'no run record at v1/params.json' / 'no batch record at .../manifest.json'
    # said nothing of what v1 is; now the line names the command that takes it
    wrong = heygem("run", "--from", tmp_path / "v1")
    assert wrong.returncode == 2 and wrong.stderr.strip() == (
        f"heygem: error: {tmp_path / 'v1'} is a batch folder: re-run it with heygem batch --from {tmp_path / 'v1'}, "
        f"or one of its videos with heygem run --from {tmp_path / 'v1' / 'items' / 'NAME'}"), wrong.stderr
    item = tmp_path / "v1" / old["items"][0]["run_dir"]
    wrong = heygem("batch", "--from", item, "--run-dir", tmp_path / "v3")
    assert wrong.returncode == 2 and wrong.stderr.strip() == (
        f"heygem: error: {item} is the record of one run: re-run it with heygem run --from {item}"), wrong.stderr
    assert not (tmp_path / "v3").exists()
    # the same for the record's file (what a file manager's "copy path" gives): it said only
    # '.../manifest.json is not a run record (it names no audio, video and options)' (and the batch's
    # '.../params.json is not a batch record ...')
    wrong = heygem("run", "--from", tmp_path / "v1" / "manifest.json")
    assert wrong.returncode == 2 and wrong.stderr.strip() == (
        f"heygem: error: {tmp_path / 'v1'} is a batch folder: re-run it with heygem batch --from {tmp_path / 'v1'}, "
        f"or one of its videos with heygem run --from {tmp_path / 'v1' / 'items' / 'NAME'}"), wrong.stderr
    wrong = heygem("batch", "--from", item / "params.json", "--run-dir", tmp_path / "v3")
    assert wrong.returncode == 2 and wrong.stderr.strip() == (
        f"heygem: error: {item} is the record of one run: re-run it with heygem run --from {item}"), wrong.stderr
    assert not (tmp_path / "v3").exists()


def test_bad_batch_records_and_missing_arguments_are_one_line(tmp_path):
    def error(*args) -> str:
        proc = heygem(*args)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        return proc.stderr.strip().splitlines()[-1]

    assert error("batch", "--from", tmp_path / "nowhere", "--run-dir", tmp_path / "b") == (
        f"heygem: error: no batch record at {tmp_path / 'nowhere'}: --from takes a batch folder (with manifest.json) "
        "or its manifest.json")
    (tmp_path / "manifest.json").write_text('{"items": []}', encoding="utf-8")
    assert error("batch", "--from", tmp_path, "--run-dir", tmp_path / "b") == (
        f"heygem: error: {tmp_path / 'manifest.json'} is not a batch record (it names no audio, videos and options)")
    assert error("batch", "--run-dir", tmp_path / "b") == (
        "heygem batch: error: the following arguments are required: --audio, VIDEO (see heygem batch -h)")
    assert error("batch", "--audio", SPEECH, "--run-dir", tmp_path / "b") == (
        "heygem batch: error: the following arguments are required: VIDEO (see heygem batch -h)")
    assert not (tmp_path / "b").exists()
