"""Holm and Benjamini–Hochberg adjustments."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.stats import adjust_pvalues

P = [0.01, 0.04, 0.03, 0.005, 0.2]


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04, 0.2 times 5, 4, 3, 2, 1, then running max
    expected = [0.04, 0.09, 0.09, 0.025, 0.2]
    np.testing.assert_allclose(adjust_pvalues(P, "holm"), expected)


def test_bh_matches_scipy():
    np.testing.assert_allclose(adjust_pvalues(P, "bh"), stats.false_discovery_control(P))


def test_nan_is_not_a_test():
    out = adjust_pvalues([0.01, np.nan, 0.04], "holm")
    np.testing.assert_allclose(out, [0.02, np.nan, 0.04])


def test_capped_at_one_and_none_is_identity():
    assert adjust_pvalues([0.6, 0.7], "holm").max() == 1.0
    np.testing.assert_array_equal(adjust_pvalues(P, "none"), P)


def test_unknown_method():
    with pytest.raises(RobustBenchError, match="adjust"):
        adjust_pvalues(P, "bonferroni")
