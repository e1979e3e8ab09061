"""``heygem doctor``: what this machine has — ffmpeg, Python packages, CUDA, checkpoints, the plots' CJK font.

Exits 0: it reports problems, it does not fail on them; except that a MuseTalk models folder
(named with ``--models-dir``, or ``<checkpoints>/musetalk`` when it exists) that is missing a
file, or holds a truncated or wrong one, exits 2 with one line naming the file (after the
report): that folder is only there to be used.
"""
from __future__ import annotations

import argparse
import json
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from ..i18n import N_, NC_, Text, _, ljust

# distribution name -> what it is for
PACKAGES = (
    ("numpy", N_("arrays")),
    ("opencv-contrib-python", N_("image ops")),
    ("mediapipe", N_("face landmarks")),
    ("librosa", N_("closure cue for non-English speech (--language)")),
    ("pocketsphinx", N_("phoneme recognition")),
    ("torch", N_("wav2lip backend")),
    ("diffusers", N_("musetalk backend")),
    ("transformers", N_("musetalk backend")),
    ("matplotlib", N_("diagnostic plots")),
    ("onnxruntime", N_("face restoration (--enhance)")),
    ("ipywidgets", N_("notebook panel")),
    ("voila", N_("web panel")),
    ("papermill", N_("batch notebooks")),
    ("distributed", N_("parallel batches")),
    ("playwright", N_("browser tests")),
)


def add_parser(sub) -> None:
    p = sub.add_parser("doctor", help=N_("check ffmpeg, packages, CUDA and model checkpoints"),
                       description=N_("Report the tools, packages, GPU and checkpoints this machine has."))
    p.add_argument("--checkpoints", metavar="DIR",
                   help=N_("checkpoints folder (default: $HEYGEM_CHECKPOINTS, <repo>/checkpoints or ./checkpoints)"))
    p.add_argument("--models-dir", metavar="DIR",
                   help=N_("MuseTalk's models/ folder to check (default: <checkpoints>/musetalk); "
                        "a missing, truncated or wrong file in it exits 2"))
    p.add_argument("--no-hash", action="store_true", help=N_("skip sha256 of the checkpoints"))
    p.add_argument("--json", action="store_true", help=N_("print one JSON object instead of text"))
    p.set_defaults(func=main)


def _tool_version(name: str) -> dict[str, Any]:
    """Path and first ``-version`` line of the ffmpeg/ffprobe the engine itself would run."""
    from ..errors import MediaError
    from ..media import ffmpeg_exe, ffprobe_exe
    try:
        exe = ffmpeg_exe() if name == "ffmpeg" else ffprobe_exe()
    except MediaError:
        return {"path": None, "version": None}
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=20).stdout
        first = out.splitlines()[0] if out else ""
    except (OSError, subprocess.SubprocessError) as exc:
        first = f"not runnable: {exc}"
    return {"path": exe, "version": first}


def _packages() -> dict[str, str | None]:
    found = {}
    for name, _purpose in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _cuda() -> dict[str, Any]:
    try:
        import torch
    except ImportError:
        return {"available": False, "reason": N_("torch not installed")}
    info: dict[str, Any] = {"available": bool(torch.cuda.is_available()), "torch": torch.__version__,
                            "cuda_build": torch.version.cuda}
    if info["available"]:
        info["devices"] = [f"{torch.cuda.get_device_name(i)} "
                           f"({torch.cuda.get_device_properties(i).total_memory / 2**30:.0f} GiB)"
                           for i in range(torch.cuda.device_count())]
        info["bf16"] = bool(torch.cuda.is_bf16_supported())
    return info


def _musetalk(models_dir: str | None, checkpoints_dir: Path, *, hash: bool) -> dict[str, Any]:
    from ..backends import musetalk
    folder = Path(models_dir).expanduser() if models_dir else checkpoints_dir / musetalk.MODELS_SUBDIR
    return {"models_dir": str(folder), "exists": folder.is_dir(),
            "files": musetalk.describe_models_dir(folder, hash=hash) if folder.is_dir() else []}


def collect(checkpoints_dir: str | None = None, *, hash: bool = True,
            models_dir: str | None = None) -> dict[str, Any]:
    """Everything ``heygem doctor`` reports, as a JSON-ready dict."""
    from .. import __version__, checkpoints
    folder = Path(checkpoints_dir) if checkpoints_dir else checkpoints.checkpoints_dir()
    return {
        "heygem": __version__,
        "ffmpeg": _tool_version("ffmpeg"),
        "ffprobe": _tool_version("ffprobe"),
        "packages": _packages(),
        "cuda": _cuda(),
        "checkpoints_dir": str(folder),
        "checkpoints_dir_exists": folder.is_dir(),
        "checkpoints": [c.to_dict() for c in checkpoints.scan(folder, hash=hash)],
        "missing": [name for name in (*checkpoints.GENERATOR_NAMES, checkpoints.SYNCNET_NAME)
                    if not (folder / name).is_file()],
        "enhancers": _enhancers(folder),
        "musetalk": _musetalk(models_dir, folder, hash=hash),
        "plot_font": _plot_font(),
    }


def _plot_font() -> dict[str, Any]:
    """The CJK font the diagnostic plots draw Chinese text with (None: they draw empty boxes)."""
    try:
        from ..diagnostics import cjk_font
        found = cjk_font()
    except ImportError:      # no matplotlib: no plots (the packages list says so)
        return {"cjk": None, "path": None, "matplotlib": False}
    return {"cjk": found[0] if found else None, "path": found[1] if found else None, "matplotlib": True}


