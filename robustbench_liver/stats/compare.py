"""Paired comparisons on the same cases: model A vs B, a condition vs the reference (DESIGN §7).

Each comparison matches units (cases for models; base scan and replicate for conditions),
takes the per-unit difference a − b, and reports the mean difference with a cluster-bootstrap
CI and a two-sided sign-flip permutation p-value: under "no difference" the sign of each base
scan's total difference is arbitrary, so the signs are flipped by base scan (exactly, over all
2^C sign patterns, when that is no more than `n_resamples`). Zero differences (two models that
both miss a lesion) need no special rule here, unlike Wilcoxon's `zero_method`: they add
nothing to either the observed or the flipped totals but still count in the mean.
p-values are adjusted across all rows of the returned table (Holm by default).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from robustbench_liver.errors import DataError
from robustbench_liver.stats._resample import (
    ClusterTotals,
    Seed,
    check_options,
    child_rng,
    cluster_totals,
    interval_part,
    metric_profile,
    require_columns,
)
from robustbench_liver.stats.intervals import (
    has_ci,
    no_ci_note,
    paired_difference_interval,
    phi_coefficient,
)
from robustbench_liver.stats.multiplicity import adjust_pvalues

_P_KEY = 1  # separates the sign-flip stream from the bootstrap stream of one seed


def _exact_sign_flip(n_clusters: int, n_resamples: int) -> bool:
    """Enumerate every sign pattern when there are no more of them than resamples."""
    return 2**n_clusters <= n_resamples


def sign_flip_pvalues(
    sums: np.ndarray, counts: np.ndarray, *, n_resamples: int, rng: np.random.Generator
) -> tuple[np.ndarray, str]:
    """Two-sided p-values of mean difference = 0 for each row of (K, C) cluster totals."""
    n_rows, n_clusters = sums.shape
    exact = _exact_sign_flip(n_clusters, n_resamples)
    if exact:
        patterns = np.array(list(itertools.product((1.0, -1.0), repeat=n_clusters)))
        how = f"sign-flip exact ({len(patterns)})"
    else:
        patterns = rng.integers(0, 2, size=(n_resamples, n_clusters)) * 2.0 - 1.0
        how = f"sign-flip ({n_resamples})"
    total = counts.sum(axis=1)
    observed = np.abs(sums.sum(axis=1) / total)
    # relative slack so that a flipped total equal to the observed one up to rounding counts
    threshold = observed * (1.0 - 1e-12)
    extreme = np.zeros(n_rows)
    for start in range(0, n_rows, 256):  # bounded memory for long reports
        rows = slice(start, start + 256)
        null = np.abs(sums[rows] @ patterns.T) / total[rows, None]
        extreme[rows] = (null >= threshold[rows, None]).sum(axis=1)
    if exact:  # the identity pattern is among them: p >= 1 / 2^C
        return extreme / len(patterns), how
    return (extreme + 1.0) / (n_resamples + 1.0), how


def smallest_pvalue(n_clusters: int, n_resamples: int) -> float:
    """The smallest two-sided p `sign_flip_pvalues` can return for C clusters: exact
    enumeration always counts the observed pattern and its mirror."""
    if _exact_sign_flip(n_clusters, n_resamples):
        return 2.0 / 2**n_clusters
    return 1.0 / (n_resamples + 1.0)


def pvalue_floor(n_clusters: int, n_resamples: int, n_tests: int, adjust: str) -> float:
    """The smallest adjusted p any of `n_tests` comparisons can reach: Holm multiplies the
    smallest p by the number of tests, Benjamini–Hochberg and none leave it at best as is."""
    low = smallest_pvalue(n_clusters, n_resamples)
    return min(1.0, low * n_tests) if adjust == "holm" else low


def unreachable_significance(
    tests: pd.DataFrame, n_resamples: int, adjust: str, alpha: float
) -> tuple[int, int, float] | None:
    """(most clusters, tests, smallest reachable adjusted p) when no comparison of `tests`
    (a table from `compare_*`) can reach p < alpha, whatever the effect; None otherwise."""
    tested = tests[tests["p_value"].notna()] if "p_value" in tests else tests.iloc[:0]
    if tested.empty:
        return None
    clusters = int(tested["n_clusters"].max())
    floor = pvalue_floor(clusters, n_resamples, len(tested), adjust)
    return (clusters, len(tested), floor) if floor > alpha else None


def paired_differences(
    table: pd.DataFrame,
    value: str,
    *,
    factor: str,
    pairs: Sequence[tuple[str, str]],
    within: Sequence[str] = (),
    pair_on: Sequence[str] = ("case_id",),
    cluster: str = "base_scan",
) -> pd.DataFrame:
    """One row per matched unit and comparison: within..., a, b, cluster, difference (a − b),
    value_a, value_b.

    Units where either side is NaN (an undefined metric) are left out.
    """
    within, pair_on = list(within), list(pair_on)
    require_columns(table, [factor, *within, *pair_on, cluster, value], "paired comparison")
    keys = [*within, *pair_on]
    known = set(table[factor].unique().tolist())
    for level in {x for pair in pairs for x in pair}:
        if level not in known:
            raise DataError(
                f"paired comparison: no rows with {factor}={level!r}; it has {sorted(known)}"
            )
    frame = table[list(dict.fromkeys([factor, *keys, cluster, value]))].copy()
    frame = frame[frame[factor].isin({x for pair in pairs for x in pair})]
    duplicated = frame.duplicated([factor, *keys])
    if duplicated.any():
        row = frame.loc[duplicated, [factor, *keys]].iloc[0].to_dict()
        raise DataError(
            f"paired comparison: more than one row for {row}",
            hint=f"the columns {[factor, *keys]} must identify one row each",
        )
    frame[value] = pd.to_numeric(frame[value], errors="coerce").astype(np.float64)
    # one row per matched unit, one column per level: every pair is then a column difference
    carried = [value] if cluster in keys else [value, cluster]
    wide = frame.set_index([*keys, factor])[carried].unstack(factor)
    units = wide.index.to_frame(index=False)
    parts = []
    for a, b in pairs:
        diff = (wide[(value, a)] - wide[(value, b)]).to_numpy(np.float64)
        if cluster in keys:
            clusters = units[cluster]
        else:
            ca, cb = wide[(cluster, a)], wide[(cluster, b)]
            both = (ca.notna() & cb.notna()).to_numpy()
            if (ca[both] != cb[both]).any():
                raise DataError(
                    f"paired comparison {a!r} vs {b!r}: matched units lie in different "
                    f"{cluster!r} clusters",
                    hint=f"pair_on={pair_on} should match units within one {cluster}",
                )
            clusters = ca.reset_index(drop=True)
        ok = np.isfinite(diff)
        part = units.loc[ok, within].reset_index(drop=True)
        part["a"], part["b"] = a, b
        part[cluster] = clusters[ok].to_numpy()
        part["difference"] = diff[ok]
        part["value_a"] = wide[(value, a)].to_numpy(np.float64)[ok]
        part["value_b"] = wide[(value, b)].to_numpy(np.float64)[ok]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def compare_pairs(
    table: pd.DataFrame,
    values: str | Sequence[str],
    *,
    factor: str,
    pairs: Sequence[tuple[str, str]],
    within: Sequence[str] = (),
    pair_on: Sequence[str] = ("case_id",),
    cluster: str = "base_scan",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    method: str = "BCa",
    expand: bool = True,
    adjust: str = "holm",
    seed: Seed = 0,
    kind: str | None = "continuous",
    kinds: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Paired comparisons of the levels of `factor`, for each `within` group and metric.

    The interval of a mean difference is of `kind` "continuous" (`stats.intervals`; None:
    plain cluster bootstrap), except for metrics that `kinds` names "proportion" (0/1 per
    unit): their difference of two proportions gets Newcombe's paired interval
    (`intervals.paired_difference_interval`), which keeps its width when both sides agree.

    `pairs` are (a, b) levels of `factor`; units are matched on `within` + `pair_on`. CIs as
    in `bootstrap_ci` (BCa, expanded for few clusters unless `expand=False`); `adjust` is
    "holm", "bh" or "none", over every row of the result (all metrics together).
    Returns within..., factor, a, b, metric, profile, n_pairs, n_clusters, difference
    (mean a − b), ci_low, ci_high, ci_method, p_value, p_method, p_adjusted, adjust_method.
    """
    names = [values] if isinstance(values, str) else list(values)
    method_ = check_options(confidence, n_resamples, method)
    adjust_pvalues([], adjust)  # validate the name before the work
    group = [*within, "a", "b"]
    parts = []
    for name in names:
        profile = metric_profile(table, name)
        diffs = paired_differences(
            table, name, factor=factor, pairs=pairs, within=within, pair_on=pair_on,
            cluster=cluster,
        )  # fmt: skip
        proportion = (kinds or {}).get(name) == "proportion"
        margins = _margins(diffs, group, cluster) if proportion else None
        for k, batch in enumerate(cluster_totals(diffs, "difference", group, cluster)):
            if margins is not None:
                part = _paired_proportion_part(batch, name, profile, margins[k], confidence)
            else:
                part = interval_part(
                    batch,
                    name,
                    profile,
                    confidence=confidence,
                    n_resamples=n_resamples,
                    method=method_,
                    expand=expand,
                    seed=seed,
                    kind=kind,
                )
            part = part.rename(columns={"n": "n_pairs", "estimate": "difference"})
            part["p_value"], part["p_method"] = sign_flip_pvalues(
                batch.sums,
                batch.counts,
                n_resamples=n_resamples,
                rng=child_rng(seed, batch.sums.shape[1], _P_KEY),
            )
            parts.append(part)
    columns = [*within, "factor", "a", "b", "metric", "profile", "n_pairs", "n_clusters"]
    columns += ["difference"]
    columns += ["ci_low", "ci_high", "ci_method", "p_value", "p_method", "p_adjusted"]
    columns += ["adjust_method"]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)
    out["factor"] = factor
    out["p_adjusted"] = adjust_pvalues(out["p_value"].to_numpy(), adjust)
    out["adjust_method"] = adjust
    out = out.sort_values(["metric", *group], kind="stable").reset_index(drop=True)
    return out[columns]


