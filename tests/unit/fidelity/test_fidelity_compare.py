"""Per-feature distances and their bootstrap CIs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from robustbench_liver.fidelity.compare import feature_distances, smd


def test_smd_by_hand():
    # means 1 and 3, variances 2 and 2: (3 - 1) / sqrt(2)
    assert smd(np.array([0.0, 2.0]), np.array([2.0, 4.0])) == pytest.approx(math.sqrt(2.0))
    assert smd(np.array([5.0, 5.0]), np.array([5.0, 5.0])) == 0.0
    assert math.isnan(smd(np.array([5.0]), np.array([1.0, 2.0])))


def rows(n_clusters: int, shift: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = []
    for c in range(n_clusters):
        out.append({"set": "real", "cluster": c, "x": rng.normal() + shift, "y": 1.0})
        for _ in range(5):
            out.append({"set": "synthetic", "cluster": c, "x": rng.normal(), "y": 1.0})
    return pd.DataFrame(out)


def test_distances_with_and_without_a_shift():
    same = feature_distances(rows(10, 0.0), ["x"], n_resamples=300).iloc[0]
    moved = feature_distances(rows(10, 3.0), ["x"], n_resamples=300).iloc[0]
    assert same.smd_low <= 0.0 <= same.smd_high
    assert moved.smd < -2.0 and moved.smd_high < 0  # synthetic minus real
    assert moved.wasserstein == pytest.approx(3.0, abs=0.8)
    assert moved.wasserstein_low <= moved.wasserstein <= moved.wasserstein_high


def test_a_constant_feature_has_zero_distance():
    row = feature_distances(rows(6, 0.0), ["y"], n_resamples=100).iloc[0]
    assert row.smd == 0.0 and row.wasserstein == 0.0 and row.smd_low == 0.0


def test_fewer_than_four_real_clusters_get_no_ci():
    row = feature_distances(rows(3, 1.0), ["x"], n_resamples=100).iloc[0]
    assert math.isfinite(row.smd)
    assert math.isnan(row.smd_low) and "no CI" in row.ci_note


def test_seeded_and_independent_of_the_other_features():
    data = rows(8, 1.0, seed=3)
    alone = feature_distances(data, ["x"], n_resamples=200, seed=5)
    both = feature_distances(data, ["y", "x"], n_resamples=200, seed=5)
    pd.testing.assert_series_equal(alone.iloc[0], both.iloc[1], check_names=False)
