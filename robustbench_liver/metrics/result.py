"""One metric value with its profile, the empty-case policy and, when it is undefined, why."""

from __future__ import annotations

import math
from dataclasses import dataclass

EMPTY_POLICY = "gt-empty:nan+specificity;pred-empty:0"
"""DESIGN.md §6, recorded with every result: no tumor in the ground truth makes DSC and NSD
undefined (NaN, left out of their means; the case counts for specificity); tumor in the
ground truth and none predicted scores 0."""

REASON_GT_EMPTY = "no tumor in the ground truth: undefined, left out of the mean"
REASON_PRED_EMPTY = "no tumor predicted"


@dataclass(frozen=True)
class Score:
    """A metric value, the metric profile that produced it and the empty-case policy."""

    value: float
    """The score; NaN when undefined (see `reason`)."""
    profile: str
    """Which definition, e.g. ``"dsc"`` or ``"nsd@2mm/surfel"``: never mix profiles."""
    reason: str | None = None
    """Why the value is NaN, 0 or inf by policy rather than measured; None otherwise."""
    policy: str = EMPTY_POLICY

    def __float__(self) -> float:
        return self.value

    @property
    def defined(self) -> bool:
        return not math.isnan(self.value)


def format_mm(value: float) -> str:
    """2.0 -> '2', 1.5 -> '1.5': compact numbers for profile names."""
    return f"{value:g}"
