"""HD95 on surfels (area-weighted, DeepMind's robust Hausdorff)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robustbench_liver.metrics import hd95


def test_identical_is_zero(cube4):
    score = hd95(cube4, cube4, (1, 1, 1))
    assert score.value == 0.0 and score.profile == "hd95/surfel"


def test_one_voxel_shift_hand_computed():
    # half the surfel area of each lone voxel coincides, the other half is 1 voxel away
    gt = np.zeros((4, 4, 4), dtype=bool)
    pred = np.zeros_like(gt)
    gt[1, 1, 1] = pred[2, 1, 1] = True
    assert hd95(pred, gt, (1, 1, 1)).value == pytest.approx(1.0)
    assert hd95(pred, gt, (3.0, 1, 1)).value == pytest.approx(3.0)


def test_empty_combinations(cube4):
    empty = np.zeros_like(cube4)
    assert math.isnan(hd95(empty, empty, (1, 1, 1)).value)
    assert math.isnan(hd95(cube4, empty, (1, 1, 1)).value)
    missed = hd95(empty, cube4, (1, 1, 1))
    assert missed.value == math.inf and missed.reason == "no tumor predicted"


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_on_monai_surfels(seed, blobs):
    """Distances and areas from MONAI's surfels, percentile by DeepMind's rule, by brute force."""
    torch = pytest.importorskip("torch")
    from monai.metrics.utils import get_mask_edges

    rng = np.random.default_rng(seed)
    shape = (10, 9, 7)
    spacing = tuple(float(s) for s in rng.uniform(0.5, 2.5, size=3))
    gt, pred = blobs(rng, shape, 0.2), blobs(rng, shape, 0.2)
    found = get_mask_edges(torch.from_numpy(pred), torch.from_numpy(gt), spacing=spacing)
    edges_p, edges_g, area_p, area_g = (np.asarray(t) for t in found)
    xyz_p = np.argwhere(edges_p) * np.asarray(spacing)
    xyz_g = np.argwhere(edges_g) * np.asarray(spacing)
    d = np.linalg.norm(xyz_p[:, None] - xyz_g[None], axis=-1)

    def percentile(dist, area):
        order = np.argsort(dist, kind="stable")
        cum = np.cumsum(area[order]) / area.sum()
        return dist[order][min(np.searchsorted(cum, 0.95), dist.size - 1)]

    expected = max(percentile(d.min(1), area_p[edges_p]), percentile(d.min(0), area_g[edges_g]))
    assert hd95(pred, gt, spacing).value == pytest.approx(expected, rel=1e-6)
