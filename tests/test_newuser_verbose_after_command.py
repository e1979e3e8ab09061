"""``-v`` works after the command too. An internal error ends '(run with -v for the traceback)', and
a user adds -v to the command they ran: 'heygem sync clip.mp4 -v' said 'heygem sync: error:
unrecognized arguments: -v (see heygem sync -h)', exit 2; only 'heygem -v sync clip.mp4' worked."""
from __future__ import annotations

from heygem_cli import heygem


def test_verbose_after_the_command(tmp_path, clip_590, speech_5s):
    after = heygem("sync", clip_590, "--no-plot", "-v", cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert " DEBUG " in after.stderr                              # the debug lines, as with 'heygem -v sync'
    assert after.stdout.splitlines()[0].startswith("video:")
    plain = heygem("sync", clip_590, "--no-plot", cwd=tmp_path)
    assert " DEBUG " not in plain.stderr
    # bad input stays one line with -v
    bad = heygem("run", "--audio", speech_5s, "--video", tmp_path / "missing.mp4", "--verbose", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.splitlines() == [
        f"heygem: error: no such video file: {tmp_path / 'missing.mp4'}"], bad.stderr
    assert "-v, --verbose" in heygem("run", "-h").stdout
