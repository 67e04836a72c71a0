"""The printed intervals cover what they claim (README, Statistics), checked by simulation.

The quick checks run the same code as `robustbench-liver coverage` on a few cells with
fewer repetitions; they fail for plain BCa on proportions (which collapses to zero width
when every base scan agrees). The slow check recomputes the whole table and holds the
suite's printing thresholds to it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robustbench_liver.stats import bootstrap_ci, intervals
from robustbench_liver.stats.coverage import (
    PAIRED,
    UNREACHABLE,
    Cell,
    coverage,
    coverage_table,
    reachable,
    required_clusters,
)


@pytest.mark.parametrize(("p", "per_scan"), [(0.9, 1), (0.97, 4), (0.5, 4)])
def test_proportion_intervals_cover(p, per_scan):
    ours, width = coverage(Cell("proportion", 16, per_scan, p), reps=1500, seed=5)
    assert 0.93 <= ours <= 0.995 and width > 0


@pytest.mark.parametrize(("p", "per_scan"), [(0.9, 1), (0.97, 4)])
def test_plain_bca_fails_these_checks_on_proportions_near_one(p, per_scan):
    # the old intervals, and why the suite now makes proportions' intervals its own way
    bca, _ = coverage(Cell("proportion", 16, per_scan, p), reps=300, seed=5, resamples=1000,
                      plain_bca=True)  # fmt: skip
    assert bca < 0.91


def test_continuous_intervals_cover_with_few_base_scans():
    for clusters in (2, 3, 4, 6):
        ours, _ = coverage(Cell("continuous", clusters, 4), reps=2000, seed=7)
        assert 0.93 <= ours <= 0.97, clusters


def test_a_proportion_interval_never_has_zero_width():
    counts = np.full((3, 12), 4.0)
    sums = np.stack([counts[0], np.zeros(12), counts[0] * 0.5])
    low, high = intervals.proportion_interval(sums, counts, 0.95)
    assert (high - low > 0.05).all()
    assert high[0] == 1.0 and low[0] < 0.97 and low[1] == 0.0 and high[1] > 0.03


def test_too_few_base_scans_print_no_interval_and_say_why():
    table = pd.DataFrame(
        {"model": "m", "base_scan": np.repeat(["a", "b", "c"], 4), "found": 1.0, "dsc": 0.8}
    )
    table.loc[0, "dsc"] = 0.6
    out = bootstrap_ci(
        table, ["found", "dsc"], by=["model"], n_resamples=200,
        kinds={"found": "proportion", "dsc": "continuous"},
    )  # fmt: skip
    found = out[out.metric == "found"].iloc[0]
    assert np.isnan(found["ci_low"]) and np.isnan(found["ci_high"])
    assert found["ci_method"] == "no CI: 3 base scans, needs at least 12"
    dsc = out[out.metric == "dsc"].iloc[0]
    assert dsc["ci_low"] < 0.8 - 0.01 and dsc["ci_method"] == "t, cluster"


def test_the_design_effect_widens_clustered_proportions():
    counts = np.full((1, 16), 4.0)
    spread = np.array([[4.0] * 8 + [0.0] * 8])  # scans all-or-nothing: strongly clustered
    even = np.full((1, 16), 2.0)
    assert intervals.design_effect(spread, counts)[0] > 3.0
    assert intervals.design_effect(even, counts)[0] == 1.0
    wide = np.subtract(*intervals.proportion_interval(spread, counts, 0.95)[::-1])
    narrow = np.subtract(*intervals.proportion_interval(even, counts, 0.95)[::-1])
    assert wide[0] > 1.5 * narrow[0]


def test_agreeing_models_get_a_difference_interval_with_width():
    ones = np.ones((1, 12))
    low, high = intervals.paired_difference_interval(ones, ones, ones, np.array([0.0]), 0.95)
    assert low[0] < -0.2 and high[0] > 0.2


@pytest.mark.parametrize("pair", [(0.97, 0.9), (0.9, 0.8)])
def test_paired_differences_of_proportions_cover(pair):
    ours, _ = coverage(Cell(PAIRED, 16, 4, *pair), reps=1500, seed=3)
    assert 0.93 <= ours


def test_reachable_finds_the_discreteness_gaps():
    # Binomial(12, 0.99): 88.6 % of samples are 12/12, 99.4 % are >= 11: nothing in between
    assert not reachable(12, 0.99)
    assert reachable(64, 0.5)


@pytest.mark.slow
def test_the_coverage_table_holds_the_printing_thresholds():
    table = coverage_table(reps=4000, seed=0)
    assert required_clusters(table) == intervals.MIN_CLUSTERS
    # every printed interval, paired differences of proportions included
    printed = table[table["printed"] & (table["kind"] != "continuous+misses")]
    assert (printed["kind"] == PAIRED).any()
    slack = 2.0 * np.sqrt(0.95 * 0.05 / printed["reps"])
    # a cell no interval can put in 93-97 % may sit just under it (32 scans at p = 0.97)
    floor = 0.93 - slack - np.where(printed["band_reachable"], 0.0, UNREACHABLE)
    assert (printed["coverage"] >= floor).all()
    reachable_ = printed["band_reachable"].to_numpy(bool)
    assert (printed["coverage"][reachable_] >= (0.93 - slack)[reachable_]).all()
