"""A speech analysed once and handed to the engine (the panel's and the batch's several videos)
is used only for the language it was analysed in, and the preview analyses it in the options'
language: --language was ignored in silence there."""
from __future__ import annotations

import subprocess

from heygem_kernel import audio, pipeline
from heygem_kernel.options import RunOptions


def test_a_given_speech_of_another_language_is_analysed_again(tmp_path, clip_524, speech_zh):
    speech = tmp_path / "zh_2s.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-t", "2", "-i", str(speech_zh), str(speech)], check=True,
                   timeout=60)
    english = audio.load_speech(speech)                  # what the panel loaded for its videos
    assert english.language == "auto"
    result = pipeline.run(speech, clip_524, options=RunOptions(language="zh-CN"), speech=english,
                          run_dir=tmp_path / "run", cache_dir=tmp_path / "cache")
    assert result.extra["speech_language"] == "zh"       # was "auto": the English phone model's mouths


def test_the_preview_analyses_the_speech_in_the_options_language(tmp_path, clip_524, speech_zh, monkeypatch):
    """The panel's one-frame preview always used the English phone model, whatever its language menu said."""
    loaded = []
    load = audio.load_speech
    monkeypatch.setattr(audio, "load_speech", lambda path, **kw: loaded.append(kw.get("language")) or load(path, **kw))
    speech = tmp_path / "zh_1s.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-t", "1", "-i", str(speech_zh), str(speech)], check=True,
                   timeout=60)
    frame = pipeline.preview_frame(speech, clip_524, options=RunOptions(language="cmn"), frame_index=5)
    assert frame.shape == (524, 524, 3)
    assert loaded == ["zh"]
