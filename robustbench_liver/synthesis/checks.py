"""Validators for the tumor model's fields: each error names the field and the value."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from robustbench_liver.errors import SynthesisError, did_you_mean

Range = tuple[float, float]
IntRange = tuple[int, int]


class TumorConfigError(SynthesisError):
    """A TumorConfig field with an unusable value; the message names field and value."""


def plain(value: Any) -> Any:
    """Tuples as lists (JSON / YAML)."""
    return list(value) if isinstance(value, tuple) else value


def check_keys(data: Mapping[str, Any], cls: type, what: str) -> None:
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise TumorConfigError(f"{what}: " + did_you_mean(str(key), known, "field"))


def choice(value: Any, options: tuple[str, ...], name: str) -> None:
    if value not in options:
        raise TumorConfigError(f"TumorConfig.{name}: " + did_you_mean(str(value), options, "value"))


def number(value: Any, name: str, low: float, high: float, low_open: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or value > high or (low_open and value == low):
        lower = f"> {low}" if low_open else f">= {low}"
        raise TumorConfigError(
            f"TumorConfig.{name}: must be a number {lower} and <= {high}, got {value!r}"
        )


def open_number(value: Any, name: str, low: float, high: float) -> None:
    """A number strictly between `low` and `high`."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not low < value < high:
        raise TumorConfigError(
            f"TumorConfig.{name}: must be a number > {low:g} and < {high:g}, got {value!r}"
        )


def range_(value: Any, name: str, low: float, high: float) -> Range:
    """Validate a (low, high) pair within [low, high]; a single number means (v, v)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = (value, value)
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TumorConfigError(f"{name}: must be a (low, high) pair, got {value!r}") from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise TumorConfigError(f"{name}: must be finite, got {value!r}")
    if a > b:
        raise TumorConfigError(f"{name}: low {a:g} is above high {b:g}")
    if a < low or b > high:
        raise TumorConfigError(f"{name}: must lie within [{low:g}, {high:g}], got ({a:g}, {b:g})")
    return (a, b)


def int_range(value: Any, name: str, low: int, high: int) -> IntRange:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    try:
        a, b = value
    except (TypeError, ValueError):
        raise TumorConfigError(
            f"{name}: must be a (low, high) pair of integers, got {value!r}"
        ) from None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (a, b)):
        raise TumorConfigError(f"{name}: must be integers, got {value!r}")
    if a > b:
        raise TumorConfigError(f"{name}: low {a} is above high {b}")
    if a < low or b > high:
        raise TumorConfigError(f"{name}: must lie within [{low}, {high}], got ({a}, {b})")
    return (a, b)
