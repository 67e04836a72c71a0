"""The numbers of a report: scores with CIs, changes against the reference condition, paired
model differences and failures, each computed by `robustbench_liver.stats` from the rows."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from robustbench_liver.metrics.registry import HEADLINE
from robustbench_liver.metrics.registry import METRICS as REGISTRY
from robustbench_liver.runs.summary import (
    PAIRED_LESION,
    fmt_cell,
    metric_names,
    model_failures,
    paired_kinds,
    paired_rows,
    paired_values,
)
from robustbench_liver.stats import compare_conditions, compare_models

METRICS = HEADLINE
LABELS = {m.name: m.label for m in REGISTRY}
# A condition and the reference are matched case by case: is_control keeps a tumor case and
# the control of the same base scan and replicate apart.
CONDITION_PAIRING = ("base_scan", "replicate", "is_control")
PAIRED_METRICS = ("dsc", "nsd", "case_sensitivity", "case_specificity", PAIRED_LESION)


def failures(cases: pd.DataFrame) -> pd.DataFrame:
    """Per model x condition: cases run and the model's failures (a case the bench could
    not build is listed by `failed_cases`, not counted against the model)."""
    table = cases.assign(failed=model_failures(cases))
    grouped = table.groupby(["model", "condition"], sort=True)
    out = grouped.agg(cases=("case_id", "size"), failed=("failed", "sum")).reset_index()
    out["failed"] = out["failed"].astype(int)
    return out


def failed_cases(cases: pd.DataFrame) -> pd.DataFrame:
    """Every failed (model, case) with its status and error, sorted."""
    bad = cases[cases["status"] != "ok"]
    columns = ["model", "condition", "case_id", "status", "error"]
    return bad[columns].sort_values(["model", "case_id"], kind="stable").reset_index(drop=True)


def condition_tests(
    cases: pd.DataFrame,
    reference: str,
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    correction: str = "holm",
    seed: int = 0,
) -> pd.DataFrame:
    """Each condition vs the reference, per model and metric: paired difference (condition −
    reference), CI and p-value, adjusted across every row (all models, conditions, metrics).
    Failures counted; lesion sensitivity is compared through each case's share of lesions
    found."""
    ok = paired_rows(cases)
    if ok.empty or reference not in set(ok["condition"]) or ok["condition"].nunique() < 2:
        return pd.DataFrame()
    values = [m for m in PAIRED_METRICS if m in ok.columns]
    out = compare_conditions(
        ok,
        values,
        reference=reference,
        within=("model",),
        pair_on=CONDITION_PAIRING,
        n_resamples=resamples,
        confidence=confidence,
        adjust=correction,
        seed=seed,
        kinds=paired_kinds(values),
    )
    return metric_names(out)


def model_tests(
    cases: pd.DataFrame,
    metrics: Sequence[str] = ("dsc", "nsd"),
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    correction: str = "holm",
    seed: int = 0,
) -> pd.DataFrame:
    """Every pair of models (a − b, names sorted) per condition, failures counted."""
    ok = paired_rows(cases)
    models = sorted(set(ok["model"])) if not ok.empty else []
    if len(models) < 2:
        return pd.DataFrame()
    values = paired_values(metrics)
    out = compare_models(
        ok,
        values,
        pairs=list(itertools.combinations(models, 2)),
        within=("condition",),
        n_resamples=resamples,
        confidence=confidence,
        adjust=correction,
        seed=seed,
        kinds=paired_kinds(values),
    )
    return metric_names(out)


def lookup(table: pd.DataFrame, **keys: object) -> pd.Series | None:
    """The one row of `table` matching `keys`, or None."""
    if table.empty:
        return None
    mask = np.ones(len(table), dtype=bool)
    for column, value in keys.items():
        if column not in table.columns:
            return None
        mask &= (table[column] == value).to_numpy()
    hits = table[mask]
    return None if hits.empty else hits.iloc[0]


def fmt_number(value: object, digits: int = 2) -> str:
    if value is None or not np.isfinite(float(value)):  # type: ignore[arg-type]
        return "n/a"
    return f"{float(value):.{digits}f}"  # type: ignore[arg-type]


def fmt_ci(estimate: object, low: object, high: object, note: object = None) -> str:
    """'0.59 [0.23, 0.77]'; 'n/a' without an estimate; the estimate and why there is no
    interval without one."""
    return fmt_cell(estimate, low, high, note)


def fmt_p(p: object) -> str:
    if p is None or not np.isfinite(float(p)):  # type: ignore[arg-type]
        return "n/a"
    value = float(p)  # type: ignore[arg-type]
    return "<0.001" if value < 0.001 else f"{value:.3f}"
