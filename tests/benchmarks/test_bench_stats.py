"""A whole statistics pass in at most 5 s: 20 conditions × 4 models × 400 cases.

Cases are clustered by 20 base scans (20 replicates each, 10 % tumor-free controls). The pass:
cluster-bootstrap CIs of DSC, NSD, case sensitivity and specificity per (model, condition);
every model pair per condition and every condition vs the reference per model, each with a
CI of the difference and a sign-flip p-value; Holm across all comparisons. 10,000 resamples.
Run: .venv/bin/python -m pytest tests/benchmarks/test_bench_stats.py --benchmark-only
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robustbench_liver.stats import adjust_pvalues, bootstrap_ci, compare_conditions, compare_models

TARGET_S = 5.0
METRICS = ["dsc", "nsd", "case_sensitivity", "case_specificity"]


@pytest.fixture(scope="module")
def cases() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    models, conditions, scans, replicates = 4, 20, 20, 20
    m, c, s, r = np.meshgrid(
        np.arange(models), np.arange(conditions), np.arange(scans), np.arange(replicates),
        indexing="ij",
    )  # fmt: skip
    m, c, s, r = (a.ravel() for a in (m, c, s, r))
    control = r < 2
    scan_effect = rng.normal(0.0, 0.05, scans)[s]
    dsc = np.clip(0.8 - 0.01 * c - 0.03 * m + scan_effect + rng.normal(0, 0.1, m.size), 0, 1)
    nsd = np.clip(dsc + rng.normal(0, 0.05, m.size), 0, 1)
    positive = rng.random(m.size) < np.where(control, 0.1, 0.9 - 0.02 * c)
    return pd.DataFrame(
        {
            "model": np.char.add("model", m.astype(str)),
            "condition": np.char.add("cond", np.char.zfill(c.astype(str), 2)),
            "base_scan": np.char.add("scan", s.astype(str)),
            "replicate": r,
            "case_id": [f"c{ci}-s{si}-r{ri}" for ci, si, ri in zip(c, s, r, strict=True)],
            "dsc": np.where(control, np.nan, dsc),
            "nsd": np.where(control, np.nan, nsd),
            "case_sensitivity": np.where(control, np.nan, positive.astype(float)),
            "case_specificity": np.where(control, (~positive).astype(float), np.nan),
        }
    )


# the suite's kinds (stats.intervals): proportions closed-form, paired proportions Newcombe
KINDS = {"dsc": "continuous", "nsd": "continuous"} | {
    m: "proportion" for m in ("case_sensitivity", "case_specificity")
}


def statistics_pass(
    cases: pd.DataFrame, kinds: dict[str, str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """kinds=None: the plain cluster bootstrap for every metric (the reference, as before)."""
    intervals = bootstrap_ci(cases, METRICS, n_resamples=10_000, seed=1, kinds=kinds)
    models = compare_models(cases, METRICS, n_resamples=10_000, seed=2, adjust="none", kinds=kinds)
    conditions = compare_conditions(
        cases, METRICS, reference="cond00", n_resamples=10_000, seed=3, adjust="none",
        kinds=kinds,
    )  # fmt: skip
    comparisons = pd.concat([models, conditions], ignore_index=True)
    comparisons["p_adjusted"] = adjust_pvalues(comparisons["p_value"].to_numpy(), "holm")
    comparisons["adjust_method"] = "holm"
    return intervals, comparisons


@pytest.mark.parametrize("kinds", [None, KINDS], ids=["plain-bootstrap", "suite-intervals"])
def test_statistics_pass(benchmark, median_seconds, cases, kinds):
    assert len(cases) == 20 * 4 * 400
    intervals, comparisons = benchmark.pedantic(
        statistics_pass, args=(cases, kinds), rounds=3, iterations=1, warmup_rounds=0
    )
    assert len(intervals) == 4 * 20 * len(METRICS)
    assert len(comparisons) == (20 * 6 + 4 * 19) * len(METRICS)
    assert intervals[["ci_low", "ci_high"]].notna().all().all()
    assert comparisons["p_adjusted"].between(0, 1).all()
    benchmark.extra_info["intervals"] = len(intervals)
    benchmark.extra_info["comparisons"] = len(comparisons)
    seconds = median_seconds(benchmark)
    assert seconds <= TARGET_S, f"statistics pass took {seconds:.2f} s"
