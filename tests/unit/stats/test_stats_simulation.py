"""The machinery checked by simulation (DESIGN §7): CI coverage and the paired test's size.

The slow versions are the acceptance checks (`make slow`): coverage of 95 % intervals within
93–97 % over 2,000 clustered experiments, and p < 0.05 in 4–6 % of null experiments. The
quick versions run the same code with fewer repetitions and wide tolerances.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robustbench_liver.stats import bootstrap_ci, compare_pairs

TRUE_MEAN = 0.75


def dsc_like(rng: np.random.Generator, n_exp: int, n_scans: int, per_scan: int) -> np.ndarray:
    """(experiment, base scan, case) values with mean 0.75: a shift per base scan and a
    left-skewed case noise (a tail of poor cases, like real DSC)."""
    scan = rng.normal(0.0, 0.06, (n_exp, n_scans, 1))
    case = 0.1 - rng.gamma(4.0, 0.025, (n_exp, n_scans, per_scan))  # mean 0, skewed left
    return TRUE_MEAN + scan + case


def as_table(values: np.ndarray, **extra: np.ndarray) -> pd.DataFrame:
    n_exp, n_scans, per_scan = values.shape
    exp, scan, case = np.meshgrid(
        np.arange(n_exp), np.arange(n_scans), np.arange(per_scan), indexing="ij"
    )
    case_id = scan * per_scan + case
    columns = {"experiment": exp.ravel(), "base_scan": scan.ravel(), "case_id": case_id.ravel()}
    columns |= {"dsc": values.ravel()} | {k: v.ravel() for k, v in extra.items()}
    return pd.DataFrame(columns)


def coverage(n_exp: int, n_resamples: int, seed: int, n_scans: int = 20) -> float:
    rng = np.random.default_rng(seed)
    table = as_table(dsc_like(rng, n_exp, n_scans, 10))
    out = bootstrap_ci(table, "dsc", by=["experiment"], n_resamples=n_resamples, seed=seed)
    return float(((out["ci_low"] <= TRUE_MEAN) & (TRUE_MEAN <= out["ci_high"])).mean())


def null_rejection_rate(n_exp: int, n_resamples: int, seed: int, n_scans: int = 20) -> float:
    """Model B = model A + a difference symmetric about 0 per base scan, with exact ties."""
    rng = np.random.default_rng(seed)
    a = dsc_like(rng, n_exp, n_scans, 10)
    shift = rng.normal(0.0, 0.03, (n_exp, n_scans, 1)) + rng.normal(0.0, 0.05, a.shape)
    shift[rng.random(a.shape) < 0.3] = 0.0  # both models miss: zero differences are common
    table = pd.concat(
        [as_table(a).assign(model="A"), as_table(a + shift).assign(model="B")], ignore_index=True
    )
    out = compare_pairs(
        table, "dsc", factor="model", pairs=[("A", "B")], within=["experiment"],
        n_resamples=n_resamples, seed=seed,
    )  # fmt: skip
    assert len(out) == n_exp
    return float((out["p_value"] < 0.05).mean())


def test_coverage_quick():
    assert 0.88 <= coverage(n_exp=200, n_resamples=1000, seed=1) <= 0.995


def test_type_one_error_quick():
    assert 0.02 <= null_rejection_rate(n_exp=600, n_resamples=1000, seed=2) <= 0.09


@pytest.mark.slow
def test_coverage_of_95_percent_intervals():
    assert 0.93 <= coverage(n_exp=2000, n_resamples=10_000, seed=10) <= 0.97


@pytest.mark.slow
def test_type_one_error_of_the_paired_test():
    assert 0.04 <= null_rejection_rate(n_exp=5000, n_resamples=10_000, seed=20) <= 0.06
