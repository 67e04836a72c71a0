"""Multiplicity corrections across the comparisons of one report: Holm and Benjamini–Hochberg."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robustbench_liver.errors import RobustBenchError

ADJUST_METHODS = ("holm", "bh", "none")


def adjust_pvalues(p_values: Sequence[float] | np.ndarray, method: str = "holm") -> np.ndarray:
    """Adjusted p-values, in the input order. NaN stays NaN and is not counted as a test.

    ``"holm"`` controls the family-wise error rate (step-down Bonferroni); ``"bh"``
    (Benjamini–Hochberg) controls the false discovery rate; ``"none"`` returns them as is.
    """
    if method not in ADJUST_METHODS:
        raise RobustBenchError(f"adjust must be one of {ADJUST_METHODS}, got {method!r}")
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return out
    if method == "none":
        out[ok] = p[ok]
        return out
    order = np.argsort(p[ok], kind="stable")
    ranked = p[ok][order]
    if method == "holm":
        factors = m - np.arange(m)  # m, m-1, ..., 1
        adjusted = np.maximum.accumulate(np.minimum(1.0, factors * ranked))
    else:
        scaled = ranked * m / np.arange(1, m + 1)
        adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
        adjusted = np.minimum(adjusted, 1.0)
    result = np.empty(m)
    result[order] = adjusted
    out[ok] = result
    return out
