"""Confidence intervals that cover: one method per kind of metric, chosen by simulation.

Cases made from one base scan are correlated, so every interval treats the base scan as the
cluster. Each statistic is a ratio of cluster totals, sum(values) / count(values).

- **proportion** (sensitivity, specificity, lesion sensitivity, lesion precision): the
  Wilson score interval (Wilson 1927) at an effective sample size. The design effect
  (Kish 1965) is the cluster (linearised ratio) variance over the simple-random-sampling
  variance p(1 − p)/(n − 1), floored at 1. The effective size n/deff is then shrunk by
  (z / t_{C−1})² for the C − 1 degrees of freedom of that variance. This is stricter than
  Korn & Graubard's (1998) (t_{n−1} / t_{C−1})², which leaves plain Wilson with one case per
  scan, and plain Wilson covers only 92.3 % for 16 scans at p = 0.5 (exact binomial sum).
  Next to 0 or 1 (an effective count of at most 2 on the boundary side) the boundary-side
  end is the wider of Wilson's and the exact Clopper–Pearson end, after Brown, Cai &
  DasGupta's (2001) modified Wilson interval (which uses a Poisson bound there): plain
  Wilson dips to ~89 % there. It never has zero width.
- **continuous** (DSC, NSD, false positives per case): with fewer than
  `BOOTSTRAP_MIN_CLUSTERS` base scans, the t interval of the linearised ratio estimator
  (C − 1 degrees of freedom); from there on, the cluster bootstrap (BCa, expanded for the
  number of clusters). The bootstrap has too few distinct resamples below that: it
  covered 49 % with 2 base scans, 69 % with 3 and 79 % with 4 (coverage table).

Below `MIN_CLUSTERS[kind]` base scans the kind's interval did not cover 93–97 % in the
simulation of `robustbench-liver coverage` (README, "Statistics"; a proportion's interval
covered ~100 %, i.e. said nothing): there the suite prints no interval, and says how many
base scans it needs. `stats.coverage.required_clusters` derives these numbers from the
table; a slow test keeps the two equal.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy import stats

Kind = Literal["continuous", "proportion"]
KINDS: tuple[Kind, ...] = ("continuous", "proportion")

MIN_CLUSTERS: dict[str, int] = {"continuous": 2, "proportion": 12}
"""Fewest base scans from which the kind's 95 % interval covers as it claims in the coverage
table (`stats.coverage.required_clusters` says exactly what that means)."""

BOOTSTRAP_MIN_CLUSTERS = 12
"""Continuous metrics use the t interval below this many base scans, the bootstrap from it."""

BOUNDARY_COUNT = 2.0
"""Effective count on the near boundary at or below which the exact end is used."""


def policy(confidence: float = 0.95, resamples: int | None = None) -> str:
    """The interval policy in one sentence, for every page and table that prints intervals."""
    boot = f" ({resamples} resamples)" if resamples else ""
    return (
        f"{confidence:.0%} CIs clustered by base scan: proportions (sensitivity, specificity, "
        "precision) by the cluster-adjusted Wilson interval, from "
        f"{MIN_CLUSTERS['proportion']} base scans; continuous metrics by the t interval below "
        f"{BOOTSTRAP_MIN_CLUSTERS} base scans and the expanded BCa cluster bootstrap{boot} "
        "from there. Where too few base scans leave no interval that covers in simulation, "
        "none is printed and the cell says how many are needed."
    )


def no_ci_note(n_clusters: int, kind: str) -> str:
    """What a table prints instead of an interval that would not cover."""
    need = MIN_CLUSTERS[kind]
    scans = "base scan" if n_clusters == 1 else "base scans"
    return f"no CI: {n_clusters} {scans}, needs at least {need}"


def has_ci(n_clusters: int, kind: str) -> bool:
    return n_clusters >= MIN_CLUSTERS[kind]


def cluster_variance(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Linearised (Taylor) variance of sum/count over C clusters, per row of (G, C) totals,
    with the C/(C − 1) small-sample factor."""
    n_clusters = sums.shape[1]
    total = counts.sum(axis=1)
    estimate = sums.sum(axis=1) / total
    residual = sums - estimate[:, None] * counts
    factor = n_clusters / max(n_clusters - 1, 1)
    return factor * (residual**2).sum(axis=1) / total**2


