"""The numbers a run ends with: each metric per scenario, condition and model, with CIs."""

from __future__ import annotations

import pandas as pd

from robustbench_liver.stats import bootstrap_ci, compare_models

CASE_METRICS = {
    "dsc": "DSC",
    "nsd": "NSD",
    "case_sensitivity": "sensitivity",
    "case_specificity": "specificity",
}
KEYS = ["scenario", "model", "condition"]


def summarize(
    cases: pd.DataFrame, lesions: pd.DataFrame, resamples: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Long table: one row per scenario x model x condition x metric with estimate and CI.
    Failed predictions are left out of the metrics and counted in `failed`."""
    if cases.empty:
        return pd.DataFrame()
    ok = cases[cases["status"] == "ok"]
    parts = []
    for scenario, table in ok.groupby("scenario", sort=True):
        ci = bootstrap_ci(
            table, list(CASE_METRICS), by=("model", "condition"), n_resamples=resamples, seed=seed
        )
        parts.append(ci.assign(scenario=scenario))
    if not lesions.empty and "detected" in lesions:
        found = lesions.assign(lesion_sensitivity=lesions["detected"].astype(float))
        for scenario, table in found.groupby("scenario", sort=True):
            ci = bootstrap_ci(
                table,
                ["lesion_sensitivity"],
                by=("model", "condition"),
                n_resamples=resamples,
                seed=seed,
            )
            parts.append(ci.assign(scenario=scenario))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
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
