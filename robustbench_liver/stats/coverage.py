"""Do the printed 95 % intervals cover 95 %? Measured by simulation, per kind of metric and
number of base scans (`robustbench-liver coverage`; the README's table is its output).

Data: clustered like a run's rows, C base scans with m cases each.
- continuous: a DSC-like value with mean 0.75: a shift per base scan (SD 0.06) plus a
  left-skewed case noise (a tail of poor cases).
- proportion: 0/1 outcomes with mean p; with m > 1 cases per base scan the scan's own rate
  varies around p (beta, intra-cluster correlation 0.1), as a scan's difficulty does.
- continuous with misses (a stress row): the DSC-like value, but 10 % of cases are missed
  entirely (DSC 0), as failures and missed tumors are scored. Rare catastrophes need many
  base scans: with few, most samples contain no miss at all.
An interval covers when it contains the true mean. A proportion's coverage at one p is a
step function of p (the outcomes are discrete): next to 0 or 1 some cells cannot reach
93–97 % with any interval, only more (`reachable`), and there the suite's interval errs on
the safe side.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from scipy import stats

from robustbench_liver.stats import intervals
from robustbench_liver.stats._resample import child_rng, ratio_bootstrap

CLUSTERS = (2, 3, 4, 6, 8, 12, 16, 32, 64)
PROPORTIONS = (0.5, 0.8, 0.9, 0.97, 0.99)
PER_CLUSTER = (1, 4)
CONTINUOUS_MEAN = 0.75
ICC = 0.1
MISS_RATE = 0.1
BAND = (0.93, 0.97)
EXACT = 10**12
"""The `reps` of a cell computed exactly (no Monte Carlo error)."""
PAIRED = "paired difference"
PAIRS = ((0.9, 0.9), (0.97, 0.9), (0.9, 0.8), (0.99, 0.97))
"""(p_a, p_b) of the paired-difference rows: equal, and apart near 1."""


@dataclass(frozen=True)
class Cell:
    """One setting of the simulation."""

    kind: str
    """continuous, proportion, or continuous+misses (the stress row)."""
    n_clusters: int
    per_cluster: int
    p: float | None = None
    """True proportion (proportions only; the first side's for a paired difference)."""
    p_b: float | None = None
    """The second side's true proportion (paired differences only)."""

    @property
    def truth(self) -> float:
        if self.kind == "proportion":
            return float(self.p)  # type: ignore[arg-type]
        if self.kind == PAIRED:
            return float(self.p) - float(self.p_b)  # type: ignore[arg-type]
        return CONTINUOUS_MEAN * (1.0 - MISS_RATE if self.kind == "continuous+misses" else 1.0)

    @property
    def interval_kind(self) -> str:
        return "proportion" if self.kind in ("proportion", PAIRED) else "continuous"

    def rng(self, seed: int) -> np.random.Generator:
        key = zlib.crc32(self.kind.encode())
        p = round(1000 * (self.p or 0.0))
        p_b = round(1000 * (self.p_b or 0.0))
        return np.random.default_rng(
            np.random.SeedSequence([seed, key, self.n_clusters, self.per_cluster, p, p_b])
        )


def draw(cell: Cell, reps: int, rng: np.random.Generator) -> np.ndarray:
    """(reps, C, m) values of `reps` simulated experiments."""
    shape = (reps, cell.n_clusters, cell.per_cluster)
    if cell.kind == "proportion":
        p = float(cell.p)  # type: ignore[arg-type]
        if cell.per_cluster > 1:
            s = (1.0 - ICC) / ICC
            rate = rng.beta(p * s, (1.0 - p) * s, shape[:2])[..., None]
        else:
            rate = np.full((*shape[:2], 1), p)
        return (rng.random(shape) < rate).astype(np.float64)
    scan = rng.normal(0.0, 0.06, (*shape[:2], 1))
    case = 0.1 - rng.gamma(4.0, 0.025, shape)  # mean 0, skewed left
    values = CONTINUOUS_MEAN + scan + case
    if cell.kind == "continuous+misses":
        values = np.where(rng.random(shape) < MISS_RATE, 0.0, values)
    return values


def draw_pair(cell: Cell, reps: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(reps, C, m) paired 0/1 outcomes of two models on the same cases: a case's difficulty
    (latent, with intra-scan correlation `ICC`) decides both, except that one case in five
    is judged independently by the second model. Marginal rates are exactly p and p_b."""
    shape = (reps, cell.n_clusters, cell.per_cluster)
    scan = rng.standard_normal((*shape[:2], 1)) * np.sqrt(ICC)
    latent = stats.norm.cdf(scan + rng.standard_normal(shape) * np.sqrt(1.0 - ICC))
    other = np.where(rng.random(shape) < 0.2, rng.random(shape), latent)
    a = (latent < cell.p).astype(np.float64)
    b = (other < cell.p_b).astype(np.float64)
    return a, b


def _paired_coverage(cell: Cell, reps: int, seed: int) -> tuple[float, float]:
    a, b = draw_pair(cell, reps, cell.rng(seed))
    counts = np.full(a.shape[:2], float(cell.per_cluster))
    flat_a, flat_b = a.reshape(reps, -1), b.reshape(reps, -1)
    phi = np.array([intervals.phi_coefficient(x, y) for x, y in zip(flat_a, flat_b, strict=True)])
    low, high = intervals.paired_difference_interval(
        a.sum(axis=2), b.sum(axis=2), counts, phi, 0.95
    )
    truth = cell.truth
    covered = (low <= truth + 1e-12) & (truth - 1e-12 <= high)
    return float(covered.mean()), float(np.mean(high - low))


def coverage(
    cell: Cell, reps: int, seed: int = 0, resamples: int = 2000, plain_bca: bool = False
) -> tuple[float, float]:
    """(coverage, mean width) of the suite's interval for `cell`, whether or not the suite
    would print it (or of plain BCa, the cluster bootstrap alone, with `plain_bca`)."""
    if cell.kind == PAIRED:
        return _paired_coverage(cell, reps, seed) if not plain_bca else (float("nan"), 0.0)
    if cell.kind == "proportion" and cell.per_cluster == 1 and not plain_bca:
        return exact_binomial_coverage(cell.n_clusters, float(cell.p))  # type: ignore[arg-type]
    values = draw(cell, reps, cell.rng(seed))
    sums = values.sum(axis=2)
    counts = np.full(values.shape[:2], float(cell.per_cluster))
    bootstrap = partial(
        ratio_bootstrap,
        sums,
        counts,
        confidence=0.95,
        n_resamples=resamples,
        method="bca",
        make_rng=partial(child_rng, seed, cell.n_clusters),
    )
    if plain_bca:
        _, low, high, _ = bootstrap(expand=False)
    elif cell.interval_kind == "proportion":
        low, high = intervals.proportion_interval(sums, counts, 0.95)
    elif cell.n_clusters < intervals.BOOTSTRAP_MIN_CLUSTERS:
        low, high = intervals.t_interval(sums, counts, 0.95)
    else:
        _, low, high, _ = bootstrap(expand=True)
    low, high = np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)
    truth = cell.truth
    covered = (low <= truth + 1e-12) & (truth - 1e-12 <= high)
    return float(covered.mean()), float(np.mean(high - low))


def exact_binomial_coverage(n_clusters: int, p: float) -> tuple[float, float]:
    """(coverage, mean width) of the proportion interval with one case per base scan,
    summed over every outcome of Binomial(C, p): no simulation noise."""
    ones = np.tril(np.ones((n_clusters + 1, n_clusters)), k=-1)  # row x: x ones
    counts = np.ones_like(ones)
    low, high = intervals.proportion_interval(ones, counts, 0.95)
    pmf = stats.binom.pmf(np.arange(n_clusters + 1), n_clusters, p)
    covered = (low <= p + 1e-12) & (p - 1e-12 <= high)
    return float(pmf[covered].sum()), float((pmf * (high - low)).sum())


def reachable(n: int, p: float, band: tuple[float, float] = BAND) -> bool:
    """Can any interval that covers a contiguous run of counts reach `band` coverage for
    Binomial(n, p)? (Sums of consecutive outcome probabilities.)"""
    pmf = stats.binom.pmf(np.arange(n + 1), n, p)
    cumulative = np.concatenate([[0.0], np.cumsum(pmf)])
    windows = cumulative[None, 1:] - cumulative[:-1, None]
    upper = np.triu(np.ones_like(windows, dtype=bool))
    return bool(((windows >= band[0]) & (windows <= band[1]) & upper).any())


def cells(clusters: Sequence[int] = CLUSTERS) -> list[Cell]:
    out = [Cell("continuous", c, m) for m in PER_CLUSTER for c in clusters]
    out += [Cell("continuous+misses", c, m) for m in PER_CLUSTER for c in clusters]
    out += [Cell("proportion", c, m, p) for m in PER_CLUSTER for p in PROPORTIONS for c in clusters]
    out += [Cell(PAIRED, c, m, p, p_b) for m in PER_CLUSTER for p, p_b in PAIRS for c in clusters]
    return out


def coverage_table(
    reps: int = 4000, seed: int = 0, clusters: Sequence[int] = CLUSTERS, resamples: int = 2000
) -> pd.DataFrame:
    """One row per cell: kind, base scans, cases per scan, p, coverage and width of the
    suite's interval (NaN where it prints none), and of plain BCa for contrast."""
    rows = []
    for cell in cells(clusters):
        # bootstrap cells cost C times more: fewer repetitions keep the table to minutes
        n = reps if cell.n_clusters < 12 or cell.kind == "proportion" else max(reps // 2, 200)
        exact = cell.kind == "proportion" and cell.per_cluster == 1
        ours, width = coverage(cell, n, seed, resamples)
        bca, _ = coverage(cell, min(n, 1000), seed, resamples, plain_bca=True)
        rows.append(
            {
                "kind": cell.kind,
                "base_scans": cell.n_clusters,
                "per_scan": cell.per_cluster,
                "p": cell.p,
                "p_b": cell.p_b,
                "coverage": ours,
                "width": width,
                "plain_bca": bca,
                "reps": EXACT if exact else n,
                "printed": cell.n_clusters >= intervals.MIN_CLUSTERS[cell.interval_kind],
                "band_reachable": True
                if cell.kind != "proportion" or cell.per_cluster > 1
                else reachable(cell.n_clusters, float(cell.p)),  # type: ignore[arg-type]
            }
        )
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    """The README's coverage table: one line per kind x cases per scan (x p), one column
    per number of base scans; in parentheses where the suite prints no interval."""
    clusters = sorted(set(table["base_scans"]))
    head = "| metric | cases / scan | " + " | ".join(f"{c}" for c in clusters) + " |"
    lines = [head, "|---|---|" + "---|" * len(clusters)]
    keys = ["kind", "per_scan", "p", "p_b"]
    for (kind, per, p, p_b), rows in table.groupby(keys, sort=False, dropna=False):
        name = kind if pd.isna(p) else f"proportion p = {p:g}"
        if kind == PAIRED:
            name = f"paired difference {p:g} − {p_b:g}"
        cells_ = []
        for c in clusters:
            r = rows[rows["base_scans"] == c].iloc[0]
            text = f"{100 * r['coverage']:.1f}" + ("" if r["band_reachable"] else "*")
            cells_.append(text if r["printed"] else f"({text})")
        lines.append(f"| {name} | {per} | " + " | ".join(cells_) + " |")
    # the old intervals, for contrast: the plain cluster bootstrap on the same samples
    for kind, per, p in (("continuous", 1, None), ("proportion", 4, 0.9), ("proportion", 4, 0.97)):
        rows = table[(table["kind"] == kind) & (table["per_scan"] == per)]
        if p is not None:
            rows = rows[np.isclose(rows["p"].astype(float), p)]
        by = rows.set_index("base_scans")["plain_bca"]
        name = kind if p is None else f"proportion p = {p:g}"
        lines.append(
            f"| *plain BCa: {name}* | {per} | "
            + " | ".join(f"*{100 * by.get(c, np.nan):.1f}*" for c in clusters)
            + " |"
        )
    return "\n".join(lines)


UNREACHABLE = 0.005
"""How far under the band a cell that no interval can put in the band may fall."""
PROPORTION_MEDIAN_CAP = 0.98
"""A proportion's median cell may cover up to this: m = 1 binomial cells cannot come closer
to 95 % while none drops below 93 % (their coverage jumps between the few outcomes)."""


def required_clusters(table: pd.DataFrame, band: tuple[float, float] = BAND) -> dict[str, int]:
    """Per interval kind, the fewest base scans from which (for it and every larger number)
    no cell of that kind covers less than `band`'s low end, and the cells do not cover much
    more than its high end: every cell at most `band`'s high end for continuous metrics, the
    median cell at most `PROPORTION_MEDIAN_CAP` for proportions. Both within two Monte Carlo
    standard errors (none for cells computed exactly), and a cell the band is out of reach
    for may fall `UNREACHABLE` under it. The stress row (continuous+misses) is reported, not
    required."""
    table = table.assign(slack=2.0 * np.sqrt(0.95 * 0.05 / table["reps"]))
    out: dict[str, int] = {}
    for kind in intervals.KINDS:
        rows = table[table["kind"] == kind]
        good = []
        for c, cell in rows.groupby("base_scans", sort=True):
            slack = cell["slack"].max()
            # where no interval can land in the band, half a point below it is the best
            # the side under it offers (e.g. 92.97 % for 32 scans at p = 0.97)
            floor = band[0] - cell["slack"] - np.where(cell["band_reachable"], 0.0, UNREACHABLE)
            low = bool((cell["coverage"] >= floor).all())
            if kind == "continuous":
                high = bool((cell["coverage"] <= band[1] + cell["slack"]).all())
            else:
                high = bool(cell["coverage"].median() <= PROPORTION_MEDIAN_CAP + slack)
            good.append((c, low and high))
        bad = [c for c, ok in good if not ok]
        larger = [c for c, _ in good if not bad or c > max(bad)]
        out[kind] = min(larger) if larger else 10**9
    return out
