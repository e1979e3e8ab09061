"""Speech -> phones (pocketsphinx allphone) -> per-frame mouth targets (visemes).

``recognize_phones`` runs once per recording (about 0.05 s per second of speech);
``viseme_track`` resamples the phone segments to any frame rate cheaply, so one recording
can drive videos of different fps.

Targets are three numbers in [0, 1] per frame: ``open`` (lip/jaw opening), ``width``
(spread vs. neutral) and ``round`` (protrusion/rounding). They follow the usual viseme
classes of ARPAbet phones, placed where a real speaker's mouth is (:func:`real_timing`: shapes
lead their sound, the mouth opens before a phrase - from its audible in-breath when there is
one - and closes after it, the zero calibrated on real footage, plus a per-run ``speaker_lead``
read on the presenter's own recording, :mod:`heygem_kernel.speaker_timing`); co-articulation is a Gaussian blend (sigma 60 ms) with lip closures (M/B/P/F/V)
kept sharp and held. The opening follows the viseme identity; loudness only closes near-silence.

Validation (tests/test_visemes.py): Pearson correlation of ``open`` with the real inner-lip
opening (mediapipe Face Mesh) of clips driven by their own audio track, at the -25 ms zero with
the acoustic opening blended in: talking_590 0.68 (in-sample for the zero), talking_524 0.63,
talking_vfr_700 0.69 (screen captures, not calibrated on; their pictures are late); the loudness envelope alone reaches 0.35,
0.35, 0.56. Raw lag-0 r over whole clips (benchmarks/RESULTS.md, 2026-12-02): mean 0.468 on
eleven English in-sync clips (the shared four 0.48, four fetched filmed clips 0.42, three webcam
recordings 0.52); refitting this table's openings on the other clips, or per speaker on half a
clip, did not raise it held out. What did: ``viseme_track(acoustic=...)`` blends in the opening
predicted from the spectrum (:mod:`heygem_kernel.acoustic`), 0.44 -> 0.50 on four fetched
clips it was not fitted on; the render (``Speech.features``) always does.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("heygem.visemes")

PHONE_RATE = 100            # pocketsphinx frames per second (10 ms frame shift)
DECODER_RATE = 16000        # the bundled en-us acoustic model is 16 kHz

# --- real-speaker timing ----------------------------------------------------------------------
# Where a real mouth is relative to the phone segments the recogniser time-stamps (the same
# model places the render's targets and the sync check's reference; see sync.py CALIBRATION for
# the data and the errors). Physiology first, then the shared clips:
# * Mid-speech, lip and jaw shapes lead the acoustic segment a little (anticipatory
#   co-articulation): LEAD. Swept 0..160 ms on talking_590/524/vfr_700 against the mouth opening,
#   uniform leads of 0..40 ms fit best; larger leads lose correlation fast.
# * Bilabial closures are the acoustic closure itself (lips meet = the sound stops or turns
#   nasal): CLOSURE_LEAD ~0. The closure channel alone peaks at -1, +1, 0, 0 frames on the four
#   shared clips.
# * Phrase onsets: the mouth opens before phonation starts (pre-phonatory opening, 100-300 ms in
#   the audiovisual-speech literature); phrase ends: it stays open a little after the sound.
#   Extending speech into pauses by ONSET_LEAD / OFFSET_LAG raised the lag-0 correlation of the
#   targets with the real opening (benchmarks/calibrate_sync.py, raw Pearson) from 0.51 / 0.50 /
#   0.66 / 0.14 at 200/100 ms to 0.51 / 0.58 / 0.63 / 0.17 at 300/100 ms (talking_590 / 524 /
#   vfr_700 / portrait); 400 ms helped talking_524 and hurt vfr_700, so 300 ms, the top of the
#   physiological range, it is.
LEAD = 0.030                # s; mid-speech shapes lead their acoustic segment
CLOSURE_LEAD = 0.0          # s; bilabial closures M/B/P coincide with the acoustic closure
ONSET_LEAD = 0.30           # s; after a pause the first shape starts this much before the sound
OFFSET_LAG = 0.10           # s; before a pause the last shape is held this much after the sound
MIN_PAUSE = 0.12            # s; silence at least this long is a pause (shorter: a stop gap)
# * The in-breath: before a phrase the mouth opens to breathe in, and an audible in-breath shows
#   when it does. The recogniser labels it silence, so :func:`mark_breaths` relabels the audible
#   end of a pause +BREATH+ and the phrase's first shape starts there when that is earlier than
#   ONSET_LEAD (at most BREATH_MAX_S before the sound). On talking_524 the mouth opens 450 ms
#   before the sound, exactly as its in-breath (15 dB above the room) becomes audible; without
#   the cue its targets opened 150 ms late there and that one phrase onset moved the clip's best
#   self-reenactment lag to +2..+3 frames while its sync reading was +0.7 (detrended) - the
#   slow phrase-level opening and the fast articulation disagreed. A breath is sound in a pause
#   BREATH_DB above the recording's quiet level (5th percentile of 10 ms levels), running up to
#   the phrase with gaps of at most BREATH_GAP_S (the glottis closes briefly before voicing).
# * Lips cannot be shut while the speaker breathes in through the mouth: when the phrase after an
#   audible in-breath starts with a lip closure (M/B/P/F/V), the breath is painted INHALE (an
#   open, neutral mouth: the shape of AH) and the closure keeps its own time, instead of the
#   closed shape being drawn back over the breath. portrait_1080x1920 opens its mouth widest of
#   the whole clip (0.35 D, frames 227-236) to breathe in before a "P" at 9.34 s, and the
#   targets held it shut for 14 frames (its self-reenactment render's targets fitted its mouth
#   0.16, and 0.36 with those 14 frames left out). With INHALE the clip's targets reach raw r 0.37 at lag 0 (was 0.21;
#   benchmarks/calibrate_sync.py "target r0"; 0.35 / 0.38 with an INHALE opening of 0.5 /
#   0.85). In-sample, two events of one clip: at the other (6.3 s) the lips were already shut
#   ~150 ms before the P burst, which a pre-burst hold would draw, but a 100 ms hold lost more
#   at 9.34 s (whose recognised P never closed the real lips: 0.31). The other three clips have
#   no such phrase and are unchanged.
BREATH_DB = 10.0            # dB above the recording's quiet level
BREATH_MAX_S = 0.8          # s; in-breaths searched this far back from the phrase onset
BREATH_GAP_S = 0.15         # s; quiet gaps allowed inside / after the in-breath
MIN_BREATH_S = 0.05         # s; shorter sounds are clicks, not breaths
# 10 ms stretches at or below this level are digital silence (exact zeros from a TTS engine, an
# editor's padding or a noise gate), not the room: the quiet level is taken without them. With 0.2 s
# of zeros before talking_524's own speech the quiet level fell to -120 dB, every pause sounded like
# a breath, a phrase's mouth opened 0.23 s early and the targets kept r 0.73 with the same speech
# without the zeros (0.98 with the zeros replaced by -60 dB noise).
DIGITAL_SILENCE_DB = -90.0
INHALE = "+INHALE+"         # pseudo-phone of real_timing: the mouth open to breathe in
# The calibrated zero (sync.py CALIBRATION; benchmarks/calibrate_sync.py --extra): the mouths of
# six in-sync FILMED recordings (the two shared camera clips, four fetched by
# benchmarks/extra_clips.py) lead the model above by 25 ms at the zero where the farthest of them
# reads nearest 0 (each alone wants talking_590 +15, portrait +2, the fetched lectern -60, podium
# -32, TED -32 and interview -58 ms), so every speech segment is moved this much earlier. In-sample
# they read within 1.00 frame; each left out (the zero of the other five) within 1.13 frames
# (talking_590; sync.CALIBRATION_ERROR_FRAMES).
# The two ~22 fps screen captures (talking_524 +85, talking_vfr_700 +98 ms) are not calibrated on:
# a capture shows its pictures late (sync.py CALIBRATION), the recorder's latency, not the speaker's
# lips; against this zero they read about +2.8 frames, and a run corrects them by their own reading.
# (-12.5 ms until 2026-12-04, fitted with the interview's 720p copy, which alone wanted +18 ms:
# left out it read +1.56 frames, its 1080p original -1.11; 7.5 ms until 2026-12-02, fitted on
# the two shared camera clips alone, which are among the later speakers: three of the four
# fetched clips read early at it, one by 1.67 frames; 12.5 ms until the
# reference was averaged over the dithered recogniser grid, DITHER_SAMPLES; until 2026-12-01 42 ms,
# the midpoint of all four shared clips: the camera clips then read -1 frame and rendered ~1 frame
# late, and in-sync recordings of other presenters read 1-5 frames early.)
# The zero is the average of those speakers; the rest is per speaker, and best_lag ~ -(reading)
# on all four clips. A run therefore adds the presenter's own lead (real_timing's speaker_lead:
# minus the source recording's reading against this very reference, heygem_kernel.speaker_timing),
# when the source's own sound gives a reading above chance; the sync check's reference keeps
# speaker_lead 0, so it stays the calibrated reference. With a reading the zero cancels out of
# the render (reading and render move together); without one (no sound, a photo, below chance:
# the portrait) the render stays at this zero.
MOUTH_DELAY = -0.025        # s
SILENCE = frozenset({"SIL", "+NSN+", "+SPN+", "+BREATH+", "+UH+", "+UM+"})

# --- co-articulation (tuned on talking_590/524/vfr_700 against mediapipe lip distance) -------
GRID_RATE = 200             # Hz: resolution of the target curves before sampling at video fps
SMOOTH_SIGMA = 0.060        # s; Gaussian sigma (FWHM ~ 140 ms): neighbouring phones blend
# Opening follows the viseme, not the loudness: recorded mouths correlate only 0.2-0.4 with the
# speech envelope (0.1-0.2 on other speakers, issue 8). Scaling the opening by loudness
# (open * (b + (1 - b) * envelope)) only lowered the lag-0 correlation with the real mouth on all
# four shared clips (b = 0.6: 0.50 / 0.54 / 0.62 / 0.10; b = 1: 0.51 / 0.59 / 0.63 / 0.19) and
# raised the envelope correlation (0.68 / 0.62 / 0.74 / 0.58 vs 0.56 / 0.46 / 0.64 / 0.38), so
# loudness only gates: below SILENT_ENV (near silence the recogniser may still label phones)
# the mouth closes.
SILENT_ENV = 0.08           # envelope below which the opening fades to closed (linear from 0)
CLOSURE_SIGMA = 0.020       # s; lip closures (M/B/P/F/V) are smoothed less, so they hold closed
CLOSURE_DEPTH = 0.95        # how far a closure pulls the (smoothed) opening to 0
CLOSURES = frozenset({"M", "B", "P", "F", "V"})
BILABIALS = frozenset({"M", "B", "P"})
# Smoothing leaves fluent speech peaking at open ~0.75; the gain maps those peaks near 1 (97th
# percentile 0.74 / 0.95 / 0.93 / 0.92 on talking_590 / 524 / vfr_700 / portrait, 0.87 on
# speech_en_60s), so consumers can map [0, 1] linearly onto the person's own range of openings.
OPEN_GAIN = 1.2
# Weight of the spectrum's opening (heygem_kernel.acoustic) against the phones' in the render's
# opening target: an equal blend. On the four fetched in-sync recordings the model was not fitted
# on (benchmarks/fit_acoustic.py), lag-0 r of the target with the recorded mouth: phones alone
# 0.44, spectrum alone 0.44, the blend 0.50 (weights 0.4-0.6 within 0.01 of it in a first try).
ACOUSTIC_WEIGHT = 0.5

# viseme targets (open, width, round); width 0.5 = neutral
NEUTRAL = (0.0, 0.5, 0.0)
_CLASSES: dict[tuple[float, float, float], tuple[str, ...]] = {
    (0.00, 0.50, 0.10): ("M", "B", "P"),                     # lips pressed together
    (0.05, 0.55, 0.00): ("F", "V"),                          # lower lip to upper teeth
    (0.25, 0.55, 0.00): ("TH", "DH"),                        # tongue between teeth
    (0.25, 0.65, 0.00): ("S", "Z"),                          # teeth nearly closed, spread
    (0.35, 0.55, 0.00): ("T", "D", "N", "L"),                # alveolar, jaw half open
    (0.25, 0.30, 0.60): ("SH", "ZH", "CH", "JH"),            # protruded
    (0.45, 0.50, 0.00): ("K", "G", "NG", "HH"),              # velar / glottal: follows vowels
    (0.25, 0.75, 0.00): ("Y",),
    (0.25, 0.30, 0.50): ("R",),
    (0.35, 0.35, 0.45): ("ER",),
    (0.15, 0.15, 0.95): ("W",),
    (0.85, 0.55, 0.00): ("AA",),                             # open vowels
    (0.80, 0.70, 0.00): ("AE",),
    (0.70, 0.50, 0.00): ("AH", INHALE),                      # INHALE: breathing in (real_timing)
    (0.75, 0.30, 0.55): ("AO",),
    (0.80, 0.40, 0.45): ("AW",),
    (0.80, 0.65, 0.00): ("AY",),
    (0.70, 0.75, 0.00): ("EH",),                             # spread vowels
    (0.65, 0.80, 0.00): ("EY",),
    (0.60, 0.80, 0.00): ("IH",),
    (0.50, 0.90, 0.00): ("IY",),
    (0.45, 0.30, 0.70): ("UH",),                             # rounded vowels
    (0.35, 0.20, 1.00): ("UW",),
    (0.60, 0.30, 0.80): ("OW",),
    (0.65, 0.40, 0.60): ("OY",),
}
VISEMES: dict[str, tuple[float, float, float]] = {p: t for t, ps in _CLASSES.items() for p in ps}


@dataclass(frozen=True)
class PhoneSegment:
    """One recognised phone: ARPAbet symbol (or SIL, +NSN+, +SPN+ ...), start/end in seconds."""

    phone: str
    start: float
    end: float


def target(phone: str) -> tuple[float, float, float]:
    """(open, width, round) of a phone; silence, noise and unknown symbols are NEUTRAL (closed)."""
    return VISEMES.get(phone.upper().rstrip("012"), NEUTRAL)


_decoder = None
_decoder_lock = threading.Lock()   # a pocketsphinx Decoder is not thread-safe


def _get_decoder():
    global _decoder
    if _decoder is None:
        import os
        import pocketsphinx
        model = pocketsphinx.get_model_path()
        _decoder = pocketsphinx.Decoder(
            hmm=os.path.join(model, "en-us", "en-us"),
            allphone=os.path.join(model, "en-us", "en-us-phone.lm.bin"),
            lw=2.0, beam=1e-20, pbeam=1e-20, loglevel="FATAL")
    return _decoder


def recognize_phones(wav: np.ndarray, *, sr: int = DECODER_RATE) -> list[PhoneSegment]:
    """Phone segmentation of mono speech ``wav`` [shape=(S,)] float in [-1, 1].

    Uses pocketsphinx's bundled English acoustic model in allphone mode (any language gives
    English phone labels, which is all a mouth needs). Audio at another rate is resampled.
    Audible in-breaths before a phrase are labelled +BREATH+ (:func:`mark_breaths`).
    """
    wav = np.asarray(wav, dtype=np.float32)
    if sr != DECODER_RATE:
        from math import gcd
        from scipy.signal import resample_poly
        g = gcd(int(sr), DECODER_RATE)
        wav = resample_poly(wav, DECODER_RATE // g, int(sr) // g).astype(np.float32)
    from .audio import ENV_SILENT_DBFS, _peak_dbfs
    if wav.shape[0] < DECODER_RATE // 10 or _peak_dbfs(wav) < ENV_SILENT_DBFS:
        return []                     # no sound: the recogniser would label digital silence as phones (an S)
    wav = _recogniser_level(wav)      # also for the in-breaths: their quiet level without DC or hum
    pcm = (np.clip(wav, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    with _decoder_lock:
        decoder = _get_decoder()
        decoder.reinit_feat()   # reset cepstral-mean state: results must not depend on earlier calls
        decoder.start_utt()
        decoder.process_raw(pcm, no_search=False, full_utt=True)
        decoder.end_utt()
        segments = [PhoneSegment(s.word, s.start_frame / PHONE_RATE, (s.end_frame + 1) / PHONE_RATE)
                    for s in decoder.seg()]
    segments = mark_breaths(segments, wav, sr=DECODER_RATE)
    log.debug("recognised %d phones in %.2f s of audio", len(segments), wav.shape[0] / DECODER_RATE)
    return segments


# Sub-frame dither of the recogniser's analysis grid. pocketsphinx cuts speech into 10 ms frames
# counted from sample 0, so the same speech started 2.5 ms later is segmented differently (other
# phone boundaries, now and then other phones). A sync reading built on one segmentation jitters
# with it: the in-sync shared clips, their sound cut 0-17.5 ms earlier (and the reading corrected
# for it), read talking_590 -0.48..-0.06, talking_524 +1.30..+1.98, talking_vfr_700 +1.15..+2.45
# frames. The sync reference is therefore averaged over the grid started at 0, 2.5, 5 and 7.5 ms
# (quarter frames: :func:`recognize_phone_variants`): the same shifts then read -0.20..-0.19,
# +1.34..+1.51 and +1.29..+1.66 (tests/test_sync_dither.py). heygem sync and speaker timing use the
# variants; the render and a run's own check keep the first (undithered): 3 recognitions cost
# ~1.3 CPU-s per 8 s of speech (portrait + 8 s: a first run took +4.4 CPU-s with both sides dithered).
DITHER_SAMPLES = (0, 40, 80, 120)   # at DECODER_RATE: 0, 2.5, 5, 7.5 ms


def recognize_phone_variants(wav: np.ndarray, *, sr: int = DECODER_RATE,
                             first: list[PhoneSegment] | None = None,
                             reverberant: bool | None = None) -> list[list[PhoneSegment]]:
    """The phones of ``wav`` [shape=(S,)] at 16 kHz recognised once per :data:`DITHER_SAMPLES`
    start (the speech cut that many samples earlier, the times put back): a list of
    ``len(DITHER_SAMPLES)`` segment lists on one time axis. ``first``: the undithered phones
    when already known (``Speech.phones``), not recognised again. Reverberant speech
    (:func:`heygem_kernel.dereverb.is_reverberant`) is also heard with its late reverberation
    suppressed for each room of ``dereverb.HYPOTHESES`` (as many lists again each, after the
    first ``len(DITHER_SAMPLES)``): one hearing's phones stray under a room's tail. ``reverberant``:
    that verdict when already known (``Speech.reverberant``), else measured here."""
    if sr != DECODER_RATE:
        raise ValueError(f"recognize_phone_variants expects {DECODER_RATE} Hz audio, got {sr} Hz")
    from . import dereverb
    wav = np.asarray(wav)
    heard = [wav]
    if reverberant is None:
        reverberant = dereverb.is_reverberant(wav, sr=DECODER_RATE)
    if reverberant:                                      # a room: also its late reverberation suppressed
        heard += [np.clip(dereverb.suppress_late(wav, rt60=rt60, drr_db=drr, sr=DECODER_RATE), -1.0, 1.0)
                  for rt60, drr in dereverb.HYPOTHESES]
    variants = []
    for i, sound in enumerate(heard):
        for k in DITHER_SAMPLES:
            if i == 0 and k == 0 and first is not None:
                variants.append(list(first))
                continue
            shift = k / DECODER_RATE
            variants.append([PhoneSegment(p.phone, p.start + shift, p.end + shift)
                             for p in recognize_phones(sound[k:], sr=DECODER_RATE)])
    return variants


# The recogniser hears every recording at one level: the 99.9th percentile of |sample| at
# RECOGNISER_LEVEL_DBFS (the shared clips sit at -9..-14 dBFS), raised by at most RECOGNISER_MAX_GAIN_DB (a
# near-silent file is not turned into noise to recognise), after audio.highpass (DC offset and mains hum;
# the loudness envelope is measured after it too). Measured on 20 s of speech_en_60s
# (viseme opening targets against the unchanged speech's, r): speech 30 dB quieter 0.92 -> 1.00, 45 dB
# quieter 0.88 -> 1.00, a DC offset of 0.1 0.90 -> 1.00, 50 Hz hum at -20 dBFS 0.89 -> 1.00.
RECOGNISER_LEVEL_DBFS = -10.0
RECOGNISER_MAX_GAIN_DB = 50.0


def _recogniser_level(wav: np.ndarray) -> np.ndarray:
    """``wav`` [shape=(S,)] at 16 kHz, high-passed and brought to the recogniser's level (see above)."""
    from .audio import highpass
    x = highpass(wav, sr=DECODER_RATE)
    level = float(np.percentile(np.abs(x), 99.9))
    if level <= 0.0:
        return x.astype(np.float32)
    gain_db = min(RECOGNISER_LEVEL_DBFS - 20.0 * np.log10(level), RECOGNISER_MAX_GAIN_DB)
    return (x * 10.0 ** (gain_db / 20.0)).astype(np.float32)


