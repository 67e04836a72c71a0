"""From a scenario's `tumors`/`image` mappings and its sweep to concrete conditions."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields
from typing import Any

from robustbench_liver.synthesis.config import LEVELS, SizeClass, TumorConfig
from robustbench_liver.synthesis.image_shift import ImageShift

# Scenario sugar on top of TumorConfig: one size class from a radius range and a count.
SIZE_SUGAR = ("radius_mm", "count")
TUMOR_PARAMS = frozenset({f.name for f in fields(TumorConfig)} | {"level", *SIZE_SUGAR})
IMAGE_PARAMS = frozenset(f.name for f in fields(ImageShift))
PARAMS = frozenset({f"tumors.{p}" for p in TUMOR_PARAMS} | {f"image.{p}" for p in IMAGE_PARAMS})


@dataclass(frozen=True)
class Condition:
    """One cell of the sweep: a tumor model and an image shift."""

    id: str
    """'default', 'contrast-hypo', or 'size-r5+texture-coarse' (file-name safe)."""
    levels: tuple[tuple[str, str], ...]
    """(axis, level) pairs that define it."""
    tumors: TumorConfig
    image: ImageShift
    settings: dict[str, Any]
    """The parameter paths the sweep set, with their values (for reports)."""


def elastic_for_radius(radius_mm: float) -> tuple[float, float]:
    """sigma_e of the paper's size level whose radii are nearest (DESIGN.md §3 table)."""
    for level in ("tiny", "small", "medium", "large"):
        if radius_mm <= LEVELS[level][0].semi_axes_mm[1] * 1.2:
            return LEVELS[level][0].elastic_sigma_mm
    return LEVELS["large"][0].elastic_sigma_mm


def tumor_config(mapping: dict[str, Any], name: str = "custom") -> TumorConfig:
    """TumorConfig from a scenario mapping: `level` preset, TumorConfig fields, and the
    size sugar (`radius_mm: [lo, hi]`, `count: [a, b]`) for a single size class."""
    data = dict(mapping)
    radius, count = data.pop("radius_mm", None), data.pop("count", None)
    if radius is not None or count is not None:
        base = TumorConfig.from_dict({"level": data.pop("level", "medium")}).sizes[0]
        lo_hi = tuple(radius) if radius is not None else base.semi_axes_mm
        data.pop("sizes", None)
        data["sizes"] = (
            SizeClass(
                name=name,
                semi_axes_mm=lo_hi,
                count=tuple(count) if count is not None else base.count,
                elastic_sigma_mm=elastic_for_radius(float(sum(lo_hi)) / 2),
            ),
        )
    return TumorConfig.from_dict(data)


def level_settings(axis_param: str | None, value: Any) -> dict[str, Any]:
    """A level's parameter settings: `param: value` shorthand, or a mapping of paths."""
    if axis_param is not None:
        return {axis_param: value}
    if not isinstance(value, dict):
        raise ValueError(
            "without `param` on the axis, each level must map parameter paths to values"
        )
    return dict(value)


def combine(axes: list[tuple[str, list[str]]], mode: str) -> list[tuple[tuple[str, str], ...]]:
    """The (axis, level) tuples of every condition, in sweep order."""
    if not axes:
        return [()]
    if mode == "zip":
        n = len(axes[0][1])
        return [tuple((name, levels[i]) for name, levels in axes) for i in range(n)]
    return [
        tuple(zip([a for a, _ in axes], combo, strict=True))
        for combo in itertools.product(*[levels for _, levels in axes])
    ]


def condition_id(levels: tuple[tuple[str, str], ...]) -> str:
    return "+".join(f"{axis}-{level}" for axis, level in levels) or "default"


def build_condition(
    levels: tuple[tuple[str, str], ...],
    settings: dict[str, Any],
    base_tumors: dict[str, Any],
    base_image: dict[str, Any],
) -> Condition:
    """Apply a condition's settings on top of the scenario's defaults and validate."""
    tumors, image = dict(base_tumors), dict(base_image)
    for path, value in settings.items():
        section, _, key = path.partition(".")
        target = tumors if section == "tumors" else image
        if key == "level":
            target.pop("sizes", None)
        if key == "sizes":
            target.pop("level", None)
        target[key] = value
    cid = condition_id(levels)
    return Condition(
        id=cid,
        levels=levels,
        tumors=tumor_config(tumors, name=cid),
        image=ImageShift(**image),
        settings=settings,
    )
