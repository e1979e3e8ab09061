"""English and Simplified Chinese (issue 15): complete catalogues, CLI errors, reports, plots."""
from __future__ import annotations

import importlib.util
import json
import os
import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from heygem_kernel import diagnostics, i18n, report
from heygem_kernel.errors import CheckpointError, InputError

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("messages", ROOT / "scripts" / "messages.py")
messages = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(messages)


@pytest.fixture
def zh():
    i18n.set_language("zh")
    yield
    i18n.set_language(None)


@pytest.mark.parametrize("lang", sorted(i18n.CATALOGUES))
def test_every_message_is_translated_with_the_same_placeholders(lang):
    from babel.messages.pofile import read_po
    po = i18n.LOCALE_DIR / i18n.CATALOGUES[lang] / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
    with open(po, "rb") as fh:
        catalog = read_po(fh)
    ids = messages.message_ids()
    assert len(ids) > 80                                  # the extraction finds the code's messages
    for key, where in ids.items():
        context, msgid = key if isinstance(key, tuple) else (None, key)     # NC_(context, msgid)
        entry = catalog.get(msgid, context=context)
        assert entry is not None and entry.string, f"{where}: {msgid!r} has no {lang} translation"
        assert not entry.fuzzy, f"{msgid!r} is fuzzy in {po.name}"
        assert i18n.placeholders(entry.string) == i18n.placeholders(msgid), msgid
        assert _fields(entry.string) == _fields(msgid), msgid      # same {size:,} / {name!r} too
        # it really formats: every placeholder filled gives text without braces left over
        values = {name: 1234 if spec else "X" for name, _, spec in _fields(msgid)}
        filled = i18n.translate(msgid, values, lang, context)
        assert "{" not in filled.replace("{{", "") and filled != msgid


def _fields(message):
    """{(name, conversion, format spec)} of a message's placeholders."""
    import string
    return {(name, conv, spec) for _, name, spec, conv in string.Formatter().parse(message) if name}


def test_language_choice():
    assert i18n.language_from_env({"LANG": "zh_CN.UTF-8"}) == "zh"
    assert i18n.language_from_env({"LANG": "zh_CN.UTF-8", "HEYGEM_LANG": "en"}) == "en"
    assert i18n.language_from_env({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}) == "en"   # LC_ALL decides
    assert i18n.language_from_env({}) == "en"
    assert i18n.negotiate("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert i18n.negotiate("en-US,en;q=0.9,zh;q=0.5") == "en"
    assert i18n.negotiate("fr-FR, zh-Hans;q=0.3") == "zh"
    assert i18n.negotiate("") == "en"
    env = {"HTTP_ACCEPT_LANGUAGE": "zh-CN", "HEYGEM_LANG": "en", "QUERY_STRING": ""}
    assert i18n.page_language(env) == "en"                              # heygem serve --lang en
    assert i18n.page_language({**env, "QUERY_STRING": "lang=zh"}) == "zh"   # the page's switch
    assert i18n.page_language({"HTTP_ACCEPT_LANGUAGE": "zh-CN,en;q=0.5"}) == "zh"


def test_an_error_is_shown_in_the_users_language():
    err = InputError("no such video file: {path}", path="/data/张老师.mp4")
    assert str(err) == "no such video file: /data/张老师.mp4"               # logs and manifests
    assert err.localized("zh") == "视频文件不存在：/data/张老师.mp4"
    assert err.localized("en") == str(err)
    assert InputError("not a template: {x}").localized("zh") == "not a template: {x}"
    # format specs and conversions as in the English line; a translated fragment as a value
    err = CheckpointError("{path} is not a PyTorch checkpoint ({why}; {size:,} bytes; the official "
                          "{official_name} is {official_size:,} bytes: re-download it)", path="w.pth",
                          why=i18n.Text("empty file"), size=0, official_name="wav2lip.pth",
                          official_size=435801865)
    assert str(err) == ("w.pth is not a PyTorch checkpoint (empty file; 0 bytes; the official "
                        "wav2lip.pth is 435,801,865 bytes: re-download it)")
    assert err.localized("zh") == ("w.pth 不是 PyTorch 检查点（空文件；0 字节；官方的 wav2lip.pth 为 "
                                   "435,801,865 字节：请重新下载）")
    # the template and values survive a process boundary (Dask, multiprocessing)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is CheckpointError and str(again) == str(err)
    assert again.localized("zh") == err.localized("zh")


@pytest.mark.parametrize("env, want", [
    ({"LANG": "zh_CN.UTF-8"}, "heygem：错误：音频文件不存在："),
    ({"LANG": "zh_CN.UTF-8", "HEYGEM_LANG": "en"}, "heygem: error: no such audio file: "),
    ({"LANG": "C.UTF-8"}, "heygem: error: no such audio file: "),
])
def test_cli_missing_input_in_each_language(tmp_path, clip_524, env, want):
    base = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "LC_MESSAGES", "HEYGEM_LANG")}
    missing = tmp_path / "讲话稿.wav"
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "run", "--audio", str(missing), "--video",
                           str(clip_524), "--out", str(tmp_path / "o.mp4")], capture_output=True, text=True,
                          env={**base, **env}, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [want + str(missing)], proc.stderr


