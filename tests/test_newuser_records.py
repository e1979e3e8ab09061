"""A new user's tour, run records shared and re-run.

Before: nothing re-ran a recorded run (a colleague had to copy every option out of params.json
into flags), and a run folder moved to another machine or place lost its video and plots in the
panel's History (result.json's absolute paths point at the old place). Now ``heygem run --from
RUN`` re-runs a record, flags given replacing recorded values (the policy-change case: a new
``--audio``), and History finds a moved folder's own files under the folder.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from heygem_kernel import media
from heygem_cli import heygem

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "heygem_kernel" / "assets" / "sample_speech.wav"


def last_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, clip_524, speech_zh):
    """One real run with options away from the defaults, in its own runs root."""
    work = tmp_path_factory.mktemp("records")
    audio, new_audio, video = work / "policy_v1.wav", work / "policy_v2.wav", work / "presenter.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(speech_zh), "-t", "1.5", str(audio)], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-ss", "3", "-i", str(speech_zh), "-t", "2.0",
                    str(new_audio)], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip_524), "-t", "1.2", "-c", "copy", str(video)],
                   check=True)
    proc = heygem("run", "--audio", audio, "--video", video, "--runs-root", work / "runs", "--quiet",
                  "--crf", "23", "--mask-scale", "1.2", "--loop", "pingpong", "--language", "zh",
                  "--no-sync-check", cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = (work / "runs").glob("*-presenter")
    return work, run_dir, new_audio


def _params(run_dir: Path) -> dict:
    return json.loads((run_dir / "params.json").read_text(encoding="utf-8"))


def test_rerun_from_a_record_with_new_speech_keeps_every_other_setting(recorded):
    work, run_dir, new_audio = recorded
    proc = heygem("run", "--from", run_dir, "--audio", new_audio, "--crf", "20", "--runs-root", work / "again",
                  "--quiet", cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (again,) = (work / "again").glob("*-presenter")
    old, new = _params(run_dir), _params(again)
    assert new["audio"] == str(new_audio) and new["video"] == old["video"]
    assert new["options"] == {**old["options"], "crf": 20}       # the recorded mask, loop, language, no sync check
    result = json.loads((again / "result.json").read_text(encoding="utf-8"))
    assert abs(result["duration"] - 2.0) < 0.05 and result["extra"]["loop"]["mode"] == "pingpong"
    assert media.mp4_complete(result["output"])


def test_the_params_json_file_is_a_record_too(recorded, tmp_path):
    work, run_dir, _new = recorded
    proc = heygem("run", "--from", run_dir / "params.json", "--runs-root", tmp_path / "runs", "--quiet",
                  "--no-cache", cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (again,) = (tmp_path / "runs").glob("*-presenter")
    assert _params(again)["options"] == {**_params(run_dir)["options"], "use_cache": False}


def test_bad_records_are_one_line(recorded, tmp_path):
    work, _run_dir, _new = recorded
    assert last_error(heygem("run", "--from", tmp_path / "nowhere")) == (
        f"heygem: error: no run record at {tmp_path / 'nowhere'}: --from takes a run folder (with params.json) "
        "or its params.json")
    assert last_error(heygem("run", "--from", SPEECH)).startswith(f"heygem: error: {SPEECH} is not a run record (")
    (tmp_path / "params.json").write_text('{"audio": "a.wav"}', encoding="utf-8")
    assert last_error(heygem("run", "--from", tmp_path)) == (
        f"heygem: error: {tmp_path / 'params.json'} is not a run record (it names no audio, video and options)")
    assert last_error(heygem("run", "--video", "x.mp4")) == (
        "heygem run: error: the following arguments are required: --audio (see heygem run -h)")
    assert last_error(heygem("run", "--from", tmp_path / "nowhere", lang="zh")).startswith("heygem：错误：")


def test_a_record_whose_inputs_are_elsewhere_names_the_missing_file(recorded, tmp_path):
    work, run_dir, _new = recorded
    params = _params(run_dir)
    params["video"] = "/elsewhere/presenter.mp4"                   # a colleague's machine
    (tmp_path / "params.json").write_text(json.dumps(params), encoding="utf-8")
    assert last_error(heygem("run", "--from", tmp_path)) == "heygem: error: no such video file: /elsewhere/presenter.mp4"


def test_history_finds_a_moved_run_folders_own_files(recorded, tmp_path):
    from heygem_widgets import history
    _work, run_dir, _new = recorded
    moved = tmp_path / "colleague" / "runs" / run_dir.name
    shutil.copytree(run_dir, moved)
    shutil.move(str(run_dir), str(tmp_path / "gone"))              # the original place is empty now
    try:
        (entry,) = history.list_runs(moved.parent)
        assert entry.output == moved / "output.mp4"
        assert set(entry.plots) == {"mel", "landmarks", "mouth_track"}
        assert all(p.parent == moved for p in entry.plots.values())
    finally:
        shutil.move(str(tmp_path / "gone"), str(run_dir))


def test_the_record_names_its_inputs_by_content_and_its_folder(recorded):
    import hashlib
    work, run_dir, _new = recorded
    params = _params(run_dir)
    assert params["cwd"] == str(work)                              # what the command's relative paths meant
    for kind in ("audio", "video"):
        assert params[f"{kind}_sha256"] == hashlib.sha256(Path(params[kind]).read_bytes()).hexdigest()


def test_rerun_warns_when_an_input_is_not_the_recorded_file(recorded, tmp_path):
    work, run_dir, new_audio = recorded
    params = _params(run_dir)
    swapped = tmp_path / "policy_v1.wav"
    shutil.copy(new_audio, swapped)                                # same name, other speech
    params["audio"] = str(swapped)
    (tmp_path / "params.json").write_text(json.dumps(params), encoding="utf-8")
    proc = heygem("run", "--from", tmp_path, "--runs-root", tmp_path / "runs", "--quiet", cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (f"{swapped} is not the file this record was made with (its sha256 differs): the re-run will not "
            "reproduce the recorded one") in proc.stderr
    again = heygem("run", "--from", run_dir, "--runs-root", tmp_path / "again", "--quiet", cwd=work)
    assert again.returncode == 0 and "sha256" not in again.stderr, again.stderr[-2000:]


def test_the_record_names_the_code_revision(recorded):
    _work, run_dir, _new = recorded
    versions = _params(run_dir)["versions"]
    if not (ROOT / ".git").exists():                              # an unpacked release: nothing to name
        assert "heygem_source" not in versions
        return
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert versions["heygem_source"] == head + ("+modified" if dirty else "")


def test_result_json_says_the_unit_of_every_figure(tmp_path, media_dir):
    # a colleague reading a shared result.json met 'duration': 5.0155, 'sync_confidence': 0.62,
    # 'timings': {'analyse': 2.999, ...}, 'sync_chance': 0.42 and no word of what they count
    speech = tmp_path / "speech.wav"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", media_dir / "speech_en_5s.wav", "-t", "1.2", speech],
                   check=True)
    proc = heygem("run", "--quiet", "--audio", speech, "--video", media_dir / "talking_524.mp4",
                  "--run-dir", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "run" / "result.json").read_text(encoding="utf-8"))
    units = result["units"]
    figures = [k for k, v in result.items() if isinstance(v, (int, float, dict)) and not isinstance(v, bool)
               and k not in ("plots", "units", "extra")]
    figures += [f"extra.{k}" for k, v in result["extra"].items() if isinstance(v, (int, float))
                and not isinstance(v, bool)] + ["extra.loop", "extra.mouth_covered"]
    assert figures and not [k for k in figures if not units.get(k)], [k for k in figures if k not in units]
    assert units["duration"].startswith("s") and units["timings"].startswith("s ")
    assert "positive = the video lags the audio" in units["sync_offset_frames"]
