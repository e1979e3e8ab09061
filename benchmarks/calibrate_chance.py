"""The sync check's chance level on short excerpts, measured: the confidence unrelated speech
reaches 5 % of the time (the 95th percentile over unrelated pairings) against what
``sync.chance_confidence`` says, and how often the clip's own (in-sync) sound passes it.

Mouth tracks of the shared recordings (``../shared/media``; tracked once, face-track cache under
``--cache-dir``) cut into excerpts of L seconds every 0.5 s; unrelated speech: speech_en_60s cut
every 2 s, speech_zh_8s and speech_en_5s every 1 s, the other clips' own sound; each excerpt is
paired with every unrelated cut of its length. Both estimator paths: with the mouth-width channel
(``heygem sync``, runs) and open-only (``mouth_width=None``).

    python benchmarks/calibrate_chance.py [--lengths 0.8 1 1.2 1.5 2 3 4] [--cache-dir DIR]
"""
from __future__ import annotations

import sys
from pathlib import Path

from _cli import Parser, positive
from _cli import run as run_main

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MEDIA = ROOT.parent / "shared" / "media"
CLIPS = ("talking_590.mp4", "talking_524.mp4", "talking_vfr_700.mp4", "portrait_1080x1920.mp4")


def cut(phones: list, t0: float, t1: float) -> list:
    from heygem_kernel.visemes import PhoneSegment
    return [PhoneSegment(p.phone, p.start - t0, p.end - t0) for p in phones if p.end > t0 and p.start < t1]


def main() -> None:
    ap = Parser(__doc__.splitlines()[0])
    ap.add_argument("--lengths", type=positive(float), nargs="+", default=[0.8, 1.0, 1.2, 1.5, 2.0, 3.0, 4.0])
    ap.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "heygem"))
    args = ap.parse_args()
    from heygem_kernel import audio, media, sync

    tracks, own = {}, {}
    for name in CLIPS:
        info = media.probe_video(MEDIA / name)
        track = sync.cached_track(info, cache_dir=args.cache_dir)
        tracks[name] = (track.mouth_open(), track.mouth_width(), float(track.fps))
        own[name] = sync._own_speech(MEDIA / name, info.audio_delay)[0].phones
    others = {"speech_en_60s": (audio.load_speech(MEDIA / "speech_en_60s.wav").phones, 60.0, 2.0),
              "speech_zh_8s": (audio.load_speech(MEDIA / "speech_zh_8s.wav").phones, 8.0, 1.0),
              "speech_en_5s": (audio.load_speech(MEDIA / "speech_en_5s.wav").phones, 5.0, 1.0)}
    print(f"{'L s':>5} {'path':>9} {'window':>6} {'lags':>4} {'pairs':>5} {'p95 unrel':>9} {'formula':>7} "
          f"{'max unrel':>9} {'own med':>7} {'own>p95':>7}")
    for length in args.lengths:
        for with_width in (True, False):
            unrelated, mine, shapes = [], [], set()
            for name, (mouth, width, fps) in tracks.items():
                n = int(round(length * fps))
                sources = [(p, d, step) for key, (p, d, step) in others.items()]
                sources += [(own[o], len(tracks[o][0]) / tracks[o][2], 1.0) for o in tracks if o != name]
                for t0 in np.arange(0.0, len(mouth) / fps - length + 1e-6, 0.5):
                    a = int(round(t0 * fps))
                    m, w = mouth[a:a + n], width[a:a + n] if with_width else None
                    if len(m) < n:
                        continue
                    est = sync.estimate_from_speech(m, phones=cut(own[name], t0, t0 + length), fps=fps, mouth_width=w)
                    if not est.note:
                        mine.append(est.confidence)
                        shapes.add((est.window_frames, 2 * est.max_shift + 1, round(est.chance, 3)))
                    for phones, dur, step in sources:
                        for s0 in np.arange(0.0, dur - length + 1e-6, step):
                            e = sync.estimate_from_speech(m, phones=cut(phones, s0, s0 + length), fps=fps,
                                                          mouth_width=w)
                            if not e.note:
                                unrelated.append(e.confidence)
            u, o = np.asarray(unrelated), np.asarray(mine)
            p95 = float(np.percentile(u, 95)) if u.size else float("nan")
            window, lags, formula = min(shapes) if shapes else (0, 0, float("nan"))
            print(f"{length:5.1f} {'width' if with_width else 'open':>9} {window:6d} {lags:4d} {u.size:5d} {p95:9.3f} "
                  f"{formula:7.3f} {u.max() if u.size else float('nan'):9.3f} "
                  f"{np.median(o) if o.size else float('nan'):7.3f} {np.mean(o > p95) if o.size else float('nan'):7.2f}")


if __name__ == "__main__":
    run_main(main)
