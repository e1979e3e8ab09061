"""What the sync plot draws matches what it says (helper-38 / helper-39 findings).

Before: the mouth-track panel was fixed at -0.1..1.35 on a y axis that says each track is scaled
by its 2nd..98th percentile, so a mouth opening wider than that (a yawn, a laugh) was cut off; and
the sync curve was labelled "opening" although, with the calibrated reference, it also holds the
bilabial-closure channel (the printed correlation is the opening channel's alone).
"""
from __future__ import annotations

import numpy as np

from heygem_kernel import diagnostics, sync


def _figures(monkeypatch) -> list:
    figs = []
    real = diagnostics._save

    def keep(fig, path):
        figs.append(fig)
        return real(fig, path)

    monkeypatch.setattr(diagnostics, "_save", keep)
    return figs


def test_a_wide_opening_is_drawn_not_cut_off(tmp_path, monkeypatch):
    figs = _figures(monkeypatch)
    rng = np.random.default_rng(3)
    speech = np.convolve(rng.random(160), np.ones(5) / 5, "same")[:150]
    mouth = speech.copy()
    mouth[70:72] = 2.0 * speech.max()          # a laugh: far above the track's 98th percentile
    diagnostics.plot_mouth_track(mouth_open=mouth, speech_open=speech, fps=25.0, path=tmp_path / "m.png")
    ax = figs[0].axes[0]
    line = ax.get_lines()[0].get_ydata()       # the video's mouth, as scaled and drawn
    assert 1.35 < np.nanmax(line) < diagnostics.MOUTH_Y_MAX   # the case: it used to be cut at 1.35
    assert ax.get_ylim()[1] >= np.nanmax(line)
    assert "2nd-98th percentile" in ax.get_ylabel()
    # a landmark glitch 20x as wide does not squash the panel: the top stays at MOUTH_Y_MAX
    mouth[70:72] = 20.0 * speech.max()
    diagnostics.plot_mouth_track(mouth_open=mouth, speech_open=speech, fps=25.0, path=tmp_path / "g.png")
    assert figs[1].axes[0].get_ylim()[1] == diagnostics.MOUTH_Y_MAX


def test_the_sync_curve_says_it_holds_the_closures(tmp_path, monkeypatch, clip_590):
    figs = _figures(monkeypatch)
    report = sync.measure_video_sync(clip_590, plot=tmp_path / "s.png")
    assert "closure" in report.estimate.method
    assert report.estimate.closure_events == 1            # its one bilabial (the M after "w")
    assert report.estimate.to_dict()["closure_events"] == 1
    curve_ax = figs[0].axes[1]
    labels = [line.get_label() for line in curve_ax.get_lines()]
    assert "opening + closures" in labels and "opening" not in labels
    # a caller's own tracks (no closure channel) keep the plain label
    rng = np.random.default_rng(1)
    speech = np.convolve(rng.random(160), np.ones(5) / 5, "same")[:150]
    est = sync.estimate_offset(speech + 0.05 * rng.random(150), speech, fps=25.0)
    diagnostics.plot_sync_curve(est, tmp_path / "c.png")
    assert "opening" in [line.get_label() for line in figs[1].axes[0].get_lines()]
    # speech without a bilabial: the closure channel has weight 0, the curve is the opening's alone
    est = sync.estimate_offset(speech + 0.05 * rng.random(150), speech, fps=25.0,
                               speech_closure=np.zeros(150), method=sync.METHOD_REFERENCE)
    assert est.closure_events == 0
    diagnostics.plot_sync_curve(est, tmp_path / "n.png")
    assert "opening" in [line.get_label() for line in figs[2].axes[0].get_lines()]
