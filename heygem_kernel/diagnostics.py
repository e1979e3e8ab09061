"""Diagnostic PNGs of a run: mel spectrogram, landmarks on sample frames, mouth track vs speech,
sync curve.

Drawn with matplotlib's object API on the Agg canvas (no ``pyplot``; the one global change
adds CJK fallback fonts, see :func:`_use_cjk_fallback`); titles and labels are in the current
language (:mod:`heygem_kernel.i18n`);
figures are freed with their last reference, and plotting is safe from worker threads.
Every function writes one PNG and returns its path.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .audio import FMAX, FMIN, MAX_ABS_VALUE, MEL_PER_SECOND
from .face68 import INNER_LIPS, OUTER_LIPS
from . import i18n, records
from .i18n import N_, _

DPI = 100
MEL_TICKS_HZ = (250, 500, 1000, 2000, 4000, 7000)
LANDMARK_COLUMNS = 3           # sample frames per row
FACE_MARGIN = 0.35             # crop = landmark box grown by this fraction of its size each side
LIP_POINTS = (OUTER_LIPS, INNER_LIPS)   # outer and inner lip loops (iBUG 68)
NORM_PERCENTILES = (2, 98)     # robust 0..1 scaling of the mouth track for display
# ... over at least this much opening (inter-ocular units: ~0 closed, ~0.3 wide open). A mouth that never
# moves (a photo driven by a silent speech: 0.1213-0.1221) was scaled 34x, its landmark jitter drawn as
# spikes off the chart; a talking mouth spans 0.15-0.3, unchanged
MOUTH_MIN_SPAN = 0.05
MOUTH_Y_MAX = 3.0        # the mouth-track panel's top at most: three times the 2nd-98th percentile span

C_MOUTH, C_SPEECH, C_SHIFTED, C_ENV = "#1f77b4", "#d62728", "#ff7f0e", "#7f7f7f"
C_REFINED = "#17becf"        # the sync curve around its peak on the whole clip (not another red)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    _use_cjk_fallback()
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained", facecolor="white")
    FigureCanvasAgg(fig)
    return fig


# Fonts tried glyph by glyph (matplotlib >= 3.6): Latin from DejaVu, Chinese from the first CJK
# font installed (scripts/setup.sh installs Debian's fonts-wqy-microhei).
CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC")
CJK_FONT_FILES = ("wqy-microhei", "notosanscjk", "notosanssc", "sourcehansans")   # their file names


def _use_cjk_fallback() -> None:
    """Make plot text in Chinese render: the installed CJK fonts become fallbacks of the default
    sans-serif family. Without one, Chinese labels show as boxes. The font search runs once per
    process; the family is checked on every figure, as other code (pyplot styles, notebook
    backends, ``rcdefaults``) may reset matplotlib's settings in between."""
    import matplotlib
    family = _cjk_family()
    if family and list(matplotlib.rcParams["font.family"]) != family:
        matplotlib.rcParams["font.family"] = list(family)


def _cjk_family() -> list[str]:
    """``["DejaVu Sans", <CJK fonts installed>]``, or ``[]`` when none of :data:`CJK_FONTS` is."""
    global _CJK_FAMILY
    if _CJK_FAMILY is None:
        from matplotlib import font_manager
        installed = {f.name for f in font_manager.fontManager.ttflist}
        if not installed.intersection(CJK_FONTS):   # fonts installed after matplotlib built its cache
            for path in font_manager.findSystemFonts():
                if any(key in path.lower() for key in CJK_FONT_FILES):
                    try:
                        font_manager.fontManager.addfont(path)
                    except (OSError, RuntimeError, ValueError):
                        continue
            installed = {f.name for f in font_manager.fontManager.ttflist}
        cjk = [name for name in CJK_FONTS if name in installed]
        _CJK_FAMILY = ["DejaVu Sans", *cjk] if cjk else []
        if cjk:   # it has no bold face: "findfont: Failed to find font weight bold for WenQuanYi Micro Hei,
            # now using 400." on every bold label (a frame without a face), in batches and the panel too
            logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    return _CJK_FAMILY


