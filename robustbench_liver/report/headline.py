"""The small-tumor headline: from which tumor radius on does a model find >= 80 % of lesions?

Definition (README, "Small-tumor headline"). Lesions are binned by equivalent radius with the
scenario's bins (left edges b0 = 0 < b1 < ... < bk, the last open-ended), pooled over all the
scenario's conditions. A bin is *observed* when it holds at least one lesion. The headline bin
is the smallest observed bin whose lesion sensitivity, and that of every larger observed bin,
is at least 80 %: from that radius on, the model finds at least four lesions in five. It is
"not reached" when the largest observed bin is below 80 %, and *censored* when it is the
smallest observed bin (the true threshold may lie lower than the bins measured).

Its CI: the same rule applied to cluster-bootstrap resamples of the base scans (the lesions of
one scan are correlated); the interval's ends are the resampled headline bins at the
(1 ± level) / 2 quantiles. The sensitivity inside the headline bin has the interval of a
proportion (`stats.intervals`).

Sensitivity is bought with false positives (a model that floods the liver with tumor finds
every lesion), so the headline is FROC-style: it states the model's false-positive lesions
per case (scored tumor cases of the scenario, with its CI), and a model above `FP_BUDGET` per case
has not reached the headline, whatever its sensitivity.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from robustbench_liver.runs.summary import scores
from robustbench_liver.stats import bootstrap_ci

THRESHOLD = 0.8
FP_BUDGET = 1.0
"""False-positive lesions per case up to which sensitivity counts for the headline."""


def bin_index(radius_mm: pd.Series | np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Bin of each radius: i where edges[i] <= r < edges[i + 1] (the last bin open)."""
    radius = np.asarray(radius_mm, dtype=np.float64)
    return np.searchsorted(np.asarray(edges), radius, side="right") - 1


def bin_label(i: int, edges: tuple[float, ...]) -> str:
    if i >= len(edges) - 1:
        return f"≥ {edges[-1]:g} mm"
    return f"{edges[i]:g}–{edges[i + 1]:g} mm"


