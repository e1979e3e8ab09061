"""Language-independent articulation cues from the speech spectrum, and the ``--language`` option.

The phone recogniser (visemes.py) uses pocketsphinx's US-English acoustic model. On English it
places closures well; on other languages it often hears a bilabial as something else (espeak-ng
Mandarin, German and Japanese sentences with known phoneme timing, tests/test_visemes.py: only
10 %, 46 % and 44 % of /m b p/ closed the viseme track). A
constriction of the vocal tract shows in the spectrum in any language: during a stop closure or
a nasal murmur the 0.8-3 kHz band (where the open-vowel formants F1/F2 carry their energy)
drops far below the neighbouring vowels. :func:`constriction` measures that drop per frame; for
a non-English ``language`` the viseme opening is pulled towards closed there, which closes
90 %, 85 % and 67 % of those bilabials, at their known time, while the open vowels stay open
(mean opening 0.66, 0.51, 0.56).

It is off for ``en`` and ``auto``: on the English in-sync recordings (talking_590/524/vfr_700,
portrait) the recogniser's own closures already fit the real mouth better, and the acoustic cue
(which cannot tell /m/ from /n/ or /t/) lowered the correlation with the real opening by
0.05-0.25. So name the language of non-English speech (``--language zh``); with ``auto`` it is
analysed with the English model alone.
"""
from __future__ import annotations

import numpy as np

from .errors import InputError
from .i18n import N_, _

# ISO 639-1 codes (with the usual aliases) accepted by --language; "auto" = the English model.
LANGUAGES: dict[str, str] = {
    "auto": N_("auto (English phone model)"), "en": N_("English"), "zh": N_("Mandarin Chinese"),
    "yue": N_("Cantonese"), "ja": N_("Japanese"), "ko": N_("Korean"), "de": N_("German"), "fr": N_("French"),
    "es": N_("Spanish"), "it": N_("Italian"), "pt": N_("Portuguese"), "nl": N_("Dutch"), "ru": N_("Russian"),
    "ar": N_("Arabic"), "hi": N_("Hindi"), "tr": N_("Turkish"), "vi": N_("Vietnamese"), "th": N_("Thai"),
    "id": N_("Indonesian"), "pl": N_("Polish"), "sv": N_("Swedish"),
}
ALIASES = {"cmn": "zh", "zh-cn": "zh", "zh-hans": "zh", "mandarin": "zh", "chinese": "zh", "jp": "ja",
           "jpn": "ja", "japanese": "ja", "ger": "de", "deu": "de", "german": "de", "english": "en",
           "en-us": "en", "en-gb": "en", "eng": "en", "kor": "ko", "fra": "fr", "spa": "es",
           "zh-tw": "zh", "zh-hant": "zh", "zh-sg": "zh", "zh-hk": "yue", "cantonese": "yue",
           # what a Chinese-speaking user types
           "中文": "zh", "汉语": "zh", "漢語": "zh", "普通话": "zh", "普通話": "zh", "国语": "zh", "國語": "zh",
           "华语": "zh", "華語": "zh", "粤语": "yue", "粵語": "yue", "广东话": "yue", "廣東話": "yue",
           "英语": "en", "英文": "en", "日语": "ja", "日文": "ja", "韩语": "ko", "德语": "de", "法语": "fr",
           "简体中文": "zh", "繁體中文": "zh", "繁体中文": "zh", "中文（简体）": "zh", "中文（繁體）": "zh",
           "zh-mo": "yue"}
ENGLISH = frozenset({"auto", "en"})

# --- the constriction cue (tuned on espeak-ng cmn/de/ja/en with known phoneme times; checked
# against the real mouths of the four shared clips, see the module docstring) ------------------
RATE = 100                   # analysis frames per second (10 ms hop)
N_FFT = 512                  # 32 ms at 16 kHz
BAND_HZ = (800.0, 3000.0)    # F1/F2 region: strong in open vowels, weak in closures and nasals
REF_WINDOW_S = 0.15          # s either side: the loudest band level nearby (the vowel next door)
DROP_DB = (12.0, 22.0)       # band drop below that level mapped 0 -> 1
SPEECH_RANGE_DB = 30.0       # only near speech: the nearby level within 30 dB of the loud parts
MIN_CLOSURE_S = 0.03         # dips shorter than this are not closures (flaps, formant glides)
SMOOTH_S = 0.0               # s; Gaussian sigma (0: the viseme smoothing is enough; 20 ms lost closures)
DEPTH = 0.9                  # open *= 1 - DEPTH * constriction


