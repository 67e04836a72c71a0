"""Benchmarks: run with `make bench`. Targets are asserted here, never in unit tests."""

from __future__ import annotations

import pytest


def _median(benchmark) -> float:
    stats = getattr(benchmark, "stats", None)
    return float(stats.stats.median) if stats else 0.0


@pytest.fixture
def median_seconds():
    """Median time of a benchmark; 0 when benchmarking is disabled (e.g. under xdist)."""
    return _median
