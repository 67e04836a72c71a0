"""Generator 3's placement: tumors paint through small non-liver clefts (label and image
alike), and large tumors spread over the liver (issue 13, item 3)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from robustbench_liver.synthesis import (
    GENERATOR_2,
    SizeClass,
    SynthesisWarning,
    TumorConfig,
    apply,
    context,
    location,
    sample,
)
from robustbench_liver.synthesis.feasibility import share_ok
from robustbench_liver.types import Case, Scan

from .conftest import make_small_scan

ONE = (SizeClass("m", (15, 15), (1, 1), (0, 0)),)


def _with_cleft(width_voxels: int) -> Scan:
    """The small scan with a fat-filled sheet across the liver (not liver in the mask), as
    a fissure outside a real liver mask."""
    scan = make_small_scan(scan_id=f"cleft-{width_voxels}")
    image, liver = np.array(scan.image), np.array(scan.liver)
    sheet = np.zeros(liver.shape, dtype=bool)
    sheet[46 : 46 + width_voxels] = True
    sheet &= liver
    rng = np.random.default_rng(1)
    image[sheet] = -100.0 + rng.normal(0.0, 12.0, int(sheet.sum())).astype(np.float32)
    liver &= ~sheet
    return dataclasses.replace(scan, image=image, liver=liver, vessels=None)


def _on_the_cleft(scan: Scan, cfg: TumorConfig) -> Case:
    record = sample(scan, cfg, 0)[0]
    record = dataclasses.replace(record, center_vox=(47, 44, 24))
    return apply(scan, [record])


def _inner(scan: Scan, centre: tuple[int, int, int], radius_mm: float) -> np.ndarray:
    grid = np.indices(scan.shape).reshape(3, -1).T
    mm = (grid - np.asarray(centre)) * np.asarray(scan.spacing)
    return (np.linalg.norm(mm, axis=1) <= radius_mm).reshape(scan.shape)


@pytest.mark.parametrize("width", [2, 3])
def test_tumors_paint_through_a_small_cleft(width):
    scan = _with_cleft(width)  # 3 and 4.5 mm of fat
    cfg = TumorConfig(sizes=ONE, mass_effect=False, vessels=False, min_inside=0.0)
    new, old = _on_the_cleft(scan, cfg), _on_the_cleft(scan, cfg.with_(**GENERATOR_2))
    inner = _inner(scan, (47, 44, 24), 10.0)
    cleft = inner & ~scan.liver
    assert cleft.sum() > 20
    tissue = inner & scan.liver
    # generator 3: a whole label, and tumor where the fat was, in the image too
    assert (new.label[inner] == 2).all()
    gap = float(new.image[cleft].mean() - new.image[tissue].mean())
    assert abs(gap) < 15.0, gap
    # generator 2: the hole the issue found, in label and image
    assert (old.label[cleft] == 0).all()
    assert old.image[cleft].mean() - old.image[tissue].mean() < -80.0


def test_a_wide_cleft_is_left_alone():
    scan = _with_cleft(8)  # 12 mm: not a fissure to paint over
    cfg = TumorConfig(sizes=ONE, mass_effect=False, vessels=False, min_inside=0.0)
    case = _on_the_cleft(scan, cfg)
    cleft = _inner(scan, (47, 44, 24), 10.0) & ~scan.liver
    assert (case.label[cleft] == 0).all()
    assert (case.label == 2).any()


def _centres(scan: Scan, cfg: TumorConfig, seeds: range) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SynthesisWarning)
        return np.array([sample(scan, cfg, seed)[0].center_vox for seed in seeds])


def test_large_tumors_spread_over_the_liver(small_scan):
    """Generator 2 put a large tumor where the liver is thickest, every time; lowering the
    share inside the liver (to 0.85 at most) for large tumors spreads their sites."""
    big = (SizeClass("l", (20, 26), (1, 1), (3, 6)),)
    seeds = range(20)
    spread = {}
    for name, extra in (("new", {}), ("old", GENERATOR_2)):
        centres = _centres(small_scan, TumorConfig(sizes=big, **extra), seeds)
        mm = centres * np.asarray(small_scan.spacing)
        spread[name] = float(np.sqrt(mm.var(axis=0).sum()))
        if name == "new":  # still at least the floor of the ellipsoid inside the liver
            ctx = context(small_scan, TumorConfig(sizes=big))
            for seed, centre in zip(seeds, centres, strict=True):
                record = sample(small_scan, TumorConfig(sizes=big), seed)[0]
                points = location.BALL * np.asarray(record.semi_axes_mm)
                assert share_ok(ctx, points, 0.85, centre[None])[0]
    assert spread["new"] >= 1.15 * spread["old"], spread


def test_small_tumors_are_placed_as_before(small_scan):
    """Spreading is for tumors of 1 % of the liver and more: the others keep their places."""
    small = (SizeClass("s", (6, 10), (3, 3), (1, 2)),)
    new = _centres(small_scan, TumorConfig(sizes=small), range(4))
    old = _centres(small_scan, TumorConfig(sizes=small, spread_share=0.0), range(4))
    assert (new == old).all()