def test_cli_sync_summary_in_chinese(tmp_path, clip_590):
    base = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "LC_MESSAGES", "HEYGEM_LANG")}
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "sync", str(clip_590), "--no-plot"],
                          capture_output=True, text=True, cwd=tmp_path, env={**base, "LANG": "zh_CN.UTF-8"})
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split("：", 1) for line in proc.stdout.splitlines())
    assert set(lines) >= {"视频", "音频", "偏移", "置信度", "相关系数", "结论", "方法"}, proc.stdout
    assert "125 帧，25.000 fps" in lines["视频"] and "正值 = 视频落后于音频" in lines["偏移"]
    assert lines["音频"].strip() == "视频自带的音轨"
    assert lines["结论"].strip() == "同步"                                   # "in sync"
    # the values start in one column (CJK labels take two columns a character)
    assert {i18n.width(line) - i18n.width(line.split("：", 1)[1].lstrip()) for line in
            proc.stdout.splitlines()} == {13}


def test_option_errors_and_sync_verdicts_in_chinese():
    from heygem_kernel.options import RunOptions
    from heygem_kernel.sync import SyncEstimate
    with pytest.raises(InputError) as info:
        RunOptions(crf=99).validate()
    assert str(info.value) == "invalid option crf (--crf): must be a whole number from 0 to 51; got 99"
    assert info.value.localized("zh") == "选项 crf (--crf) 无效：必须是 0 到 51 之间的整数；收到的值为 99"
    with pytest.raises(InputError) as info:
        RunOptions(still_fps=0.0).validate()
    assert info.value.localized("zh") == "选项 still_fps (--fps) 无效：必须是 1 到 240 fps 之间的数；收到的值为 0.0"

    def verdict(offset, confidence=0.9, note=""):
        return SyncEstimate(offset_frames=offset, offset_ms=offset * 40.0, offset_exact=float(offset),
                            confidence=confidence, correlation=0.5, curve=np.zeros(3), fps=25.0, max_shift=1,
                            chance=0.3, window_frames=50, note=note, method="m").verdict()
    assert verdict(3) == "video lags audio by 3 frames (120 ms)"                 # English: str as before
    assert verdict(3).localized("zh") == "视频落后音频 3 帧（120 毫秒）"
    assert verdict(-4).localized("zh").startswith("视频超前音频 4 帧（160 毫秒）")
    assert verdict(2, confidence=0.1).localized("zh").startswith("置信度低：嘴部动作与这段语音没有明显对应")


def test_cli_scan_table_in_chinese(tmp_path, clip_524, speech_60s):
    base = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "LC_MESSAGES", "HEYGEM_LANG")}
    photo = tmp_path / "合影.txt"
    photo.write_text("not a picture")
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "scan", str(clip_524), str(photo), "--audio",
                           str(speech_60s), "--samples", "2"], capture_output=True, text=True,
                          env={**base, "LANG": "zh_CN.UTF-8"})
    assert proc.returncode == 1, proc.stderr                           # the text file cannot work
    head, good, bad = proc.stdout.splitlines()
    assert head.split()[:3] == ["视频", "可用", "尺寸"] and "问题" in head   # "ok": usable (成功 before)
    assert good.split()[1] == "是" and "循环" in good and "比语音（60.0 秒）短：将循环播放" in good
    assert bad.split()[1] == "否" and "合影.txt 不是 ffmpeg 能读取的视频或图片" in bad
    # columns line up in terminal cells although the Chinese headers are two cells a character
    assert i18n.width(head.split("尺寸")[0]) == i18n.width(good[:good.index("524x524")])


