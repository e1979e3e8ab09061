"""A new user's tour (helper-41): the batch report is what a training department shares, and it
said less than the run itself.

Before: ``heygem run`` printed "sync offset +2 frames as in the source video" for talking_524, the
report only "+2 frames 0.80" (no chance level, no speaker timing); a reverberant speech's note was
in every item's result.json but not in the report; the report did not say which speech language
the batch used; a folder's file left out (notes.txt) was said on stderr only.
"""
from __future__ import annotations

from pathlib import Path

from heygem_kernel import batch, report


def _entry(tmp_path: Path) -> dict:
    entry = {"index": 0, "name": "talking_524", "video": "/videos/talking_524.mp4", "status": "pending",
             "output": "outputs/talking_524.mp4"}
    out = tmp_path / "outputs" / "talking_524.mp4"
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(b"x")
    result = {"output": str(out), "frames_no_face": 0, "frames_mouth_covered": 0, "n_frames": 150,
              "sync_offset_frames": 2, "sync_confidence": 0.8, "sync_correlation": 0.91,
              "extra": {"sync_reliable": True, "sync_chance": 0.42, "sync_follows_source": True,
                        "speaker_timing": {"measured": True, "offset_frames": 1.91, "offset_ms": 76.3,
                                           "applied": True, "applied_ms": -76.3, "confidence": 0.6, "note": ""},
                        "input_notes": ["speech_zh8.wav sounds reverberant or strongly compressed"]}}
    batch._record(tmp_path, entry, batch.ItemOutcome(0, True, result, None, 1.0, "w"))
    return entry


def test_the_report_says_why_an_output_reads_off_as_its_source(tmp_path):
    entry = _entry(tmp_path)
    assert entry["sync_follows_source"] is True and entry["sync_chance"] == 0.42
    assert entry["speaker_timing"] == {"measured": True, "offset_frames": 1.91, "applied": True,
                                       "applied_ms": -76.3, "note": "", "note_i18n": None}
    row = report.summary_rows([entry])[0]
    assert "+2 frames, as in the source video" in row and "0.80 (chance 0.42)" in row
    assert report.item_notes(entry) == [
        "speech_zh8.wav sounds reverberant or strongly compressed",
        "the output reads off only as far as its source video does: speaker timing: the source video reads "
        "+1.9 frames; mouth shapes drawn 76 ms later"]
    manifest = {"audio": "speech_zh8.wav", "audio_duration": 8.0, "backend": "reuse",
                "options": {"language": "zh"}, "items": [entry]}
    page = report.summary_table(manifest).data
    assert "speech language: Mandarin Chinese (zh)" in page
    assert "talking_524.mp4: speech_zh8.wav sounds reverberant" in page
    assert "as in the source video" in page


def test_a_folders_file_left_out_is_in_the_manifest_and_the_report(tmp_path, clip_524, speech_5s):
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "a.mp4").symlink_to(clip_524)
    (folder / "notes.txt").write_text("presenters", encoding="utf-8")
    given = {"template": "{folder}: {n} sub-folder(s) not searched (give them as well): {names}",
             "values": {"folder": "/elsewhere", "n": 1, "names": "2024"}}
    plan = batch.prepare(speech_5s, [folder], run_dir=tmp_path / "run", scan=False, notes=[given])
    try:
        manifest = batch.read_manifest(tmp_path / "run")
    finally:
        if plan.lock is not None:
            plan.lock.close()
    assert manifest["batch_notes"][0] == given
    assert report.speech_notes(manifest) == [
        "/elsewhere: 1 sub-folder(s) not searched (give them as well): 2024",
        f"{folder}: 1 file(s) skipped, not a video or photo by their extension: notes.txt"]


