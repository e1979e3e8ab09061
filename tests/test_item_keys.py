"""A batch item's key is what its output is made of: the inputs' content, the options the chosen
backend reads, versions. Options the backend ignores (``--checkpoint`` with ``reuse``) made finished
items run again on resume; options it reads must still do so."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from heygem_kernel import batch


@pytest.fixture(autouse=True)
def _private_hash_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HEYGEM_CACHE_DIR", str(tmp_path / "hash-cache"))   # model checksums: not ~/.cache


@pytest.fixture(scope="module")
def finished(tmp_path_factory, clip_524, speech_5s):
    """One real batch item, finished: (run_dir, speech, cache_dir) of a 1 s speech on talking_524."""
    work = tmp_path_factory.mktemp("keys")
    speech = work / "speech_1s.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-t", "1", "-i", str(speech_5s), str(speech)], check=True,
                   timeout=60)
    run_dir = work / "batch"
    result = batch.run_batch(speech, [clip_524], run_dir=run_dir, cache_dir=work / "cache", samples=2,
                             progress=False)
    assert [i["status"] for i in result.items] == ["ok"], result.items
    return run_dir, speech, work / "cache"


def _again(finished, clip, **options) -> batch.BatchPlan:
    """The finished batch again with ``options``, in a copy of its folder (a plan rewrites the manifest)."""
    run_dir, speech, cache_dir = finished
    copy = run_dir.parent / f"again-{len(list(run_dir.parent.glob('again-*')))}"
    shutil.copytree(run_dir, copy)
    plan = batch.prepare(speech, [clip], run_dir=copy, cache_dir=cache_dir, samples=2, scan=False,
                         options=options)
    plan.release()
    return plan


def test_options_the_backend_ignores_do_not_run_finished_items_again(finished, clip_524, tmp_path):
    model = tmp_path / "wav2lip.pth"
    model.write_bytes(b"weights")
    for ignored in ({"checkpoint": str(model)}, {"models_dir": str(tmp_path)}, {"pads": (1, 2, 3, 4)}):
        plan = _again(finished, clip_524, **ignored)
        assert plan.jobs == [] and plan.items[0]["reused"] is True, ignored
        assert (plan.run_dir / plan.items[0]["output"]).stat().st_size == plan.items[0]["output_bytes"]
    plan = _again(finished, clip_524, mask_scale=1.3)           # one reuse reads: the item runs again
    assert [j.name for j in plan.jobs] == ["talking_524"]


def _key(tmp_path, clip, speech, **options) -> str:
    plan = batch.prepare(speech, [clip], run_dir=tmp_path / f"b{len(list(tmp_path.iterdir()))}", scan=False,
                         cache_dir=tmp_path / "cache", options=options)
    plan.release()
    return plan.items[0]["key"]


def test_learned_backends_keys_follow_the_options_they_read(tmp_path, clip_524, speech_5s):
    work = tmp_path / "work"
    work.mkdir()
    model = tmp_path / "wav2lip.pth"
    model.write_bytes(b"weights")
    wav2lip = _key(work, clip_524, speech_5s, backend="wav2lip", checkpoint=str(model))
    assert _key(work, clip_524, speech_5s, backend="wav2lip", checkpoint=str(model), models_dir=str(tmp_path)) \
        == wav2lip                                               # wav2lip reads no models folder
    assert _key(work, clip_524, speech_5s, backend="wav2lip", checkpoint=str(model), pads=(0, 20, 0, 0)) \
        != wav2lip                                               # ... but its face box padding
    models = tmp_path / "models"
    unet = models / "musetalkV15" / "unet.pth"
    unet.parent.mkdir(parents=True)
    unet.write_bytes(b"weights")
    musetalk = _key(work, clip_524, speech_5s, backend="musetalk", models_dir=str(models))
    assert _key(work, clip_524, speech_5s, backend="musetalk", checkpoint=str(unet)) == musetalk   # one folder
    assert _key(work, clip_524, speech_5s, backend="musetalk", models_dir=str(models), pads=(0, 20, 0, 0)) \
        == musetalk                                              # its own 256 px crop: no pads
    assert _key(work, clip_524, speech_5s, backend="musetalk", models_dir=str(tmp_path)) != musetalk
    assert musetalk != wav2lip


def test_model_files_count_by_content_not_by_path(tmp_path, clip_524, speech_5s):
    """New weights copied over the checkpoint kept the items made with the old ones ("reused")."""
    work = tmp_path / "work"
    work.mkdir()
    model, moved = tmp_path / "wav2lip.pth", tmp_path / "elsewhere" / "mine.pth"
    model.write_bytes(b"weights A")
    first = _key(work, clip_524, speech_5s, backend="wav2lip", checkpoint=str(model))
    moved.parent.mkdir()
    moved.write_bytes(b"weights A")
    assert _key(work, clip_524, speech_5s, backend="wav2lip", checkpoint=str(moved)) == first   # moved: same model
    model.write_bytes(b"weights B")
    assert _key(work, clip_524, speech_5s, backend="wav2lip", checkpoint=str(model)) != first   # replaced: runs again

    models = tmp_path / "models"
    whisper = models / "whisper" / "pytorch_model.bin"
    whisper.parent.mkdir(parents=True)
    whisper.write_bytes(b"whisper A")
    musetalk = _key(work, clip_524, speech_5s, backend="musetalk", models_dir=str(models))
    whisper.write_bytes(b"whisper B")                      # any of its 7 files
    assert _key(work, clip_524, speech_5s, backend="musetalk", models_dir=str(models)) != musetalk


def test_options_nothing_reads_do_not_run_finished_items_again(finished, clip_524):
    """--enhance-strength without --enhance, --device with reuse (no network) changed the key too."""
    for unused in ({"enhance_strength": 0.5}, {"device": "cpu"}):
        plan = _again(finished, clip_524, **unused)
        assert plan.jobs == [] and plan.items[0]["reused"] is True, unused


def test_keys_name_a_language_one_way_and_follow_what_learned_backends_read(tmp_path, clip_524, speech_5s):
    work = tmp_path / "work"
    work.mkdir()
    zh = _key(work, clip_524, speech_5s, language="zh")
    assert _key(work, clip_524, speech_5s, language="zh-CN") == _key(work, clip_524, speech_5s, language="cmn") == zh
    assert _key(work, clip_524, speech_5s, language="ja") != zh
    model = tmp_path / "wav2lip.pth"
    model.write_bytes(b"weights")
    wav2lip = _key(work, clip_524, speech_5s, backend="wav2lip", checkpoint=str(model), device="cpu")
    assert _key(work, clip_524, speech_5s, backend="wav2lip", checkpoint=str(model), device="auto") != wav2lip


def test_a_scan_is_reused_only_for_the_backend_and_detector_it_was_made_for(finished, clip_524, monkeypatch):
    """The pre-flight scan of a reuse batch was shown again for musetalk: its time estimate 400x too small."""
    from heygem_kernel.scan import scan_video
    run_dir, speech, cache_dir = finished
    copy = run_dir.parent / "again-scan"
    shutil.copytree(run_dir, copy)
    before = batch.read_manifest(copy)["items"][0]["scan"]
    plan = batch.prepare(speech, [clip_524], run_dir=copy, cache_dir=cache_dir, samples=2, backend="musetalk")
    plan.release()
    fresh = scan_video(clip_524, audio_duration=before["audio_duration"], samples=2, backend="musetalk")
    assert plan.items[0]["scan"]["est_seconds"] == fresh.est_seconds > 10 * before["est_seconds"]
    from heygem_kernel import scan
    calls = []
    monkeypatch.setattr(scan, "scan_video", lambda *a, **k: calls.append(k) or fresh)
    plan = batch.prepare(speech, [clip_524], run_dir=copy, cache_dir=cache_dir, samples=2, backend="musetalk")
    plan.release()
    assert calls == [] and plan.items[0]["scan"]["est_seconds"] == fresh.est_seconds   # then it is reused


def test_an_item_measured_before_serves_a_batch_without_the_sync_check(finished, clip_524):
    """--no-sync-check asks for less than a finished item has (the same video, its offset measured too):
    it ran the item again."""
    done = batch.read_manifest(finished[0])["items"][0]
    assert "sync_offset_frames" in done
    plan = _again(finished, clip_524, sync_check=False)
    assert plan.jobs == [] and plan.items[0]["reused"] is True
    assert plan.items[0]["key"] == done["key"]          # a later batch with the check finds it too
    plan = _again(finished, clip_524, sync_check=False, mask_scale=1.3)
    assert [j.name for j in plan.jobs] == ["talking_524"]