def _margins(
    diffs: pd.DataFrame, group: list[str], cluster: str
) -> list[tuple[ClusterTotals, ClusterTotals, np.ndarray]]:
    """Per batch of `cluster_totals(diffs, "difference", ...)`: the same clusters' totals of
    each side, and each group's phi (the rows are the same, so the batches line up)."""
    a = cluster_totals(diffs, "value_a", group, cluster)
    b = cluster_totals(diffs, "value_b", group, cluster)
    phis = {
        key if isinstance(key, tuple) else (key,): phi_coefficient(g["value_a"], g["value_b"])
        for key, g in diffs.groupby(group, sort=True, observed=True, dropna=False)
    }
    out = []
    for batch_a, batch_b in zip(a, b, strict=True):
        keys = batch_a.keys[group].itertuples(index=False, name=None)
        out.append((batch_a, batch_b, np.array([phis[tuple(k)] for k in keys])))
    return out


def _paired_proportion_part(
    batch: ClusterTotals,
    metric: str,
    profile: str | None,
    margins: tuple[ClusterTotals, ClusterTotals, np.ndarray],
    confidence: float,
) -> pd.DataFrame:
    """The batch's keys with the difference of two paired proportions and its interval
    (`intervals.paired_difference_interval`), laid out as `interval_part` lays them out."""
    batch_a, batch_b, phi = margins
    n_clusters = batch.sums.shape[1]
    part = batch.keys.copy()
    part["metric"], part["profile"] = metric, profile
    part["n"] = batch.counts.sum(axis=1).astype(np.int64)
    part["n_clusters"] = n_clusters
    part["estimate"] = batch.sums.sum(axis=1) / batch.counts.sum(axis=1)
    if not has_ci(n_clusters, "proportion"):
        part["ci_low"], part["ci_high"] = np.nan, np.nan
        part["ci_method"] = no_ci_note(n_clusters, "proportion")
        return part
    low, high = paired_difference_interval(
        batch_a.sums, batch_b.sums, batch.counts, phi, confidence
    )
    part["ci_low"], part["ci_high"] = low, high
    part["ci_method"] = "Newcombe paired, cluster-adjusted Wilson"
    return part


