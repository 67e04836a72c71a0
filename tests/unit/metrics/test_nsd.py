"""Surfel NSD: hand-computed cases, the empty-case policy, the warning, and MONAI's value."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from robustbench_liver.errors import DataError
from robustbench_liver.metrics import ToleranceBelowSpacingWarning, nsd


def voxel(shape=(4, 4, 4), at=(1, 1, 1)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[at] = True
    return mask


def test_identical_masks_score_one(cube4):
    score = nsd(cube4, cube4, (1.0, 1.0, 1.0))
    assert score.value == pytest.approx(1.0)
    assert score.profile == "nsd@2mm/surfel"


def test_one_voxel_shift_hand_computed():
    # A lone voxel has 8 surfels (one per corner block), each of area sqrt(3)/8 at 1 mm.
    # Shifted by one voxel along x, the 4 surfels on the shared face coincide (distance 0)
    # and the other 4 are 1 mm from the nearest surfel of the other mask.
    gt, pred = voxel(at=(1, 1, 1)), voxel(at=(2, 1, 1))
    with pytest.warns(ToleranceBelowSpacingWarning, match="x .1 mm., y .1 mm., z .1 mm."):
        assert nsd(pred, gt, (1, 1, 1), tolerance_mm=0.5).value == pytest.approx(0.5)
    assert nsd(pred, gt, (1, 1, 1), tolerance_mm=1.0).value == pytest.approx(1.0)


def test_shift_along_a_coarse_axis_scales_with_spacing():
    gt, pred = voxel(at=(1, 1, 1)), voxel(at=(2, 1, 1))
    with pytest.warns(ToleranceBelowSpacingWarning, match="along x"):
        assert nsd(pred, gt, (2.0, 1.0, 1.0), tolerance_mm=1.5).value == pytest.approx(0.5)
    assert nsd(pred, gt, (2.0, 1.0, 1.0), tolerance_mm=2.0).value == pytest.approx(1.0)


def test_far_apart_scores_zero():
    gt, pred = voxel((8, 4, 4), (1, 1, 1)), voxel((8, 4, 4), (6, 1, 1))
    score = nsd(pred, gt, (1, 1, 1), tolerance_mm=2.0)
    assert score.value == 0.0 and score.reason is None


def test_empty_combinations(cube4):
    empty = np.zeros_like(cube4)
    both = nsd(empty, empty, (1, 1, 1))
    assert math.isnan(both.value) and "ground truth" in both.reason
    only_pred = nsd(cube4, empty, (1, 1, 1))
    assert math.isnan(only_pred.value) and "ground truth" in only_pred.reason
    only_gt = nsd(empty, cube4, (1, 1, 1))
    assert only_gt.value == 0.0 and only_gt.reason == "no tumor predicted"


def test_warns_when_tolerance_below_slice_spacing(cube4):
    with pytest.warns(ToleranceBelowSpacingWarning, match=r"along z \(2.5 mm\)"):
        nsd(cube4, cube4, (0.8, 0.8, 2.5), tolerance_mm=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ToleranceBelowSpacingWarning)
        nsd(cube4, cube4, (0.8, 0.8, 2.0), tolerance_mm=2.0)


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_bad_tolerance(cube4, bad):
    with pytest.raises(DataError, match="tolerance"):
        nsd(cube4, cube4, (1, 1, 1), tolerance_mm=bad)


@pytest.mark.parametrize("spacing", [(1, 1), (1, 0, 1), (1, -2, 1), (1, math.nan, 1)])
def test_bad_spacing(cube4, spacing):
    with pytest.raises(DataError, match="spacing"):
        nsd(cube4, cube4, spacing)


def test_mask_touching_the_volume_border_is_closed():
    full = np.ones((3, 3, 3), dtype=bool)
    # the surface of a full volume is its outer box: identical masks still score 1
    assert nsd(full, full, (1, 1, 1)).value == pytest.approx(1.0)


def _monai_nsd(pred: np.ndarray, gt: np.ndarray, spacing, tolerance: float) -> float:
    torch = pytest.importorskip("torch")
    from monai.metrics import compute_surface_dice

    def one_hot(mask: np.ndarray):  # batch × class × spatial, class 0 = background
        return torch.from_numpy(np.stack([~mask, mask])[None])

    value = compute_surface_dice(
        one_hot(pred), one_hot(gt), class_thresholds=[tolerance], spacing=spacing,
        use_subvoxels=True,
    )  # fmt: skip
    return float(value[0, 0])


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
def test_equals_monai_surfel_nsd_on_random_anisotropic_pairs(blobs):
    rng = np.random.default_rng(2024)
    checked = 0
    for k in range(60):
        shape = tuple(int(n) for n in rng.integers(6, 20, size=3))
        spacing = tuple(float(s) for s in rng.uniform(0.3, 3.0, size=3))
        tolerance = 0.0 if k % 15 == 0 else float(rng.uniform(0.3, 4.0))
        gt = blobs(rng, shape, rng.uniform(0.03, 0.4))
        if k % 3 == 0:  # an unrelated prediction
            pred = blobs(rng, shape, rng.uniform(0.03, 0.4))
        else:  # a perturbed copy: the realistic case, many surfels near the tolerance
            pred = gt ^ (blobs(rng, shape, 0.1) & (rng.random(shape) < 0.5))
        if not pred.any():
            continue
        ours = nsd(pred, gt, spacing, tolerance).value
        assert ours == pytest.approx(_monai_nsd(pred, gt, spacing, tolerance), abs=1e-6), (
            k, shape, spacing, tolerance,
        )  # fmt: skip
        checked += 1
    assert checked >= 50
