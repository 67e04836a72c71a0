"""The numbers of a calibration: each model's score on real and on synthetic tumors, the
synthetic − real gap, and whether the models rank the same way on both.

Every interval and p-value comes from `robustbench_liver.stats` with the suite's trust rules
(`stats.intervals`): continuous metrics (local DSC, case DSC) get the cluster t interval or
the expanded BCa bootstrap, lesion sensitivity the cluster-adjusted Wilson interval (a gap:
Newcombe's paired interval), and where the method does not cover for that many clusters no
interval is printed, only "no CI" and how many are needed.

Clusters: the real scan for case DSC; for the per-lesion metrics the real scan when at least
`MIN_SCAN_CLUSTERS` scans hold measured lesions, else the real lesion (with its twins), as the
fidelity study does. Gaps are paired: each twin against the real lesion (or real case) it
stands for, so that size and scan cancel.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from robustbench_liver.fidelity.study import MIN_SCAN_CLUSTERS
from robustbench_liver.stats import adjust_pvalues, bootstrap_ci, compare_pairs

if TYPE_CHECKING:
    from robustbench_liver.fidelity.calibrate import Calibration


@dataclass(frozen=True)
class CalMetric:
    name: str
    """Key in calibration.json: local_dsc, dsc, lesion_sensitivity."""
    label: str
    column: str
    """Column of the rows it is a mean of."""
    table: str
    """'lesions' or 'cases'."""
    kind: str
    """Interval kind (stats.intervals)."""


METRICS = (
    CalMetric("local_dsc", "local DSC", "local_dsc", "lesions", "continuous"),
    CalMetric("dsc", "case DSC", "dsc", "cases", "continuous"),
    CalMetric("lesion_sensitivity", "lesion sensitivity", "detected", "lesions", "proportion"),
)
BY_NAME = {m.name: m for m in METRICS}
SIDES = ("real", "synthetic")


@dataclass(frozen=True)
class CalibrationResult:
    sides: pd.DataFrame
    """model, set, metric, n, n_clusters, estimate, ci_low, ci_high, ci_method."""
    gaps: pd.DataFrame
    """model, metric, n_pairs, n_clusters, gap (synthetic − real), ci_low, ci_high, ci_method,
    p_value, p_adjusted (Holm over every gap)."""
    pairs: pd.DataFrame
    """metric, a, b, then per side (real_, synthetic_): difference a − b, ci_low, ci_high,
    ci_method; verdict."""
    kendall: pd.DataFrame
    """metric, n_models, tau, p_value, note: agreement of the model order, real vs synthetic."""
    lesion_unit: str
    """'real scan' or 'real lesion': the cluster of the per-lesion metrics."""


def summarize(
    cal: Calibration, resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> CalibrationResult:
    lesions, cases, unit = _with_clusters(cal)
    opts = dict(n_resamples=resamples, seed=seed, confidence=confidence)
    sides = _sides(lesions, cases, opts)
    gaps = _gaps(lesions, cases, opts)
    pairs = _pairs(lesions, cases, opts)
    return CalibrationResult(
        sides=_unit_names(sides, unit),
        gaps=_unit_names(gaps, unit),
        pairs=_unit_names(pairs, unit),
        kendall=kendall_table(sides),
        lesion_unit=unit,
    )


def _with_clusters(cal: Calibration) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    lesions, cases = cal.lesions.copy(), cal.cases.copy()
    scans = lesions.loc[lesions["set"] == "real", "real_scan"].nunique()
    by_scan = scans >= MIN_SCAN_CLUSTERS
    lesions["cluster"] = lesions["real_scan"] if by_scan else lesions["match"]
    cases["cluster"] = cases["real_scan"]
    return lesions, cases, "real scan" if by_scan else "real lesion"


def _sides(lesions: pd.DataFrame, cases: pd.DataFrame, opts: dict) -> pd.DataFrame:
    parts = []
    for table, frame in (("lesions", lesions), ("cases", cases)):
        chosen = [m for m in METRICS if m.table == table]
        parts.append(
            bootstrap_ci(
                frame,
                [m.column for m in chosen],
                by=("model", "set"),
                cluster="cluster",
                kinds={m.column: m.kind for m in chosen},
                bounds={m.column: (0.0, 1.0) for m in chosen},
                profile_columns={"local_dsc": "lesion_profile"},
                **opts,
            )
        )
    return _in_order(_named(pd.concat(parts, ignore_index=True)), ["model", "set", "metric"])


def _gaps(lesions: pd.DataFrame, cases: pd.DataFrame, opts: dict) -> pd.DataFrame:
    parts = []
    for table, frame, units in (
        ("lesions", lesions, ["match", "replicate"]),
        ("cases", cases, ["real_scan", "replicate"]),
    ):
        chosen = [m for m in METRICS if m.table == table]
        columns = [m.column for m in chosen]
        paired = _real_beside_each_twin(frame, units, columns)
        if paired.empty:
            continue
        parts.append(
            compare_pairs(
                paired,
                columns,
                factor="set",
                pairs=[("synthetic", "real")],
                within=("model",),
                pair_on=units,
                cluster="cluster",
                adjust="none",
                kind="continuous",
                kinds={m.column: m.kind for m in chosen},
                **opts,
            )
        )
    if not parts:
        return pd.DataFrame()
    out = _named(pd.concat(parts, ignore_index=True)).rename(columns={"difference": "gap"})
    out["p_adjusted"] = adjust_pvalues(out["p_value"].to_numpy(), "holm")
    keep = ["model", "metric", "n_pairs", "n_clusters", "gap", "ci_low", "ci_high"]
    out = out[[*keep, "ci_method", "p_value", "p_method", "p_adjusted"]]
    return _in_order(out, ["model", "metric"])


def _real_beside_each_twin(
    frame: pd.DataFrame, units: list[str], columns: list[str]
) -> pd.DataFrame:
    """The synthetic rows, and for each one the row of the real lesion (or case) it stands
    for under the same replicate number: one matched pair per twin."""
    key = units[0]
    keep = ["model", key, "cluster", *columns]
    if "lesion_profile" in frame:
        keep.append("lesion_profile")
    synthetic = frame[frame["set"] == "synthetic"]
    real = frame.loc[frame["set"] == "real", keep]
    twins = synthetic[["model", key, "replicate"]].drop_duplicates()
    repeated = twins.merge(real, on=["model", key], how="inner").assign(set="real")
    return pd.concat([synthetic[[*keep, "replicate", "set"]], repeated], ignore_index=True)


def _pairs(lesions: pd.DataFrame, cases: pd.DataFrame, opts: dict) -> pd.DataFrame:
    """Every pair of models, a − b on each side, and whether the two sides agree."""
    models = sorted(set(lesions["model"]) | set(cases["model"]))
    if len(models) < 2:
        return pd.DataFrame()
    pairs = list(itertools.combinations(models, 2))
    parts = []
    for table, frame, units in (
        ("lesions", lesions, ("match", "replicate")),
        ("cases", cases, ("real_scan", "replicate")),
    ):
        chosen = [m for m in METRICS if m.table == table]
        parts.append(
            compare_pairs(
                frame,
                [m.column for m in chosen],
                factor="model",
                pairs=pairs,
                within=("set",),
                pair_on=units,
                cluster="cluster",
                adjust="none",
                kind="continuous",
                kinds={m.column: m.kind for m in chosen},
                **opts,
            )
        )
    tests = _named(pd.concat(parts, ignore_index=True))
    rows = []
    for (metric, a, b), group in tests.groupby(["metric", "a", "b"], sort=False):
        row: dict = {"metric": metric, "a": a, "b": b}
        for side in SIDES:
            found = group[group["set"] == side]
            r = found.iloc[0] if not found.empty else None
            for field in ("difference", "ci_low", "ci_high"):
                row[f"{side}_{field}"] = math.nan if r is None else float(r[field])
            row[f"{side}_ci_method"] = "" if r is None else str(r["ci_method"])
        row["verdict"] = verdict(row)
        rows.append(row)
    return _in_order(pd.DataFrame(rows), ["metric", "a", "b"])


def verdict(row: dict) -> str:
    """Do the two sides put a and b in the same order? 'reversed' is the warning: the
    synthetic ranking contradicts the real one; with both CIs clear of 0 it is certain."""
    real, synthetic = row["real_difference"], row["synthetic_difference"]
    if not (math.isfinite(real) and math.isfinite(synthetic)):
        return "n/a"
    if real == 0 or synthetic == 0:
        return "tie on one side"
    clear = {side: _clear_of_zero(row, side) for side in SIDES}
    if np.sign(real) == np.sign(synthetic):
        return "same order" + (", both CIs exclude 0" if all(clear.values()) else "")
    if all(clear.values()):
        return "REVERSED, both CIs exclude 0"
    return "reversed (a CI includes 0 or is missing)"


def _clear_of_zero(row: dict, side: str) -> bool:
    low, high = row[f"{side}_ci_low"], row[f"{side}_ci_high"]
    return bool(math.isfinite(low) and math.isfinite(high) and (low > 0 or high < 0))


def kendall_table(sides: pd.DataFrame) -> pd.DataFrame:
    """Kendall's tau between the models' real and synthetic estimates, per metric (needs 3
    models: with 2, the pairwise table says it all)."""
    rows = []
    for metric in METRICS:
        wide = (
            sides[sides["metric"] == metric.name]
            .pivot(index="model", columns="set", values="estimate")
            .reindex(columns=list(SIDES))
            .dropna()
        )
        n = len(wide)
        row = {"metric": metric.name, "n_models": n, "tau": math.nan, "p_value": math.nan}
        if n < 3:
            row["note"] = f"{n} model(s): Kendall's tau needs 3; see the pairwise table"
        else:
            result = scipy_stats.kendalltau(wide["real"], wide["synthetic"])
            row["tau"], row["p_value"] = float(result.statistic), float(result.pvalue)
            floor = 2.0 / math.factorial(n)
            row["note"] = (
                f"with {n} models no p-value can fall below {floor:.2g}"
                if floor > 0.05
                else "exact test"
                if n < 50
                else "asymptotic test"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _in_order(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Sorted by `by`, metrics in the order of METRICS."""
    order = {m.name: k for k, m in enumerate(METRICS)}
    return table.sort_values(
        by, key=lambda s: s.map(order) if s.name == "metric" else s, kind="stable"
    ).reset_index(drop=True)


