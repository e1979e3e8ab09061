"""Pre-flight scan on real clips and on clips made from them (no face, two faces, garbage)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from heygem_kernel.media import ffmpeg_exe
from heygem_kernel.scan import format_table, scan_video

SAMPLES = 6


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def made(tmp_path_factory, clip_590, clip_524) -> dict[str, Path]:
    """Short clips built from the real ones: 1 s of grey then 2 s of a face; two faces side by side;
    a clip without any face; a file that is not a video."""
    d = tmp_path_factory.mktemp("scan")
    clips = {"late_face": d / "late_face.mp4", "two_faces": d / "two_faces.mp4",
             "no_face": d / "no_face.mp4", "garbage": d / "garbage.mp4"}
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=590x590:r=25:d=1", "-t", "2", "-i", str(clip_590),
           "-filter_complex", "[0:v]setsar=1[a];[1:v]setsar=1,fps=25[b];[a][b]concat=n=2:v=1:a=0",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(clips["late_face"]))
    ffmpeg("-t", "1", "-i", str(clip_590), "-t", "1", "-i", str(clip_524), "-filter_complex",
           "[1:v]scale=590:590[b];[0:v][b]hstack=inputs=2", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", str(clips["two_faces"]))
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=320x240:r=25:d=1", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", str(clips["no_face"]))
    clips["garbage"].write_bytes(b"this is not a video at all\n" * 100)
    return clips


def test_good_clip_facts(clip_590):
    rep = scan_video(clip_590, audio_duration=5.0, samples=SAMPLES)
    assert rep.ok and rep.readable and not rep.fatal
    assert (rep.width, rep.height) == (590, 590)
    assert rep.fps == pytest.approx(25.0) and not rep.vfr
    assert rep.n_frames == 125 and rep.duration == pytest.approx(5.0, abs=0.05)
    assert len(rep.faces) == SAMPLES and all(f == 1 for f in rep.faces)
    assert rep.no_face == () and rep.multi_face == ()
    assert rep.length == "1:1" and rep.est_seconds > 0


def test_length_against_audio_and_estimate(clip_590):
    longer = scan_video(clip_590, audio_duration=12.0, samples=2)
    shorter = scan_video(clip_590, audio_duration=2.0, samples=2)
    assert longer.length == "loop" and any("looped" in p for p in longer.problems)
    assert shorter.length == "trim" and any("cut" in p for p in shorter.problems)
    assert longer.ok and shorter.ok  # length is a note, not a failure
    assert longer.est_seconds > shorter.est_seconds


def test_variable_frame_rate_is_reported(clip_vfr):
    rep = scan_video(clip_vfr, samples=3)
    assert rep.ok and rep.vfr
    assert rep.nominal_fps == pytest.approx(30.0) and 20 < rep.fps < 24
    assert any("variable frame rate" in p for p in rep.problems)


def test_no_face_stretch_found_but_clip_usable(made):
    rep = scan_video(made["late_face"], samples=SAMPLES)
    assert rep.ok
    assert rep.faces[0] == 0 and rep.faces[-1] == 1
    assert len(rep.no_face) == 1 and rep.no_face[0][0] < 1.0
    assert any(p.startswith("no face at") for p in rep.problems)


def test_two_faces_reported(made):
    rep = scan_video(made["two_faces"], samples=3)
    assert rep.ok and max(rep.faces) == 2
    assert rep.multi_face and any("several faces" in p for p in rep.problems)


def test_clip_without_any_face_is_fatal(made):
    rep = scan_video(made["no_face"], samples=4)
    assert not rep.ok and rep.readable
    assert rep.faces == (0, 0, 0, 0)
    assert rep.fatal == (f"no face in {made['no_face']} (4 sampled frames checked)",)


def test_unreadable_file_is_fatal_with_one_line(made):
    rep = scan_video(made["garbage"])
    assert not rep.ok and not rep.readable and rep.faces == ()
    assert len(rep.fatal) == 1 and str(made["garbage"]) in rep.fatal[0] and "\n" not in rep.fatal[0]
    table = format_table([rep])
    assert "garbage.mp4" in table and "NO" in table


def test_to_dict_is_json(clip_524):
    data = scan_video(clip_524, audio_duration=4.0, samples=2).to_dict()
    assert json.loads(json.dumps(data))["faces"] == [1, 1]


def test_cli_table_and_exit_status(clip_524, made, speech_5s):
    cmd = [sys.executable, "-m", "heygem_kernel", "scan", "--audio", str(speech_5s), "--samples", "3"]
    good = subprocess.run(cmd + [str(clip_524)], capture_output=True, text=True, timeout=300)
    assert good.returncode == 0, good.stderr
    header, row = good.stdout.strip().splitlines()
    assert header.split()[:3] == ["video", "ok", "size"]
    assert row.startswith("talking_524.mp4") and "524x524" in row and "3/3" in row

    bad = subprocess.run(cmd + ["--json", str(clip_524), str(made["garbage"])], capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode == 1
    reports = json.loads(bad.stdout)
    assert [r["ok"] for r in reports] == [True, False]
    assert reports[0]["audio_duration"] == pytest.approx(5.016, abs=0.01)


def _columns(text: str) -> int:
    """Terminal columns, worked out here without wcwidth: wide East Asian characters take two;
    combining marks and Hangul's conjoining vowels/finals (U+1160-U+11FF) none."""
    import unicodedata
    return sum(0 if unicodedata.combining(c) or "\u1160" <= c <= "\u11ff" else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_cli_table_columns_line_up_with_cjk_and_decomposed_names(tmp_path, clip_524, lang):
    import os
    import shutil
    import unicodedata
    names = ["张老师讲课.mp4", "ｆｕｌｌ王.mp4", unicodedata.normalize("NFD", "café Müller.mp4"),
             unicodedata.normalize("NFD", "김민수.mp4"), "plain.mp4", "tab\there.mp4"]   # NFD: as macOS names files
    for name in names:
        shutil.copy(clip_524, tmp_path / name)
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "scan", "--samples", "1", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "HEYGEM_LANG": lang})
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.rstrip("\n").split("\n")
    assert len(rows) == len(names)                   # one line per video, a tab or newline cannot break it
    size = "524x524"
    starts = {_columns(row[:row.index(size)]) for row in rows}
    assert len(starts) == 1, proc.stdout             # the size column starts at one terminal column
    assert {_columns(row[:row.index("1/1")]) for row in rows} == {_columns(header[:header.index(header.split()[5])])}
    assert any(row.startswith("tab?here.mp4") for row in rows)


