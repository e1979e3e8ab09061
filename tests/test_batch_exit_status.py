"""A headless batch under plain papermill (cron, CI) says in its exit status that items failed.

Before: `papermill notebooks/batch.ipynb out.ipynb -p audio A -p videos '[...]' -p run_dir D` exited 0
even when every item failed, so a pipeline could not notice. Now the notebook's last cell raises
BatchItemsFailed naming the failed items, after the report cells have rendered (exit 1); `heygem batch`
passes fail_on_item_error=False and keeps its own exit codes (1: an item failed).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "heygem_kernel" / "assets" / "sample_speech.wav"
NOTEBOOK = ROOT / "notebooks" / "batch.ipynb"
ENV = {**os.environ, "HEYGEM_LANG": "en"}


def papermill(out_nb: Path, *params: str) -> subprocess.CompletedProcess:
    # this interpreter's papermill, so the kernel (python3 = this Python) imports this tree's engine
    return subprocess.run([sys.executable, "-m", "papermill", str(NOTEBOOK), str(out_nb), *params],
                          capture_output=True, text=True, timeout=600, cwd=out_nb.parent, env=ENV)


def inputs(tmp_path: Path, photo: Path) -> tuple[Path, Path]:
    audio = tmp_path / "speech.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(SPEECH), "-t", "1.0", str(audio)], check=True)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 500)   # an MP4 header and nothing usable
    return audio, broken


def statuses(run_dir: Path) -> dict[str, str]:
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    return {Path(item["video"]).name: item["status"] for item in manifest["items"]}


def cell_text(nb: dict, cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        parts.append("".join(data.get("text/html", "")) + "".join(data.get("text/plain", "")))
    return "".join(parts)


def test_plain_papermill_exits_1_naming_failed_items_after_the_report(tmp_path, photo_524):
    audio, broken = inputs(tmp_path, photo_524)
    run_dir, out_nb = tmp_path / "batch", tmp_path / "out.ipynb"
    proc = papermill(out_nb, "-p", "audio", str(audio), "-p", "videos", json.dumps([str(photo_524), str(broken)]),
                     "-p", "run_dir", str(run_dir), "-p", "cache_dir", str(tmp_path / "cache"),
                     "-p", "samples", "2", "-p", "options", '{"sync_check": false}')
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert statuses(run_dir) == {"主持人.png": "ok", "broken.mp4": "failed"}
    assert (run_dir / "outputs" / "主持人.mp4").is_file()
    assert ("BatchItemsFailed: 1 of 2 items of the batch failed or did not finish: broken.mp4 "
            f"(reasons in {run_dir / 'manifest.json'}; the same batch again retries them)") in proc.stderr
    nb = json.loads(out_nb.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "raise_if_failed" in "".join(code[-1]["source"])          # the failing cell is the last one ...
    assert code[-1]["outputs"][0]["ename"] == "BatchItemsFailed"
    summary = next(c for c in code if "summary_table" in "".join(c["source"]))   # ... after the full report
    items = next(c for c in code if "show_items" in "".join(c["source"]))
    assert "主持人" in cell_text(nb, summary) and "broken" in cell_text(nb, summary)
    assert sum("image/png" in o.get("data", {}) for o in items["outputs"]) >= 1   # the good item's plots


def test_plain_papermill_all_good_exits_0_and_the_flag_turns_it_off(tmp_path, photo_524):
    audio, broken = inputs(tmp_path, photo_524)
    common = ["-p", "audio", str(audio), "-p", "cache_dir", str(tmp_path / "cache"), "-p", "samples", "2",
              "-p", "options", '{"sync_check": false}']
    good = papermill(tmp_path / "good.ipynb", *common, "-p", "videos", json.dumps([str(photo_524)]),
                     "-p", "run_dir", str(tmp_path / "good"))
    assert good.returncode == 0, good.stderr[-3000:]
    assert statuses(tmp_path / "good") == {"主持人.png": "ok"}
    off = papermill(tmp_path / "off.ipynb", *common, "-p", "videos", json.dumps([str(broken)]),
                    "-p", "run_dir", str(tmp_path / "off"), "-p", "fail_on_item_error", "False")
    assert off.returncode == 0, off.stderr[-3000:]
    assert statuses(tmp_path / "off") == {"broken.mp4": "failed"}


def test_heygem_batch_keeps_its_exit_status_and_summary(tmp_path, photo_524):
    audio, broken = inputs(tmp_path, photo_524)
    run_dir = tmp_path / "batch"
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "batch", "--audio", str(audio), "--run-dir",
                           str(run_dir), "--samples", "2", "--no-sync-check", "--no-zip", "--cache-dir",
                           str(tmp_path / "cache"), str(photo_524), str(broken)],
                          capture_output=True, text=True, timeout=600, env=ENV)
    assert proc.returncode == 1, proc.stderr[-3000:]          # 1: an item failed (2 is for a batch that cannot run)
    assert "BatchItemsFailed" not in proc.stderr and "error:" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0] == "1 of 2 ok, 1 failed:"
    assert proc.stdout.splitlines()[1].startswith("  broken.mp4: ")
    assert statuses(run_dir) == {"主持人.png": "ok", "broken.mp4": "failed"}


def test_plain_papermill_names_the_failed_items_in_chinese(tmp_path, photo_524):
    """Before: under HEYGEM_LANG=zh_CN the report was Chinese but papermill's last line, the one that says
    which items failed, was English ("BatchItemsFailed: 1 of 2 items of the batch failed or did not
    finish: ..."); now it is the Chinese line, in the executed notebook's error output too."""
    audio, broken = inputs(tmp_path, photo_524)
    run_dir, out_nb = tmp_path / "batch", tmp_path / "out.ipynb"
    proc = subprocess.run([sys.executable, "-m", "papermill", str(NOTEBOOK), str(out_nb), "-p", "audio", str(audio),
                           "-p", "videos", json.dumps([str(broken)]), "-p", "run_dir", str(run_dir),
                           "-p", "cache_dir", str(tmp_path / "cache"), "-p", "samples", "2"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env={**os.environ, "HEYGEM_LANG": "zh_CN"})
    assert proc.returncode == 1, proc.stderr[-3000:]
    line = (f"BatchItemsFailed: 批量任务的 1 项中有 1 项失败或未完成：broken.mp4（原因见 {run_dir / 'manifest.json'}；"
            "再次运行同一批量任务会重试这些项）")
    assert proc.stderr.strip().splitlines()[-1] == line, proc.stderr[-3000:]    # papermill's last line
    error = json.loads(out_nb.read_text(encoding="utf-8"))["cells"][-1]["outputs"][0]
    assert error["ename"] == "BatchItemsFailed" and error["evalue"].startswith("批量任务的 1 项中有 1 项失败"), error