def detection_by_size(
    lesions: pd.DataFrame,
    edges: tuple[float, ...],
    *,
    by: tuple[str, ...] = ("model",),
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Lesion sensitivity per group and radius bin, with CIs; empty bins are kept (n = 0).

    Columns: by..., bin, label, lesions, detected, estimate, ci_low, ci_high, ci_method,
    n_clusters.
    """
    columns = [*by, "bin", "label", "lesions", "detected", "estimate", "ci_low", "ci_high"]
    if lesions.empty or "detected" not in lesions or "radius_mm" not in lesions:
        return pd.DataFrame(columns=[*columns, "ci_method", "n_clusters"])
    table = lesions.assign(
        bin=bin_index(lesions["radius_mm"], edges),
        lesion_sensitivity=lesions["detected"].astype(float),
    )
    ci = bootstrap_ci(
        table,
        "lesion_sensitivity",
        by=[*by, "bin"],
        n_resamples=resamples,
        confidence=confidence,
        seed=seed,
        kinds={"lesion_sensitivity": "proportion"},
    )
    counts = table.groupby([*by, "bin"]).agg(
        lesions=("detected", "size"), detected=("detected", "sum")
    )
    groups = table[list(by)].drop_duplicates().sort_values(list(by))
    grid = groups.merge(pd.DataFrame({"bin": range(len(edges))}), how="cross")
    out = grid.merge(counts.reset_index(), on=[*by, "bin"], how="left")
    out = out.merge(
        ci[[*by, "bin", "estimate", "ci_low", "ci_high", "ci_method", "n_clusters"]],
        on=[*by, "bin"],
        how="left",
    )
    out[["lesions", "detected"]] = out[["lesions", "detected"]].fillna(0).astype(int)
    out["n_clusters"] = out["n_clusters"].fillna(0).astype(int)
    out["label"] = [bin_label(int(i), edges) for i in out["bin"]]
    return out[[*columns, "ci_method", "n_clusters"]].reset_index(drop=True)


@dataclass(frozen=True)
class Headline:
    """One model's small-tumor headline (see the module docstring for the definition)."""

    model: str
    reached: bool
    bin: int | None
    label: str
    """'5–10 mm', or 'not reached'."""
    radius_mm: float | None
    """Lower edge of the headline bin."""
    censored: bool
    """The headline bin is the smallest bin with lesions: the threshold may lie lower."""
    sensitivity: float | None
    ci_low: float | None
    ci_high: float | None
    lesions: int
    """Lesions in the headline bin."""
    radius_ci_low_mm: float | None
    radius_ci_high_mm: float | None
    """None: not reached in more than the upper tail of resamples."""
    radius_ci_label: str
    fp_per_case: float | None
    """False-positive lesions per scored tumor case (all conditions), the headline's price."""
    fp_ci_low: float | None
    fp_ci_high: float | None
    fp_budget: float
    sensitivity_label: str
    """Where sensitivity alone reaches 80 % ('5–10 mm', 'not reached'), whatever the false
    positives: with `fp_per_case` it is the FROC-style point."""
    confidence: float
    resamples: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def headline_bin(sensitivity: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Headline bin per row of (R, B) sensitivities; B (one past the last bin) = not reached."""
    n_bins = sensitivity.shape[-1]
    good = (sensitivity >= THRESHOLD) | ~observed
    # all(good[b:]) for each b, from the right
    suffix = np.flip(np.logical_and.accumulate(np.flip(good, -1), axis=-1), -1)
    candidate = suffix & observed
    first = np.argmax(candidate, axis=-1)
    return np.where(candidate.any(axis=-1), first, n_bins)


def small_tumor_headline(
    lesions: pd.DataFrame,
    edges: tuple[float, ...],
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
    by_size: pd.DataFrame | None = None,
    cases: pd.DataFrame | None = None,
    fp_budget: float = FP_BUDGET,
) -> list[Headline]:
    """One headline per model (sorted by name) from the scenario's lesion rows and (for the
    false positives) case rows; `by_size` is `detection_by_size` of the same rows and
    settings when the caller has it already."""
    if lesions.empty:
        return []
    fp = _false_positives(cases, resamples, confidence, seed)
    if by_size is None:
        by_size = detection_by_size(
            lesions, edges, resamples=resamples, confidence=confidence, seed=seed
        )
    n_bins = len(edges)
    out = []
    for model, table in lesions.groupby("model", sort=True):
        bins = bin_index(table["radius_mm"], edges)
        clusters, cluster_id = np.unique(table["base_scan"].astype(str), return_inverse=True)
        total = np.zeros((len(clusters), n_bins))
        found = np.zeros((len(clusters), n_bins))
        np.add.at(total, (cluster_id, bins), 1.0)
        np.add.at(found, (cluster_id, bins), table["detected"].to_numpy(dtype=float))
        point = int(headline_bin(_ratio(found.sum(0), total.sum(0)), total.sum(0) > 0))
        draws = _resampled_bins(total, found, resamples, _rng(seed, str(model)))
        alpha = (1.0 - confidence) / 2.0
        lo, hi = (int(np.quantile(draws, q, method="inverted_cdf")) for q in (alpha, 1 - alpha))
        rows = by_size[by_size["model"] == model].set_index("bin")
        fp_row = fp.get(str(model))
        fp_rate = _float(fp_row["estimate"]) if fp_row is not None else None
        affordable = fp_rate is None or fp_rate <= fp_budget
        sensitivity_label = bin_label(point, edges) if point < n_bins else "not reached"
        if not affordable:
            point = n_bins  # found by flooding: not a headline
        reached = point < n_bins
        observed = np.flatnonzero(total.sum(0) > 0)
        row = rows.loc[point] if reached else None
        out.append(
            Headline(
                model=str(model),
                reached=reached,
                bin=point if reached else None,
                label=bin_label(point, edges) if reached else "not reached",
                radius_mm=float(edges[point]) if reached else None,
                censored=bool(reached and observed.size and point == observed[0]),
                sensitivity=_float(row["estimate"]) if row is not None else None,
                ci_low=_float(row["ci_low"]) if row is not None else None,
                ci_high=_float(row["ci_high"]) if row is not None else None,
                lesions=int(row["lesions"]) if row is not None else 0,
                radius_ci_low_mm=float(edges[lo]) if lo < n_bins else None,
                radius_ci_high_mm=float(edges[hi]) if hi < n_bins else None,
                radius_ci_label=_ci_label(lo, hi, edges) if affordable else "n/a",
                fp_per_case=fp_rate,
                fp_ci_low=_float(fp_row["ci_low"]) if fp_row is not None else None,
                fp_ci_high=_float(fp_row["ci_high"]) if fp_row is not None else None,
                fp_budget=fp_budget,
                sensitivity_label=sensitivity_label,
                confidence=confidence,
                resamples=int(resamples),
            )
        )
    return out


def _false_positives(
    cases: pd.DataFrame | None, resamples: int, confidence: float, seed: int
) -> dict[str, pd.Series]:
    """Model -> its false-positive lesions per case, with CI (empty without case rows)."""
    if cases is None or cases.empty:
        return {}
    table = scores(
        cases, cases.iloc[:0], by=("model",), resamples=resamples, confidence=confidence,
        seed=seed, metrics=("fp_per_case",),
    )  # fmt: skip
    return {str(r["model"]): r for _, r in table.iterrows()}


def _resampled_bins(
    total: np.ndarray, found: np.ndarray, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """The headline bin of each cluster-bootstrap resample (clusters drawn with replacement)."""
    n_clusters = total.shape[0]
    draws = rng.integers(0, n_clusters, size=(resamples, n_clusters))
    weights = np.zeros((resamples, n_clusters))
    np.add.at(weights, (np.arange(resamples)[:, None], draws), 1.0)
    n = weights @ total
    return headline_bin(_ratio(weights @ found, n), n > 0)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def _rng(seed: int, model: str) -> np.random.Generator:
    """Draws that depend on the seed and the model's name only, not on the other models."""
    words = np.frombuffer(hashlib.sha256(model.encode()).digest()[:8], dtype=np.uint32)
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, words)]))


def _ci_label(lo: int, hi: int, edges: tuple[float, ...]) -> str:
    n = len(edges)
    low = f"{edges[lo]:g} mm" if lo < n else "not reached"
    high = f"{edges[hi]:g} mm" if hi < n else "not reached"
    return low if low == high else f"{low} to {high}"


def _float(value: Any) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None
