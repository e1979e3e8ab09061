"""A new user's tour, reading run.log of a run on a presenter whose own sound does not read.

Before: the line was "speaker timing not applied: low confidence: the mouth does not clearly follow
this speech (confidence 0.14, chance level 0.42); the offset is a guess" (portrait_1080x1920 + any
speech): the sync check's verdict, which reads as if the new output were out of sync. The reading is
of the presenter's mouth against the video's own sound; the note now says so (result.json's
extra.speaker_timing.note too; zh translated).
"""
from __future__ import annotations

from heygem_kernel import i18n, landmarks, media, speaker_timing, visemes
from heygem_kernel.audio import load_audio


def test_a_reading_below_chance_names_the_videos_own_sound(clip_524, speech_60s):
    info = media.probe_video(clip_524)
    track = landmarks.track_video(clip_524)
    n = round(track.n_frames / info.fps * 16000)
    other = load_audio(speech_60s)[8 * 16000:8 * 16000 + n]    # speech that is not this presenter's
    timing = speaker_timing.measure(landmarks=track.landmarks, valid=track.valid, info=info,
                                    phones=visemes.recognize_phones(other))
    assert not timing.applied and timing.confidence < timing.chance, timing.to_dict()
    assert timing.note == (f"the presenter's mouth does not clearly follow the video's own sound "
                           f"(confidence {timing.confidence:.2f}, chance level {timing.chance:.2f})")
    i18n.set_language("zh")
    try:
        assert timing.note.localized() == (f"说话人的嘴部动作与视频自带的声音没有明显对应（置信度 "
                                           f"{timing.confidence:.2f}，随机水平 {timing.chance:.2f}）")
    finally:
        i18n.set_language(None)
