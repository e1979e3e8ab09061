"""``heygem doctor`` says which font the diagnostic plots draw Chinese text with (their titles and
labels follow the user's language), or that there is none and the plots draw empty boxes instead."""
from __future__ import annotations

import json
from pathlib import Path

from heygem_cli import heygem
from heygem_kernel import diagnostics
from heygem_kernel.commands import doctor


def test_doctor_names_the_cjk_plot_font_and_it_has_chinese_glyphs():
    from matplotlib.ft2font import FT2Font
    proc = heygem("doctor", "--no-hash")
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.splitlines()[-1]
    assert line.startswith("plot font for Chinese text: "), proc.stdout
    font = json.loads(heygem("doctor", "--no-hash", "--json").stdout)["plot_font"]
    assert font["cjk"] in diagnostics.CJK_FONTS and line.endswith(f"{font['cjk']} ({font['path']})")
    assert Path(font["path"]).is_file()
    face = FT2Font(font["path"])
    assert all(face.get_char_index(ord(c)) for c in "嘴部同步秒")     # the plots' Chinese can be drawn with it
    zh = heygem("doctor", "--no-hash", lang="zh")
    assert zh.stdout.splitlines()[-1] == f"图表中文字体：{font['cjk']}（{font['path']}）"


def test_doctor_says_what_the_plots_do_without_a_cjk_font(monkeypatch):
    monkeypatch.setattr(diagnostics, "CJK_FONTS", ("No Such CJK Font",))
    monkeypatch.setattr(diagnostics, "CJK_FONT_FILES", ("no-such-cjk-font-file",))
    monkeypatch.setattr(diagnostics, "_CJK_FAMILY", None)
    report = doctor.collect(hash=False)
    assert report["plot_font"] == {"cjk": None, "path": None, "matplotlib": True}
    assert doctor._text(report).splitlines()[-1] == (
        "plot font for Chinese text: none found: the plots draw Chinese labels as empty boxes (their Latin font, "
        "DejaVu Sans, has no Chinese); install one, e.g. apt-get install fonts-wqy-microhei, or fonts-noto-cjk")
