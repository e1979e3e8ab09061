"""A photo's loop plan in result.json is one held entry, however long the speech.

Before: LoopPlan.segments() cut a run wherever the source frame did not step by one, so a photo (every
output frame shows frame 0) got one segment per output frame: 1500 entries for a minute of speech,
~12k (about 0.7 MB of result.json and of the batch manifest) for an 8-minute talk. Now a held frame is
one run, marked "held", and the record says the same thing: which source frame, for which output frames.
"""
from __future__ import annotations

import json

import numpy as np

from heygem_kernel import loops, media, pipeline
from heygem_kernel.options import RunOptions

EIGHT_MINUTES_AT_25 = 8 * 60 * 25


def test_a_photo_on_a_minute_of_speech_records_one_held_segment(tmp_path, photo_524, speech_60s):
    result = pipeline.run(speech_60s, photo_524, runs_root=tmp_path / "runs",
                          options=RunOptions(sync_check=False, still_fps=25.0))
    assert result.n_frames == 1500
    loop = json.loads((result.run_dir / "result.json").read_text(encoding="utf-8"))["extra"]["loop"]
    assert loop["mode"] == "still" and loop["n_out"] == 1500 and "photo" in loop["note"]
    assert loop["segments"] == [{"out": [0, 1499], "src": [0, 0], "start_s": 0.0, "held": True}]
    assert len(json.dumps(loop)) < 400, len(json.dumps(loop))


def test_the_plan_of_an_8_minute_speech_on_a_photo_is_as_small(tmp_path, photo_524):
    info = media.probe_video(photo_524, still_fps=25.0)
    analysis = pipeline.analyse(info, options=RunOptions(), n_frames=info.n_frames, cache_dir=tmp_path)
    envelope = np.ones(EIGHT_MINUTES_AT_25, np.float32)
    plan = pipeline._loop_plan(info, analysis, RunOptions(), EIGHT_MINUTES_AT_25, envelope)
    record = plan.to_dict()
    assert record["segments"] == [{"out": [0, EIGHT_MINUTES_AT_25 - 1], "src": [0, 0], "start_s": 0.0, "held": True}]
    assert len(json.dumps(record)) < 400
    assert (plan.src == 0).all() and len(plan) == EIGHT_MINUTES_AT_25      # the plan itself is unchanged


def test_runs_of_video_loops_keep_their_ranges():
    # forward 0-3, frame 3 held twice, 4-5, a join back to 2, 2-4, 4 held: each run once, in order
    plan = loops._plan("seamless", np.array([0, 1, 2, 3, 3, 3, 4, 5, 2, 3, 4, 4]), fps=25.0)
    assert plan.segments() == [(0, 3, 0, 3), (4, 5, 3, 3), (6, 7, 4, 5), (8, 10, 2, 4), (11, 11, 4, 4)]
    pingpong = loops.pingpong_plan(n_out=400, n_src=100, fps=25.0)
    assert pingpong.segments() == [(0, 99, 0, 99), (100, 198, 98, 0), (199, 297, 1, 99), (298, 396, 98, 0),
                                   (397, 399, 1, 3)]