def mark_breaths(phones: list[PhoneSegment], wav: np.ndarray, *, sr: int = DECODER_RATE) -> list[PhoneSegment]:
    """``phones`` with the audible in-breath at the end of each pause relabelled ``+BREATH+``.

    wav [shape=(S,)] mono float in [-1, 1] at ``sr`` Hz, the audio the phones were recognised on.
    A pause (silence of at least ``MIN_PAUSE`` followed by speech) is split into SIL and
    +BREATH+ where sound ``BREATH_DB`` above the recording's quiet level runs up to the phrase
    onset (gaps up to ``BREATH_GAP_S``, searched ``BREATH_MAX_S`` back); other segments are
    returned unchanged. :func:`real_timing` opens the mouth from the breath's start.
    """
    wav = np.asarray(wav, dtype=np.float64)
    hop = max(1, int(round(sr / PHONE_RATE)))
    n = wav.shape[0] // hop
    if n < 2:
        return list(phones)
    level = 10.0 * np.log10((wav[:n * hop].reshape(n, hop) ** 2).mean(axis=1) + 1e-12)
    live = level > DIGITAL_SILENCE_DB         # the room's quiet, not padding of exact zeros
    if not live.any():
        return list(phones)
    audible = level > np.percentile(level[live], 5) + BREATH_DB
    max_gap = int(round(BREATH_GAP_S * PHONE_RATE))
    out: list[PhoneSegment] = []
    for i, seg in enumerate(phones):
        nxt = phones[i + 1] if i + 1 < len(phones) else None
        if (is_silence(seg.phone) and seg.end - seg.start >= MIN_PAUSE and nxt is not None
                and not is_silence(nxt.phone)):
            a = int(round(max(seg.start, seg.end - BREATH_MAX_S) * PHONE_RATE))
            b = min(int(round(seg.end * PHONE_RATE)), n)
            first, gap = None, 0
            for j in range(b - 1, a - 1, -1):      # walk back from the onset through the breath
                if audible[j]:
                    first, gap = j, 0
                else:
                    gap += 1
                    if gap > max_gap:
                        break
            if first is not None and audible[first:b].sum() >= MIN_BREATH_S * PHONE_RATE:
                start = first / PHONE_RATE
                if start > seg.start:
                    out.append(PhoneSegment(seg.phone, seg.start, start))
                out.append(PhoneSegment("+BREATH+", start, seg.end))
                continue
        out.append(seg)
    return out


