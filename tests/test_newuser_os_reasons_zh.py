"""A Chinese-speaking user's error lines say why the system refused in Chinese too.

Before: a Chinese line ended with the system's English words, e.g. ``heygem：错误：无法创建文件夹
/x/视频.mp4/out：Not a directory`` or ``无法连接 Dask 调度器 tcp://127.0.0.1:9：Connection refused``;
only a few reasons (no space, permission, read-only...) were translated. Now the common ones are
translated by their errno (errors.OS_WORDS; a host name's by getaddrinfo's code, errors.HOST_WORDS), never
by matching the English text, and the path stays.
"""
from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys


ENV = {**{k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "LC_MESSAGES")}, "HEYGEM_LANG": "zh_CN"}


def heygem(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "heygem_kernel", *map(str, args)], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=300)


def test_a_run_folder_under_a_file_says_why_in_chinese(tmp_path, clip_524, speech_5s):
    (tmp_path / "视频.mp4").write_bytes(b"")          # a file where the folder's parent should be
    run_dir = tmp_path / "视频.mp4" / "out"
    proc = heygem("run", "--audio", speech_5s, "--video", clip_524, "--run-dir", run_dir, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"heygem：错误：无法创建文件夹 {run_dir}：路径中有一部分不是文件夹"], proc.stderr


def test_an_unreachable_dask_scheduler_says_why_in_chinese(tmp_path, clip_524, speech_5s):
    with socket.socket() as sock:               # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = heygem("batch", "--audio", speech_5s, "--run-dir", tmp_path / "b", "--scheduler", f"tcp://127.0.0.1:{port}",
                  clip_524, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"heygem：错误：无法连接 Dask 调度器 tcp://127.0.0.1:{port}：连接被拒绝"], proc.stderr


def test_reasons_go_by_errno_and_keep_the_path():
    from heygem_kernel.errors import InputError, os_error, os_reason
    # the system's words in another language (a German libc) mean nothing: the errno decides
    assert os_reason(OSError(errno.ENOENT, "Datei oder Verzeichnis nicht gefunden")).localized("zh") == "文件或文件夹不存在"
    err = InputError("cannot read {video}: {reason}", video="/data/a.mp4",
                     reason=os_reason(OSError(errno.EISDIR, "Is a directory")))
    assert str(err) == "cannot read /data/a.mp4: Is a directory"                # the English line (logs), as before
    assert err.localized("zh") == "无法读取 /data/a.mp4：这是一个文件夹"
    missing = os_error(FileNotFoundError(errno.ENOENT, "No such file or directory", "/data/讲话.wav"))
    assert missing.localized("zh") == "/data/讲话.wav：文件或文件夹不存在"
    assert os_reason(OSError(errno.ENOTSUP, "Operation not supported")) == "Operation not supported"   # not listed
    # getaddrinfo's codes are its own (EAI_NONAME is -2, not -ENOENT)
    assert os_reason(socket.gaierror(socket.EAI_NONAME, "Name or service not known")).localized("zh") == "无法解析该名称"


def test_a_host_that_does_not_resolve_says_why_in_chinese(tmp_path):
    proc = heygem("serve", "--host", "nosuchhost.invalid", "--root", tmp_path, cwd=tmp_path)
    assert proc.returncode == 2
    # (a machine without a resolver may answer "temporary failure" instead of "not known")
    assert proc.stderr.splitlines() in (["heygem：错误：--host nosuchhost.invalid：没有这个主机或地址（无法解析该名称）"],
                                        ["heygem：错误：--host nosuchhost.invalid：没有这个主机或地址（名称解析暂时失败）"]), \
        proc.stderr
