"""``heygem run --run-dir FOLDER`` into a folder of the user's own files (a project folder with its
``params.json`` and ``result.json``, as ML projects have) is refused in one line, exit 2, before any
work, and nothing in it changes. Before, the run removed those files and wrote its own record over
them in silence. An earlier run's folder (its params.json, or only the run.log of a run that failed
or was interrupted early) is re-used as before."""
from __future__ import annotations

import subprocess

from heygem_cli import heygem
from heygem_kernel import media


def test_a_project_folder_is_not_taken_for_a_run_folder(tmp_path, photo_524, speech_5s):
    speech = tmp_path / "讲话.wav"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", str(speech_5s), "-t", "1.5", str(speech)], check=True)
    project = tmp_path / "我的 项目"
    project.mkdir()
    own = {"params.json": b'{"learning_rate": 0.001, "epochs": 30}\n', "result.json": b'{"accuracy": 0.93}\n',
           "landmarks.png": photo_524.read_bytes()}
    for name, data in own.items():
        (project / name).write_bytes(data)
    proc = heygem("run", "--quiet", "--no-sync-check", "--audio", speech, "--video", photo_524,
                  "--run-dir", project, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"heygem: error: {project} holds files that are not a heygem run record (result.json, params.json, "
        "landmarks.png): this run would replace them; give a new or empty --run-dir"]
    assert {p.name: p.read_bytes() for p in project.iterdir()} == own     # untouched, no output.mp4 / run.log

    # a run's own folder is re-used: the second run replaces the first one's record
    run_dir = tmp_path / "runs" / "try"
    for _ in range(2):
        proc = heygem("run", "--quiet", "--no-sync-check", "--audio", speech, "--video", photo_524,
                      "--run-dir", run_dir, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    assert (run_dir / "output.mp4").is_file() and (run_dir / "params.json").is_file()


def test_a_site_folder_is_not_taken_for_a_batch_folder(tmp_path, photo_524, speech_5s):
    """The same for ``heygem batch --run-dir``: a web site's manifest.json and report.html were
    replaced by the batch's in silence. An earlier batch's folder (its lock file) is resumed as before."""
    site = tmp_path / "网站"
    site.mkdir()
    own = {"manifest.json": b'{"name": "My PWA", "icons": []}\n', "report.html": b"<html>my report</html>\n"}
    for name, data in own.items():
        (site / name).write_bytes(data)
    proc = heygem("batch", "--audio", speech_5s, "--run-dir", site, photo_524, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"heygem: error: {site} holds files that are not a heygem batch's (manifest.json, report.html): this "
        "batch would replace them; give a new or empty --run-dir"]
    assert {p.name: p.read_bytes() for p in site.iterdir()} == own

    # one run's folder is not a batch's: the manifest, items/ and outputs/ went in beside its records, exit 0
    run = tmp_path / "runs" / "20261203-142500-photo"
    run.mkdir(parents=True)
    (run / "params.json").write_text('{"audio": "a.wav", "video": "v.mp4", "options": {}}\n', encoding="utf-8")
    proc = heygem("batch", "--audio", speech_5s, "--run-dir", run, photo_524, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"heygem: error: {run} is the folder of one heygem run, not a batch's: give the batch a new or empty --run-dir"]
    assert [p.name for p in run.iterdir()] == ["params.json"]


def test_a_folder_of_runs_or_of_other_files_is_refused(tmp_path, photo_524, speech_5s):
    """``--run-dir runs`` (the folder holding the run folders) and ``--run-dir /tmp`` (any folder of
    other files) wrote params.json, result.json, run.log and the plots loose among them, exit 0
    (found by a new user). Now one line, exit 2, before any work, and the folder is unchanged."""
    runs = tmp_path / "runs"
    earlier = runs / "20261203-101648-talking_524"
    earlier.mkdir(parents=True)
    (earlier / "params.json").write_text('{"audio": "a.wav", "video": "v.mp4", "options": {}}\n', encoding="utf-8")
    other = tmp_path / "other"
    other.mkdir()
    (other / "readme.txt").write_text("mine\n", encoding="utf-8")
    (other / ".hidden").write_text("", encoding="utf-8")
    for folder, line in (
            (runs, f"heygem: error: {runs} is a folder of runs (it holds {earlier.name}): give a new folder "
                   f"for this run, such as {runs}/NAME"),
            (other, f"heygem: error: {other} is not empty and is not a heygem run folder (it holds readme.txt): "
                    "give a new or empty --run-dir")):
        before = sorted(p.name for p in folder.rglob("*"))
        proc = heygem("run", "--quiet", "--no-sync-check", "--audio", speech_5s, "--video", photo_524,
                      "--run-dir", folder, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines() == [line]
        assert sorted(p.name for p in folder.rglob("*")) == before
    # an empty folder, and one holding only the output --out names there, are taken
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "take.mp4").write_bytes(b"")
    proc = heygem("run", "--quiet", "--no-sync-check", "--audio", speech_5s, "--video", photo_524,
                  "--run-dir", mine, "--out", mine / "take.mp4", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (mine / "params.json").is_file() and (mine / "take.mp4").stat().st_size > 0


def test_an_output_in_a_subfolder_of_a_new_run_dir_is_taken(tmp_path, photo_524, speech_5s):
    """``--run-dir rd --out rd/renders/take.mp4``: the run made rd/renders for the output, then
    refused rd for holding it (review of helper-53); a link to the run folder names the same one."""
    proc = heygem("run", "--quiet", "--no-sync-check", "--audio", speech_5s, "--video", photo_524,
                  "--run-dir", "rd", "--out", "rd/renders/take.mp4", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "rd" / "renders" / "take.mp4").stat().st_size > 0
    (tmp_path / "link").symlink_to(tmp_path / "new")
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "take.mp4").write_bytes(b"")
    proc = heygem("run", "--quiet", "--no-sync-check", "--audio", speech_5s, "--video", photo_524,
                  "--run-dir", "link", "--out", "new/take.mp4", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "new" / "params.json").is_file()