def _smooth(curves: np.ndarray, sigma_samples: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 of curves [shape=(N, C)] (edges held)."""
    radius = max(1, int(round(3 * sigma_samples)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / max(sigma_samples, 1e-6)) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(curves, ((radius, radius), (0, 0)), mode="edge")
    return np.stack([np.convolve(padded[:, c], kernel, mode="valid")
                     for c in range(curves.shape[1])], axis=1)


def is_silence(phone: str) -> bool:
    """Silence, breath and noise labels of the recogniser (no mouth shape)."""
    return phone.upper() in SILENCE


def real_timing(phones: list[PhoneSegment], *, speaker_lead: float = 0.0) -> list[PhoneSegment]:
    """The phone segments moved to where a real speaker's mouth shows them.

    Every speech segment moves ``LEAD`` earlier (bilabial closures ``CLOSURE_LEAD``) and then
    ``MOUTH_DELAY`` later (the zero calibrated on real footage), and ``speaker_lead`` seconds
    earlier again: how far this presenter's mouth leads the calibrated zero, measured on their
    own recording (:mod:`heygem_kernel.speaker_timing`; 0 = the average speaker, what the sync
    check's reference always uses). It is a per-run argument, never a module setting: runs of
    different presenters share this module at once. The first segment after a pause
    (silence, breath or noise of at least ``MIN_PAUSE`` in all) starts ``ONSET_LEAD`` earlier,
    or at the pause's in-breath (+BREATH+, :func:`mark_breaths`) when that starts earlier; the
    last one before a pause ends ``OFFSET_LAG`` later (eating into the pause). A phrase that
    starts with a lip closure after an in-breath keeps the closure at its time and gets an
    ``INHALE`` segment (open) over the breath before it. Silences are
    returned unshifted; speech segments follow them in time order, so painting the list in
    order lets speech overwrite the silence it reaches into.
    """
    n = len(phones)
    quiet = [is_silence(p.phone) for p in phones]
    # for each segment: where the run of silent segments it belongs to / follows starts and ends
    run_start, run_end = [0.0] * n, [0.0] * n
    for i in range(n):
        run_start[i] = run_start[i - 1] if i and quiet[i - 1] and quiet[i] else phones[i].start
    for i in range(n - 1, -1, -1):
        run_end[i] = run_end[i + 1] if i + 1 < n and quiet[i + 1] and quiet[i] else phones[i].end
    silent, speech = [], []
    for i, seg in enumerate(phones):
        if quiet[i]:
            silent.append(seg)
            continue
        lead = (CLOSURE_LEAD if seg.phone.upper() in BILABIALS else LEAD) - MOUTH_DELAY + speaker_lead
        start, end = seg.start - lead, seg.end - lead
        if i == 0 or (quiet[i - 1] and seg.start - run_start[i - 1] >= MIN_PAUSE):
            onset = ONSET_LEAD
            breath = i > 0 and phones[i - 1].phone.upper() == "+BREATH+"
            if breath:
                onset = max(onset, min(seg.start - phones[i - 1].start, BREATH_MAX_S))
            if breath and seg.phone.upper().rstrip("012") in CLOSURES:
                speech.append(PhoneSegment(INHALE, start - onset, start))   # open to breathe in
            else:
                start -= onset
        if i + 1 == n or (quiet[i + 1] and run_end[i + 1] - seg.end >= MIN_PAUSE):
            end += OFFSET_LAG
        speech.append(PhoneSegment(seg.phone, start, end))
    return silent + speech


def _paint(phones: list[PhoneSegment], n_grid: int, value) -> np.ndarray:
    """Piecewise-constant curves [shape=(n_grid, C)] at GRID_RATE from segments painted in
    order (later ones overwrite); the grid starts NEUTRAL (silence)."""
    first = np.atleast_1d(np.asarray(value(PhoneSegment("SIL", 0.0, 0.0)), dtype=np.float64))
    grid = np.tile(first, (n_grid, 1))
    for seg in phones:
        a = max(int(round(seg.start * GRID_RATE)), 0)
        b = min(int(round(seg.end * GRID_RATE)), n_grid)
        if b > a:
            grid[a:b] = value(seg)
    return grid


def closure_track(phones: list[PhoneSegment], *, fps: float, n_frames: int) -> np.ndarray:
    """Bilabial closure (M/B/P) per frame at real-speaker timing, [shape=(n_frames,)] in [0, 1].

    1 while the lips are pressed together for a recognised bilabial, smoothed with
    ``CLOSURE_SIGMA``; the sync check's most clip-independent clock (sync.py).
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    timed = real_timing(phones)
    n_grid = _grid_size(timed, fps, n_frames)
    grid = _paint(timed, n_grid, lambda seg: float(seg.phone.upper() in BILABIALS))
    smooth = _smooth(grid, CLOSURE_SIGMA * GRID_RATE)[:, 0]
    return np.interp(np.arange(n_frames) / fps, np.arange(n_grid) / GRID_RATE, smooth).astype(np.float32)


def _grid_size(phones: list[PhoneSegment], fps: float, n_frames: int) -> int:
    span = max(n_frames / fps, max((p.end for p in phones), default=0.0)) + 0.5
    return int(np.ceil(span * GRID_RATE)) + 1


def _blend_acoustic(phone_open: np.ndarray, acoustic: np.ndarray) -> np.ndarray:
    """The phones' opening [shape=(n,)] blended with the spectrum's z-scored prediction, which
    takes the phones' own mean and spread (so the blend keeps their scale)."""
    acoustic = np.asarray(acoustic, np.float64)
    if acoustic.shape != phone_open.shape:
        raise ValueError(f"acoustic has shape {acoustic.shape}, expected {phone_open.shape}")
    if phone_open.size == 0:
        return phone_open
    scaled = phone_open.mean() + phone_open.std() * acoustic
    return (1.0 - ACOUSTIC_WEIGHT) * phone_open + ACOUSTIC_WEIGHT * np.clip(scaled, 0.0, None)


def viseme_track(phones: list[PhoneSegment], *, envelope: np.ndarray, fps: float,
                 n_frames: int, speaker_lead: float = 0.0,
                 acoustic: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-frame mouth targets for a video at ``fps``, placed where a real mouth is.

    phones   recognised segments (seconds, acoustic timing); gaps count as silence.
    envelope [shape=(n_frames,)] loudness per output frame in [0, 1] (see audio.envelope).
    acoustic optional [shape=(n_frames,)] z-scored opening predicted from the spectrum
             (:func:`heygem_kernel.acoustic.opening`, already at the frames' timing): blended
             into the phones' opening with ``ACOUSTIC_WEIGHT``, before the closures cut it.
    Returns {"open", "width", "round"}, each [shape=(n_frames,)] float32 in [0, 1].

    Segments are moved by :func:`real_timing` (shapes lead the sound, the mouth opens before a
    phrase and closes after it; ``speaker_lead`` seconds earlier for a presenter whose mouth
    leads the calibrated zero, see there), held over their segment, blended by a Gaussian (co-
    articulation, ``SMOOTH_SIGMA``) and cut by sharp lip closures for M/B/P/F/V. Loudness only
    closes the mouth where the speech is near silent (``SILENT_ENV``).
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    envelope = np.asarray(envelope, dtype=np.float64)
    if envelope.shape != (n_frames,):
        raise ValueError(f"envelope has shape {envelope.shape}, expected ({n_frames},)")
    timed = real_timing(phones, speaker_lead=speaker_lead)
    n_grid = _grid_size(timed, fps, n_frames)
    grid = _paint(timed, n_grid, lambda seg: target(seg.phone))                        # (n_grid, 3)
    closure = _paint(timed, n_grid, lambda seg: float(seg.phone.upper() in CLOSURES))  # (n_grid, 1)
    smooth = _smooth(grid, SMOOTH_SIGMA * GRID_RATE)
    kept_open = 1.0 - CLOSURE_DEPTH * _smooth(closure, CLOSURE_SIGMA * GRID_RATE)[:, 0]
    grid_t = np.arange(n_grid) / GRID_RATE
    frame_t = np.arange(n_frames) / fps
    if acoustic is None:                         # the closures cut on the grid (as before the blend existed)
        smooth[:, 0] *= kept_open
    sampled = np.stack([np.interp(frame_t, grid_t, smooth[:, c]) for c in range(3)], axis=1)
    if acoustic is not None:                     # blend at the frames, then the closures cut the blend
        sampled[:, 0] = _blend_acoustic(sampled[:, 0], acoustic) * np.interp(frame_t, grid_t, kept_open)
    # loudness only gates near-silence: a frame counts as loud when the speech is audible within
    # ONSET_LEAD after it or OFFSET_LAG before it, so the pre-phonatory opening and the closing
    # after a phrase survive the silence they happen in
    ahead, behind = int(np.ceil(ONSET_LEAD * fps)), int(np.ceil(OFFSET_LAG * fps))
    padded = np.pad(envelope, (behind, ahead))
    loud = np.max([padded[k:k + n_frames] for k in range(ahead + behind + 1)], axis=0) if n_frames else envelope
    is_open = OPEN_GAIN * sampled[:, 0] * np.clip(loud / SILENT_ENV, 0.0, 1.0)
    # shape (width, rounding) fades a little towards neutral as the speech gets quiet
    strength = 0.7 + 0.3 * loud
    width = NEUTRAL[1] + (sampled[:, 1] - NEUTRAL[1]) * strength
    rounding = sampled[:, 2] * strength
    clip = lambda x: np.clip(x, 0.0, 1.0).astype(np.float32)  # noqa: E731
    return {"open": clip(is_open), "width": clip(width), "round": clip(rounding)}