def test_a_failed_batch_item_keeps_its_error_for_every_language(tmp_path, clip_590, speech_5s):
    from heygem_kernel import batch
    from heygem_kernel.errors import localized_error
    from heygem_kernel.options import RunOptions
    broken = tmp_path / "坏文件.mp4"
    broken.write_bytes(clip_590.read_bytes()[:50_000])          # the engine itself finds it unreadable
    job = batch.ItemJob(index=0, name="x", video=str(broken), audio=str(speech_5s), output=str(tmp_path / "o.mp4"),
                        run_dir=str(tmp_path / "items" / "x"), cache_dir=str(tmp_path / "cache"),
                        options=RunOptions(), key="k")
    outcome = batch.run_item(job)
    entry = {"video": str(broken), "output": "o.mp4"}
    batch._record(tmp_path, entry, outcome)
    entry = json.loads(json.dumps(entry))                      # as read back from manifest.json
    assert entry["status"] == "failed" and str(broken) in entry["error"]
    assert localized_error(entry, "en") == entry["error"]
    zh = localized_error(entry, "zh")
    assert str(broken) in zh and zh != entry["error"] and "不完整" in zh, zh


def test_report_sections_and_tables_in_chinese(zh):
    manifest = {"audio": "/a/讲话.wav", "audio_duration": 8.0, "backend": "reuse", "wall_s": 12.5,
                "items": [{"video": "/v/a.mp4", "status": "ok", "output": "outputs/a.mp4", "wall_s": 3.0,
                           "n_frames": 200, "frames_no_face": 0, "sync_offset_frames": 0,
                           "sync_confidence": 0.8, "sync_correlation": 0.6},
                          {"video": "/v/b.mp4", "status": "failed", "error": "no face"}]}
    assert "<h2>预检</h2>" in report.section("preflight").data
    html = report.summary_table(manifest).data
    assert "2 个视频中 1 个成功" in html and "<th>状态</th>" in html and "失败" in html
    i18n.set_language("en")
    assert "<h2>Pre-flight</h2>" in report.section("preflight").data


def test_plots_in_chinese_have_every_glyph(zh, tmp_path):
    t = np.linspace(0, 8, 200)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = diagnostics.plot_mouth_track(mouth_open=np.sin(t) + 1, speech_open=(np.sin(t) + 1) / 2,
                                            envelope=np.abs(np.sin(t)), fps=25.0, path=tmp_path / "m.png")
    missing = [str(w.message) for w in caught if "missing from" in str(w.message)]
    assert missing == [], missing[:3]          # a missing CJK font draws boxes and warns here
    assert path.stat().st_size > 10_000


def test_serve_passes_its_language_to_the_page_kernels(tmp_path):
    from heygem_kernel.serve import make_config
    assert make_config(root=tmp_path, lang="zh").env()[i18n.ENV_LANG] == "zh"
    assert i18n.ENV_LANG not in make_config(root=tmp_path).env()   # default: each browser's language
    assert make_config(root=tmp_path).voila_config().VoilaConfiguration.http_header_envs == ["Accept-Language"]
    with pytest.raises(InputError, match="--lang fr: expected one of en, zh"):
        make_config(root=tmp_path, lang="fr")


def test_panel_in_chinese(tmp_path, clip_524):
    from fake_engine import FakeEngine
    from heygem_kernel.workspace import Workspace
    from heygem_widgets.panel import Workbench
    try:
        wb = Workbench(engine=FakeEngine(encode=False), workspace=Workspace(root=tmp_path), lang="zh")
        assert wb.generate_button.description == "生成"
        assert wb.tabs.titles[:2] == ("生成", "历史记录")
        assert "<b>中文</b>" in wb.language.value.replace("简体中文", "中文") and "?lang=en" in wb.language.value
        wb.generate()                                        # nothing chosen yet
        assert "请先选择或上传语音文件" in wb.status.value
        wb.video_upload.set_state({"value": [{"name": "空.mp4", "type": "video/mp4", "size": 0,
                                              "last_modified": 0, "content": memoryview(b"")}]})
        assert "空.mp4：上传的文件是空的" in wb.status.value  # an engine error, shown in the page's language
    finally:
        i18n.set_language(None)


