"""What a user sees on the console of a good run: the result lines, warnings about the input, and
no library chatter."""
from __future__ import annotations

import json
import subprocess

import numpy as np

from heygem_cli import heygem
from heygem_kernel import media


def test_frames_without_a_face_bring_no_font_warning(tmp_path, media_dir):
    # talking_524 with its first second black (a title card): landmarks.png marks those frames
    # 'no face' in bold, and the CJK font has no bold face: 'WARNING findfont: Failed to find font
    # weight bold for WenQuanYi Micro Hei, now using 400.' was printed among the result lines
    clip = tmp_path / "title card.mp4"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", media_dir / "talking_524.mp4", "-vf",
                    "drawbox=enable='lt(t,1)':c=black:t=fill", "-c:v", "libx264", "-c:a", "copy", clip], check=True)
    proc = heygem("run", "--quiet", "--no-sync-check", "--audio", media_dir / "speech_en_5s.wav", "--video", clip,
                  "--out", tmp_path / "o.mp4", "--run-dir", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["frames_no_face"] >= 20     # the plot does draw 'no face' frames
    assert "findfont" not in proc.stderr, proc.stderr
    assert proc.stderr.strip() == "", proc.stderr


def test_sync_in_chinese_names_its_method_in_chinese(media_dir):
    # LANG=zh_CN.UTF-8 heygem sync talking_524.mp4 --language zh: every line was Chinese but
    # '方法：mouth landmarks vs the calibrated real-speech reference (...); language zh: opening shut ...'
    proc = heygem("sync", media_dir / "talking_524.mp4", "--no-plot", "--language", "zh", lang="zh")
    assert proc.returncode == 0, proc.stderr
    method = next(line for line in proc.stdout.splitlines() if line.startswith("方法："))
    assert "嘴部关键点对照经校准的真人语音参考" in method and "语言 zh：由频谱闭合线索关闭张口" in method, method
    assert "mouth landmarks" not in method and "opening shut" not in method, method
    english = heygem("sync", media_dir / "talking_524.mp4", "--no-plot", "--json", "--language", "zh")
    assert '"method": "mouth landmarks vs the calibrated real-speech reference' in english.stdout  # records stay English


def test_language_named_in_chinese_is_understood(tmp_path, media_dir):
    # heygem run --language 中文 (or 普通话): "unknown language '中文'", though --language Chinese worked
    from heygem_kernel.articulation import normalise_language
    assert [normalise_language(x) for x in ("中文", "普通话", "汉语", "粤语", "zh-TW", "英语")] == \
        ["zh", "zh", "zh", "yue", "zh", "en"]
    proc = heygem("sync", media_dir / "talking_524.mp4", "--no-plot", "--language", "普通话", lang="zh")
    assert proc.returncode == 0, proc.stderr
    assert "语言：       普通话 (zh)" in proc.stdout, proc.stdout


def test_a_photo_at_29_97_fps_gets_the_ntsc_rate(tmp_path, photo_524, speech_5s):
    # heygem run --video photo.png --fps 29.97 wrote r_frame_rate 2997/100, not NTSC's 30000/1001
    proc = heygem("run", "--quiet", "--no-sync-check", "--audio", speech_5s, "--video", photo_524, "--fps", "29.97",
                  "--out", tmp_path / "o.mp4", "--run-dir", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    probe = subprocess.run([media.ffprobe_exe(), "-v", "error", "-select_streams", "v", "-count_frames",
                            "-show_entries", "stream=r_frame_rate,nb_read_frames", "-of", "csv=p=0",
                            tmp_path / "o.mp4"], capture_output=True, text=True, check=True).stdout.strip()
    rate, frames = probe.split(",")
    assert rate == "30000/1001", probe
    assert int(frames) == round(5.0155 * 30000 / 1001), probe     # as long as the speech at that rate


def test_batch_summary_paths_line_up_in_chinese():
    # heygem batch in Chinese ended with '清单：/…/manifest.json', '报告：  /…/report.html', '压缩包：/…/outputs.zip':
    # the manifest's path two columns left of the others
    from heygem_kernel import i18n
    i18n.set_language("zh")
    try:
        lines = [i18n._(msg, path="/p") for msg in ("manifest: {path}", "report:   {path}", "zip:      {path}")]
    finally:
        i18n.set_language(None)
    assert len({i18n.width(line[:line.index("/p")]) for line in lines}) == 1, lines


def test_an_opaque_rgba_photo_is_not_said_to_lose_transparency(tmp_path, photo_524, speech_5s):
    # a screenshot-style RGBA PNG, alpha 255 everywhere: 'WARNING transparency (rgba) dropped: H.264 has no
    # alpha channel; transparent areas become black' though there are none; a real transparent corner still says it
    from PIL import Image
    rgba = np.array(Image.open(photo_524).convert("RGBA"))
    Image.fromarray(rgba).save(tmp_path / "opaque.png")
    rgba[:60, :60, 3] = 0
    Image.fromarray(rgba).save(tmp_path / "corner.png")
    notes = {}
    for name in ("opaque", "corner"):
        proc = heygem("run", "--quiet", "--no-sync-check", "--audio", speech_5s, "--video", tmp_path / f"{name}.png",
                      "--out", tmp_path / f"{name}.mp4", "--run-dir", tmp_path / name)
        assert proc.returncode == 0, proc.stderr
        notes[name] = (json.loads((tmp_path / name / "result.json").read_text())["extra"]["input_notes"], proc.stderr)
    assert notes["opaque"] == ([], ""), notes["opaque"]
    assert [n for n in notes["corner"][0] if n.startswith("transparency (rgba) dropped")], notes["corner"]
    assert "transparency (rgba) dropped" in notes["corner"][1]
