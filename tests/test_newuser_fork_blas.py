"""A new user's tour, a 60 s speech driving the 1080x1920 presenter: ``heygem run`` hung for good.

Before (31cdfd7, 2026-12-01): every ffmpeg child was started with a ``preexec_fn`` (to tie it to the
run with PR_SET_PDEATHSIG). A ``preexec_fn`` makes ``subprocess`` fork() instead of vfork(), and
fork() runs the atfork handlers of every library in the parent, OpenBLAS's among them: its
``blas_thread_shutdown_`` joins its worker threads, and while the speech thread was inside numpy's
matrix product (the mel spectrogram, beside the face analysis) that join never returned. The run
stopped at "video: 1080x1920, 25.000 fps, 250 frames", 0 % CPU, in 3 of 15 tries
(speech_en_60s + portrait_1080x1920), and ``kill`` (SIGTERM) could not end it. Now the tie is made by
``setpriv --pdeathsig KILL`` in front of the command: no Python code runs between fork and exec, so
subprocess keeps its vfork() and no atfork handler runs.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import sys, threading
    from heygem_kernel import audio, media
    wav = audio.load_audio(sys.argv[1])
    stop = threading.Event()

    def speech():   # what the run's speech thread does beside the face analysis
        while not stop.is_set():
            audio.melspectrogram(wav)

    threading.Thread(target=speech, daemon=True).start()
    info = media.probe_video(sys.argv[2])
    for attempt in range(30):   # the face analysis' decoder, started again and again meanwhile
        for n, frame in enumerate(media.iter_frames(info)):
            if n == 1:
                break
    stop.set()
    print("decoded", attempt + 1, "times", flush=True)
""")


def test_decoders_start_while_the_speech_is_analysed(clip_524, speech_60s):
    try:
        done = subprocess.run([sys.executable, "-c", SCRIPT, str(speech_60s), str(clip_524)], capture_output=True,
                              text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise AssertionError("starting ffmpeg while the speech thread multiplies matrices hung (fork deadlock)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "decoded 30 times" in done.stdout