def test_outputs_made_with_other_options_are_named_before_they_are_replaced(tmp_path, clip_524, speech_5s, caplog):
    """Before: the same folder run again with --crf 30 re-rendered and overwrote its finished outputs
    without a word (a different speech is refused by heygem batch; other options were not said)."""
    import logging
    run_dir = tmp_path / "run"
    plan = batch.prepare(speech_5s, [clip_524], run_dir=run_dir, scan=False)
    plan.lock.close()
    manifest = batch.read_manifest(run_dir)
    (entry,) = manifest["items"]
    entry.update(status="ok", output_bytes=8)     # as a finished run leaves it
    (run_dir / entry["output"]).parent.mkdir(parents=True, exist_ok=True)
    (run_dir / entry["output"]).write_bytes(b"finished")
    batch.write_manifest(run_dir, manifest)
    with caplog.at_level(logging.WARNING, logger="heygem.batch"):
        batch.prepare(speech_5s, [clip_524], run_dir=run_dir, scan=False).lock.close()     # same options: reused
        assert not caplog.records
        batch.prepare(speech_5s, [clip_524], run_dir=run_dir, scan=False, options={"crf": 30}).lock.close()
    assert [r.getMessage() for r in caplog.records] == [
        f"1 finished output(s) in {run_dir / 'outputs'} were made with another speech or other options and will be "
        "replaced: talking_524 (a new --run-dir keeps them)"]


def test_item_notes_and_speaker_timing_reasons_follow_the_report_language(tmp_path):
    """helper-42: the notes were stored as English text only, so a Chinese report showed them in English."""
    from heygem_kernel import i18n
    from heygem_kernel.errors import record_of
    from heygem_kernel.i18n import Text
    reason = Text("too little speech in the source's own sound ({seconds:.1f} s, {needed:.0f} s needed)",
                  seconds=1.2, needed=2.0)
    note = Text("{name} has {tracks} audio tracks: only the first is used as the speech", name="a.mp4", tracks=2)
    entry = {"index": 0, "name": "a", "video": "/v/a.mp4", "status": "pending", "output": "outputs/a.mp4"}
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "a.mp4").write_bytes(b"x")
    result = {"output": str(tmp_path / "outputs" / "a.mp4"),
              "extra": {"input_notes": [str(note)], "input_notes_i18n": [record_of(note)],
                        "speaker_timing": {"measured": False, "applied": False, "note": str(reason),
                                           "note_i18n": record_of(reason)}}}
    batch._record(tmp_path, entry, batch.ItemOutcome(0, True, result, None, 1.0, "w"))
    assert report.item_notes(entry) == [str(note)]
    assert report.speaker_timing_text(entry).endswith(str(reason))
    try:
        i18n.set_language("zh")
        zh_note, zh_reason = note.localized(), reason.localized()
        assert zh_note != str(note) and zh_reason != str(reason)       # both are in the catalogue
        assert report.item_notes(entry) == [zh_note]
        assert report.speaker_timing_text(entry) == f"未应用说话人时序：{zh_reason}"
    finally:
        i18n.set_language(None)


def test_odd_manifest_values_do_not_stop_the_report():
    """helper-42: an applied speaker timing without its reading, or a language code this version does
    not know (a newer manifest), raised inside the report cell and stopped the whole report."""
    assert report.speaker_timing_text({"speaker_timing": {"applied": True}}) == ""
    page = report.summary_table({"audio": "s.wav", "options": {"language": "xx"}, "items": []}).data
    assert "speech language: xx" in page


def test_notes_given_as_text_by_plain_papermill_are_parsed(tmp_path, clip_524, speech_5s):
    given = '[{"template": "{folder}: {n} sub-folder(s) not searched (give them as well): {names}", ' \
            '"values": {"folder": "/x", "n": 1, "names": "2024"}}]'
    batch.prepare(speech_5s, [clip_524], run_dir=tmp_path / "run", scan=False, notes=given).lock.close()
    assert report.speech_notes(batch.read_manifest(tmp_path / "run")) == [
        "/x: 1 sub-folder(s) not searched (give them as well): 2024"]
