"""Tumors of one case stay separate lesions: the bounding radius is that of the painted
voxels, tumors keep a voxel diagonal apart, and a tumor with no separate place is left out
(said once per case) rather than merged into its neighbour."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage

from robustbench_liver.errors import SynthesisError
from robustbench_liver.synthesis import (
    SizeClass,
    SynthesisWarning,
    TumorConfig,
    apply,
    paint,
    sample,
    shape,
)
from robustbench_liver.synthesis.measure import LESION_CONNECTIVITY


@pytest.mark.parametrize("level", ["medium", "large"])
def test_bounding_radius_is_that_of_the_painted_voxels(phantom_scan, level):
    cfg = TumorConfig.level(level, mass_effect=False, rotate=True, lobulation=(0.1, 0.3))
    spacing = np.asarray(phantom_scan.spacing)
    for seed in range(3):
        record = sample(phantom_scan, cfg, seed)[0]
        case = apply(phantom_scan, [record])
        if (case.label[tuple(slice(1, -1) for _ in range(3))] == 2).sum() != (
            case.label == 2
        ).sum():
            continue  # cut by the volume's edge
        tumor = np.argwhere(case.label == 2)
        far = float(np.sqrt((((tumor - record.center_vox) * spacing) ** 2).sum(1)).max())
        a, rot = paint.geometry(record)
        bound = shape.bounding_radius_mm(
            record.seed,
            record.elastic_sigma_mm,
            record.elastic_points,
            a,
            rot,
            record.lobulation,
            record.lobes,
            spacing,
        )
        # the label is the deformed tumor inside the liver: at most the bound, and the
        # bound is tight (not the loose worst case of 2.5 sigma_e in every direction)
        assert far <= bound + 1e-6
        assert bound <= far + 0.25 * max(a)


@pytest.mark.parametrize("level", ["small", "medium", "large", "mix"])
def test_shipped_levels_keep_tumors_apart(phantom_scan, level):
    for seed in range(4):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SynthesisWarning)  # some left out: said, fine
            records = sample(phantom_scan, level, seed)
        case = apply(phantom_scan, records)
        _, lesions = ndimage.label(case.label == 2, structure=LESION_CONNECTIVITY)
        assert lesions == len(case.tumors), (level, seed)
        assert all(not t.merged_with for t in case.tumors)


def test_left_out_tumors_are_named_once_per_case(small_scan):
    cfg = TumorConfig(sizes=(SizeClass("big", (20, 20), (8, 8), (1, 1)),))
    with pytest.warns(SynthesisWarning) as caught:
        records = sample(small_scan, cfg, 0)
    said = [str(w.message) for w in caught if "tumors placed" in str(w.message)]
    assert len(said) == 1
    assert f"{len(records)} of 8 tumors placed; left out tumor" in said[0]
    assert "no place clear of the others" in said[0]


def test_a_case_where_no_tumor_fits_is_an_error(small_scan):
    cfg = TumorConfig(sizes=(SizeClass("huge", (60, 60), (2, 2), (1, 1)),))
    with pytest.raises(SynthesisError, match=r"radius 60\.0 mm"):
        sample(small_scan, cfg, 0)
