"""Confidence intervals of per-group means by cluster bootstrap over base scans (DESIGN §7).

Cases made from one base scan are correlated, so the resampling unit is the base scan: each
resample draws as many base scans as there are, with replacement, and takes the mean over
all their cases (a ratio of cluster totals). Without a kind, intervals are BCa from
`scipy.stats.bootstrap`, with the percentile interval of the same resamples where BCa is
undefined, at the level expanded for the number of base scans (Hesterberg 2015);
`expand=False` gives plain BCa. With a kind (what the suite's metrics always pass), the
interval is the one `stats.intervals` chose for that kind by simulation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from robustbench_liver.stats._resample import (
    Seed,
    check_options,
    cluster_totals,
    interval_part,
    metric_profile,
    require_columns,
)

RESULT_COLUMNS = (
    "metric",
    "profile",
    "n",
    "n_clusters",
    "estimate",
    "ci_low",
    "ci_high",
    "ci_method",
    "confidence",
    "n_resamples",
)


def bootstrap_ci(
    table: pd.DataFrame,
    values: str | Sequence[str],
    *,
    by: Sequence[str] = ("model", "condition"),
    cluster: str = "base_scan",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    method: str = "BCa",
    expand: bool = True,
    seed: Seed = 0,
    kinds: Mapping[str, str] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    profile_columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Mean of each `values` column per `by` group, with a cluster-level CI.

    `kinds` maps a value to its kind of interval ("continuous" or "proportion", see
    `stats.intervals`: the suite's metrics always pass one); a value without a kind gets the
    plain cluster bootstrap. `bounds` clips a value's interval to its range (e.g. DSC in
    [0, 1]): the true mean lies inside, so clipping never costs coverage. `profile_columns`
    names the column holding a value's metric profile, where it is not `<value>_profile`.

    `table` holds one row per case (or per lesion); NaN values (undefined metrics) are left
    out. Returns one row per (group, metric): the `by` columns, then metric, profile (from
    the rows' ``<metric>_profile`` column, if any), n (values used), n_clusters, estimate,
    ci_low, ci_high, ci_method, confidence, n_resamples.
    `confidence` is the nominal level; `expand` widens it for few clusters (see module doc).
    The same seed gives the same intervals, whatever the other groups or the row order.
    """
    names = [values] if isinstance(values, str) else list(values)
    by = list(by)
    method_ = check_options(confidence, n_resamples, method)
    require_columns(table, [*by, cluster, *names], "bootstrap_ci")
    parts = []
    for name in names:
        profile = metric_profile(table, name, (profile_columns or {}).get(name))
        for batch in cluster_totals(table, name, by, cluster):
            parts.append(
                interval_part(
                    batch,
                    name,
                    profile,
                    confidence=confidence,
                    n_resamples=n_resamples,
                    method=method_,
                    expand=expand,
                    seed=seed,
                    kind=(kinds or {}).get(name),
                )
            )
    if not parts:
        return pd.DataFrame(columns=[*by, *RESULT_COLUMNS])
    out = pd.concat(parts, ignore_index=True)
    for name, (low, high) in (bounds or {}).items():
        rows = out["metric"] == name
        out.loc[rows, "ci_low"] = np.clip(out.loc[rows, "ci_low"].astype(float), low, high)
        out.loc[rows, "ci_high"] = np.clip(out.loc[rows, "ci_high"].astype(float), low, high)
    out["confidence"] = confidence
    out["n_resamples"] = int(n_resamples)
    order = {name: k for k, name in enumerate(names)}
    out = out.sort_values([*by, "metric"], key=lambda s: s.map(order) if s.name == "metric" else s)
    return out.reset_index(drop=True)[[*by, *RESULT_COLUMNS]]
