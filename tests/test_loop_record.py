"""A loop plan's record stays small however long the speech: a photo's is one held entry, a video
loop's lists its first segments and joins and names every join in a compact table.

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


# --- video loops: a short clip under long speech -------------------------------------------------
def two_seconds_of(clip, tmp_path):
    import subprocess
    out = tmp_path / "two_seconds.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip), "-t", "2", "-c:v", "libx264",
                    "-preset", "ultrafast", "-an", str(out)], check=True)
    return out


def joins_named(loop: dict) -> list[tuple[int, int, int, int]]:
    """(at, from, to, fade) of every join, from the record's compact table."""
    kinds = loop["join_kinds"]
    pairs = [tuple(int(v) for v in item.split(":")) for item in loop["joins_at"].split()]
    return [(at, kinds[k]["from"], kinds[k]["to"], kinds[k]["fade"]) for at, k in pairs]


def test_8_minutes_of_speech_over_a_2_s_clip_keep_the_record_small(tmp_path, clip_590, speech_60s):
    """talking_590's first 2 s under 8 min of speech (the minute's loudness, eight times): ~460 joins.
    Before: 460 segments and 459 joins in full, 63 KB of result.json (and of a batch manifest's
    item); now ~9 KB, and the record still names every join: where, and which frames it joins."""
    from heygem_kernel import audio
    clip = two_seconds_of(clip_590, tmp_path)
    info = media.probe_video(clip)
    analysis = pipeline.analyse(info, options=RunOptions(), n_frames=info.n_frames, cache_dir=tmp_path)
    envelope = np.resize(audio.load_speech(speech_60s).features(fps=info.fps).envelope, EIGHT_MINUTES_AT_25)
    plan = pipeline._loop_plan(info, analysis, RunOptions(), EIGHT_MINUTES_AT_25, envelope)
    assert plan.mode == "seamless" and len(plan.joins) > 300
    from heygem_kernel import records
    record = json.loads(json.dumps(plan.to_dict()))
    records.write_json(tmp_path / "result.json", {"extra": {"loop": record}})   # indented, as a run writes it
    size = (tmp_path / "result.json").stat().st_size
    print(f"{len(plan.joins)} joins, {len(plan.segments())} segments, {len(record.get('join_kinds', ()))} kinds: {size} bytes")
    assert size < 15_000   # a run's result.json holds ~4 KB more
    assert record["joins_total"] == len(plan.joins) and record["segments_total"] == len(plan.segments())
    assert joins_named(record) == [(j.at, j.src_from, j.src_to, j.fade) for j in plan.joins]   # every join, losslessly
    assert sum(k["uses"] for k in record["join_kinds"]) == len(plan.joins)
    assert len(record["segments"]) == len(record["joins"]) == loops.RECORD_SHOWN
    assert record["segments"][0]["out"][0] == 0 and record["segments"][0]["src"][0] == 0
    from heygem_kernel import report   # the batch report counts them all, not the ones listed
    assert report.loop_text(record, short=True) == f"seamless, {len(plan.joins)} joins"
    assert report.loop_text(record).startswith("seamless: source frames 0-") and "..." in report.loop_text(record)


def test_a_runs_record_names_its_joins_past_the_first_ones(tmp_path, clip_590, speech_60s):
    """A real run: 30 s of speech over 2 s of talking_590. result.json names each join, and the
    output shows, where the record says a join's fade ends, the frame it says the join goes to."""
    import subprocess
    clip = two_seconds_of(clip_590, tmp_path)
    speech = tmp_path / "thirty.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(speech_60s), "-t", "30", "-ac", "1", str(speech)],
                   check=True)
    result = pipeline.run(speech, clip, runs_root=tmp_path / "runs", cache_dir=tmp_path / "cache",
                          options=RunOptions(sync_check=False))
    text = (result.run_dir / "result.json").read_text(encoding="utf-8")
    loop = json.loads(text)["extra"]["loop"]
    assert loop["mode"] == "seamless" and loop["joins_total"] > loops.RECORD_SHOWN and len(text) < 20_000
    named = joins_named(loop)
    assert len(named) == loop["joins_total"] and named[:loops.RECORD_SHOWN] == [
        (j["at"], j["from"], j["to"], j["fade"]) for j in loop["joins"]]
    info = media.probe_video(clip)
    src = np.stack(list(media.iter_frames(info))).astype(np.int16)
    out = list(media.iter_frames(media.probe_video(result.output)))
    top = int(pipeline.analyse(info, options=RunOptions(), n_frames=info.n_frames, want_library=False,
                               cache_dir=tmp_path / "cache").track.landmarks[:, 30, 1].min())   # above the nose
    for at, _, to, fade in named[loops.RECORD_SHOWN:]:   # the joins only the compact table names
        t = at + fade                                     # the first frame after the fade: source frame `to + fade`
        if t < len(out):
            best = int(np.abs(src[:, :top] - out[t][:top]).mean(axis=(1, 2, 3)).argmin())
            assert abs(best - (to + fade)) <= 1, (at, to, fade, best)
