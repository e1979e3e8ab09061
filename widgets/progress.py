"""Turning the engine's ``progress(stage, done, total)`` calls into bar positions.

The engine reports each stage on its own scale; the panel shows one bar per item and one
overall bar, so stages are weighted by their typical share of a CPU run.
"""
from __future__ import annotations

from dataclasses import dataclass

from heygem_kernel.i18n import N_, _

# Stage order and rough share of the wall time of a run (render dominates; audio and
# the sync check are short). Unknown stages keep the bar where it is.
STAGE_WEIGHTS: dict[str, float] = {"audio": 0.05, "analyse": 0.35, "render": 0.50, "sync": 0.10}
# What a person reads for each stage (the same words as ``heygem run``'s progress bars).
STAGE_LABELS: dict[str, str] = {"audio": N_("speech"), "analyse": N_("faces"), "render": N_("render"),
                                "sync": N_("sync check")}
MIN_STEP = 0.005        # redraw at most every 0.5 %: a frame-by-frame callback would flood the socket


def stage_label(stage: str) -> str:
    """A progress stage (``"analyse"``) in the page's language (``"faces"``); unknown ones as they are."""
    return _(STAGE_LABELS[stage]) if stage in STAGE_LABELS else stage


def item_fraction(stage: str, done: int, total: int) -> float | None:
    """Fraction [0, 1] of one item after ``done`` of ``total`` steps of ``stage`` (None: unknown stage)."""
    if stage not in STAGE_WEIGHTS:
        return None
    before = 0.0
    for name, weight in STAGE_WEIGHTS.items():
        if name == stage:
            part = min(max(done / total, 0.0), 1.0) if total > 0 else 0.0
            return min(before + weight * part, 1.0)
        before += weight
    return None


@dataclass
class ProgressTracker:
    """Per-item and overall fractions of a batch of ``n_items``; ``update`` says when to redraw."""

    n_items: int
    index: int = 0              # item being processed
    item: float = 0.0
    stage: str = ""
    _shown: float = -1.0

    @property
    def overall(self) -> float:
        return min((self.index + self.item) / max(self.n_items, 1), 1.0)

    def start_item(self, index: int) -> None:
        self.index, self.item, self.stage, self._shown = index, 0.0, "", -1.0

    def finish_item(self) -> None:
        self.item = 1.0

    def update(self, stage: str, done: int, total: int) -> bool:
        """Record a progress call; True when the bars moved enough (or the stage changed)."""
        frac = item_fraction(stage, done, total)
        new_stage = stage != self.stage
        self.stage = stage
        if frac is not None:
            self.item = max(self.item, frac)   # never run backwards (e.g. a stage restarted)
        if new_stage or self.item - self._shown >= MIN_STEP or (total and done >= total):
            self._shown = self.item
            return True
        return False
