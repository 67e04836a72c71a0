"""Cluster-bootstrap CIs: estimates, determinism, degenerate data, and scipy agreement."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from robustbench_liver.errors import DataError, RobustBenchError
from robustbench_liver.stats import bootstrap_ci
from robustbench_liver.stats._resample import child_rng, expanded_level, ratio_bootstrap

FAST = {"n_resamples": 2000}


def test_estimate_is_the_mean_of_defined_values(table):
    table.loc[::5, "dsc"] = np.nan  # undefined metrics are left out
    out = bootstrap_ci(table, "dsc", **FAST)
    expected = table.groupby(["model", "condition"])["dsc"].mean()
    got = out.set_index(["model", "condition"])["estimate"]
    pd.testing.assert_series_equal(got, expected, check_names=False)
    assert (out["n"] == table.groupby(["model", "condition"])["dsc"].count().to_numpy()).all()
    assert set(out.columns) >= {"ci_low", "ci_high", "ci_method", "n_clusters", "metric"}
    assert (out["ci_low"] < out["estimate"]).all() and (out["estimate"] < out["ci_high"]).all()


def test_same_seed_same_result_whatever_the_row_order(table):
    first = bootstrap_ci(table, "dsc", seed=11, **FAST)
    shuffled = bootstrap_ci(table.sample(frac=1.0, random_state=0), "dsc", seed=11, **FAST)
    pd.testing.assert_frame_equal(first, shuffled)
    other = bootstrap_ci(table, "dsc", seed=12, **FAST)
    assert not np.allclose(first["ci_low"], other["ci_low"])


def test_a_group_does_not_depend_on_the_other_groups(table):
    alone = bootstrap_ci(table[table["model"] == "m0"], "dsc", **FAST)
    together = bootstrap_ci(table, "dsc", **FAST)
    pd.testing.assert_frame_equal(alone, together[together["model"] == "m0"].reset_index(drop=True))


def test_clusters_not_cases_are_resampled(make_table):
    rng = np.random.default_rng(5)
    data = make_table(rng, models=1, conditions=1, base_scans=10, replicates=10)
    by_scan = bootstrap_ci(data, "dsc", by=[], **FAST)
    by_case = bootstrap_ci(data, "dsc", by=[], cluster="case_id", **FAST)
    assert by_scan["n_clusters"].item() == 10 and by_case["n_clusters"].item() == 100
    width = lambda r: (r["ci_high"] - r["ci_low"]).item()  # noqa: E731
    assert width(by_scan) > 1.5 * width(by_case)  # correlated cases carry less information


def test_one_case_per_cluster_equals_plain_scipy_bootstrap():
    values = np.random.default_rng(1).normal(0.7, 0.1, 25)
    data = pd.DataFrame({"case_id": [f"c{i:02d}" for i in range(25)], "dsc": values})
    ours = bootstrap_ci(data, "dsc", by=[], cluster="case_id", expand=False, seed=4, **FAST)
    theirs = stats.bootstrap(
        (values,), np.mean, n_resamples=2000, rng=child_rng(4, 25), method="BCa"
    ).confidence_interval
    assert ours["ci_low"].item() == pytest.approx(theirs.low, rel=1e-10)
    assert ours["ci_high"].item() == pytest.approx(theirs.high, rel=1e-10)
    assert ours["ci_method"].item() == "BCa"


def test_expansion_widens_more_for_fewer_clusters():
    assert expanded_level(0.95, 20) > expanded_level(0.95, 100) > 0.95
    assert expanded_level(0.95, 10_000) == pytest.approx(0.95, abs=1e-3)


def test_degenerate_data_falls_back_to_percentile(table):
    table["perfect"] = 1.0
    out = bootstrap_ci(table, ["dsc", "perfect"], **FAST)
    flat = out[out["metric"] == "perfect"]
    assert (flat["ci_low"] == 1.0).all() and (flat["ci_high"] == 1.0).all()
    assert flat["ci_method"].str.startswith("percentile (BCa degenerate)").all()
    assert out.loc[out["metric"] == "dsc", "ci_method"].str.startswith("BCa").all()


def test_single_cluster_has_no_interval():
    data = pd.DataFrame({"base_scan": ["s0"] * 4, "dsc": [0.1, 0.2, 0.3, 0.4]})
    out = bootstrap_ci(data, "dsc", by=[], **FAST)
    assert out["estimate"].item() == pytest.approx(0.25)
    assert math.isnan(out["ci_low"].item()) and out["ci_method"].item() == "none (1 cluster)"


def test_clusters_without_values_are_left_out(table):
    table.loc[table["base_scan"] == "s00", "dsc"] = np.nan
    out = bootstrap_ci(table, "dsc", **FAST)
    assert (out["n_clusters"] == 7).all()


def test_chunks_share_draws():
    rng = np.random.default_rng(0)
    sums, counts = rng.random((7, 6)), np.full((7, 6), 2.0)
    run = partial(
        ratio_bootstrap, sums, counts, confidence=0.9, n_resamples=500, method="bca",
        make_rng=partial(child_rng, 3, 6),
    )  # fmt: skip
    np.testing.assert_array_equal(run(chunk=2)[1], run(chunk=512)[1])


def test_user_mistakes(table):
    with pytest.raises(DataError, match="no column"):
        bootstrap_ci(table, "nsd")
    with pytest.raises(RobustBenchError, match="confidence"):
        bootstrap_ci(table, "dsc", confidence=95)
    with pytest.raises(RobustBenchError, match="method"):
        bootstrap_ci(table, "dsc", method="basic")


def test_profiles_are_carried_and_never_mixed(table):
    table["dsc_profile"] = "dsc"
    assert (bootstrap_ci(table, "dsc", **FAST)["profile"] == "dsc").all()
    assert bootstrap_ci(table.drop(columns="dsc_profile"), "dsc", **FAST)["profile"].isna().all()
    table["nsd"] = table["dsc"]
    table["nsd_profile"] = ["nsd@2mm/surfel", "nsd@2mm/edge"] * (len(table) // 2)
    with pytest.raises(DataError, match="mixes metric profiles"):
        bootstrap_ci(table, "nsd", **FAST)
