"""Step 2: placement: the cube check, the optional constraints, and the bounded search."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from robustbench_liver.errors import SynthesisError
from robustbench_liver.synthesis import SizeClass, TumorConfig, context, sample
from robustbench_liver.synthesis import location as loc
from robustbench_liver.synthesis.context import build_context

from .conftest import make_small_scan


def vessel_mask(ctx) -> np.ndarray:  # type: ignore[no-untyped-def]
    mask = np.zeros(ctx.scan.shape, dtype=bool)
    mask[tuple(ctx.vessel_vox.T)] = True
    return mask


def cube_is_free(mask: np.ndarray, center, half_mm: float, spacing) -> bool:  # type: ignore[no-untyped-def]
    h = np.floor(np.asarray(half_mm) / np.asarray(spacing) + 1e-6).astype(int)
    box = tuple(slice(max(c - k, 0), c + k + 1) for c, k in zip(center, h, strict=True))
    return not mask[box].any()


@pytest.mark.parametrize("level", ["tiny", "small", "medium"])
def test_centres_keep_a_vessel_free_cube(small_scan, level):
    ctx = context(small_scan)
    mask = vessel_mask(ctx)
    for seed in range(6):
        for r in sample(small_scan, level, seed):
            radius = np.prod(r.semi_axes_mm) ** (1 / 3)
            assert r.cube_half_mm == pytest.approx(min(radius, 12.0))  # max_cube_mm
            assert cube_is_free(mask, r.center_vox, r.cube_half_mm, small_scan.spacing)
            assert small_scan.liver[r.center_vox]


def test_the_cube_mask_is_the_brute_force_check(small_scan):
    ctx = build_context(small_scan, "scan", 2.0, 20.0)
    mask = vessel_mask(ctx)
    free = loc._cube_mask(ctx, 7.3)
    again = loc._cube_mask(ctx, 7.3)  # from the cache
    np.testing.assert_array_equal(free, again)
    rng = np.random.default_rng(0)
    for flat in rng.choice(ctx.liver_flat, 300):
        v = ctx.liver_vox(np.array([flat]))[0]
        assert free[tuple(v - ctx.lo)] == cube_is_free(mask, v, 7.3, small_scan.spacing)


def test_exhaustive_search_finds_rare_places(small_scan):
    cfg = TumorConfig.level("small", max_proposals=1)  # straight to the whole-liver search
    mask = vessel_mask(context(small_scan, cfg))
    for r in sample(small_scan, cfg, 4):
        assert cube_is_free(mask, r.center_vox, r.cube_half_mm, small_scan.spacing)


def test_impossible_placement_names_scan_and_radius():
    scan = make_small_scan(scan_id="crowded")
    cfg = TumorConfig(sizes=(SizeClass("huge", (45, 45), (1, 1), (1, 1)),), max_cube_mm=None)
    with pytest.raises(SynthesisError) as err:
        sample(scan, cfg, 0)
    text = str(err.value)
    assert "'crowded'" in text and "radius 45.0 mm" in text and "liver voxels" in text


def test_skip_leaves_unplaceable_tumors_out(small_scan):
    sizes = (
        SizeClass("medium", (14, 14), (1, 1), (3, 3)),
        SizeClass("huge", (60, 60), (1, 1), (1, 1)),
    )
    cfg = TumorConfig(sizes=sizes, if_no_place="skip")
    with pytest.warns(UserWarning, match="'small': 1 of 2 tumors placed; left out.*radius 60.0 mm"):
        records = sample(small_scan, cfg, 0)
    assert [r.size_class for r in records] == ["medium"] and records[0].index == 0


def test_regions_depth_and_gap_constraints(small_scan):
    ctx = context(small_scan)
    depth = ndimage.distance_transform_edt(small_scan.liver, sampling=small_scan.spacing)
    for region in ("right-superior", "left-inferior"):
        cfg = TumorConfig.level("tiny", regions=(region,), depth_mm=(8.0, 20.0))
        for r in sample(small_scan, cfg, 1):
            assert r.liver_region == region
            assert 8.0 - 1e-6 <= depth[r.center_vox] <= 20.0 + 1e-6
    cfg = TumorConfig.level("tiny", vessel_gap_mm=(0.0, 6.0))
    for r in sample(small_scan, cfg, 2):
        d, _ = ctx.vessel_tree.query(np.asarray(r.center_vox) * ctx.spacing)
        assert -1e-6 <= d - max(r.semi_axes_mm) <= 6.0 + 1e-6


def test_regions_split_the_liver_as_documented(small_scan):
    ctx = context(small_scan)
    vox = ctx.liver_vox(ctx.liver_flat)
    names = ctx.region_of(vox)
    left = np.isin(names, ("left-superior", "left-inferior")).mean()
    assert left == pytest.approx(0.35, abs=0.02)  # LEFT_LOBE_SHARE
    right = vox[np.char.startswith(names, "right")]
    assert right[:, 0].min() > vox[:, 0].min()  # RAS: the patient's right is at high x


def test_tumors_do_not_overlap_by_default(small_scan):
    for seed in range(5):
        records = sample(small_scan, "small", seed)
        for i, a in enumerate(records):
            for b in records[i + 1 :]:
                gap = np.linalg.norm((np.subtract(a.center_vox, b.center_vox)) * small_scan.spacing)
                assert gap >= max(a.semi_axes_mm) + max(b.semi_axes_mm)