def compare_models(
    table: pd.DataFrame,
    values: str | Sequence[str],
    *,
    pairs: Sequence[tuple[str, str]] | None = None,
    reference: str | None = None,
    model: str = "model",
    within: Sequence[str] = ("condition",),
    **options: Any,
) -> pd.DataFrame:
    """Model vs model on the same cases, per condition.

    Pairs: as given; else every model against `reference`; else every pair of models.
    """
    require_columns(table, [model], "compare_models")
    models = sorted(table[model].unique().tolist())
    if pairs is None:
        if reference is not None:
            if reference not in models:
                raise DataError(f"compare_models: reference model {reference!r} not in {models}")
            pairs = [(m, reference) for m in models if m != reference]
        else:
            pairs = list(itertools.combinations(models, 2))
    return compare_pairs(table, values, factor=model, pairs=pairs, within=within, **options)


def compare_conditions(
    table: pd.DataFrame,
    values: str | Sequence[str],
    *,
    reference: str,
    condition: str = "condition",
    within: Sequence[str] = ("model",),
    pair_on: Sequence[str] = ("base_scan", "replicate"),
    **options: Any,
) -> pd.DataFrame:
    """Each condition vs the reference condition, for each model: difference = condition − ref.

    Cases of two conditions are matched by base scan and replicate (`pair_on`).
    """
    require_columns(table, [condition], "compare_conditions")
    levels = sorted(table[condition].unique().tolist())
    if reference not in levels:
        raise DataError(f"compare_conditions: reference condition {reference!r} not in {levels}")
    pairs = [(c, reference) for c in levels if c != reference]
    return compare_pairs(
        table, values, factor=condition, pairs=pairs, within=within, pair_on=pair_on, **options
    )