_CJK_FAMILY: list[str] | None = None   # [] when no CJK font is installed


def cjk_font() -> tuple[str, str] | None:
    """The font the plots draw Chinese text with: (family name, font file), the first of
    :data:`CJK_FONTS` installed; None when there is none, and then the plots' Chinese labels are
    empty boxes (their Latin font, DejaVu Sans, has no Chinese glyphs). For ``heygem doctor``."""
    family = _cjk_family()
    if not family:
        return None
    from matplotlib import font_manager
    name = family[1]
    return name, next((f.fname for f in font_manager.fontManager.ttflist if f.name == name), "")


VECTOR_FORMATS = {".svg": "svg", ".pdf": "pdf"}   # drawn by matplotlib; every other name is a raster image
JPEG_SUFFIXES = (".jpg", ".jpeg")                  # encoded as JPEG; anything else as PNG


def _save(fig, path: str | Path) -> Path:
    """Render ``fig`` (white, opaque) and write it by ``path``'s extension: SVG or PDF (matplotlib), else
    PNG or JPEG (see :func:`_write_png`). Written under a temporary name beside ``path`` and renamed when
    whole (:func:`heygem_kernel.records.atomic_output`): never half a plot, no temporary left behind."""
    vector = VECTOR_FORMATS.get(Path(path).suffix.lower())
    if vector is None:
        fig.canvas.draw()
        return _write_png(np.asarray(fig.canvas.buffer_rgba())[:, :, :3], path)
    with records.atomic_output(path) as tmp:
        fig.savefig(tmp, format=vector)
    return Path(path)


def _write_png(rgb: np.ndarray, path: str | Path) -> Path:
    """Write ``rgb`` [shape=(H, W, 3)] uint8 as PNG with OpenCV at zlib level 3: ~4x less CPU than
    ``savefig``'s Pillow encoder (level 6, RGBA) for ~5 % more bytes (JPEG for a .jpg/.jpeg ``path``);
    encoded in memory, written under a temporary name beside ``path`` and renamed when whole."""
    import cv2
    path = Path(path)
    kind = ".jpg" if path.suffix.lower() in JPEG_SUFFIXES else ".png"
    ok, data = cv2.imencode(kind, np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ValueError(f"{kind[1:].upper()} encoding failed for {path}")
    with records.atomic_output(path) as tmp:
        tmp.write_bytes(data.tobytes())
    return path


# --- mel spectrogram -----------------------------------------------------------------------------
def _mel_band_of(hz: float, n_mels: int) -> float:
    """Fractional band index whose centre is ``hz`` (Slaney mel scale, as the Wav2Lip filters)."""
    from .audio import mel_frequencies
    centres = mel_frequencies(n_mels + 2, fmin=FMIN, fmax=FMAX)[1:-1]
    return float(np.interp(hz, centres, np.arange(n_mels)))


def plot_mel(mel: np.ndarray, path: str | Path, *, title: str | None = None) -> Path:
    """Mel spectrogram ``mel`` [shape=(80, M)] (Wav2Lip scale, -4 silence .. 4, 80 columns/s)."""
    mel = np.asarray(mel, dtype=np.float32)
    if mel.ndim != 2 or mel.shape[1] == 0:
        raise ValueError(f"plot_mel expects a (n_mels, M) array, got shape {mel.shape}")
    n_mels, cols = mel.shape
    seconds = cols / MEL_PER_SECOND
    fig = _figure(min(14.0, 6.0 + seconds / 6.0), 3.4)
    ax = fig.add_subplot()
    image = ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", vmin=-MAX_ABS_VALUE, vmax=MAX_ABS_VALUE,
                      extent=(0.0, seconds, -0.5, n_mels - 0.5), interpolation="nearest")
    ticks = [(_mel_band_of(hz, n_mels), hz) for hz in MEL_TICKS_HZ if FMIN < hz < FMAX]
    ax.set_yticks([b for b, _ in ticks], [f"{hz / 1000:g}k" if hz >= 1000 else str(hz) for _, hz in ticks])
    ax.set_xlabel(_("time (s)"))
    ax.set_ylabel(_("frequency (Hz, mel scale)"))
    ax.set_title(i18n.gettext(title) if title else _("Mel spectrogram"), loc="left")   # a title given as
    bar = fig.colorbar(image, ax=ax, pad=0.01, fraction=0.04)                         # a message id is translated
    bar.set_label(_("level (-4 = silence)"))
    return _save(fig, path)