def test_a_presenter_over_a_blurred_copy_of_themselves_is_one_face(tmp_path, clip_590):
    """Before (helper-40): talking_590 at 540 px over its own blurred, enlarged copy filling 1920x1080
    (a common landscape layout) read "several faces": the detector's box on the blurred copy got the
    presenter's own landmarks. Detections whose landmarks land on one face now count once."""
    out = tmp_path / "layout.mp4"
    ffmpeg("-t", "1", "-i", str(clip_590), "-filter_complex",
           "[0:v]split[a][b];[a]scale=1920:1080:force_original_aspect_ratio=increase,crop=1920:1080,boxblur=20:2[bg];"
           "[b]scale=540:540[fg];[bg][fg]overlay=690:270",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out))
    rep = scan_video(out, samples=3)
    assert rep.ok and rep.faces == (1, 1, 1), rep.faces
    assert not rep.multi_face and not any("several faces" in p for p in rep.problems)


def test_face_counts_are_reused_by_content(tmp_path, clip_590, monkeypatch):
    """Before (helper-41): a batch run again with another speech in a new folder scanned every video
    again (~6 s each on 2 cores). The sampled frames' face counts are now cached by the video's
    content; the speech-dependent parts of the report are still worked out for the new speech."""
    import heygem_kernel.scan as scan_mod
    calls = []
    real = scan_mod._count_faces
    monkeypatch.setattr(scan_mod, "_count_faces", lambda det, frame: calls.append(1) or real(det, frame))
    first = scan_video(clip_590, audio_duration=5.0, samples=4, cache_dir=tmp_path)
    assert len(calls) == 4 and len(list(tmp_path.glob("scan-*.json"))) == 1
    copy = tmp_path / "same content.mp4"
    copy.write_bytes(clip_590.read_bytes())
    again = scan_video(copy, audio_duration=12.0, samples=4, cache_dir=tmp_path)
    assert len(calls) == 4                                   # no detection: counted by content
    assert again.faces == first.faces == (1, 1, 1, 1)
    assert again.audio_duration == 12.0 and again.length != first.length   # looped now, trimmed before
    scan_video(clip_590, audio_duration=5.0, samples=5, cache_dir=tmp_path)
    assert len(calls) == 9                                   # other sample times: counted


def test_a_frame_that_did_not_decode_is_not_cached(tmp_path, clip_590, monkeypatch):
    """helper-42: a grab that timed out (-1) was cached for good under the video's content: every later
    batch said the frame could not be decoded."""
    import heygem_kernel.scan as scan_mod
    monkeypatch.setattr(scan_mod, "_grab", lambda info, t: None)
    rep = scan_video(clip_590, samples=2, cache_dir=tmp_path)
    assert rep.faces == (0, 0) and not list(tmp_path.glob("scan-*.json"))
