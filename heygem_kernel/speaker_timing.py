"""Per-speaker mouth timing, measured on the presenter's own recording (issue 8).

The render places mouth shapes with one real-speech timing model for everybody
(:func:`heygem_kernel.visemes.real_timing`, its zero ``visemes.MOUTH_DELAY`` calibrated on six
in-sync filmed recordings). How far a person's lips lead their sound differs from that average,
and the rest of the error is per speaker (and per recorder: a screen capture shows its pictures
late): ``heygem sync`` reads the untouched shared clips +1.00 / +2.79 / +2.85 / +0.63 frames at
that zero (talking_590 / 524 / vfr_700 / portrait_1080x1920) and the fetched filmed clips
-0.94..-0.16, and a self-reenactment render peaks at about minus the reading. In-sync camera
recordings of other presenters read 1-5 frames early against the check before issue 8, i.e. their
lips led more than these clips'.

When the source video has its own audio track, :func:`measure` reads the presenter's lips
against that sound with the sync estimator (:func:`heygem_kernel.sync.estimate_from_speech`:
the face analysis' raw mouth track of the analysed frames, at most ``MAX_SPAN_S``, against the
calibrated reference of the source's own speech, its container start offset applied), and the
render moves its shapes by minus that reading (``lead_ms``: positive = this speaker's mouth
leads the calibrated zero, shapes drawn earlier). The run-time sync check of the output keeps
the calibrated reference, so ``heygem sync`` on untouched recordings is never circular.

Applied only when the reading can be trusted (``applied``): confidence above the estimator's
chance level (unrelated speech reaches it 5 % of the time), at least ``MIN_SPEECH_S`` of
recognised speech, a reading from ``MAX_EARLY_S`` early to ``MAX_LATE_S`` late (farther is a file
whose sound is out of step with its picture, not a speaker), both halves of the span reading
within ``AGREE_FRAMES`` of the whole (split-half reliability: a 5 s reading can be noise; when only
one half does and the whole reads at least ``ONE_HALF_MIN_RATIO`` x chance, the median of the three
readings is applied, ``applied_from``); a late reading is clamped to ``MAX_LAG_S``. A photo, a video without
sound, silence, music or a sound track that does not belong to the frames changes nothing.

The own speech's phones are cached beside the face analysis (by the video's content hash and
the span's frames), so re-runs with new speech pay only the correlation (milliseconds).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import record_of
from .i18n import Text

log = logging.getLogger("heygem.speaker")

MAX_SPAN_S = 30.0       # s of the source analysed at most: ~1.5 s of phone recognition, plenty for a reading
# How far a presenter's lips may lead or trail the calibrated zero, asymmetric as lips and viewers are.
# Early (mouth before its sound, a negative reading): lips lead the sound they make by 50-150 ms
# (issue 8), and in-sync camera recordings of other presenters read 1-5 frames (up to 200 ms at 25
# fps) earlier than the shared clips against the pre-issue-8 check. ITU-R BT.1359 puts a sound that
# is late within 185 ms inside what viewers accept, so a source reading up to MAX_EARLY_S early
# is taken as this presenter's timing (whether lips or an unnoticed late sound track, the output
# then looks like the source) and the render follows it in full. Farther: a file out of step.
MAX_EARLY_S = 0.1675
# (These three limits are where the mouth may be in absolute time; they were 200 / 120 / 80 ms against
# the 7.5 ms zero and moved with it to the 6-clip zeros, 180 / 140 / 100 ms at -12.5 ms and now
# 167.5 / 152.5 / 112.5 ms at visemes.MOUTH_DELAY -25 ms.)
# Late (mouth after its sound, a positive reading): lips do not trail their sound, and viewers see a
# sound early from 45 ms (BT.1359). The shared screen captures read ~+112 / ~+125 ms (their pictures
# late, sync.py CALIBRATION); beyond MAX_LATE_S (3.8 frames at 25 fps) is a file out of step. A late
# reading moves the render at most MAX_LAG_S (2.8 frames at 25 fps): a reading that passed the chance test by luck
# (5 % of unrelated pairings) moves the mouth at most this in the direction viewers see soonest.
MAX_LATE_S = 0.1525
MAX_LAG_S = 0.1125
MIN_SPEECH_S = 2.0      # s of recognised speech (non-silence phones) in the span
# Split-half agreement: a speaker's lead is one number over the whole recording, so the span's two
# halves, read on their own (searched as far as the whole reading plus AGREE_FRAMES, at least
# MAX_LATE_S), must each land within AGREE_FRAMES of the
# whole reading (or one of them, see ONE_HALF_MEDIAN); otherwise the reading's noise is as large as what it would correct. On 5 s clips it
# can be (readings at the earlier 42 ms zero): talking_590 reads -0.93 frames as recorded (halves -0.41 / -0.21: kept) but +1.18 with its
# halves swapped (frames and sound rotated by half, the self-reenactment source of
# benchmarks/bench_reenactment.py; its halves still read -0.50 / -0.61: rejected; applied, that
# reading made its render 2.6 frames late instead of 1.4). talking_524: +0.72 (halves +0.41 / +1.08),
# swapped +0.86 (+0.87 / +0.42); talking_vfr_700 +0.97 (+1.42 / +1.34): kept. Half readings of 2.5 s
# are themselves noisy (searched +-6 frames instead of +-4, talking_590's read -0.32 / +1.65). In-sample:
# chosen on these clips.
AGREE_FRAMES = 1.0
# ONE_HALF_MEDIAN: when one half agrees with the whole and the other does not, the reading is
# confirmed by half the span and the render follows the median of the three (whole and halves),
# which an outlying half cannot pull far. Until 2026-12-03 such a reading was refused: the podium
# clip (8.7 s at ~12 fps) with its sound 100 ms later - a presenter whose lips lead 100 ms more,
# as other presenters' in-sync recordings read (sync.py CALIBRATION) - read -1.70 frames rotated
# and -1.71 as recorded, each with one half agreeing (-1.81 / -0.13 and -0.00 / -1.72), was
# refused both times and rendered 2 frames late (benchmarks/RESULTS.md, bench_reenactment.py).
# Only for a whole reading clear of chance (confidence >= ONE_HALF_MIN_RATIO x chance; the podium:
# 1.73): of 48 pairings of the shared clips' frames with sounds that are not theirs (other clips',
# their own rotated, speech_en_60s cuts), 3 passed the chance test at 1.00-1.12 x chance, and the
# median alone would have applied 2 more of them (one clamped to the then 100 ms MAX_LAG_S) than the halves rule.
ONE_HALF_MIN_RATIO = 1.25
CACHE_VERSION = 3       # bump when the cached phones change (recogniser settings, alignment; 2: dithered variants; 3: + dereverberated hearings of reverberant sound)


@dataclass(frozen=True)
class SpeakerTiming:
    """How far this presenter's mouth is from the calibrated reference, and what the run did with it.

    measured      a reading was made (the source has speech and a face in the span).
    offset_frames sub-frame reading of the source's mouth against its own speech's calibrated
                  reference (``heygem sync`` convention: positive = mouth after the sound).
    offset_ms     the same in milliseconds.
    confidence, chance  the estimator's peak height and the level unrelated speech reaches 5 % of the time.
    applied       the render used it; ``lead_ms`` is what it moved the shapes (positive = earlier).
    halves        the readings of the span's first and second half on their own (frames; split-half
                  agreement, ``AGREE_FRAMES``); empty when not read; NaN (null in JSON) for a half with
                  no reading of its own (its face off screen).
    measured_on   what was read: the video, frames and seconds of its own audio track.
    applied_from  what the applied lead is minus of: "whole" (the span's reading), or "median of the
                  whole and its halves" (one half disagreeing, ONE_HALF_MEDIAN); "" when not applied.
    language      the ``--language`` the source's own speech was read with (``heygem sync --language``:
                  a non-English one adds the spectral closure cue, ``sync.language_cue``).
    note          why it was not applied ("" when it was).
    """

    measured: bool = False
    offset_frames: float = 0.0
    offset_ms: float = 0.0
    confidence: float = 0.0
    chance: float = 0.0
    applied: bool = False
    lead_ms: float = 0.0
    measured_on: str = ""
    speech_s: float = 0.0
    note: str = ""
    halves: tuple = ()
    applied_from: str = ""
    language: str = "auto"

    @property
    def lead_s(self) -> float:
        """Seconds the render's shapes move earlier (0 when not applied): ``visemes.real_timing``'s speaker_lead."""
        return self.lead_ms / 1000.0 if self.applied else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"measured": self.measured, "offset_frames": round(float(self.offset_frames), 3),
                "offset_ms": round(float(self.offset_ms), 1), "confidence": round(float(self.confidence), 4),
                "chance": round(float(self.chance), 4), "applied": self.applied,
                "applied_ms": round(float(self.lead_ms), 1) if self.applied else 0.0,
                "halves": [round(float(h), 3) if np.isfinite(h) else None for h in self.halves],
                "applied_from": self.applied_from, "language": self.language,
                "measured_on": self.measured_on, "speech_s": round(float(self.speech_s), 2), "note": self.note,
                "note_i18n": record_of(self.note)}   # the note in the reader's language (report.speaker_timing_text)


def not_measured(note: str, *, language: str = "auto") -> SpeakerTiming:
    return SpeakerTiming(note=note, language=language)


def span_frames(info, n_frames: int) -> int:
    """Source frames the reading uses: the analysed ones, at most ``MAX_SPAN_S``."""
    return int(min(n_frames, round(MAX_SPAN_S * info.fps)))


def reason_not_to_measure(info, *, enabled: bool, backend) -> str | None:
    """Why this run takes no reading (a line for the record), or None when it should."""
    if not enabled:
        return Text("turned off (--speaker-timing off)")
    if not getattr(backend, "timing_from_visemes", False):
        return Text("the {backend} backend does not place mouths by the viseme timing", backend=backend.name)
    if info.is_image:
        return Text("the source is a photo")
    if not info.has_audio:
        return Text("the source video has no audio track")
    return None



def read_source(info, *, raw: np.ndarray, valid: np.ndarray, n_analysed: int, enabled: bool, backend,
                cache_dir: str | Path | None, video_name: str = "", language: str = "auto") -> SpeakerTiming:
    """The reading a run of ``backend`` on ``info``'s video takes, in one call (a run reads the own
    speech on a thread beside the face analysis; a preview of one frame calls this): raw landmarks
    [shape=(N, 68, 2)] and ``valid`` [shape=(N,)] of the face analysis of source frames [0, N), N >=
    the span of ``n_analysed`` frames (:func:`span_frames`); the own phones come from ``cache_dir``
    when a run or preview put them there (else ~1-2 s of phone recognition, then cached).
    A sound that cannot be read costs the correction (the result says why), never raises."""
    from .errors import HeyGemError
    why = reason_not_to_measure(info, enabled=enabled, backend=backend)
    if why is not None:
        return not_measured(why, language=language)
    n = span_frames(info, n_analysed)
    try:
        phones = own_phones(info, n_frames=n, cache_dir=cache_dir)
        cue = own_constriction(info, n_frames=n, language=language)
    except (HeyGemError, OSError) as exc:
        return not_measured(Text("the source's own sound could not be read: {reason}", reason=exc), language=language)
    return measure(landmarks=raw[:n], valid=valid[:n], phones=phones, info=info, video_name=video_name,
                   language=language, constriction=cue)


# --- the source's own speech -------------------------------------------------------------------
def own_wav(info, *, seconds: float) -> np.ndarray:
    """The first ``seconds`` of the video's own sound as the picture shows it, [shape=(S,)] float32
    16 kHz mono: ``info.audio_delay`` (sound starting after the picture) is applied, as a player
    would. Raises MediaError when it cannot be decoded."""
    from . import audio as audio_mod
    from .errors import MediaError
    from .media import _last_line
    sr, shift = audio_mod.SAMPLE_RATE, float(info.audio_delay)
    proc = audio_mod.decode_pcm(Path(info.path), "-ac", "1", "-t", f"{seconds + abs(shift):.3f}", sr=sr)
    if proc.returncode != 0:
        raise MediaError("{path} could not be decoded: {last_line}", path=info.path,
                         last_line=_last_line(proc.stderr))
    wav = np.nan_to_num(np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32))
    samples = int(round(abs(shift) * sr))
    wav = np.concatenate([np.zeros(samples, np.float32), wav]) if shift > 0 else wav[samples:]
    return np.clip(wav[:int(round(seconds * sr))], -1.0, 1.0)


def own_phones(info, *, n_frames: int, cache_dir: str | Path | None = None) -> list:
    """Recognised phones of the source's own sound over its first ``n_frames`` frames (seconds,
    picture time), as the sync reference takes them: a list of phone lists, one per dithered start
    of the recogniser's grid (``visemes.recognize_phone_variants``; ``[[]]`` for a silent track),
    cached by the video's content hash under ``cache_dir`` (None: not cached)."""
    from . import cache, visemes
    entry = None
    if cache_dir is not None:
        entry = Path(cache_dir) / "speaker-{}.npz".format(cache.key(
            video_hash=cache.file_hash(info.path), kind="own_speech", version=CACHE_VERSION,
            frames=int(n_frames), fps=round(info.fps, 4)))
        phones = _load(entry)
        if phones is not None:
            return phones
    from .audio import ENV_SILENT_DBFS, _peak_dbfs
    wav = own_wav(info, seconds=n_frames / info.fps)
    # a silent track: no phones (the recogniser labels digital silence as phones)
    phones = visemes.recognize_phone_variants(wav) if wav.size and _peak_dbfs(wav) >= ENV_SILENT_DBFS else [[]]
    if entry is not None:
        flat = [(i, p) for i, variant in enumerate(phones) for p in variant]
        try:
            cache.atomic_save_npz(entry, variant=np.array([i for i, _ in flat], dtype=np.int16),
                                  phone=np.array([p.phone for _, p in flat], dtype=str),
                                  start=np.array([p.start for _, p in flat]), end=np.array([p.end for _, p in flat]))
        except OSError as exc:   # costs the next run a second, not this run
            log.warning("speaker-timing cache not written (%s): %s", exc.strerror or exc, entry.parent)
    return phones


