"""One landmark-index table (heygem_kernel.face68) and one mouth-opening measure for every module."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from heygem_kernel import compositing, diagnostics, face68, landmarks, mouthlib

ENGINE = Path(__file__).resolve().parents[1] / "heygem_kernel"
# iBUG-68 index ranges and pairs written out as numbers: only face68 may hold them
# (detectors.py maps MediaPipe's 478 points onto the 68 and is a different table).
HARD_CODED = re.compile(r"\[\s*(?:48|60)\s*:\s*(?:60|68)\b|arange\(\s*(?:36|42|48|60)\s*,|\(\s*61\s*,\s*67\s*\)"
                        r"|slice\(\s*(?:36|42|48|60)\s*,")


def _faces(n: int = 40) -> np.ndarray:
    """[n, 68, 2] jittered faces around a plausible layout (what the measures see on video)."""
    rng = np.random.default_rng(7)
    base = rng.uniform(100, 300, size=(68, 2))
    return base + rng.normal(0, 6, size=(n, 68, 2))


def test_mouth_features_use_the_one_opening_measure():
    for lm in _faces():
        left, right = lm[36:42].mean(0), lm[42:48].mean(0)           # the former mouthlib formulas
        dist = np.hypot(*(right - left))
        opening = np.mean([np.hypot(*(lm[a] - lm[b])) for a, b in ((61, 67), (62, 66), (63, 65))]) / dist
        width = np.hypot(*(lm[54] - lm[48])) / dist
        got = mouthlib.mouth_features(lm)
        assert got[0] == np.float64(face68.inner_lip_gap(lm) / face68.eye_centre_distance(lm))
        np.testing.assert_allclose(got[:2], (opening, width), rtol=1e-12)


def test_track_opening_is_the_same_measure_over_inter_ocular():
    lm = _faces().astype(np.float32)
    valid = np.ones(len(lm), bool)
    valid[3] = False
    track = landmarks.FaceTrack(landmarks=lm, valid=valid, width=640, height=480, fps=25.0)
    pts = lm.astype(np.float64)
    want = face68.inner_lip_gap(pts) / face68.inter_ocular(pts)
    got = track.mouth_open()
    assert np.isnan(got[3])
    np.testing.assert_allclose(np.delete(got, 3), np.delete(want, 3).astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(np.delete(track.mouth_width(), 3),
                               np.delete(face68.corner_width(pts) / face68.inter_ocular(pts), 3), rtol=1e-6)


def test_the_modules_share_the_table():
    assert landmarks.OUTER_LIPS is face68.OUTER_LIPS and landmarks.INNER_LIP_PAIRS is face68.INNER_LIP_PAIRS
    assert (compositing.MOUTH_LEFT, compositing.MOUTH_RIGHT) == tuple(face68.MOUTH_CORNERS)
    assert diagnostics.LIP_POINTS == (face68.OUTER_LIPS, face68.INNER_LIPS)
    copies = [f"{p.relative_to(ENGINE)}:{n}: {line.strip()}" for p in sorted(ENGINE.rglob("*.py"))
              if p.name not in ("face68.py", "detectors.py")
              for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if HARD_CODED.search(line)]
    assert copies == []