def normalise_language(language: str | None) -> str:
    """The canonical code of ``language`` ("auto" for None/empty); InputError naming the
    accepted codes otherwise."""
    code = (language or "auto").strip().lower().replace("_", "-")
    code = code.split(".", 1)[0].split("@", 1)[0]             # a locale name: zh_CN.UTF-8, de_DE@euro
    if code not in LANGUAGES and code not in ALIASES and "-" in code:
        head = code.split("-", 1)[0]                         # zh-Hans-CN, cmn-Hans-CN, de-AT, pt-BR
        code = "yue" if code in ("zh-hk", "zh-mo") or head == "yue" else head
    code = ALIASES.get(code, code)
    if code not in LANGUAGES:
        raise InputError("unknown language {language!r}: use auto or one of {codes}", language=language,
                         codes=", ".join(sorted(c for c in LANGUAGES if c != "auto")))
    return code


def language_label(language: str) -> str:
    """``language``'s name for people, in the user's language: "Mandarin Chinese (zh)",
    "auto (English phone model)"."""
    code = normalise_language(language)
    return _(LANGUAGES[code]) if code == "auto" else f"{_(LANGUAGES[code])} ({code})"


def uses_acoustic_closures(language: str) -> bool:
    """True when the spectral constriction cue shapes the mouth (every language but en/auto)."""
    return normalise_language(language) not in ENGLISH


def constriction(wav: np.ndarray, *, sr: int, fps: float, n_frames: int, delay_s: float = 0.0) -> np.ndarray:
    """How closed the vocal tract is per output frame, [shape=(n_frames,)] float32 in [0, 1].

    wav [shape=(S,)] mono float in [-1, 1] at ``sr`` Hz. The 0.8-3 kHz band level is compared
    with its maximum within +-REF_WINDOW_S; a drop of DROP_DB[0] dB or less is 0, DROP_DB[1] or
    more is 1. Long pauses count as 0 (the pause handling of the phones closes those). Frame
    i is sampled at i / fps - ``delay_s``: 0 by default, lips meeting *is* the acoustic closure
    (shifting it by visemes.MOUTH_DELAY lost half the Japanese closures).
    """
    import librosa
    from scipy.ndimage import gaussian_filter1d, maximum_filter1d, minimum_filter1d

    wav = np.asarray(wav, np.float64)
    if wav.shape[0] < N_FFT or n_frames <= 0:
        return np.zeros(max(n_frames, 0), np.float32)
    hop = int(round(sr / RATE))
    power = np.abs(librosa.stft(wav, n_fft=N_FFT, hop_length=hop, win_length=min(N_FFT, int(0.025 * sr)))) ** 2
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / sr)
    band = 10.0 * np.log10(power[(freqs >= BAND_HZ[0]) & (freqs < BAND_HZ[1])].sum(axis=0) + 1e-10)
    nearby = maximum_filter1d(band, 2 * int(REF_WINDOW_S * RATE) + 1)
    near_speech = nearby > np.percentile(band, 95) - SPEECH_RANGE_DB
    score = np.clip((nearby - band - DROP_DB[0]) / (DROP_DB[1] - DROP_DB[0]), 0.0, 1.0) * near_speech
    k = max(1, int(round(MIN_CLOSURE_S * RATE)))
    score = maximum_filter1d(minimum_filter1d(score, k), k)       # morphological opening
    if SMOOTH_S > 0:
        score = gaussian_filter1d(score, SMOOTH_S * RATE)
    t = np.arange(score.shape[0]) / RATE
    return np.interp(np.arange(n_frames) / fps - delay_s, t, score, left=0.0, right=0.0).astype(np.float32)
