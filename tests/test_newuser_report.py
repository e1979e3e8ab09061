"""A new user's tour, the batch report opened by a colleague.

Before: report.html (nbconvert's lab template) loaded require.js and MathJax from
cdnjs.cloudflare.com when opened: a report of private footage called out to the internet (and
waited on it on an air-gapped machine), though nothing in it needs either. Now no script is
loaded from outside the file; the plots stay inlined.
"""
from __future__ import annotations

import base64
import re

import cv2
import nbformat

from heygem_kernel import report


def _notebook(clip, heading: str):
    """An executed batch notebook: a markdown ``heading`` and one plot of ``clip``'s first frame
    (its base64 PNG returned too)."""
    cap = cv2.VideoCapture(str(clip))
    ok, frame = cap.read()
    cap.release()
    assert ok
    png = base64.b64encode(cv2.imencode(".png", cv2.resize(frame, (64, 64)))[1].tobytes()).decode()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell("show()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})]
    nb.cells = [nbformat.v4.new_markdown_cell(heading), cell]
    return nb, png


def test_the_report_loads_nothing_from_the_internet(tmp_path, clip_524):
    nb, png = _notebook(clip_524, "# 培训批次 $5 and $6")
    executed = tmp_path / "batch.ipynb"
    nbformat.write(nb, executed)

    html = report.write_html(executed).read_text(encoding="utf-8")
    external = re.findall(r'<script\b[^>]*\bsrc="(https?://[^"]*)"', html, flags=re.IGNORECASE)
    assert external == [], external
    assert re.findall(r'<link\b[^>]*\bhref="https?://[^"]*"[^>]*stylesheet', html) == []
    assert f"data:image/png;base64,{png[:40]}" in html          # the plot is still in the file
    assert "培训批次" in html and "show()" not in html               # text kept, code left out


def test_a_chinese_report_names_itself_and_its_language(tmp_path, clip_524):
    """Before: a Chinese batch's report.html was <title>Notebook</title> in the browser's tab and
    history, and <html lang="en"> (a browser may then pick a Japanese font for its characters)."""
    from heygem_kernel import i18n
    nb, png = _notebook(clip_524, "# HeyGem 批量任务")
    folder = tmp_path / "第一 期"
    folder.mkdir()
    nbformat.write(nb, folder / "batch.ipynb")
    i18n.set_language("zh")
    try:
        html = report.write_html(folder / "batch.ipynb").read_text(encoding="utf-8")
    finally:
        i18n.set_language(None)
    assert re.search(r'<html lang="zh">', html), re.findall(r"<html[^>]*>", html)
    assert "<title>HeyGem 批量任务报告：第一 期</title>" in html, re.findall(r"<title>[^<]*</title>", html)
    english = report.write_html(folder / "batch.ipynb", folder / "en.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in english and "<title>HeyGem batch report: 第一 期</title>" in english
