"""A new user's tour: ``heygem batch --executor dask --workers N`` with N beyond the machine.

Before: any number was taken (``--workers 999`` on this 2-core box started a LocalCluster of 999
worker processes, each loading the engine and its models: memory runs out long before the first
item). Now more workers than cores is one line, exit 2, before the notebook or any run folder.
"""
from __future__ import annotations

import os

from heygem_cli import heygem


def test_more_dask_workers_than_cores_is_refused_before_any_work(tmp_path, clip_590, speech_5s):
    cores = os.cpu_count() or 1
    run_dir = tmp_path / "batch"
    for lang, line in (("en", f"heygem: error: --workers must be at most {cores}, the cores of this machine (each "
                               f"item uses several threads already), got 999"),
                       ("zh", f"heygem：错误：--workers 最多为 {cores}，即本机的 CPU 核心数（每个条目本身已使用多个线程），"
                              f"收到的是 999")):
        proc = heygem("batch", "--audio", speech_5s, "--run-dir", run_dir, "--executor", "dask", "--workers", "999",
                      clip_590, lang=lang, cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert proc.stderr.strip().splitlines()[-1] == line
        assert not run_dir.exists()


def test_workers_with_a_scheduler_is_refused_not_ignored(tmp_path, clip_590, speech_5s):
    """--workers sizes the local cluster; with --scheduler the cluster's own workers run the items. Before:
    --workers was dropped in silence (the batch went on with whatever the cluster had)."""
    run_dir = tmp_path / "batch"
    scheduler = "tcp://127.0.0.1:9"   # checked before the address is tried
    for lang, start in (("en", "heygem: error: --workers 2 sizes the Dask cluster a batch starts on this machine"),
                        ("zh", "heygem：错误：--workers 2 设定的是批处理在本机启动的 Dask 集群")):
        proc = heygem("batch", "--audio", speech_5s, "--run-dir", run_dir, "--workers", "2", "--scheduler", scheduler,
                      clip_590, lang=lang, cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(start) and scheduler in lines[0], lines
        assert not run_dir.exists()
    help_text = heygem("batch", "--help", cwd=tmp_path).stdout
    assert "not with --scheduler" in " ".join(help_text.split())
