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
