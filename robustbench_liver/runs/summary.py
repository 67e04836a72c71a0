"""The numbers a run ends with: each metric of `metrics.registry` per scenario, condition and
model, with the interval its kind calls for. Everything that prints a score goes through
`scores`: the run summary, the report, the leaderboard, `compare` and `evaluate`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.metrics.registry import (
    BENCH_FAILURES,
    BY_NAME,
    FAILURE_POLICIES,
    HEADLINE,
    METRICS,
    label,
)
from robustbench_liver.stats import bootstrap_ci, compare_models

KEYS = ["scenario", "model", "condition"]
COMPONENT_COLUMNS = (
    "scenario", "scenario_version", "model", "model_version", "condition", "base_scan",
    "replicate", "is_control", "case_id", "status", "seen_in_training", "lesion_profile",
)  # fmt: skip
SCORE_COLUMNS = ["metric", "estimate", "ci_low", "ci_high", "ci_method", "n", "n_clusters"]
# a case's share of its lesions found: lesions of two models' runs on one case pair up
PAIRED_LESION = "lesion_detection_rate"


def _has_tumor(cases: pd.DataFrame) -> pd.Series:
    """Whether each case has tumor: from scoring where known, else from the plan."""
    planned = ~cases["is_control"].astype("boolean").fillna(False).astype(bool)
    if "has_tumor" not in cases:
        return planned
    known = cases["has_tumor"].astype("boolean")
    return known.fillna(planned).astype(bool)


def _ok(table: pd.DataFrame) -> pd.Series:
    # rows written before lesion rows carried a status were all scored
    if "status" not in table:
        return pd.Series(True, index=table.index)
    return table["status"].fillna("ok") == "ok"


def model_failures(cases: pd.DataFrame) -> pd.Series:
    """Which rows are the model's failures: not scored, and not the bench's own failure (a
    case that could not be built is nobody's score)."""
    if cases.empty:
        return pd.Series(False, index=cases.index)
    return ~_ok(cases) & ~cases["status"].isin(BENCH_FAILURES)


def metric_tables(
    cases: pd.DataFrame, lesions: pd.DataFrame, failures: str = "count"
) -> dict[str, pd.DataFrame]:
    """The rows each metric is a mean over: 'cases', 'lesions' (ground truth) and
    'components' (predicted lesions), with one column per metric of the registry.

    failures="count": a failed prediction is a miss (DSC = NSD = 0, case and lesions not
    found) on a tumor case and a false positive on a control; "exclude": scored cases only.
    Failures of the bench itself (a case that could not be synthesised) are always left out.
    """
    if failures not in FAILURE_POLICIES:
        raise RobustBenchError(f"failures must be one of {FAILURE_POLICIES}, got {failures!r}")
    rows = cases[~cases["status"].isin(BENCH_FAILURES)].copy() if not cases.empty else cases
    if rows.empty:
        return {"cases": rows, "lesions": lesions.iloc[:0], "components": rows}
    found = lesions
    if not lesions.empty and "detected" in lesions:
        keep = _ok(lesions) if failures == "exclude" else pd.Series(True, index=lesions.index)
        metric = BY_NAME["lesion_sensitivity"]
        found = lesions.assign(**{metric.name: lesions[metric.column].astype(float)})[keep]
    ok = _ok(rows)
    if failures == "exclude":
        rows = rows[ok].copy()
        ok = ok[ok]
    found = _of_cases(found, rows)
    if rows.empty:
        return {"cases": rows, "lesions": found, "components": rows}
    tumor = _has_tumor(rows)
    failed = ~ok
    inside = {"tumor": tumor, "control": ~tumor}
    for m in METRICS:
        if m.table != "cases" or m.column is None:
            continue
        source = rows[m.column] if m.column in rows else pd.Series(np.nan, index=rows.index)
        values = pd.to_numeric(source, errors="coerce").astype(float)
        # what a failure counts as where the metric is defined (NaN: left out); none outside
        values[failed] = np.nan if m.on_failure is None else m.on_failure
        rows[m.name] = values.where(inside[m.population])
    return {"cases": rows, "lesions": found, "components": _components(rows[ok & tumor])}


def _of_cases(lesions: pd.DataFrame, cases: pd.DataFrame) -> pd.DataFrame:
    """The lesion rows of the kept case rows only, whatever filtered the cases."""
    keys = [k for k in ("scenario", "model", "case_id") if k in lesions and k in cases]
    if lesions.empty or "case_id" not in keys:
        return lesions
    kept = pd.MultiIndex.from_frame(cases[keys].astype(str))
    return lesions[pd.MultiIndex.from_frame(lesions[keys].astype(str)).isin(kept)]


def _components(cases: pd.DataFrame) -> pd.DataFrame:
    """One row per predicted lesion of the scored tumor cases: lesion_precision 1 when it
    touches a ground-truth lesion, 0 for a false positive."""
    needed = {"n_predicted_lesions", "n_false_positive_lesions"}
    if cases.empty or not needed <= set(cases.columns):
        return cases.iloc[:0].assign(lesion_precision=pd.Series(dtype=float))
    total = cases["n_predicted_lesions"].fillna(0).astype(np.int64).to_numpy()
    false = cases["n_false_positive_lesions"].fillna(0).astype(np.int64).to_numpy()
    index = np.repeat(np.arange(len(cases)), total)
    # within each case: the first (total - false) components hit, the rest are false
    rank = np.arange(len(index)) - np.repeat(np.cumsum(total) - total, total)
    hit = rank < np.repeat(total - false, total)
    # identity columns only: a flooding model has thousands of components per case
    keep = [c for c in COMPONENT_COLUMNS if c in cases.columns]
    out = cases[keep].iloc[index].reset_index(drop=True)
    out["lesion_precision"] = hit.astype(float)
    return out


def scores(
    cases: pd.DataFrame,
    lesions: pd.DataFrame,
    *,
    by: Sequence[str] = ("model", "condition"),
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
    failures: str = "count",
    metrics: Sequence[str] = HEADLINE,
    intervals: bool = True,
) -> pd.DataFrame:
    """One row per group x metric: estimate and the interval its kind calls for (clustered
    by base scan; NaN with the reason in ci_method where too few base scans leave no
    interval that covers). `intervals=False` gives the estimates alone, cheaply (e.g. for the
    scored-only figure beside a failure-counted one)."""
    by = list(by)
    tables = metric_tables(cases, lesions, failures)
    parts = []
    for table_name, table in tables.items():
        names = [m for m in metrics if BY_NAME[m].table == table_name and m in table.columns]
        if table.empty or not names:
            continue
        if not intervals:
            parts.append(_estimates(table, names, by))
            continue
        parts.append(
            bootstrap_ci(
                table,
                names,
                by=by,
                n_resamples=resamples,
                confidence=confidence,
                seed=seed,
                kinds={m: BY_NAME[m].kind for m in names},
                bounds={m: BY_NAME[m].bounds for m in names},
                profile_columns={m: BY_NAME[m].profile_column for m in names},
            )
        )
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=[*by, *SCORE_COLUMNS, "failures"])
    out = pd.concat(parts, ignore_index=True)
    order = {m.name: k for k, m in enumerate(METRICS)}
    out = out.sort_values([*by, "metric"], key=lambda s: s.map(order) if s.name == "metric" else s)
    return out.reset_index(drop=True).assign(failures=failures)


