"""`heygem --help`, every command's `--help` and `heygem doctor` in the user's language.

Before: under LANG=zh_CN.UTF-8 (or HEYGEM_LANG=zh_CN) the rest of the CLI spoke Chinese but `--help`
(argparse's texts and ours) and `heygem doctor`'s report stayed English. Now help texts, descriptions,
group titles and argparse's own words are message ids shown in the user's language, Chinese lines
wrapped by terminal columns; doctor's labels, statuses and details too (`--json` stays English).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from heygem_kernel import cli, i18n

ENGLISH_WORDS = re.compile(r"\b(the|of|and|or|to|a|an|for|with|default)\b")


def run_cli(*args, env_lang: dict, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("HEYGEM_LANG", "LC_ALL", "LC_MESSAGES", "LANG")}
    env.update(env_lang, COLUMNS="100")
    return subprocess.run([sys.executable, "-m", "heygem_kernel", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=cwd)


def test_top_level_help_follows_the_locale():
    proc = run_cli("--help", env_lang={"LANG": "zh_CN.UTF-8"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("用法：heygem [-h]")
    assert "本地口型同步视频工作台。" in lines
    assert "  -h, --help     显示本帮助信息并退出" in lines
    assert "    run          把视频或照片与语音录音做口型同步" in lines
    assert "    doctor       检查 ffmpeg、软件包、CUDA 和模型检查点" in lines
    english = run_cli("--help", env_lang={"LANG": "en_US.UTF-8"}).stdout
    assert english.splitlines()[0].startswith("usage: heygem [-h]") and "show this help message and exit" in english


def cli_width() -> int:
    import shutil
    return shutil.get_terminal_size().columns - 2   # what argparse's HelpFormatter wraps to


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", cli.COMMANDS)
def test_every_help_text_of_every_command_is_shown_in_chinese(command):
    parser = _subparsers(cli.build_parser())[command]
    try:
        i18n.set_language("zh")
        shown = parser.format_help()
    finally:
        i18n.set_language(None)
    texts = [a.help for a in parser._actions if a.help and a.help is not argparse.SUPPRESS]
    texts += [parser.description] + [g.title for g in parser._action_groups if g.title and g._group_actions]
    squeezed = "".join(shown.split())
    for text in texts:
        zh = text.localized("zh") if isinstance(text, i18n.Text) else i18n.translate(text, lang="zh")
        assert zh != str(text), f"untranslated: {text!r}"
        expected = zh.replace("%(default)s", "{}")   # the defaults are filled in by argparse
        pattern = ".*?".join(re.escape("".join(part.split())) for part in expected.split("{}"))
        assert re.search(pattern, squeezed), f"{command}: not shown: {zh!r}"
    for line in shown.splitlines():          # beyond the usage block, option names and values: no English prose
        prose = re.sub(r"(--?[\w-]+|[A-Z_]{2,}|\{[^}]*\}|\S*[/.$<>@]\S*)", " ", line.split("  ")[-1])
        assert not line.startswith(" ") or len(ENGLISH_WORDS.findall(prose)) < 2, line
    widest = max(shown.splitlines(), key=i18n.width)   # wrapped by columns (a CJK character takes two)
    assert i18n.width(widest) <= cli_width() + 4, widest  # (+4: closing punctuation, "）；", stays on its line)


def test_doctor_report_in_chinese_and_json_in_english(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    (checkpoints / "musetalk" / "musetalkV15").mkdir(parents=True)
    (checkpoints / "wav2lip.pth").write_bytes(bytes(range(1, 251)) * 20)  # 5,000 bytes: not a checkpoint
    (checkpoints / "musetalk" / "musetalkV15" / "musetalk.json").write_text("{}")
    env = {"HEYGEM_LANG": "zh_CN", "HEYGEM_CACHE_DIR": str(tmp_path / "cache")}
    proc = run_cli("doctor", "--no-hash", "--checkpoints", checkpoints, env_lang=env)
    assert proc.returncode == 2, proc.stderr        # the MuseTalk folder lacks its files: the one error line
    lines = proc.stdout.splitlines()
    assert "软件包：" in lines and "人脸修复模型（--enhance）：" in lines
    assert f"模型检查点（{checkpoints}）：" in lines
    assert any(line.startswith("  numpy ") and line.endswith(" 数组运算") for line in lines)
    wav2lip = next(line for line in lines if line.startswith("  wav2lip.pth"))
    assert wav2lip.endswith("不是模型检查点 - 不是 PyTorch 文件（5,000 字节）"), wav2lip
    assert any(line.startswith("  whisper/config.json") and line.endswith("  缺失") for line in lines)
    assert "  未找到（gfpgan_1.4.onnx、gpen_bfr_512.onnx、restoreformer_plus_plus.onnx、codeformer.onnx）" in lines
    assert not [line for line in lines if re.search(r"\b(packages|none found|missing|not present)\b", line)]
    assert proc.stderr.startswith("heygem：错误：")

    report = json.loads(run_cli("doctor", "--no-hash", "--json", "--checkpoints", checkpoints, env_lang=env).stdout)
    assert report["checkpoints"][0]["status"] == "not a checkpoint"
    assert report["checkpoints"][0]["detail"] == "not a PyTorch file (5,000 bytes)"
    assert report["musetalk"]["files"][-1]["status"] == "missing"


def test_doctor_calls_a_model_file_that_passed_its_checks_normal_in_chinese(tmp_path):
    """Before: a MuseTalk file that passed its checks read 成功 ("succeeded") in Chinese, the word of a
    finished batch item; the English "ok" of a file check is 正常. --json keeps "ok"."""
    models = tmp_path / "checkpoints" / "musetalk" / "whisper"
    models.mkdir(parents=True)
    (models / "preprocessor_config.json").write_text('{"feature_size": 80, "sampling_rate": 16000}')
    env = {"HEYGEM_LANG": "zh_CN", "HEYGEM_CACHE_DIR": str(tmp_path / "cache")}
    proc = run_cli("doctor", "--no-hash", "--checkpoints", tmp_path / "checkpoints", env_lang=env)
    line = next(line for line in proc.stdout.splitlines() if line.startswith("  whisper/preprocessor_config.json"))
    assert line.endswith("  正常"), line
    assert "成功" not in proc.stdout
    report = json.loads(run_cli("doctor", "--no-hash", "--json", "--checkpoints", tmp_path / "checkpoints",
                                env_lang=env).stdout)
    assert report["musetalk"]["files"][-1]["status"] == "ok"
