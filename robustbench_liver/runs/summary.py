"""The numbers a run ends with: each metric per scenario, condition and model, with CIs."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from robustbench_liver.stats import bootstrap_ci, compare_models

CASE_METRICS = {
    "dsc": "DSC",
    "nsd": "NSD",
    "case_sensitivity": "sensitivity",
    "case_specificity": "specificity",
}
KEYS = ["scenario", "model", "condition"]


def scores(
    cases: pd.DataFrame,
    lesions: pd.DataFrame,
    *,
    by: Sequence[str] = ("model", "condition"),
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per group x metric: estimate and cluster-bootstrap CI (by base scan).
    Failed cases are left out."""
    by = list(by)
    parts = []
    ok = cases[cases["status"] == "ok"] if not cases.empty else cases
    stats = dict(by=by, n_resamples=resamples, confidence=confidence, seed=seed)
    if not ok.empty:
        parts.append(bootstrap_ci(ok, list(CASE_METRICS), **stats))  # type: ignore[arg-type]
    if not lesions.empty and "detected" in lesions:
        found = lesions.assign(lesion_sensitivity=lesions["detected"].astype(float))
        parts.append(bootstrap_ci(found, ["lesion_sensitivity"], **stats))  # type: ignore[arg-type]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=[*by, "metric", "estimate", "ci_low", "ci_high", "n"])
    return pd.concat(parts, ignore_index=True)


def summarize(
    cases: pd.DataFrame, lesions: pd.DataFrame, resamples: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Long table: one row per scenario x model x condition x metric with estimate and CI.
    Failed predictions are left out of the metrics and counted in `failed`."""
    if cases.empty:
        return pd.DataFrame()
    parts = [
        scores(
            table,
            lesions[lesions["scenario"] == scenario] if not lesions.empty else lesions,
            resamples=resamples,
            seed=seed,
        ).assign(scenario=scenario)
        for scenario, table in cases.groupby("scenario", sort=True)
    ]
    out = pd.concat(parts, ignore_index=True)
    failed = (cases["status"] != "ok").groupby([cases[k] for k in KEYS]).sum().rename("failed")
    return out.merge(failed.reset_index(), on=KEYS, how="left")


def _cell(r: pd.Series) -> str:
    if pd.isna(r["estimate"]):
        return "n/a"
    if pd.isna(r["ci_low"]) or pd.isna(r["ci_high"]):
        return f"{r['estimate']:.2f} [no CI]"  # a single base scan: nothing to resample
    return f"{r['estimate']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"


def wide(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario x condition x model, 'estimate [low, high]' per metric."""
    if summary.empty:
        return summary
    cell = summary.apply(_cell, axis=1)
    table = summary.assign(cell=cell).pivot_table(
        index=[*KEYS, "failed"], columns="metric", values="cell", aggfunc="first"
    )
    order = [m for m in [*CASE_METRICS, "lesion_sensitivity"] if m in table.columns]
    table = table[order].rename(columns={**CASE_METRICS, "lesion_sensitivity": "lesion sens."})
    return table.reset_index()


def model_differences(
    cases: pd.DataFrame,
    a: str,
    b: str,
    metrics: list[str],
    resamples: int = 10_000,
    correction: str = "holm",
) -> pd.DataFrame:
    """Paired differences a - b per scenario and condition, with CIs and adjusted p-values."""
    ok = cases[(cases["status"] == "ok") & cases["model"].isin([a, b])]
    # only cases both models scored are paired
    both = ok.groupby(["scenario", "case_id"])["model"].transform("nunique") == 2
    ok = ok[both]
    parts = [
        compare_models(
            table, metrics, pairs=[(a, b)], n_resamples=resamples, adjust=correction
        ).assign(scenario=s)
        for s, table in ok.groupby("scenario", sort=True)
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