def _named(table: pd.DataFrame) -> pd.DataFrame:
    """Metric columns renamed to calibration metric names (detected -> lesion_sensitivity)."""
    names = {m.column: m.name for m in METRICS}
    return table.assign(metric=table["metric"].map(lambda c: names.get(c, c)))


def _unit_names(table: pd.DataFrame, unit: str) -> pd.DataFrame:
    """'no CI: 4 base scans, ...' said in the calibration's own units: real scans for case
    DSC, `unit` for the per-lesion metrics."""
    if table.empty:
        return table
    out = table.copy()
    for column in [c for c in out.columns if c.endswith("ci_method")]:
        for cases, name in ((True, "real scan"), (False, unit)):
            rows = (out["metric"] == "dsc") == cases
            out.loc[rows, column] = (
                out.loc[rows, column]
                .astype(str)
                .str.replace("base scans", f"{name}s")
                .str.replace("base scan", name)
            )
    return out


def row_of(table: pd.DataFrame, **keys: str) -> Any:
    """The first row of `table` matching `keys` (a named tuple), or None."""
    if table.empty:
        return None
    mask = np.ones(len(table), dtype=bool)
    for column, value in keys.items():
        mask &= (table[column] == value).to_numpy()
    hits = table[mask]
    return None if hits.empty else next(hits.itertuples(index=False))