def own_constriction(info, *, n_frames: int, language: str = "auto") -> np.ndarray | None:
    """The spectral closure cue of the source's own sound over its first ``n_frames`` frames
    [shape=(n_frames,)] for a non-English ``language`` (what ``heygem sync --language`` adds to the
    reference, ``sync.language_cue``); None for ``auto``/``en``. Not cached: one decode and one
    spectrum, ~0.1 s per 10 s of sound. Raises MediaError when the sound cannot be decoded."""
    from . import articulation
    from .audio import SAMPLE_RATE
    if not articulation.uses_acoustic_closures(language):
        return None
    wav = own_wav(info, seconds=n_frames / info.fps)
    return articulation.constriction(wav, sr=SAMPLE_RATE, fps=float(info.fps), n_frames=int(n_frames))


def _load(entry: Path) -> list | None:
    from .visemes import PhoneSegment
    if not entry.exists():
        return None
    try:
        with np.load(entry) as data:
            variants: list[list] = [[] for _ in range(max(1, int(data["variant"].max(initial=0)) + 1))]
            for i, p, a, b in zip(data["variant"], data["phone"], data["start"], data["end"]):
                variants[int(i)].append(PhoneSegment(str(p), float(a), float(b)))
            return variants
    except Exception as exc:  # a damaged entry is recomputed, never fatal
        log.warning("speaker-timing cache %s unreadable (%s); recomputing", entry.name, exc)
        return None


