"""Very short speech and footage (one frame up): a correct output or one clear line, and scan says so."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from heygem_kernel import landmarks
from heygem_kernel.media import ffmpeg_exe, ffprobe_exe
from heygem_kernel.options import RunOptions
from heygem_kernel.pipeline import run
from heygem_kernel.scan import scan_video


def ffmpeg(*args) -> None:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def probe(path: Path) -> dict:
    out = subprocess.run([ffprobe_exe(), "-v", "error", "-count_frames", "-show_entries",
                          "stream=codec_type,nb_read_frames,duration", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


@pytest.fixture(scope="module")
def made(tmp_path_factory, clip_590, speech_5s) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("short")
    m = {"three": d / "three.mp4", "one": d / "one.mp4", "clip": d / "clip.mp4",
         "speech_1s": d / "speech_1s.wav", "speech_120ms": d / "speech_120ms.wav",
         "speech_40ms": d / "speech_40ms.wav", "speech_5ms": d / "speech_5ms.wav"}
    for key, n in (("three", 3), ("one", 1), ("clip", 25)):
        ffmpeg("-i", clip_590, "-frames:v", n, "-an", "-vf", "scale=240:240", "-c:v", "libx264",
               "-preset", "ultrafast", m[key])
    for key, start, dur in (("speech_1s", 1.0, 1.0), ("speech_120ms", 1.2, 0.12), ("speech_40ms", 1.2, 0.04),
                            ("speech_5ms", 1.2, 0.005)):   # real speech, cut from a loud stretch
        ffmpeg("-ss", start, "-t", dur, "-i", speech_5s, "-ac", "1", "-ar", "16000", m[key])
    return m


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_smoothing_a_track_shorter_than_its_kernel(n):
    rng = np.random.default_rng(n)
    lm = rng.normal(100, 5, (n, 68, 2)).astype(np.float32)
    out = landmarks.smooth_track(lm, np.ones(n, bool), strength=1.0)
    assert out.shape == lm.shape and np.isfinite(out).all()
    if n == 1:
        np.testing.assert_allclose(out, lm, atol=1e-4)   # nothing to average with


def test_three_frame_video_with_normal_speech(tmp_path, made):
    res = run(made["speech_1s"], made["three"], out=tmp_path / "o.mp4", runs_root=tmp_path / "runs",
              options=RunOptions(use_cache=False))
    streams = probe(res.output)
    assert int(streams["video"]["nb_read_frames"]) == 25 == res.n_frames     # 1 s at 25 fps, looped
    assert float(streams["video"]["duration"]) == pytest.approx(1.0, abs=0.05)
    assert res.frames_no_face == 0
    rep = scan_video(made["three"], audio_duration=1.0, samples=3)
    assert rep.ok and any(p.startswith("very short video: 3 frames") for p in rep.problems)


@pytest.mark.parametrize("speech,frames", [("speech_120ms", 3), ("speech_40ms", 1)])
def test_very_short_speech_gives_a_short_output(tmp_path, made, speech, frames):
    video = made["one"] if frames == 1 else made["clip"]
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "run", "--audio", made[speech], "--video", video,
                           "--out", tmp_path / "o.mp4", "--runs-root", tmp_path / "runs", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout.splitlines()[0].endswith(", too short for a sync check)")
    streams = probe(tmp_path / "o.mp4")
    assert int(streams["video"]["nb_read_frames"]) == frames
    assert float(streams["video"]["duration"]) == pytest.approx(frames / 25, abs=0.01)
    result = json.loads(next((tmp_path / "runs").glob("*/result.json")).read_text())
    assert result["n_frames"] == frames
    rep = scan_video(video, audio_duration=frames / 25, samples=2)
    assert any(p.startswith("very short speech") for p in rep.problems)


def test_a_few_milliseconds_of_sound_is_one_clear_line(tmp_path, made):
    proc = subprocess.run([sys.executable, "-m", "heygem_kernel", "run", "--audio", made["speech_5ms"], "--video",
                           made["one"], "--runs-root", tmp_path / "runs", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"heygem: error: {made['speech_5ms']} holds only 5 ms of audio: at least 10 ms are needed")


def test_batch_of_short_footage_is_flagged_first_and_runs(tmp_path, made):
    from heygem_kernel import batch
    plan = batch.prepare(made["speech_1s"], [made["three"], made["one"]], run_dir=tmp_path / "b", samples=2,
                         options={"sync_check": False})
    scans = {Path(e["video"]).name: e["scan"]["problems"] for e in plan.items}
    assert any(p.startswith("very short video: 3 frames") for p in scans["three.mp4"])
    assert any(p.startswith("very short video: 1 frame ") for p in scans["one.mp4"])
    result = batch.execute(plan, progress=False)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [e["status"] for e in manifest["items"]] == ["ok", "ok"], [e.get("error") for e in manifest["items"]]
    assert result.n_ok == 2


def test_an_engine_bug_in_a_batch_item_is_one_plain_line(tmp_path, made):
    from heygem_kernel import batch

    def broken(*args, **kwargs):
        raise ValueError("operands could not be broadcast together with shapes (0,) (2,)")

    plan = batch.prepare(made["speech_1s"], [made["three"]], run_dir=tmp_path / "b", scan=False)
    batch.execute(plan, progress=False, runner=broken)
    entry = json.loads((tmp_path / "b" / "manifest.json").read_text())["items"][0]
    name = entry["name"]
    assert entry["status"] == "failed"
    assert entry["error"] == ("internal error (ValueError: operands could not be broadcast together with shapes "
                              f"(0,) (2,)); traceback in items/{name}/error.log")
    assert "Traceback" in (tmp_path / "b" / "items" / name / "error.log").read_text()