def t_interval(
    sums: np.ndarray, counts: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean ± t_{C−1} · SE of the ratio estimator, per row of (G, C) cluster totals."""
    n_clusters = sums.shape[1]
    estimate = sums.sum(axis=1) / counts.sum(axis=1)
    quantile = stats.t.ppf(0.5 + confidence / 2.0, n_clusters - 1)
    half = quantile * np.sqrt(cluster_variance(sums, counts))
    return estimate - half, estimate + half


def design_effect(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cluster variance of a proportion over its simple-random-sampling variance, >= 1
    (1 where the proportion is 0 or 1 and both are zero)."""
    total = counts.sum(axis=1)
    p = sums.sum(axis=1) / total
    srs = p * (1.0 - p) / np.maximum(total - 1.0, 1.0)
    clustered = cluster_variance(sums, counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(srs > 0, clustered / np.where(srs > 0, srs, 1.0), 1.0)
    return np.maximum(ratio, 1.0)


def effective_size(sums: np.ndarray, counts: np.ndarray, confidence: float) -> np.ndarray:
    """n / deff, shrunk by (z / t_{C−1})² for the degrees of freedom (module docstring)."""
    n_clusters = sums.shape[1]
    upper = 0.5 + confidence / 2.0
    shrink = (stats.norm.ppf(upper) / stats.t.ppf(upper, max(n_clusters - 1, 1))) ** 2
    return counts.sum(axis=1) / design_effect(sums, counts) * shrink


def wilson(p: np.ndarray, n: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of proportion p from (effective) size n."""
    z = stats.norm.ppf(0.5 + confidence / 2.0)
    z2 = z * z
    centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n)
    half = z * np.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / (1.0 + z2 / n)
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def clopper_pearson(
    p: np.ndarray, n: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """The exact (beta) interval at a possibly fractional count x = p·n."""
    alpha = (1.0 - confidence) / 2.0
    x = p * n
    with np.errstate(invalid="ignore"):
        low = np.where(x > 0, stats.beta.ppf(alpha, np.maximum(x, 1e-12), n - x + 1.0), 0.0)
        high = np.where(x < n, stats.beta.ppf(1.0 - alpha, x + 1.0, np.maximum(n - x, 1e-12)), 1.0)
    return low, high


def proportion_interval(
    sums: np.ndarray, counts: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster-adjusted modified Wilson interval (module docstring), per row of totals."""
    p = sums.sum(axis=1) / counts.sum(axis=1)
    n = effective_size(sums, counts, confidence)
    low, high = wilson(p, n, confidence)
    exact_low, exact_high = clopper_pearson(p, n, confidence)
    low = np.where(p * n <= BOUNDARY_COUNT, np.minimum(low, exact_low), low)
    high = np.where((1.0 - p) * n <= BOUNDARY_COUNT, np.maximum(high, exact_high), high)
    return low, high


def proportion_halfwidth(p: float, n_clusters: int, per_cluster: float = 1.0) -> float:
    """Half the width of the interval a proportion p observed over `n_clusters` base scans
    (`per_cluster` cases each, no extra clustering) would get: for planning a study."""
    counts = np.full((1, n_clusters), float(per_cluster))
    sums = counts * p
    low, high = proportion_interval(sums, counts, 0.95)
    return float((high[0] - low[0]) / 2.0)


def continuous_halfwidth(
    sd: float, n_clusters: int, per_cluster: float = 1.0, icc: float = 0.1
) -> float:
    """Expected half-width of a continuous metric's interval: t_{C−1} · SE, with a per-case
    SD `sd` and intra-scan correlation `icc` (design effect 1 + (m − 1)·icc): for planning."""
    if n_clusters < 2:
        return math.inf
    n = n_clusters * per_cluster
    deff = 1.0 + (per_cluster - 1.0) * icc
    quantile = float(stats.t.ppf(0.975, n_clusters - 1))
    return quantile * sd * math.sqrt(deff / n)


def paired_difference_interval(
    sums_a: np.ndarray,
    sums_b: np.ndarray,
    counts: np.ndarray,
    phi: np.ndarray,
    confidence: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Interval of p_a − p_b for two proportions on the same units (per row of (G, C) cluster
    totals): Newcombe's (1998, method 10) square-and-add of each side's interval, here the
    cluster-adjusted Wilson interval, with `phi` the correlation of the paired outcomes.

    Unlike an interval of the mean difference, it keeps its width when both sides agree on
    every unit (two models that find every tumor): agreement on 12 cases does not prove
    that the two sensitivities are equal.
    """
    p_a = sums_a.sum(axis=1) / counts.sum(axis=1)
    p_b = sums_b.sum(axis=1) / counts.sum(axis=1)
    low_a, high_a = proportion_interval(sums_a, counts, confidence)
    low_b, high_b = proportion_interval(sums_b, counts, confidence)
    d = p_a - p_b
    down_a, up_a = p_a - low_a, high_a - p_a
    down_b, up_b = p_b - low_b, high_b - p_b
    low = d - np.sqrt(np.maximum(down_a**2 - 2 * phi * down_a * up_b + up_b**2, 0.0))
    high = d + np.sqrt(np.maximum(up_a**2 - 2 * phi * up_a * down_b + down_b**2, 0.0))
    return np.clip(low, -1.0, 1.0), np.clip(high, -1.0, 1.0)


def phi_coefficient(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of paired 0/1 outcomes (0 where a side does not vary, as Newcombe sets)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])
