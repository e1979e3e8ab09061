"""The written file's sound against its picture (heygem_kernel.mux_check): measured on real
outputs, to the millisecond, and folded into the run's sync offset - a sound track muxed 4
frames late is a sync error the mouth-vs-speech check alone cannot see."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from heygem_kernel import RunOptions, media, mux_check, run
from heygem_kernel.audio import load_audio


def ffmpeg(*args) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


@pytest.fixture(scope="module")
def plain(tmp_path_factory, clip_590, speech_5s):
    """A normal run: talking_590 driven by speech_en_5s."""
    root = tmp_path_factory.mktemp("mux")
    return run(speech_5s, clip_590, out=root / "plain.mp4", runs_root=root / "runs", cache_dir=root / "cache")


def test_an_engine_output_reads_zero_and_a_moved_sound_reads_its_lag(plain, tmp_path, speech_5s):
    speech = load_audio(speech_5s)
    own = mux_check.sound_offset(plain.output, speech=speech, sr=16000)
    assert own.measured and abs(own.offset_s) < 0.003 and own.correlation > 0.99
    late = tmp_path / "late.mp4"          # container start offset: a player plays the sound 0.2 s late
    ffmpeg("-i", plain.output, "-itsoffset", 0.2, "-i", plain.output, "-map", "0:v", "-map", "1:a", "-c", "copy", late)
    baked = tmp_path / "baked.mp4"        # 120 ms of silence in the samples themselves
    ffmpeg("-i", plain.output, "-af", "adelay=120:all=1", "-map", "0:v", "-map", "0:a", "-c:v", "copy", "-c:a", "aac", baked)
    early = tmp_path / "early.mp4"        # the first 0.1 s of sound cut away
    ffmpeg("-i", plain.output, "-ss", 0.1, "-i", plain.output, "-map", "0:v", "-map", "1:a", "-c:v", "copy",
           "-c:a", "aac", early)
    readings = {f.stem: mux_check.sound_offset(f, speech=speech, sr=16000).offset_s for f in (late, baked, early)}
    print(readings)
    assert readings["late"] == pytest.approx(0.200, abs=0.005)
    assert readings["baked"] == pytest.approx(0.120, abs=0.005)
    assert readings["early"] == pytest.approx(-0.100, abs=0.005)


def test_another_speech_or_no_sound_gives_no_reading(plain, tmp_path, media_dir):
    other = mux_check.sound_offset(plain.output, speech=load_audio(media_dir / "speech_zh_8s.wav"), sr=16000)
    assert not other.measured and other.correlation < mux_check.MIN_CORRELATION
    assert other.note == "the file's sound does not match the speech"
    mute = tmp_path / "mute.mp4"
    ffmpeg("-i", plain.output, "-map", "0:v", "-c", "copy", mute)
    silent = mux_check.sound_offset(mute, speech=load_audio(media_dir / "speech_en_5s.wav"), sr=16000)
    assert (silent.measured, silent.note) == (False, "the file has no audio track")


def test_a_run_whose_mux_puts_the_sound_late_reports_it(plain, tmp_path, clip_590, speech_5s, monkeypatch):
    """The same run with the encoder muxing the speech 160 ms (4 frames) late - the fault the
    check could not see before (the mouth was measured before encoding, against the speech it
    analysed): the run's offset moves 4 frames towards 'video leads' and result.json says why."""
    command = media.VideoWriter._command

    def late_mux(self, crf, preset):
        return [("adelay=160:all=1" if a == "asetpts=PTS-STARTPTS" else a) for a in command(self, crf, preset)]
    monkeypatch.setattr(media.VideoWriter, "_command", late_mux)
    bad = run(speech_5s, clip_590, out=tmp_path / "late.mp4", runs_root=tmp_path / "runs", cache_dir=tmp_path / "c")
    good_extra = json.loads((plain.run_dir / "result.json").read_text())["extra"]
    bad_result = json.loads((bad.run_dir / "result.json").read_text())
    print(good_extra["sync_mux"], plain.sync_offset_frames, bad_result["extra"]["sync_mux"], bad.sync_offset_frames)
    assert abs(good_extra["sync_mux"]["offset_ms"]) < 3
    assert bad_result["extra"]["sync_mux"]["offset_ms"] == pytest.approx(160, abs=5)
    assert abs(bad.sync_offset_frames - (plain.sync_offset_frames - 4)) <= 1
    assert bad.sync_offset_frames <= -3 and "video leads audio" in bad_result["extra"]["sync_verdict"]
    log = bad.log_path.read_text()
    assert "the written file's sound plays +160 ms from where the speech was placed" in log


def test_apply_moves_the_offset_by_the_lag_in_frames(plain):
    from heygem_kernel import sync
    est = sync.measure_video_sync(plain.output).estimate
    moved = mux_check.apply(est, mux_check.MuxCheck(0.080, 0.99))
    assert moved.offset_exact == pytest.approx(est.offset_exact - 2.0)
    assert moved.offset_frames == round(est.offset_exact - 2.0) and moved.offset_ms == 40.0 * moved.offset_frames
    assert mux_check.apply(est, mux_check.MuxCheck(0.004, 0.99)) is est           # under MIN_APPLY_S
    assert mux_check.apply(est, mux_check.MuxCheck(np.nan, 0.2, note="x")) is est  # not measured
