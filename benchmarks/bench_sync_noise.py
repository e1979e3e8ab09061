"""How far background noise moves the `heygem sync` reading of in-sync recordings.

    python benchmarks/bench_sync_noise.py [--clips NAME ...] [--snr DB ...] [--seeds N]

Ground truth: each in-sync clip's own mouth against its own sound (the dry reading). The sound
then gets stationary noise at a given SNR (the noise's power against the speech's, the speech
measured where it is louder than 2 % of its peak): pink (1/f: room tone, HVAC), white (hiss)
and brown (1/f^2: traffic rumble), ``--seeds`` noise draws each. Per clip and condition it prints
the reading (frames; positive = video lags) and, in brackets, the reading of the opening channel
alone (no bilabial-closure channel): which of the two channels the noise throws.
Summary: the readings within 1 frame of the clip's dry reading, per SNR.
"""
from __future__ import annotations

from pathlib import Path

from _cli import MEDIA, Parser, media_file, positive
from _cli import run as run_main

import numpy as np

from heygem_kernel import landmarks, media, sync
from heygem_kernel.audio import SAMPLE_RATE, speech_from_wav

CLIPS = ("talking_590.mp4", "portrait_1080x1920.mp4", "talking_524.mp4", "talking_vfr_700.mp4")
COLOURS = {"pink": 1.0, "white": 0.0, "brown": 2.0}     # power spectrum ~ 1 / f^slope
LOUD = 0.02                                              # speech samples above 2 % of the peak


def noise(n: int, *, slope: float, seed: int) -> np.ndarray:
    """[shape=(n,)] Gaussian noise whose power falls as 1 / f^slope."""
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    return np.fft.irfft(spectrum / np.maximum(np.arange(spectrum.shape[0]), 1) ** (slope / 2), n)


def with_noise(wav: np.ndarray, *, snr_db: float, slope: float, seed: int) -> np.ndarray:
    """``wav`` [shape=(S,)] plus noise at ``snr_db`` below its loud speech."""
    x = np.asarray(wav, np.float64)
    loud = x[np.abs(x) > LOUD * np.abs(x).max()]
    n = noise(x.shape[0], slope=slope, seed=seed)
    gain = np.sqrt(np.mean(loud ** 2) / np.mean(n ** 2) / 10 ** (snr_db / 10))
    return np.clip(x + gain * n, -1.0, 1.0).astype(np.float32)


def readings(track, speech) -> tuple[float, float]:
    """(the reading, the opening channel's own reading) in frames."""
    n = min(track.n_frames, speech.n_frames_at(track.fps))
    est = sync.estimate_from_speech(track.mouth_open()[:n], speech=speech, fps=track.fps,
                                    mouth_width=track.mouth_width()[:n])
    ref = sync.speech_reference(speech.phone_variants, fps=track.fps, n_frames=n)
    alone = sync.estimate_offset(track.mouth_open()[:n], ref["open"], fps=track.fps)
    return est.offset_exact, alone.offset_exact


def main() -> None:
    parser = Parser(__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="*", type=media_file, default=[MEDIA / c for c in CLIPS])
    parser.add_argument("--snr", nargs="*", type=positive(float), default=[30.0, 20.0], help="dB")
    parser.add_argument("--seeds", type=positive(int), default=2, help="noise draws per condition")
    args = parser.parse_args()
    within: dict[float, list[bool]] = {snr: [] for snr in args.snr}
    for clip in args.clips:
        clip = Path(clip)
        track = landmarks.track_video(clip)
        speech, _ = sync._own_speech(clip, media.probe_video(clip).audio_delay)
        dry, dry_open = readings(track, speech)
        print(f"{clip.stem}: dry {dry:+.2f} ({dry_open:+.2f})", flush=True)
        for colour, slope in COLOURS.items():
            for snr in args.snr:
                cells = []
                for seed in range(args.seeds):
                    wav = with_noise(speech.wav, snr_db=snr, slope=slope, seed=seed)
                    got, got_open = readings(track, speech_from_wav(wav, sr=SAMPLE_RATE))
                    within[snr].append(abs(got - dry) <= 1.0)
                    cells.append(f"{got:+6.2f} ({got_open:+6.2f})")
                print(f"  {colour:5} {snr:4.0f} dB: " + "  ".join(cells), flush=True)
    for snr, ok in within.items():
        print(f"SNR {snr:.0f} dB: {sum(ok)}/{len(ok)} readings within 1 frame of the dry reading")


if __name__ == "__main__":
    run_main(main)
