"""The engine under the statistics: cluster sums, seeded generators, the ratio bootstrap.

Every statistic here is a ratio of cluster totals, sum(values) / count(values) over the
resampled base scans, so one table of per-cluster sums and counts per group is all the
resampling needs. Groups with the same number of clusters are resampled together with one
matrix product per batch of resamples.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from scipy import stats

from robustbench_liver.errors import DataError, RobustBenchError
from robustbench_liver.stats import intervals

Seed = int | np.random.SeedSequence


def child_rng(seed: Seed, *key: int) -> np.random.Generator:
    """A Generator for one batch: depends only on the seed and `key`, never on call order."""
    if isinstance(seed, np.random.SeedSequence):
        sequence = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, *key))
    else:
        sequence = np.random.SeedSequence(int(seed), spawn_key=key)
    return np.random.default_rng(sequence)


def require_columns(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(
            f"{what}: table has no column(s) {missing}; it has {list(table.columns)}",
            hint="pass the right column names (by=, cluster=, values=)",
        )


# where the case rows of `robustbench_liver.metrics` name each metric's profile
_PROFILE_COLUMN = {
    "hd95_mm": "hd95_profile",
    "case_sensitivity": "case_detection_profile",
    "case_specificity": "case_detection_profile",
    "detected": "lesion_profile",
}


def metric_profile(table: pd.DataFrame, value: str, column: str | None = None) -> str | None:
    """The one metric profile of `value` in `table` (None when the table names none), read
    from `column` (default: the result rows' convention for `value`).

    Raises when rows of two profiles meet (say NSD surfel and edge-voxel): never mix them.
    """
    column = column or _PROFILE_COLUMN.get(value, f"{value}_profile")
    if column not in table.columns:
        return None
    profiles = sorted(str(p) for p in table[column].dropna().unique())
    if len(profiles) > 1:
        raise DataError(
            f"column {value!r} mixes metric profiles {profiles}",
            hint="rows of different definitions cannot share a mean; filter on " + column,
        )
    return profiles[0] if profiles else None


def check_options(confidence: float, n_resamples: int, method: str) -> str:
    if not 0.0 < confidence < 1.0:
        raise RobustBenchError(f"confidence must be in (0, 1), got {confidence!r}")
    if int(n_resamples) != n_resamples or n_resamples < 100:
        raise RobustBenchError(f"n_resamples must be an integer >= 100, got {n_resamples!r}")
    lowered = method.lower()
    if lowered not in ("bca", "percentile"):
        raise RobustBenchError(f"method must be 'BCa' or 'percentile', got {method!r}")
    return lowered


@dataclass(frozen=True)
class ClusterTotals:
    """Per group: the clusters' value sums and counts, as (G, C) arrays for one C."""

    keys: pd.DataFrame
    """One row per group (the grouping columns), aligned with the arrays."""
    sums: np.ndarray
    counts: np.ndarray


def cluster_totals(
    table: pd.DataFrame, value: str, by: Sequence[str], cluster: str
) -> list[ClusterTotals]:
    """Sum and count of the non-NaN `value` per (group, cluster), batched by cluster count.

    Clusters with no value in a group are left out of that group: they carry no information
    about its mean, and resampling them would only blur the number of clusters drawn.
    """
    frame = table[[*by, cluster, value]].copy()
    frame[value] = pd.to_numeric(frame[value], errors="coerce").astype(np.float64)
    frame = frame[np.isfinite(frame[value])]
    if frame.empty:
        return []
    # a fixed summation order: the same totals, bit for bit, whatever the row order
    frame = frame.sort_values([*by, cluster, value], kind="stable")
    grouped = frame.groupby([*by, cluster], sort=True, observed=True, dropna=False)[value]
    totals = grouped.agg(["sum", "count"]).reset_index()
    if by:
        group_id = totals.groupby(list(by), sort=False, observed=True, dropna=False).ngroup()
    else:
        group_id = pd.Series(0, index=totals.index)
    totals["_group"] = group_id.to_numpy()
    totals["_k"] = totals.groupby("_group").cumcount()
    sizes = totals.groupby("_group")["_k"].transform("size")
    totals["_C"] = sizes.to_numpy()
    batches = []
    for _, part in totals.groupby("_C", sort=True):
        sums = part.pivot(index="_group", columns="_k", values="sum")
        counts = part.pivot(index="_group", columns="_k", values="count")
        keys = part.drop_duplicates("_group").set_index("_group").loc[sums.index, list(by)]
        batches.append(
            ClusterTotals(
                keys=keys.reset_index(drop=True),
                sums=sums.to_numpy(np.float64),
                counts=counts.to_numpy(np.float64),
            )
        )
    return batches


def _draw_counts(index: np.ndarray, n_clusters: int) -> np.ndarray:
    """How often each cluster appears in each resample: (..., n) draws -> (..., C) counts."""
    lead = index.shape[:-1]
    rows = int(np.prod(lead)) if lead else 1
    flat = index.reshape(rows, -1) + n_clusters * np.arange(rows)[:, None]
    counts = np.bincount(flat.ravel(), minlength=rows * n_clusters)
    return counts.reshape(*lead, n_clusters).astype(np.float64)


def expanded_level(confidence: float, n_clusters: int) -> float:
    """The level that makes a bootstrap interval from `n_clusters` clusters cover at
    `confidence` (Hesterberg 2015, "expanded percentile"): 2Φ(√(n/(n−1))·t_{n−1, 1−α/2}) − 1.

    Bootstrap intervals are too narrow for few clusters: they use the divisor n for the
    variance and normal instead of t quantiles. With 20 base scans plain BCa covers about
    93 %; expanded, 95 % (tests/unit/stats/test_stats_simulation.py).
    """
    alpha = (1.0 - confidence) / 2.0
    factor = float(np.sqrt(n_clusters / (n_clusters - 1)))
    z = factor * float(stats.t.ppf(1.0 - alpha, n_clusters - 1))
    return float(2.0 * stats.norm.cdf(z) - 1.0)


def ratio_bootstrap(
    sums: np.ndarray,
    counts: np.ndarray,
    *,
    confidence: float,
    n_resamples: int,
    method: str,
    make_rng: Callable[[], np.random.Generator],
    expand: bool = True,
    chunk: int = 512,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Estimate and CI of sum/count for each row of (G, C) cluster totals.

    Resamples clusters with `scipy.stats.bootstrap` (its data are the cluster positions; the
    statistic turns draws into per-cluster weights, so all rows share one product). BCa
    falls back to the percentile interval of the same resamples where BCa is undefined
    (e.g. every cluster has the same mean). With `expand`, the interval is taken at
    `expanded_level` so that few clusters still cover at `confidence`. Rows go `chunk` at a
    time, each chunk with a fresh `make_rng()`: every row sees the same draws, and memory
    stays bounded.
    Returns estimate, low, high and the method used per row.
    """
    n_groups, n_clusters = sums.shape
    estimate = sums.sum(axis=1) / counts.sum(axis=1)
    low = np.full(n_groups, np.nan)
    high = np.full(n_groups, np.nan)
    used = np.full(n_groups, "none (1 cluster)", dtype=object)
    if n_clusters < 2:
        return estimate, low, high, used
    level = expanded_level(confidence, n_clusters) if expand else confidence
    for start in range(0, n_groups, chunk):
        rows = slice(start, start + chunk)
        low[rows], high[rows], used[rows] = _bootstrap_chunk(
            sums[rows], counts[rows], level, n_resamples, method, make_rng()
        )
    if expand:
        used = np.array([f"{u}, expanded" for u in used], dtype=object)
    return estimate, low, high, used


def interval_part(
    batch: ClusterTotals,
    metric: str,
    profile: str | None,
    *,
    confidence: float,
    n_resamples: int,
    method: str,
    expand: bool,
    seed: Seed,
    kind: str | None = None,
) -> pd.DataFrame:
    """The batch's keys with metric, profile, n, n_clusters, estimate and its CI. The draws
    depend on the seed and the cluster count only: a group's interval does not change when
    other groups are added or removed.

    `kind` ("continuous" or "proportion") picks the interval that covers for that kind of
    metric and leaves it out (NaN, with a note) below its fewest base scans
    (`stats.intervals`); None is the plain cluster bootstrap."""
    n_clusters = batch.sums.shape[1]
    if kind is None or (kind == "continuous" and n_clusters >= intervals.BOOTSTRAP_MIN_CLUSTERS):
        estimate, low, high, used = ratio_bootstrap(
            batch.sums,
            batch.counts,
            confidence=confidence,
            n_resamples=n_resamples,
            method=method,
            make_rng=partial(child_rng, seed, n_clusters),
            expand=expand,
        )
    else:
        estimate, low, high, used = _closed_form(batch.sums, batch.counts, kind, confidence)
    if kind is not None and not intervals.has_ci(n_clusters, kind):
        low = np.full(len(estimate), np.nan)
        high = np.full(len(estimate), np.nan)
        used = np.full(len(estimate), intervals.no_ci_note(n_clusters, kind), dtype=object)
    elif kind == "continuous" and n_clusters >= 2:
        # every base scan with the same mean (0 false positives everywhere): a zero-width
        # interval would claim certainty the data do not give, so none is printed
        same = intervals.cluster_variance(batch.sums, batch.counts) <= 1e-24
        low, high = np.where(same, np.nan, low), np.where(same, np.nan, high)
        used = np.where(same, f"no CI: all {n_clusters} base scans agree", used)
    part = batch.keys.copy()
    part["metric"] = metric
    part["profile"] = profile
    part["n"] = batch.counts.sum(axis=1).astype(np.int64)
    part["n_clusters"] = n_clusters
    part["estimate"] = estimate
    part["ci_low"] = low
    part["ci_high"] = high
    part["ci_method"] = used
    return part


def _closed_form(
    sums: np.ndarray, counts: np.ndarray, kind: str, confidence: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Estimate, CI and method name of the kinds that need no resampling."""
    if kind not in intervals.KINDS:
        raise RobustBenchError(f"interval kind must be one of {intervals.KINDS}, got {kind!r}")
    estimate = sums.sum(axis=1) / counts.sum(axis=1)
    if sums.shape[1] < 2:
        nan = np.full(len(estimate), np.nan)
        return estimate, nan, nan.copy(), np.full(len(estimate), "none (1 cluster)", dtype=object)
    if kind == "proportion":
        low, high = intervals.proportion_interval(sums, counts, confidence)
        name = "Wilson, cluster-adjusted"
    else:
        low, high = intervals.t_interval(sums, counts, confidence)
        name = "t, cluster"
    return estimate, low, high, np.full(len(estimate), name, dtype=object)


def _bootstrap_chunk(
    sums: np.ndarray,
    counts: np.ndarray,
    confidence: float,
    n_resamples: int,
    method: str,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_groups, n_clusters = sums.shape

    def statistic(index: np.ndarray, axis: int = -1) -> np.ndarray:
        weights = _draw_counts(np.asarray(index), n_clusters)
        # einsum, not BLAS: each value is summed in the same order whatever the number of
        # rows, so resamples that tie with the estimate tie exactly (BCa counts ties)
        return np.einsum("gc,...c->g...", sums, weights) / np.einsum(
            "gc,...c->g...", counts, weights
        )

    positions = np.arange(n_clusters)
    kwargs = dict(vectorized=True, axis=-1, confidence_level=confidence, rng=rng)
    used = np.full(n_groups, "BCa" if method == "bca" else "percentile", dtype=object)
    with warnings.catch_warnings():
        # degenerate groups are handled below; scipy would warn once per call
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.bootstrap(
            (positions,),
            statistic,
            n_resamples=n_resamples,
            batch=max(1, 4_000_000 // max(1, n_groups * n_clusters)),
            method="BCa" if method == "bca" else "percentile",
            **kwargs,
        )
        low = np.array(result.confidence_interval.low, dtype=np.float64, ndmin=1)
        high = np.array(result.confidence_interval.high, dtype=np.float64, ndmin=1)
        bad = ~(np.isfinite(low) & np.isfinite(high))
        if bad.any():
            fallback = stats.bootstrap(
                (positions,),
                statistic,
                n_resamples=0,
                bootstrap_result=result,
                method="percentile",
                **kwargs,
            )
            low[bad] = np.asarray(fallback.confidence_interval.low)[bad]
            high[bad] = np.asarray(fallback.confidence_interval.high)[bad]
            used[bad] = "percentile (BCa degenerate)"
    return low, high, used