def _estimates(table: pd.DataFrame, names: list[str], by: list[str]) -> pd.DataFrame:
    """Mean and count of each metric per group, no interval."""
    long = table.melt(id_vars=by, value_vars=names, var_name="metric", value_name="value")
    long = long[np.isfinite(pd.to_numeric(long["value"], errors="coerce").astype(float))]
    grouped = long.groupby([*by, "metric"], sort=True, dropna=False)["value"]
    out = grouped.agg(estimate="mean", n="size").reset_index()
    out[["ci_low", "ci_high"]] = np.nan
    out["ci_method"] = "estimate only"
    out["n_clusters"] = 0
    return out


def summarize(
    cases: pd.DataFrame, lesions: pd.DataFrame, resamples: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Long table: one row per scenario x model x condition x metric with estimate and CI,
    failures counted; `failed` counts the failed predictions."""
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
    failed = model_failures(cases).groupby([cases[k] for k in KEYS]).sum().rename("failed")
    return out.merge(failed.reset_index(), on=KEYS, how="left")


def fmt_cell(estimate: object, low: object, high: object, note: object = None) -> str:
    """'0.59 [0.23, 0.77]'; 'n/a' without an estimate; the estimate and why there is no
    interval otherwise ('0.59 (no CI: 2 base scans, needs at least 3)')."""
    if not _finite(estimate):
        return "n/a"
    text = f"{float(estimate):.2f}"  # type: ignore[arg-type]
    if _finite(low) and _finite(high):
        return f"{text} [{float(low):.2f}, {float(high):.2f}]"  # type: ignore[arg-type]
    reason = str(note) if isinstance(note, str) and note.startswith("no CI") else "no CI"
    return f"{text} ({reason})"


def _finite(value: object) -> bool:
    try:
        return bool(np.isfinite(float(value)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def wide(
    summary: pd.DataFrame, conditions: Mapping[str, Sequence[str]] | None = None
) -> pd.DataFrame:
    """One row per scenario x condition x model, 'estimate [low, high]' per metric.

    Args:
        conditions: scenario -> its condition ids in sweep order; rows then follow the
            scenarios and, per model, the conditions in that order (anything not named goes
            last, by name). Without it, everything is sorted by name.
    """
    if summary.empty:
        return summary
    cell = [
        fmt_cell(r.estimate, r.ci_low, r.ci_high, getattr(r, "ci_method", None))
        for r in summary.itertuples()
    ]
    table = summary.assign(cell=cell).pivot_table(
        index=[*KEYS, "failed"], columns="metric", values="cell", aggfunc="first"
    )
    order = [m for m in HEADLINE if m in table.columns]
    # a metric a group does not have (specificity where controls are shared) reads n/a
    table = table[order].fillna("n/a").rename(columns={m: label(m) for m in order}).reset_index()
    if conditions is None:
        return table
    scenario_rank = {s: i for i, s in enumerate(conditions)}
    condition_rank = {(s, c): i for s, names in conditions.items() for i, c in enumerate(names)}
    keys = list(zip(table["scenario"], table["model"], table["condition"], strict=True))
    rows = sorted(  # stable: what is not named keeps the sorted-by-name order
        range(len(table)),
        key=lambda i: (
            scenario_rank.get(keys[i][0], len(scenario_rank)),
            keys[i][1],
            condition_rank.get((keys[i][0], keys[i][2]), len(condition_rank)),
        ),
    )
    return table.iloc[rows].reset_index(drop=True)


def paired_rows(cases: pd.DataFrame, failures: str = "count") -> pd.DataFrame:
    """Case rows ready for paired tests: the metric values under the failure policy plus each
    case's share of lesions found (lesions of one case pair up, one by one they cannot)."""
    rows = metric_tables(cases, cases.iloc[:0], failures)["cases"]
    if {"n_lesions", "n_lesions_detected"} <= set(rows.columns):
        total = rows["n_lesions"].astype(float)
        found = rows["n_lesions_detected"].astype(float)
        found = found.where(_ok(rows), 0.0)  # a counted failure found none
        rows[PAIRED_LESION] = found / total.where(total > 0)
    return rows


def paired_values(metrics: Sequence[str]) -> list[str]:
    """The columns of `paired_rows` that compare `metrics` (lesion sensitivity through each
    case's share of lesions found)."""
    return [PAIRED_LESION if m == "lesion_sensitivity" else m for m in metrics]


def metric_names(tests: pd.DataFrame) -> pd.DataFrame:
    """`paired_values`' columns back to the metric names in a comparison table."""
    if tests.empty:
        return tests
    return tests.replace({"metric": {PAIRED_LESION: "lesion_sensitivity"}})


def paired_kinds(values: Sequence[str]) -> dict[str, str]:
    """The kind of each compared value: 0/1 metrics get the paired-proportion interval; a
    case's share of lesions found is a continuous value."""
    return {v: BY_NAME[v].kind for v in values if v in BY_NAME}


def model_differences(
    cases: pd.DataFrame,
    a: str,
    b: str,
    metrics: list[str],
    resamples: int = 10_000,
    correction: str = "holm",
) -> pd.DataFrame:
    """Paired differences a - b per scenario and condition, failures counted, with CIs and
    adjusted p-values."""
    rows = paired_rows(cases[cases["model"].isin([a, b])])
    values = paired_values(metrics)
    parts = [
        compare_models(
            table,
            values,
            pairs=[(a, b)],
            n_resamples=resamples,
            adjust=correction,
            kinds=paired_kinds(values),
        ).assign(scenario=s)
        for s, table in rows.groupby("scenario", sort=True)
    ]
    return metric_names(pd.concat(parts, ignore_index=True)) if parts else pd.DataFrame()