def _enhancers(folder: Path) -> list[dict[str, Any]]:
    from ..enhance import scan
    return scan(folder)


def _text(report: dict[str, Any]) -> str:
    """The report for a person, in the user's language (``--json`` stays as it is, for programs)."""
    lines = [f"heygem {report['heygem']}"]
    for tool in ("ffmpeg", "ffprobe"):
        t = report[tool]
        lines.append(f"{tool:<9} {t['version'] or _('MISSING (install ffmpeg)')}"
                     + (f"  [{t['path']}]" if t["path"] else ""))
    lines.append(_("packages:"))
    purpose = dict(PACKAGES)
    for name, version in report["packages"].items():
        lines.append(f"  {name:<22} {ljust(version or _('missing'), 12)} {_(purpose[name])}")
    cuda = report["cuda"]
    if cuda.get("available"):
        lines.append("CUDA      " + _("yes: {devices} (torch {torch}, CUDA {build}, bf16 {bf16})",
                                       devices=", ".join(cuda["devices"]), torch=cuda["torch"],
                                       build=cuda["cuda_build"], bf16=_("yes") if cuda.get("bf16") else _("no")))
    else:
        reason = _(cuda["reason"]) if cuda.get("reason") else "torch " + cuda.get("torch", "?")
        lines.append("CUDA      " + _("no ({reason}): the wav2lip backend runs on CPU, slowly", reason=reason))
    where = report["checkpoints_dir"] + ("" if report["checkpoints_dir_exists"] else _(" (does not exist)"))
    lines.append(_("checkpoints in {where}:", where=where))
    if not report["checkpoints"]:
        lines.append("  " + _("none found"))
    for c in report["checkpoints"]:
        digest = c["sha256"] or "-"
        lines.append(f"  {Path(c['path']).name:<26} {c['size']:>13,} B  sha256 {digest}  "
                     f"{_shown(c['status'])}" + (f" - {_shown(c['detail'])}" if c["detail"] else ""))
    if report["missing"]:
        lines.append("  " + _("not present: {names} (wav2lip needs wav2lip.pth or wav2lip_gan.pth; lipsync_expert.pth "
                              "adds sync scores)", names=", ".join(report["missing"])))
    lines.append(_("face-restoration models (--enhance):"))
    for e in report["enhancers"] or [{"file": None}]:
        if e["file"] is None:
            lines.append("  " + _("none found (gfpgan_1.4.onnx, gpen_bfr_512.onnx, restoreformer_plus_plus.onnx, "
                                  "codeformer.onnx)"))
            continue
        use = {True: N_("commercial use allowed"), False: N_("NOT for commercial use"),
               None: N_("check before commercial use")}
        lines.append(f"  {e['file']:<30} {e['size']:>13,} B  {e['enhancer'] or '?':<13} "
                     f"{e['licence']} [{_(use[e['commercial']])}]")
    mt = report["musetalk"]
    lines.append(_("musetalk models in {folder}:", folder=mt["models_dir"]
                   + ("" if mt["exists"] else _(" (does not exist)"))))
    if not mt["exists"]:
        lines.append("  " + _("none found (the models/ folder of MuseTalk's download: musetalkV15/, sd-vae/, "
                              "whisper/)"))
    for f in (mt["files"] if mt["exists"] else []):
        size = f"{f['size']:>13,} B" if f["size"] is not None else f"{'-':>15}"
        lines.append(f"  {f['name']:<36} {size}  sha256 {f['sha256'] or '-'}  {_shown(f['status'])}")
    font = report["plot_font"]
    if font["cjk"]:
        lines.append(_("plot font for Chinese text: {name} ({path})", name=font["cjk"], path=font["path"]))
    elif font["matplotlib"]:
        lines.append(_("plot font for Chinese text: none found: the plots draw Chinese labels as empty boxes "
                       "(their Latin font, DejaVu Sans, has no Chinese); install one, e.g. apt-get install "
                       "fonts-wqy-microhei, or fonts-noto-cjk"))
    return "\n".join(lines)


# what the checks found, as message ids (the JSON report keeps the English words)
# ("ok": the file passed its checks, 正常 in Chinese; a batch item's "ok" is 成功)
STATUS_WORDS = (N_("official"), N_("unknown"), N_("truncated?"), N_("not a checkpoint"),
                NC_("doctor: a model file passed its checks", "ok"))
_STATUS = {str(word): word for word in STATUS_WORDS}


def _shown(text: str) -> str:
    """A detail or status in the user's language: a :class:`~heygem_kernel.i18n.Text` with its values, or a
    message id; anything else (a file name, a model's name) as it is."""
    text = _STATUS.get(text, text) if type(text) is str else text
    return text.localized() if isinstance(text, Text) else _(text)


def main(args: argparse.Namespace) -> int:
    if args.checkpoints:   # a folder named on the command line, as --models-dir: one line, exit 2
        from ..errors import InputError
        folder = Path(args.checkpoints).expanduser()
        if folder.exists() and not folder.is_dir():   # said '<file> (does not exist)', exit 0
            raise InputError("{path} is a file, expected a folder", path=folder)
        if not folder.exists():
            raise InputError("no such checkpoints folder: {path}", path=folder)
    report = collect(args.checkpoints, hash=not args.no_hash, models_dir=args.models_dir)
    print(json.dumps(report, indent=1) if args.json else _text(report))
    mt = report["musetalk"]
    if args.models_dir or mt["exists"]:   # a MuseTalk folder is there to be used: broken = error
        from ..backends.musetalk import check_models_dir
        check_models_dir(mt["models_dir"])
    return 0
