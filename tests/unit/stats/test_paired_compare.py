"""Paired comparisons: matching, differences, sign-flip p-values, adjustment, user errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robustbench_liver.errors import DataError
from robustbench_liver.stats import (
    compare_conditions,
    compare_models,
    compare_pairs,
    paired_differences,
    pvalue_floor,
    sign_flip_pvalues,
    smallest_pvalue,
)

FAST = {"n_resamples": 2000}


def test_exact_sign_flip_by_hand():
    # three clusters with difference totals 1, 2, 3 (one pair each): of the 8 sign patterns
    # only +++ and --- reach |mean| = 2, so p = 2/8
    p, how = sign_flip_pvalues(
        np.array([[1.0, 2.0, 3.0]]), np.ones((1, 3)), n_resamples=1000,
        rng=np.random.default_rng(0),
    )  # fmt: skip
    assert p[0] == pytest.approx(0.25) and how == "sign-flip exact (8)"


def test_no_difference_gives_p_one():
    p, _ = sign_flip_pvalues(np.zeros((2, 30)), np.ones((2, 30)), n_resamples=1000,
                             rng=np.random.default_rng(0))  # fmt: skip
    np.testing.assert_array_equal(p, [1.0, 1.0])


def test_random_flips_when_too_many_patterns():
    sums = np.random.default_rng(1).normal(0.5, 1.0, (1, 30))
    p, how = sign_flip_pvalues(sums, np.ones((1, 30)), n_resamples=999,
                               rng=np.random.default_rng(0))  # fmt: skip
    assert how == "sign-flip (999)" and 1 / 1000 <= p[0] <= 1.0


def test_differences_are_matched_per_case(table):
    table.loc[table.index[:3], "dsc"] = np.nan  # unmatched: left out
    diffs = paired_differences(
        table, "dsc", factor="model", pairs=[("m1", "m0")], within=["condition"]
    )
    wide = table.pivot(index=["condition", "case_id"], columns="model", values="dsc")
    expected = (wide["m1"] - wide["m0"]).dropna()
    assert len(diffs) == len(expected)
    assert diffs["difference"].sum() == pytest.approx(expected.sum())
    assert set(diffs.columns) == {
        "condition",
        "a",
        "b",
        "base_scan",
        "difference",
        "value_a",
        "value_b",
    }
    np.testing.assert_allclose(diffs["value_a"] - diffs["value_b"], diffs["difference"])


def test_model_comparison_finds_a_real_difference(make_table):
    data = make_table(np.random.default_rng(2), models=3, effect=0.05)
    out = compare_models(data, "dsc", **FAST)
    assert len(out) == 2 * 3  # 2 conditions × 3 pairs
    assert set(zip(out["a"], out["b"], strict=True)) == {("m0", "m1"), ("m0", "m2"), ("m1", "m2")}
    m0_m2 = out[(out["a"] == "m0") & (out["b"] == "m2")]
    assert np.allclose(m0_m2["difference"], -0.10, atol=0.03)
    assert (m0_m2["ci_high"] < 0).all() and (m0_m2["p_value"] < 0.05).all()
    assert (out["p_adjusted"] >= out["p_value"]).all()
    assert (out["adjust_method"] == "holm").all() and (out["factor"] == "model").all()


def test_reference_model_and_explicit_pairs(table):
    against = compare_models(table, "dsc", reference="m0", **FAST)
    assert set(zip(against["a"], against["b"], strict=True)) == {("m1", "m0")}
    explicit = compare_models(table, "dsc", pairs=[("m1", "m0")], **FAST)
    pd.testing.assert_frame_equal(against, explicit)


def test_condition_comparison_matches_base_scan_and_replicate(table):
    out = compare_conditions(table, ["dsc"], reference="c0", adjust="bh", **FAST)
    assert len(out) == 2  # c1 vs c0, for m0 and m1
    assert (out["a"] == "c1").all() and (out["b"] == "c0").all()
    assert (out["n_pairs"] == 32).all() and (out["n_clusters"] == 8).all()
    assert (out["adjust_method"] == "bh").all()


def test_same_seed_same_result(table):
    first = compare_models(table, "dsc", seed=5, **FAST)
    again = compare_models(table.sample(frac=1.0, random_state=2), "dsc", seed=5, **FAST)
    pd.testing.assert_frame_equal(first, again)


def test_user_mistakes(table):
    with pytest.raises(DataError, match="reference condition 'c9'"):
        compare_conditions(table, "dsc", reference="c9")
    with pytest.raises(DataError, match="no rows with model='m7'"):
        compare_pairs(table, "dsc", factor="model", pairs=[("m7", "m0")])
    with pytest.raises(DataError, match="more than one row"):
        compare_models(pd.concat([table, table]), "dsc", **FAST)
    moved = table.copy()
    moved.loc[moved["model"] == "m1", "base_scan"] = "elsewhere"
    with pytest.raises(DataError, match="different 'base_scan' clusters"):
        compare_models(moved, "dsc", **FAST)


@pytest.mark.parametrize(
    "n_clusters, n_resamples", [(2, 10_000), (4, 200), (9, 10_000), (20, 2_000)]
)
def test_smallest_pvalue_is_what_the_largest_effect_gets(n_clusters, n_resamples):
    # every cluster moves the same way: no sign pattern beats the observed one
    sums = np.linspace(1.0, 2.0, n_clusters)[None, :]
    counts = np.ones_like(sums)
    p, _ = sign_flip_pvalues(sums, counts, n_resamples=n_resamples, rng=np.random.default_rng(0))
    assert p[0] == pytest.approx(smallest_pvalue(n_clusters, n_resamples))


def test_pvalue_floor_follows_the_adjustment():
    assert smallest_pvalue(4, 10_000) == 0.125
    assert pvalue_floor(4, 10_000, 60, "holm") == 1.0
    assert pvalue_floor(12, 10_000, 60, "holm") == pytest.approx(60 * 2 / 4096)
    assert pvalue_floor(12, 10_000, 60, "bh") == pytest.approx(2 / 4096)
    assert pvalue_floor(20, 10_000, 1, "none") == pytest.approx(1 / 10_001)
