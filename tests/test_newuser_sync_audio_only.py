"""A new user's tour: ``heygem sync`` given the speech file instead of the video.

Before: "... is audio only: it has an audio track but no video stream; choose a video or photo of
the person", the run's advice; a photo is what sync then refused ("is a photo: a sync check needs
a video with a moving mouth"). Now sync says what it needs; ``heygem run`` keeps its own advice.
"""
from __future__ import annotations

from heygem_cli import heygem


def test_sync_of_a_speech_file_says_what_sync_needs(tmp_path, speech_zh, clip_524):
    for lang, line in (("en", f"heygem: error: {speech_zh} is audio only: a sync check needs a video of the speaker's "
                              "face (and takes the speech with --audio)"),
                       ("zh", f"heygem：错误：{speech_zh} 只有音频：同步检查需要拍到说话人面部的视频（语音请用 --audio 指定）")):
        proc = heygem("sync", speech_zh, "--no-plot", lang=lang, cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert proc.stderr.strip().splitlines()[-1] == line
    run = heygem("run", "--audio", speech_zh, "--video", speech_zh, "--out", tmp_path / "o.mp4", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1] == (f"heygem: error: {speech_zh} is audio only: it has an audio track but "
                                                   "no video stream; choose a video or photo of the person")
    # with the speech where it belongs, the same pair reads (the speech is not this clip's: low confidence is fine)
    ok = heygem("sync", clip_524, "--audio", speech_zh, "--no-plot", "--json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr[-2000:]
