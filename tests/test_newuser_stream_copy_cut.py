"""A new user's tour, a clip cut without re-encoding (``ffmpeg -ss 1.3 -i in.mp4 -t 2.5 -c copy cut.mp4``,
what most trimming guides and lossless cutters do).

Such a file starts at the keyframe before the cut and carries an edit list that marks the frames
before 1.3 s discarded: players and ffmpeg show 64 frames at 25 fps. Before: the probe counted all
97 packets in 2.58 s and took the clip for VFR at 37.6 fps: ``heygem scan`` said "37.60 (VFR,
header 25.00)" and ``heygem run`` wrote a 4850/129 fps output of repeated frames. Now packets an
edit list discards are not counted: 25 fps, 64 frames, an output at 25/1.
"""
from __future__ import annotations

import subprocess

from heygem_kernel import RunOptions, media, run


def decoded_frames(path) -> int:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v", "-show_entries",
                          "stream=nb_read_frames", "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return int(out.strip())


def test_a_stream_copy_cut_keeps_its_rate(tmp_path, clip_590, speech_5s):
    cut = tmp_path / "剪辑.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "1.3", "-i", str(clip_590), "-t", "2.5", "-c", "copy",
                    str(cut)], check=True)
    packets = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=flags",
                              "-of", "csv=p=0", str(cut)], capture_output=True, text=True, check=True).stdout.split()
    assert sum("D" in f for f in packets) > 20          # the edit list's pre-roll is there
    info = media.probe_video(cut)
    assert (info.fps, info.is_vfr, info.rate) == (25.0, False, "25/1")
    assert info.n_frames == decoded_frames(cut) == 64
    speech = tmp_path / "s.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech_5s), "-t", "2", str(speech)], check=True)
    result = run(speech, cut, out=tmp_path / "o.mp4", runs_root=tmp_path / "runs", options=RunOptions(sync_check=False))
    rate = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream=r_frame_rate",
                           "-of", "csv=p=0", str(result.output)], capture_output=True, text=True, check=True).stdout
    assert rate.strip() == "25/1" and result.fps == 25.0 and decoded_frames(result.output) == 50
