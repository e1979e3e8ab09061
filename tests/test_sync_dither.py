"""The sync reading does not hinge on where the phone recogniser's 10 ms analysis grid starts.

pocketsphinx segments speech on a grid counted from sample 0; the same recording started a few
milliseconds later is segmented differently. The reference is the mean over the grid dithered by
quarter frames (visemes.DITHER_SAMPLES), so a sub-frame cut of the sound moves the reading by
about that cut and no more. Ground truth: the in-sync shared recordings' own mouths."""
from __future__ import annotations

import numpy as np
import pytest
from heygem_kernel import landmarks, media, sync, visemes
from heygem_kernel.audio import SAMPLE_RATE, speech_from_wav

CLIPS = ("talking_590.mp4", "talking_524.mp4", "talking_vfr_700.mp4")
CUTS = (0, 20, 60, 100, 140)     # samples at 16 kHz: 0-8.75 ms, none a multiple of the dither step
MAX_SPREAD_FRAMES = 0.5          # one segmentation: 0.40 / 0.18 / 0.81 frames on these clips (dithered: 0.02 / 0.16 / 0.36; with the peak refined, sync.REFINE_S: 0.02 / 0.17 / 0.20)


@pytest.mark.parametrize("name", CLIPS)
def test_reading_is_stable_under_sub_frame_cuts(media_dir, name):
    video = media_dir / name
    track = landmarks.track_video(video)
    wav, _ = sync._own_speech(video, media.probe_video(video).audio_delay)
    readings = []
    for cut in CUTS:
        speech = speech_from_wav(wav.wav[cut:], sr=SAMPLE_RATE)        # the sound `cut` samples earlier
        n = min(track.n_frames, speech.n_frames_at(track.fps))
        est = sync.estimate_from_speech(track.mouth_open()[:n], speech=speech, fps=track.fps,
                                        mouth_width=track.mouth_width()[:n])
        readings.append(est.offset_exact - cut / SAMPLE_RATE * track.fps)   # the cut itself put back
    spread = max(readings) - min(readings)
    print(f"{name}: readings {np.round(readings, 2)}, spread {spread:.2f} frames")
    assert spread <= MAX_SPREAD_FRAMES, readings


def test_variants_share_one_time_axis(media_dir):
    """Every variant is the same speech on the same clock: the phrase starts and ends agree within
    a phone frame, and the first variant is the undithered recognition the render uses."""
    wav, _ = sync._own_speech(media_dir / "talking_590.mp4", 0.0)
    variants = wav.phone_variants
    assert len(variants) == len(visemes.DITHER_SAMPLES)
    assert variants[0] == wav.phones
    for phones in variants:
        spoken = [p for p in phones if not visemes.is_silence(p.phone)]
        assert abs(spoken[0].start - [p for p in wav.phones if not visemes.is_silence(p.phone)][0].start) <= 0.03
        assert abs(spoken[-1].end - [p for p in wav.phones if not visemes.is_silence(p.phone)][-1].end) <= 0.03