# (arguments, the English line, the Chinese line): argparse's own usage errors in the user's language
USAGE = [
    (["run", "--audio", "a.wav", "--video", "v.mp4", "--bogus"],
     "heygem run: error: unrecognized arguments: --bogus (see heygem run -h)",   # whose -h lists the options
     "heygem run：错误：无法识别的参数：--bogus（参见 heygem run -h）"),
    (["sync", "v.mp4", "--plot", "p.png", "--no-plot"],   # before: no plot and no word about --plot
     "heygem sync: error: argument --no-plot: not allowed with argument --plot (see heygem sync -h)",
     "heygem sync：错误：参数 --no-plot：不能与参数 --plot 同时使用（参见 heygem sync -h）"),
    (["sync", "v.mp4", "--audo", "a.wav"],   # a misspelt option: before, "see heygem -h", which lists none
     "heygem sync: error: unrecognized arguments: --audo a.wav (see heygem sync -h)",
     "heygem sync：错误：无法识别的参数：--audo a.wav（参见 heygem sync -h）"),
    (["run", "--audio", "a.wav"],
     "heygem run: error: the following arguments are required: --video (see heygem run -h)",
     "heygem run：错误：缺少必需的参数：--video（参见 heygem run -h）"),
    (["run", "--audio", "a.wav", "--video", "v.mp4", "--crf"],
     "heygem run: error: argument --crf: expected one argument (see heygem run -h)",
     "heygem run：错误：参数 --crf：需要一个值（参见 heygem run -h）"),
    (["run", "--audio", "a.wav", "--video", "v.mp4", "--crf", "x"],
     "heygem run: error: argument --crf: invalid int value: 'x' (see heygem run -h)",
     "heygem run：错误：参数 --crf：无效的 int 值：'x'（参见 heygem run -h）"),
    (["run", "--audio", "a.wav", "--video", "v.mp4", "--pads", "1", "2"],
     "heygem run: error: argument --pads: expected 4 arguments (see heygem run -h)",
     "heygem run：错误：参数 --pads：需要 4 个值（参见 heygem run -h）"),
    (["run", "--audio", "a.wav", "--video", "v.mp4", "--no-c"],
     "heygem run: error: ambiguous option: --no-c could match --no-color-match, --no-cache (see heygem run -h)",
     "heygem run：错误：选项有歧义：--no-c 可能是 --no-color-match, --no-cache（参见 heygem run -h）"),
    (["frobnicate"], None, "heygem：错误：参数 COMMAND：无效的选项 'frobnicate'（可选："),
]


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("args,en,zh", USAGE, ids=[" ".join(u[0][-2:]) for u in USAGE])
def test_usage_errors_in_the_users_language(capsys, lang, args, en, zh):
    from heygem_kernel import cli
    i18n.set_language(lang)
    try:
        with pytest.raises(SystemExit) as done:
            cli.main(args)
    finally:
        i18n.set_language(None)
    assert done.value.code == 2
    err = capsys.readouterr().err
    want = en if lang == "en" else zh
    if args == ["frobnicate"]:   # how the choices are quoted depends on the Python version
        assert err.startswith(want or "heygem: error: argument COMMAND: invalid choice: 'frobnicate' (choose from ")
        assert err.endswith("heygem -h）\n" if lang == "zh" else "(see heygem -h)\n")
    else:
        assert err == want + "\n"


def test_usage_error_from_the_locale(tmp_path):
    base = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "LC_MESSAGES", "HEYGEM_LANG")}
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "scan", "--samples", "x", "v.mp4"],
                          capture_output=True, text=True, env={**base, "LANG": "zh_CN.UTF-8"}, cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == "heygem scan：错误：参数 --samples：无效的 int 值：'x'（参见 heygem scan -h）\n"


def test_a_batch_error_from_the_notebook_kernel_keeps_its_template(tmp_path, clip_524):
    # the whole batch fails inside papermill's kernel (another process): shown in the user's language
    silent = tmp_path / "无声.mp4"                 # a real clip without its sound, given as the speech
    subprocess.run([sys.executable, "-c", "import sys, subprocess; from heygem_kernel.media import ffmpeg_exe; "
                    "subprocess.run([ffmpeg_exe(), '-v', 'error', '-i', sys.argv[1], '-t', '1', '-an', '-c', 'copy', "
                    "sys.argv[2]], check=True)", str(clip_524), str(silent)], check=True)
    base = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "LC_MESSAGES", "HEYGEM_LANG")}
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "batch", "--audio", str(silent), "--run-dir",
                           str(tmp_path / "b"), str(clip_524)], capture_output=True, text=True,
                          env={**base, "LANG": "zh_CN.UTF-8"}, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == f"heygem：错误：{silent} 没有音轨"
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "b").glob(".kernel-error*"))     # the record the kernel left is gone


def test_an_error_rebuilt_from_its_record():
    from heygem_kernel.errors import MediaError, from_record
    err = CheckpointError("checkpoint not found: {path} (expected {hint})", path="/m/张.pth",
                          hint=i18n.Text("the Wav2Lip generator"))
    back = from_record(json.loads(json.dumps(err.to_record())), MediaError)
    assert isinstance(back, MediaError) and str(back) == str(err)
    assert back.localized("zh") == err.localized("zh") != str(err)