# --- landmarks on sample frames -----------------------------------------------------------------
def _crop_box(points: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """A square around ``points`` [shape=(K, 2)] grown by FACE_MARGIN, clamped to the frame."""
    x0, y0 = np.nanmin(points, axis=0)
    x1, y1 = np.nanmax(points, axis=0)
    side = max(x1 - x0, y1 - y0) * (1 + 2 * FACE_MARGIN)
    side = max(side, 32.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = int(np.clip(round(cx - side / 2), 0, max(0, width - 1)))
    top = int(np.clip(round(cy - side / 2), 0, max(0, height - 1)))
    right = int(np.clip(round(cx + side / 2), left + 1, width))
    bottom = int(np.clip(round(cy + side / 2), top + 1, height))
    return left, top, right, bottom


def plot_landmarks(frames: Sequence[np.ndarray], landmarks: Sequence[np.ndarray | None],
                   path: str | Path, *, titles: Sequence[str] | None = None,
                   mask_polygons: Sequence[np.ndarray | None] | None = None) -> Path:
    """Grid of sample frames cropped around the face with the 68 points and the lips drawn.

    frames        list of [shape=(H, W, 3)] uint8 BGR frames.
    landmarks     per frame [shape=(68, 2)] pixel (x, y), or None (drawn as "no face").
    titles        optional caption per frame.
    mask_polygons optional per frame [shape=(K, 2)] outline of the mouth mask, or None.

    The tiles are composed and drawn on with OpenCV into one image; only the text goes through
    matplotlib (its CJK fallback fonts), drawn over it: six axes with images, scatters and a
    constrained layout cost 0.37 CPU-s for six 1080x1920 frames, this 0.09.
    """
    from matplotlib.lines import Line2D

    n = len(frames)
    if len(landmarks) != n:
        raise ValueError(f"plot_landmarks: {n} frames but {len(landmarks)} landmark entries")
    if n == 0:
        fig = _figure(3.2, 3.8)
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, _("no frames"), ha="center", va="center", fontsize=14)
        ax.set_axis_off()
        return _save(fig, path)
    cols = max(1, min(LANDMARK_COLUMNS, n))
    rows = max(1, math.ceil(n / cols))
    width = cols * TILE + (cols + 1) * TILE_GAP
    height = TITLE_H + rows * (CAPTION_H + TILE + TILE_GAP) + LEGEND_H
    canvas = np.full((height, width, 3), 255, np.uint8)       # RGB
    texts = []                                                # (x px, y px from top, text, kind)
    with_mask = False
    for i, (frame, points) in enumerate(zip(frames, landmarks)):
        row, col = divmod(i, cols)
        left = TILE_GAP + col * (TILE + TILE_GAP)
        top = TITLE_H + row * (CAPTION_H + TILE + TILE_GAP) + CAPTION_H
        caption = titles[i] if titles is not None and i < len(titles) else _("sample {n}", n=i + 1)
        texts.append((left + TILE / 2, top - 4, caption, "caption"))
        frame = np.asarray(frame)
        h, w = frame.shape[:2]
        pts = None if points is None else np.asarray(points, dtype=np.float64)
        outline = None
        if mask_polygons is not None and i < len(mask_polygons) and mask_polygons[i] is not None:
            outline = np.asarray(mask_polygons[i], dtype=np.float64)
        if pts is None or not np.isfinite(pts).any():
            _tile(canvas, frame, (0, 0, w, h), left, top)      # the whole frame, a light preview
            texts.append((left + TILE / 2, top + TILE / 2, _("no face"), "no face"))
            continue
        box_pts = pts if outline is None else np.concatenate([pts, outline])
        box = _crop_box(box_pts[np.isfinite(box_pts).all(axis=1)], w, h)
        to_tile = _tile(canvas, frame, box, left, top)
        _draw_points(canvas, to_tile(pts[:48]), LM_RGB)
        for loop in LIP_POINTS:
            lip = to_tile(pts[loop])
            _draw_polyline(canvas, lip, LIP_RGB, closed=True)
            _draw_points(canvas, lip, LIP_RGB)
        if outline is not None:
            with_mask = True
            _draw_dashed_ring(canvas, to_tile(outline), MASK_RGB)
    fig = _figure_px(width, height)
    for x, y, text, kind in texts:
        if kind == "caption":
            fig.text(x / width, 1 - y / height, text, ha="center", va="bottom", fontsize=9)
        else:
            fig.text(x / width, 1 - y / height, text, ha="center", va="center", fontsize=16, color="white",
                     weight="bold", bbox=dict(facecolor="#d62728", alpha=0.8, edgecolor="none"))
    fig.text(0.5, 1 - (TITLE_H / 2) / height, _("Face landmarks on sample frames (cropped around the face)"),
             ha="center", va="center", fontsize=11)
    handles = [Line2D([], [], ls="", marker="o", color=_hex(LM_RGB), label=_("68 landmarks")),
               Line2D([], [], color=_hex(LIP_RGB), marker="o", label=_("lips"))]
    if with_mask:
        handles.append(Line2D([], [], color=_hex(MASK_RGB), ls="--", label=_("mouth mask")))
    fig.legend(handles=handles, loc="lower center", ncols=len(handles), frameon=False,
               bbox_to_anchor=(0.5, 0.0), borderaxespad=0.2)
    return _save_over(canvas, fig, path)


# Landmark grid geometry, in pixels of the PNG (DPI 100: 3 tiles a row make it ~980 px wide)
TILE, TILE_GAP, CAPTION_H, TITLE_H, LEGEND_H = 300, 20, 20, 34, 30
LM_RGB, LIP_RGB, MASK_RGB = (0, 229, 255), (255, 45, 85), (255, 214, 10)
SUBPIXEL = 4     # cv2 drawing: coordinates carry 4 fractional bits


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % rgb


def _figure_px(width: int, height: int):
    """A transparent figure of exactly ``width`` x ``height`` pixels at :data:`DPI`, no layout engine."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    _use_cjk_fallback()
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="none")
    FigureCanvasAgg(fig)
    return fig


def _save_over(canvas: np.ndarray, fig, path: str | Path) -> Path:
    """Draw ``fig`` (text on a transparent figure of the same pixel size) over ``canvas`` (RGB) and
    write the PNG: the image itself never goes through matplotlib (no resampling, no copy)."""
    fig.canvas.draw()
    layer = np.asarray(fig.canvas.buffer_rgba())            # straight (not premultiplied) alpha
    rows = np.flatnonzero(layer[..., 3].any(axis=1))
    if rows.size:
        part = slice(rows[0], rows[-1] + 1)
        alpha = layer[part, :, 3:4].astype(np.float32) * (1 / 255)
        canvas[part] = (canvas[part] * (1 - alpha) + layer[part, :, :3] * alpha + 0.5).astype(np.uint8)
    return _write_png(canvas, path)


def _tile(canvas: np.ndarray, frame: np.ndarray, box: tuple[int, int, int, int], left: int, top: int):
    """Scale ``frame[box]`` (BGR) to fit a TILE square at (left, top) of ``canvas`` (RGB), centred, with a
    thin frame; return the map from frame pixel coordinates [shape=(K, 2)] to canvas coordinates."""
    import cv2
    x0, y0, x1, y1 = box
    crop = frame[y0:y1, x0:x1]
    scale = TILE / max(x1 - x0, y1 - y0)
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    ox, oy = left + (TILE - size[0]) // 2, top + (TILE - size[1]) // 2
    canvas[oy:oy + size[1], ox:ox + size[0]] = crop[:, :, ::-1]
    cv2.rectangle(canvas, (ox - 1, oy - 1), (ox + size[0], oy + size[1]), (0, 0, 0), 1)
    sx, sy = size[0] / (x1 - x0), size[1] / (y1 - y0)
    # pixel centres: frame pixel x sits at x0 + u, its tile pixel at ox + (u + 0.5) * s - 0.5
    return lambda p: np.stack([ox + (p[:, 0] - x0 + 0.5) * sx - 0.5, oy + (p[:, 1] - y0 + 0.5) * sy - 0.5], axis=1)


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points[np.isfinite(points).all(axis=1)] * (1 << SUBPIXEL)).astype(np.int32)


def _draw_points(canvas: np.ndarray, points: np.ndarray, rgb: tuple[int, int, int]) -> None:
    import cv2
    for x, y in _fixed(points):
        cv2.circle(canvas, (int(x), int(y)), 3 << (SUBPIXEL - 1), rgb, -1, cv2.LINE_AA, SUBPIXEL)


def _draw_polyline(canvas: np.ndarray, points: np.ndarray, rgb: tuple[int, int, int], *, closed: bool,
                   thickness: int = 1) -> None:
    import cv2
    fixed = _fixed(points)
    if len(fixed) > 1:
        cv2.polylines(canvas, [fixed.reshape(-1, 1, 2)], closed, rgb, thickness, cv2.LINE_AA, SUBPIXEL)


def _draw_dashed_ring(canvas: np.ndarray, ring: np.ndarray, rgb: tuple[int, int, int],
                      dash: float = 7.0, gap: float = 4.0) -> None:
    """A closed outline drawn dashed: ``dash`` px on, ``gap`` px off along its length."""
    ring = ring[np.isfinite(ring).all(axis=1)]
    if len(ring) < 2:
        return
    closed = np.vstack([ring, ring[:1]])
    along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(closed, axis=0).T))])
    for start in np.arange(0.0, along[-1], dash + gap):
        at = np.linspace(start, min(start + dash, along[-1]), 6)
        piece = np.stack([np.interp(at, along, closed[:, 0]), np.interp(at, along, closed[:, 1])], axis=1)
        _draw_polyline(canvas, piece, rgb, closed=False, thickness=2)


# --- mouth track and sync curve ------------------------------------------------------------------
def _unit_scale(x: np.ndarray, *, min_span: float = 0.0) -> np.ndarray:
    """Robustly map a track to ~0..1 (2nd..98th percentile of its finite values), a span of at least
    ``min_span`` (in the track's units) taken as the whole range."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    if not ok.any():
        return x
    lo, hi = np.percentile(x[ok], NORM_PERCENTILES)
    span = max(hi - lo, min_span)
    return (x - lo) / span if span > 1e-12 else x - lo


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


MEL_TITLES = (N_("Mel spectrogram of the driving speech"),)   # titles callers pass to plot_mel


def _short_verdict(sync: Any) -> str:
    """The verdict without its reasons, in the user's language: "low confidence", "in sync", ..."""
    if not sync.reliable:
        return _("low confidence")           # the reason (confidence vs chance) is in the same line
    verdict = sync.verdict()
    return verdict.localized() if hasattr(verdict, "localized") else str(verdict)


def _sync_summary(sync: Any) -> str:
    # the whole-frame offset the verdict uses, and the sub-frame peak the curve panel marks
    one = abs(sync.offset_frames) == 1
    return _(N_("offset {frames} frame ({ms} ms; sub-frame peak {exact}), confidence {confidence} (chance {chance}), "
                "r = {r}: {verdict}") if one else
             N_("offset {frames} frames ({ms} ms; sub-frame peak {exact}), confidence {confidence} (chance {chance}), "
                "r = {r}: {verdict}"),
             frames=f"{sync.offset_frames:+d}", ms=f"{sync.offset_ms:+.0f}", exact=f"{round(sync.offset_exact, 1) + 0.0:+.1f}",
             confidence=f"{sync.confidence:.2f}",
             chance=f"{sync.chance:.2f}", r=f"{sync.correlation:.2f}",
             verdict=_short_verdict(sync))


def _draw_sync_curve(ax, sync: Any) -> None:
    lags, curve = np.asarray(sync.lags), np.asarray(sync.curve)
    combined = getattr(sync, "curve_combined", None)
    scored = curve if combined is None else np.asarray(combined)
    # the verdict's band (within one frame: "in sync") and, lighter, the ITU-R BT.1359 window in
    # which viewers rarely notice an offset (the verdict says so but does not call it in sync)
    lo, hi = (ms * sync.fps / 1000.0 for ms in sync.in_sync_band_ms)  # the estimate's own band: no sync import
    ax.axvspan(lo, hi, color="#2ca02c", alpha=0.06, lw=0, label=_("ITU-R BT.1359 window"))
    ax.axvspan(-1.0, 1.0, color="#2ca02c", alpha=0.18, lw=0, label=_("in sync (within 1 frame)"))
    # with bilabials in the speech the curve holds the closure channel too (sync.estimate_offset); the
    # printed r is the opening channel's alone
    closures = getattr(sync, "closure_events", 0) > 0
    ax.plot(lags, curve, color="#333333", lw=1.5, marker="o", ms=3,
            label=_("opening + closures") if closures else _("opening"))
    if combined is not None:
        ax.plot(lags, scored, color="#9467bd", lw=1.2, ls="--",
                label=_("opening + closures + width") if closures else _("opening + width"))
    ax.axhline(float(np.median(scored)), color=C_ENV, ls=":", lw=1, label=_("median"))
    refined = getattr(sync, "curve_refined", None)
    if refined is not None and not sync.note:   # where the offset's sub-frame peak comes from
        ax.plot(sync.refined_from + np.arange(len(refined)), refined, color=C_REFINED, lw=2.2, alpha=0.8,
                label=_("around the peak, on the whole clip"))
        both_extra = np.asarray(refined, dtype=float)
    else:
        both_extra = np.zeros(0)
    if not sync.note:
        ax.axvline(sync.offset_exact, color=C_SPEECH, lw=1.2, label=_("peak {offset} (offset {frames})", offset=f"{round(sync.offset_exact, 1) + 0.0:+.1f}",
                                                            frames=f"{sync.offset_frames:+d}"))
    ax.text(0.03, 0.97, _("confidence {confidence}\nchance level {chance}", confidence=f"{sync.confidence:.2f}",
                          chance=f"{sync.chance:.2f}"),
            transform=ax.transAxes, fontsize=8, va="top",
            bbox=dict(facecolor="white", alpha=0.85, edgecolor="#cccccc"))
    both = np.concatenate([curve, scored, both_extra])
    span = max(float(both.max() - both.min()), 0.05)
    ax.set_ylim(float(both.min()) - 0.05 * span, float(both.max()) + 0.3 * span)  # room for the confidence
    ax.set_xlabel(_("offset (frames; + = video lags audio)"))
    ax.set_ylabel(_("correlation"))
    ax.set_title(_("Sync curve"), fontsize=10, loc="left")
    ax.grid(alpha=0.3)
    # below the panel: inside, its seven lines covered the confidence and the curve's peak
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2)


def plot_mouth_track(*, mouth_open: np.ndarray, speech_open: np.ndarray,
                     envelope: np.ndarray | None = None, fps: float, path: str | Path,
                     sync: Any = None, title: str | None = None) -> Path:
    """Normalised mouth opening over time against the speech's mouth target, plus the sync curve.

    mouth_open  [shape=(T,)] the video's mouth opening per frame (NaN: no face).
    speech_open [shape=(T,)] what the speech asks of the mouth (viseme ``open`` track, 0..1).
    Both are drawn scaled to their own 2nd..98th percentile (timing and shape, not width).
    envelope    [shape=(T,)] speech loudness 0..1, drawn shaded, or None.
    sync        a :class:`heygem_kernel.sync.SyncEstimate` (title line and right-hand panel) or None.
    """
    mouth = np.asarray(mouth_open, dtype=np.float64)
    speech = np.asarray(speech_open, dtype=np.float64)
    n = min(mouth.shape[0], speech.shape[0])
    mouth, speech = mouth[:n], speech[:n]
    t = np.arange(n) / float(fps)
    seconds = n / float(fps)
    # taller with the curve panel: its legend (up to eight lines) sits below it, inside the figure
    fig = _figure(min(16.0, 8.0 + seconds / 5.0) + (3.6 if sync is not None else 0.0), 4.2 if sync is None else 5.0)
    if sync is not None:
        ax, ax_curve = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3.2, 1]})
    else:
        ax, ax_curve = fig.add_subplot(), None
    if envelope is not None:
        env = np.asarray(envelope, dtype=np.float64)[:n]
        ax.fill_between(t[:env.shape[0]], 0, env, color=C_ENV, alpha=0.22, lw=0, label=_("speech loudness"))
    for i, (a, b) in enumerate(_runs(~np.isfinite(mouth))):
        ax.axvspan((a - 0.5) / fps, (b - 0.5) / fps, color="#d62728", alpha=0.12, lw=0,
                   label=_("no face") if i == 0 else None)
    # both tracks on the same footing (each its own 2nd..98th percentile -> 0..1): the target's
    # fluent-speech peaks sit near 0.75-0.95, so scaling only the video's made the output look
    # ~1.2x wider than its targets although the render maps the targets onto the person's range
    speech = _unit_scale(speech)
    scaled = _unit_scale(mouth, min_span=MOUTH_MIN_SPAN)
    ax.plot(t, scaled, color=C_MOUTH, lw=1.6, label=_("mouth opening (video)"))
    ax.plot(t, speech, color=C_SPEECH, lw=1.2, label=_("mouth target from speech"))
    if sync is not None and sync.reliable and not sync.in_sync:
        ax.plot(t + sync.offset_frames / fps, speech, color=C_SHIFTED, lw=1.0, ls="--",
                label=_("speech target moved by the offset ({offset})", offset=f"{sync.offset_frames:+d}"))
    ax.set_xlim(0, max(seconds, 1.0 / fps))
    # room above 1 for the legend; a mouth opening wider than its 98th percentile is drawn, not cut off
    shown = np.concatenate([scaled, speech])
    shown = shown[np.isfinite(shown)]
    ax.set_ylim(min(-0.1, float(shown.min()) - 0.05) if shown.size else -0.1,   # at most 3: one landmark glitch
                min(MOUTH_Y_MAX, max(1.35, float(shown.max()) + 0.35)) if shown.size else 1.35)   # must not squash it
    ax.set_xlabel(_("time (s)"))
    ax.set_ylabel(_("opening, scaled 0..1\n(each track: its 2nd-98th percentile)"))   # one line overran the title
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right", ncols=2)
    head = title or _("Mouth opening vs speech")
    if sync is None:
        ax.set_title(head, fontsize=10, loc="left")
    else:   # over both panels: on the left one alone, a long verdict ran into the curve panel's title
        fig.suptitle(f"{head}\n{_sync_summary(sync)}", fontsize=10, x=0.005, ha="left", wrap=True)
    if ax_curve is not None:
        _draw_sync_curve(ax_curve, sync)
    return _save(fig, path)


def plot_sync_curve(estimate: Any, path: str | Path, *, title: str | None = None) -> Path:
    """Correlation against offset of a :class:`heygem_kernel.sync.SyncEstimate`."""
    fig = _figure(5.6, 3.8)
    ax = fig.add_subplot()
    _draw_sync_curve(ax, estimate)
    fig.suptitle(title or _sync_summary(estimate), fontsize=9, wrap=True)   # the summary is wider than the plot
    return _save(fig, path)
