"""Size classes and the paper's level presets.

Level presets follow the authors' released code (MrGiovanni/SyntheticTumors,
TumorGenerated/utils.py, `get_fixed_geo`): semi-axes int(0.75 r)..int(1.25 r) for r = 4, 8,
16, 32 mm, tumor counts 3-10 / 3-10 / 2-5 / 1-3 (5-10 small ones in 'mix') and elastic sigma
U(0.5, 1), 1-2, 3-6, 5-10 (they draw the last three as integers; we draw them uniformly).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from robustbench_liver.synthesis.checks import IntRange, Range, check_keys, int_range, range_


@dataclass(frozen=True)
class SizeClass:
    """One size class: how many tumors, how big, how deformed."""

    name: str
    """tiny, small, medium, large, or any name of your own."""
    semi_axes_mm: Range
    """Each semi-axis is drawn independently from U(low, high) (the paper's U(0.75r, 1.25r))."""
    count: IntRange
    """Number of tumors of this class per case, uniform over low..high inclusive."""
    elastic_sigma_mm: Range
    """sigma_e: displacement s.d. at the elastic control points."""

    def __post_init__(self) -> None:
        where = f"size class {self.name!r}"
        object.__setattr__(
            self, "semi_axes_mm", range_(self.semi_axes_mm, f"{where}.semi_axes_mm", 0.5, 200)
        )
        object.__setattr__(self, "count", int_range(self.count, f"{where}.count", 0, 200))
        object.__setattr__(
            self,
            "elastic_sigma_mm",
            range_(self.elastic_sigma_mm, f"{where}.elastic_sigma_mm", 0, 50),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SizeClass:
        check_keys(data, cls, "size class")
        return cls(**data)


LEVELS: dict[str, tuple[SizeClass, ...]] = {
    "tiny": (SizeClass("tiny", (3, 5), (3, 10), (0.5, 1.0)),),
    "small": (SizeClass("small", (6, 10), (3, 10), (1, 2)),),
    "medium": (SizeClass("medium", (12, 20), (2, 5), (3, 6)),),
    "large": (SizeClass("large", (24, 40), (1, 3), (5, 10)),),
}
LEVELS["mix"] = (
    LEVELS["tiny"][0],
    SizeClass("small", (6, 10), (5, 10), (1, 2)),
    LEVELS["medium"][0],
    LEVELS["large"][0],
)