def test_progress_bars_and_input_notes_in_chinese(zh, capsys, tmp_path):
    """The run's progress bars name their stage in the user's language (they said 'analyse'
    under zh), and the note about extra audio tracks is a translatable fragment."""
    import io

    from heygem_kernel.commands.run import _ProgressBar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    for stream in (terminal, None):   # bars on a terminal; lines where stderr is not one
        bar = _ProgressBar(disable=False, stream=stream)
        bar("analyse", 3, 10)
        bar("render", 5, 10)
        bar.close()
    shown, err = terminal.getvalue(), capsys.readouterr().err
    assert "人脸" in shown and "渲染" in shown and "帧" in shown and "analyse" not in shown, shown
    assert err.splitlines() == ["人脸：30%（3/10）", "渲染：50%（5/10）"], err
    from heygem_kernel.i18n import Text
    note = Text("{name} has {tracks} audio tracks: only the first is used as the speech", name="a.mkv", tracks=2)
    assert note == "a.mkv has 2 audio tracks: only the first is used as the speech"
    assert note.localized("zh") == "a.mkv 有 2 条音轨：只使用第一条作为语音"


def test_plot_titles_labels_and_verdicts_in_chinese(zh, tmp_path, monkeypatch):
    """The run's mel plot kept its English title and colour-bar label, and the mouth-track title
    ended in English 'low confidence' / 'video lags audio by ...' on a Chinese page."""
    import matplotlib.text

    from heygem_kernel.sync import SyncEstimate
    drawn: list[str] = []
    save = diagnostics._save

    def keep_texts(fig, path):
        drawn.extend(t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text())
        return save(fig, path)

    monkeypatch.setattr(diagnostics, "_save", keep_texts)
    diagnostics.plot_mel(np.zeros((80, 160), np.float32), tmp_path / "mel.png",
                         title="Mel spectrogram of the driving speech")          # as the pipeline passes it
    t = np.linspace(0, 8, 200)
    for confidence, offset in ((0.2, 0), (0.9, 4)):                              # a guess; a reliable lag
        sync = SyncEstimate(offset_frames=offset, offset_ms=offset * 40.0, offset_exact=float(offset),
                            confidence=confidence, correlation=0.5, curve=np.zeros(31), fps=25.0, max_shift=15,
                            chance=0.4, window_frames=200)
        diagnostics.plot_mouth_track(mouth_open=np.sin(t) + 1, speech_open=(np.sin(t) + 1) / 2, fps=25.0,
                                     path=tmp_path / f"m{offset}.png", sync=sync)
    english = [text for text in drawn if re.search(r"[A-Za-z]{4,}", text) and "ITU-R" not in text]
    assert english == [], english
    assert any("置信度低" in text for text in drawn) and any("视频落后音频 4 帧" in text for text in drawn), drawn


def test_landmark_plot_captions_in_chinese(zh, tmp_path, monkeypatch):
    """The sample frames' captions of a run's landmarks.png ('frame 40 (1.60 s)') were English
    among Chinese labels."""
    from types import SimpleNamespace
    from heygem_kernel import pipeline
    titles = []
    monkeypatch.setattr(diagnostics, "plot_landmarks", lambda *a, **k: titles.extend(k["titles"]))
    monkeypatch.setattr(diagnostics, "plot_mouth_track", lambda **k: None)
    frame = np.zeros((64, 64, 3), np.uint8)
    rendered = SimpleNamespace(samples=[(0, frame, None, None), (40, frame, None, None)], mouth_open=np.zeros(50))
    feats = SimpleNamespace(visemes={"open": np.zeros(50)}, envelope=np.zeros(50))
    pipeline._plots(tmp_path, feats, rendered, None, 25.0, mask_scale=1.0)
    assert titles == ["第 0 帧（0.00 秒）", "第 40 帧（1.60 秒）"]


def test_an_unknown_heygem_lang_is_named_not_silently_english(tmp_path):
    """Before: HEYGEM_LANG=fr gave English messages without a word, as if the setting were ignored."""
    from heygem_cli import heygem
    missing = tmp_path / "nope.mp4"
    result = heygem("sync", missing, lang="fr")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 2, result.stderr
    assert lines[0].endswith("WARNING HEYGEM_LANG=fr is not a language heygem has (en, zh): messages are in English")
    assert lines[1] == f"heygem: error: no such file: {missing}"
    for lang in ("en", "zh_CN.UTF-8", "C", "C.UTF-8", "POSIX"):     # languages it has, the C locale: no warning
        assert len(heygem("sync", missing, lang=lang).stderr.strip().splitlines()) == 1
