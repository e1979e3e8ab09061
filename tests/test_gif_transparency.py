"""An animated GIF is decoded by ffmpeg as bgra whether or not any pixel is transparent: an opaque one
got 'transparency (bgra) dropped: ... transparent areas become black' from scan and run, though none
become black (an opaque RGBA photo was already told apart by its pixels: the GIF's frames now are too)."""
from __future__ import annotations

import numpy as np

from heygem_kernel import media
from heygem_kernel.scan import scan_video

NOTE = "transparency (bgra) dropped"


def _gif(path, frames, *, corner: bool):
    from PIL import Image
    images = []
    for frame in frames:
        rgba = np.dstack([frame[:, :, ::-1], np.full(frame.shape[:2], 255, np.uint8)])
        if corner:
            rgba[:40, :40, 3] = 0
        images.append(Image.fromarray(rgba))
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0, disposal=2)
    return path


def test_opaque_animated_gif_has_no_transparency_note(tmp_path, media_dir):
    frames = [f[::2, ::2] for f in media.read_frames(media_dir / "talking_590.mp4", limit=8)]
    opaque = _gif(tmp_path / "opaque.gif", frames, corner=False)
    corner = _gif(tmp_path / "corner.gif", frames, corner=True)
    for path in (opaque, corner):
        info = media.probe_video(path)
        assert not info.is_image and info.codec == "gif" and info.has_alpha and info.n_frames == 8
    assert not [n for n in media.conversion_notes(media.probe_video(opaque)) if n.startswith(NOTE)]
    assert not [p for p in scan_video(opaque, samples=1).problems if p.startswith(NOTE)]
    # a GIF with a transparent corner is still said to lose it, and the corner does become black
    assert [p for p in scan_video(corner, samples=1).problems if p.startswith(NOTE)]
    first = next(iter(media.iter_frames(media.probe_video(corner))))
    assert first[:40, :40].max() <= 3 and first[60:].mean() > 40
