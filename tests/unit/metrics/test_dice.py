"""DSC on hand-computed 4×4×4 cases, the empty-case policy, and DSC(x, x) = 1."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robustbench_liver.errors import DataError
from robustbench_liver.metrics import EMPTY_POLICY, dice


def test_hand_computed(cube4):
    pred = np.zeros_like(cube4)
    pred[1:3, 1:3, 2:4] = True  # shifted by one along z: 4 of 8 voxels shared
    score = dice(pred, cube4)
    assert score.value == pytest.approx(2 * 4 / (8 + 8))
    assert score.profile == "dsc"
    assert score.reason is None
    assert score.policy == EMPTY_POLICY


def test_partial_and_disjoint(cube4):
    one = np.zeros_like(cube4)
    one[1, 1, 1] = True
    assert dice(one, cube4).value == pytest.approx(2 * 1 / (1 + 8))
    far = np.zeros_like(cube4)
    far[0, 0, 0] = far[3, 3, 3] = True
    assert dice(far, cube4).value == 0.0
    assert dice(far, cube4).reason is None  # measured zero, not a policy zero


def test_integer_masks_count_as_nonzero(cube4):
    assert dice(cube4.astype(np.uint8) * 2, cube4).value == 1.0


@pytest.mark.parametrize("seed", range(10))
def test_self_is_one(seed, blobs):
    rng = np.random.default_rng(seed)
    mask = blobs(rng, (12, 10, 8), fill=rng.uniform(0.02, 0.5))
    assert float(dice(mask, mask)) == 1.0


def test_empty_ground_truth_is_undefined(cube4):
    empty = np.zeros_like(cube4)
    for pred in (empty, cube4):
        score = dice(pred, empty)
        assert math.isnan(score.value) and not score.defined
        assert "ground truth" in score.reason


def test_empty_prediction_scores_zero(cube4):
    score = dice(np.zeros_like(cube4), cube4)
    assert score.value == 0.0
    assert score.reason == "no tumor predicted"


def test_shape_mismatch_is_a_data_error(cube4):
    with pytest.raises(DataError, match="shape"):
        dice(cube4[:3], cube4)
