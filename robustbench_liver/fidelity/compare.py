"""Per-feature distances between the real and the synthetic lesions, with bootstrap CIs.

Two distances per feature: the standardised mean difference (synthetic minus real, in units
of the pooled SD: a location shift) and the Wasserstein-1 distance (in the feature's unit:
any difference of the distributions). Their CIs resample clusters with replacement — a
cluster is a real lesion with its synthetic matches, or a real scan with all its lesions'
(the caller chooses) — and take the percentile interval of the resampled distances. With
fewer than `MIN_CLUSTERS` real clusters no interval is given: a bootstrap over two or three
units covers far less often than it says (DESIGN.md §7).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from robustbench_liver.fidelity.matching import stable_id

MIN_CLUSTERS = 4
RESAMPLES = 2000
CONFIDENCE = 0.95

COLUMNS = (
    "feature",
    "n_real",
    "n_synthetic",
    "real_median",
    "synthetic_median",
    "smd",
    "smd_low",
    "smd_high",
    "wasserstein",
    "wasserstein_low",
    "wasserstein_high",
    "n_clusters",
    "ci_note",
)


def smd(real: np.ndarray, synthetic: np.ndarray) -> float:
    """(mean synthetic - mean real) / sqrt((var real + var synthetic) / 2); 0 when both are
    one and the same constant, NaN when the pooled SD is 0 but the means differ or a side
    has fewer than two values."""
    return _weighted_smd(real, np.ones(real.size), synthetic, np.ones(synthetic.size))


def _weighted_smd(x: np.ndarray, wx: np.ndarray, y: np.ndarray, wy: np.ndarray) -> float:
    if wx.sum() < 2 or wy.sum() < 2:
        return math.nan
    mx, my = np.average(x, weights=wx), np.average(y, weights=wy)
    vx = np.average((x - mx) ** 2, weights=wx) * wx.sum() / (wx.sum() - 1)
    vy = np.average((y - my) ** 2, weights=wy) * wy.sum() / (wy.sum() - 1)
    pooled = math.sqrt((vx + vy) / 2.0)
    if pooled == 0:
        return 0.0 if mx == my else math.nan
    return float((my - mx) / pooled)


def feature_distances(
    table: pd.DataFrame,
    features: Sequence[str],
    cluster: str = "cluster",
    n_resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    min_clusters: int = MIN_CLUSTERS,
) -> pd.DataFrame:
    """One row per feature (`COLUMNS`). `table` has a `set` column ('real' / 'synthetic'),
    the features, and the `cluster` column; NaN values are left out per feature."""
    rows = []
    for name in features:
        part = table[["set", cluster, name]].dropna(subset=[name])
        real = part[part["set"] == "real"]
        synthetic = part[part["set"] == "synthetic"]
        x, y = real[name].to_numpy(float), synthetic[name].to_numpy(float)
        row: dict[str, object] = {
            "feature": name,
            "n_real": len(x),
            "n_synthetic": len(y),
            "real_median": float(np.median(x)) if len(x) else math.nan,
            "synthetic_median": float(np.median(y)) if len(y) else math.nan,
            "smd": smd(x, y),
            "wasserstein": float(stats.wasserstein_distance(x, y))
            if len(x) and len(y)
            else math.nan,
        }
        clusters = sorted(set(real[cluster]))
        row["n_clusters"] = len(clusters)
        low_high = (math.nan,) * 4
        if len(clusters) < min_clusters:
            row["ci_note"] = f"{len(clusters)} real cluster(s): no CI (needs {min_clusters})"
        elif not len(y):
            row["ci_note"] = "no synthetic value"
        else:
            low_high = _bootstrap(part, name, cluster, clusters, n_resamples, confidence, seed)
            row["ci_note"] = ""
        row["smd_low"], row["smd_high"], row["wasserstein_low"], row["wasserstein_high"] = low_high
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _bootstrap(
    part: pd.DataFrame,
    name: str,
    cluster: str,
    clusters: list,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> tuple[float, float, float, float]:
    """Percentile CIs of SMD and W1, resampling the clusters that hold a real value."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, stable_id(name)]))
    index = {c: i for i, c in enumerate(clusters)}
    codes = part[cluster].map(index)
    keep = codes.notna().to_numpy()  # synthetic rows of clusters without a real value drop
    codes_arr = codes[keep].to_numpy(int)
    values = part[name].to_numpy(float)[keep]
    is_real = (part["set"] == "real").to_numpy()[keep]
    draws = rng.integers(0, len(clusters), size=(n_resamples, len(clusters)))
    smds, w1s = [], []
    for draw in draws:
        weight = np.bincount(draw, minlength=len(clusters))[codes_arr].astype(float)
        wx, wy = weight[is_real], weight[~is_real]
        if wx.sum() == 0 or wy.sum() == 0:
            continue
        smds.append(_weighted_smd(values[is_real], wx, values[~is_real], wy))
        w1s.append(
            stats.wasserstein_distance(
                values[is_real][wx > 0], values[~is_real][wy > 0], wx[wx > 0], wy[wy > 0]
            )
        )
    alpha = (1.0 - confidence) / 2.0
    out = []
    for series in (smds, w1s):
        arr = np.asarray(series, dtype=float)
        arr = arr[np.isfinite(arr)]
        if arr.size < n_resamples // 2:
            out += [math.nan, math.nan]
        else:
            out += [float(np.quantile(arr, alpha)), float(np.quantile(arr, 1.0 - alpha))]
    return out[0], out[1], out[2], out[3]