# --- the reading -------------------------------------------------------------------------------
def measure(*, landmarks: np.ndarray, valid: np.ndarray, phones: list, info, video_name: str = "",
            language: str = "auto", constriction: np.ndarray | None = None) -> SpeakerTiming:
    """The presenter's mouth timing from their own recording.

    landmarks [shape=(N, 68, 2)] raw (unsmoothed) face-analysis landmarks of source frames [0, N),
    valid [shape=(N,)]; ``phones``: the source's own speech over those frames (:func:`own_phones`:
    its dithered variants, as ``heygem sync`` reads them; a plain phone list is one variant).
    ``info``: the source's media.VideoInfo. ``language``: the run's ``--language``, and for a
    non-English one ``constriction``, :func:`own_constriction` of the same frames (computed here when
    None): the presenter is read as ``heygem sync --language`` reads the video. That assumes the
    presenter speaks the language of the new speech; a dub into another language reads the source
    with the new speech's front end (talking_590 driven by Mandarin: -4 ms applied with ``zh``, -26
    ms with ``auto``). Never raises for weak data: the result says why it was not applied.
    """
    from . import sync
    from .landmarks import FaceTrack
    from .visemes import is_silence
    fps, n = float(info.fps), int(len(valid))
    phones = _variants(phones)
    heard = max((p.end for p in phones[0]), default=n / fps)   # the recogniser's segments span the sound
    if heard * fps < n - 1:   # the sound ends before the picture: read the frames it covers, as heygem sync does
        from .media import output_frames
        n = min(n, output_frames(heard, info.fps))   # heygem sync's count (Speech.n_frames_at), halves rounding up
        landmarks, valid = landmarks[:n], valid[:n]
    speech_s = float(sum(p.end - p.start for p in phones[0] if not is_silence(p.phone) and p.start < n / fps))
    if constriction is None:   # a non-English run reads its presenter with that language's cue too
        constriction = own_constriction(info, n_frames=n, language=language)
    cue = None if constriction is None else np.asarray(constriction, dtype=np.float64)[:n]
    where = Text("{video}'s own audio track, frames 0-{last} ({seconds:.1f} s)", video=video_name or Path(info.path).name,
                 last=max(n - 1, 0), seconds=n / fps)
    if speech_s < MIN_SPEECH_S:
        return SpeakerTiming(measured_on=where, speech_s=speech_s, language=language, note=Text(
            "too little speech in the source's own sound ({seconds:.1f} s, {needed:.0f} s needed)",
            seconds=speech_s, needed=MIN_SPEECH_S))
    track = FaceTrack(landmarks=landmarks, valid=valid, width=info.width, height=info.height, fps=fps)
    est = sync.estimate_from_speech(track.mouth_open(), phones=phones, fps=fps, mouth_width=track.mouth_width(),
                                    eye_distance_px=sync.eye_distance(track) if valid.any() else None,
                                    constriction=cue, language=language)
    reading_s = est.offset_exact / fps
    result = SpeakerTiming(measured=not est.note, offset_frames=est.offset_exact, offset_ms=1000.0 * reading_s,
                           confidence=est.confidence, chance=est.chance, measured_on=where, speech_s=speech_s,
                           language=language)
    if not est.reliable:   # about the source's own sound, not the run's speech ("... follow this speech" misled)
        return _with(result, note=est.verdict() if est.note or est.too_small else Text(
            "the presenter's mouth does not clearly follow the video's own sound (confidence {confidence:.2f}, "
            "chance level {chance:.2f})", confidence=est.confidence, chance=est.chance))
    if not -MAX_EARLY_S <= reading_s <= MAX_LATE_S:
        return _with(result, note=Text("the source reads {ms:+.0f} ms: its sound is out of step with its picture, "
                                       "not a speaker's timing", ms=1000.0 * reading_s))
    halves = _half_readings(track, phones, fps, whole=est.offset_exact, constriction=cue)
    result = _with(result, halves=halves)
    if not all(np.isfinite(halves)):   # a half without a reading (the face off screen) confirms nothing
        return _with(result, note=Text("half of the source shows the face too little to confirm its reading "
                                       "({whole:+.2f} frames): not corrected", whole=est.offset_exact))
    agree = [abs(h - est.offset_exact) <= AGREE_FRAMES for h in halves]
    # one half confirming the whole is enough for a reading clear of chance (ONE_HALF_MEDIAN)
    if not any(agree) or (not all(agree) and est.confidence < ONE_HALF_MIN_RATIO * est.chance):
        return _with(result, note=Text("the two halves of the source read {first:+.2f} and {second:+.2f} frames against "
                                       "{whole:+.2f} for the whole: too noisy to correct", first=halves[0],
                                       second=halves[1], whole=est.offset_exact))
    if not all(agree):      # the median of the three readings: an outlying half cannot pull it far
        return _with(result, applied=True, applied_from="median of the whole and its halves",
                     lead_ms=1000.0 * lead_for(float(np.median([est.offset_exact, *halves])) / fps))
    return _with(result, applied=True, applied_from="whole", lead_ms=1000.0 * lead_for(reading_s))


