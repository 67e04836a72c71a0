"""Statistics over per-case rows (DESIGN.md §7): cluster-bootstrap CIs by base scan, paired
sign-flip comparisons, Holm / Benjamini–Hochberg adjustment. numpy, scipy and pandas only."""

from __future__ import annotations

from robustbench_liver.stats.bootstrap import bootstrap_ci
from robustbench_liver.stats.compare import (
    compare_conditions,
    compare_models,
    compare_pairs,
    paired_differences,
    pvalue_floor,
    sign_flip_pvalues,
    smallest_pvalue,
    unreachable_significance,
)
from robustbench_liver.stats.multiplicity import adjust_pvalues

__all__ = [
    "adjust_pvalues",
    "bootstrap_ci",
    "compare_conditions",
    "compare_models",
    "compare_pairs",
    "paired_differences",
    "pvalue_floor",
    "sign_flip_pvalues",
    "smallest_pvalue",
    "unreachable_significance",
]
