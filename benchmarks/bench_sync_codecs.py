"""How far the sound's channel (band limits, level compression, lossy codecs) moves `heygem sync`.

    python benchmarks/bench_sync_codecs.py [--clips CLIP ...] [--conditions NAME ...]

Ground truth: each in-sync clip's own mouth against its own sound (the reading "as recorded").
The clip's sound is then passed through ffmpeg as a recording or a delivery chain would pass it
(CONDITIONS: a telephone band, a 7 kHz low-pass, a 300 Hz high-pass, broadcast-style level
compression, MP3 at 128 / 64 / 32 kbit/s mono and 32 kbit/s stereo, AAC at 32 kbit/s), decoded
again and read against the same mouth track. Per clip and condition it prints the reading
(frames; positive = video lags), its confidence over the chance level (below 1: reported as a
guess) and the change from the reading as recorded. Summary: readings within 1 frame of the clip's own, per condition.
"""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from _cli import MEDIA, Parser, media_file
from _cli import run as run_main

import numpy as np

from heygem_kernel import landmarks, media, sync
from heygem_kernel.audio import SAMPLE_RATE, load_audio, speech_from_wav

CLIPS = ("talking_590.mp4", "portrait_1080x1920.mp4", "talking_524.mp4", "talking_vfr_700.mp4")
# name: (ffmpeg audio arguments, file suffix)
CONDITIONS = {
    "telephone": (["-af", "highpass=f=300,lowpass=f=3400", "-c:a", "pcm_s16le"], ".wav"),
    "lowpass7k": (["-af", "lowpass=f=7000", "-c:a", "pcm_s16le"], ".wav"),
    "highpass300": (["-af", "highpass=f=300", "-c:a", "pcm_s16le"], ".wav"),
    "compressed": (["-af", "acompressor=threshold=-30dB:ratio=8:attack=5:release=50,volume=10dB",
                    "-c:a", "pcm_s16le"], ".wav"),
    "mp3_128k": (["-c:a", "libmp3lame", "-b:a", "128k"], ".mp3"),
    "mp3_64k": (["-c:a", "libmp3lame", "-b:a", "64k"], ".mp3"),
    "mp3_32k": (["-c:a", "libmp3lame", "-b:a", "32k"], ".mp3"),
    "mp3_32k_stereo": (["-ac", "2", "-c:a", "libmp3lame", "-b:a", "32k"], ".mp3"),   # lame then drops to 22 kHz
    "aac_32k": (["-c:a", "aac", "-b:a", "32k"], ".m4a"),
}


def passed_through(clip: Path, condition: str, folder: Path, *, delay_s: float) -> np.ndarray:
    """The clip's sound through ``condition``, decoded again: [shape=(S,)] float32 at SAMPLE_RATE,
    picture time (``delay_s``, the container's audio start, applied as ``heygem sync`` applies it)."""
    args, suffix = CONDITIONS[condition]
    out = folder / f"{clip.stem}_{condition}{suffix}"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-vn", "-ac", "1", *args, str(out)],
                   check=True)
    wav = load_audio(out)
    shift = int(round(delay_s * SAMPLE_RATE))
    return np.concatenate([np.zeros(shift, np.float32), wav]) if shift > 0 else wav[-shift:]


def reading(track, wav: np.ndarray) -> sync.SyncEstimate:
    speech = speech_from_wav(wav, sr=SAMPLE_RATE)
    n = min(track.n_frames, speech.n_frames_at(track.fps))
    return sync.estimate_from_speech(track.mouth_open()[:n], speech=speech, fps=track.fps,
                                     mouth_width=track.mouth_width()[:n])


def main() -> None:
    parser = Parser(__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="*", type=media_file, default=[MEDIA / c for c in CLIPS])
    parser.add_argument("--conditions", nargs="*", choices=sorted(CONDITIONS), default=list(CONDITIONS))
    args = parser.parse_args()
    within: dict[str, list[bool]] = {c: [] for c in args.conditions}
    with tempfile.TemporaryDirectory(prefix="heygem-codecs-") as tmp:
        for clip in map(Path, args.clips):
            track = landmarks.track_video(clip)
            delay_s = media.probe_video(clip).audio_delay
            own, _ = sync._own_speech(clip, delay_s)
            base = reading(track, own.wav)
            print(f"{clip.stem}: as recorded {base.offset_exact:+.2f} frames "
                  f"(confidence / chance {base.confidence / base.chance:.2f})", flush=True)
            for condition in args.conditions:
                est = reading(track, passed_through(clip, condition, Path(tmp), delay_s=delay_s))
                moved = est.offset_exact - base.offset_exact
                within[condition].append(abs(moved) <= 1.0)
                print(f"  {condition:11} {est.offset_exact:+6.2f} (x chance {est.confidence / est.chance:.2f}, "
                      f"moved {moved:+.2f})", flush=True)
    for condition, ok in within.items():
        print(f"{condition}: {sum(ok)}/{len(ok)} readings within 1 frame of the clip's own")


if __name__ == "__main__":
    run_main(main)