def lead_for(reading_s: float) -> float:
    """Seconds the render's shapes move earlier for a source reading ``reading_s`` (seconds, positive =
    mouth after its sound): minus the reading, a late one clamped to ``MAX_LAG_S`` (an early one is
    followed in full up to ``MAX_EARLY_S``)."""
    return float(np.clip(-reading_s, -MAX_LAG_S, MAX_EARLY_S))


def _half_readings(track, phones: list, fps: float, *, whole: float = 0.0,
                   constriction: np.ndarray | None = None) -> tuple[float, float]:
    """Sub-frame readings of the track's first and second half on their own: a reading's split-half
    reliability. Each half's mouth is read against its part of the whole span's reference (cut after
    it is drawn: phones cut at the half would draw a phrase onset or end at the cut that the speech
    does not have). The halves keep the search's peak (``refine=False``: the refinement of
    ``sync.REFINE_S`` scores nearly every frame, and a half's edge is a cut point, in a rotated
    source its seam: refined, talking_524's rotated halves read +2.52 / +1.09 against +1.28 for the
    whole and its reading was refused). Searched as far as a half may read and still agree with the
    ``whole`` reading (frames), at least ``MAX_LATE_S``: a wider search only lets a 2.5 s half find a
    spurious peak farther out. NaN for a half with no reading (``SyncEstimate.note``: its face mostly
    off screen; a whole span of cutaways can still be read, ``sync.MIN_FACE_S``, its halves not)."""
    from . import sync
    n = track.n_frames
    mouth, width = track.mouth_open(), track.mouth_width()
    ref = sync.speech_reference(_variants(phones), fps=fps, n_frames=n, constriction=constriction)
    shift = int(np.ceil(max(abs(whole) + AGREE_FRAMES, MAX_LATE_S * fps))) + 1
    closure = sync.closure_channel(ref, constriction)     # as the whole reading (estimate_from_speech)
    readings = []
    for a, b in ((0, n // 2), (n // 2, n)):
        est = sync.estimate_offset(mouth[a:b], ref["open"][a:b], fps=fps, max_shift=shift, mouth_width=width[a:b],
                                   speech_width=ref["width"][a:b], refine=False,
                                   speech_closure=None if closure is None else closure[a:b])
        readings.append(float("nan") if est.note else float(est.offset_exact))
    return readings[0], readings[1]


def _variants(phones: list) -> list[list]:
    """``phones`` as a list of variants (a plain phone list is one)."""
    return phones if phones and isinstance(phones[0], list) else [list(phones)]


def _with(timing: SpeakerTiming, **changes: Any) -> SpeakerTiming:
    import dataclasses
    return dataclasses.replace(timing, **changes)
