"""Generator 3's heterogeneity: a wider internal SD within reach, an optional necrotic core
and optional calcifications (issue 13, item 3)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from robustbench_liver.fidelity.features import internal_sd_hu
from robustbench_liver.fidelity.lesions import scan_frame
from robustbench_liver.fidelity.view import crop_view
from robustbench_liver.synthesis import (
    GENERATOR_2,
    SizeClass,
    SynthesisWarning,
    TumorConfig,
    apply,
    sample,
)
from robustbench_liver.types import Case, Scan

MEDIUM = (SizeClass("m", (14, 18), (1, 1), (3, 6)),)
FLAT = {"necrosis_chance": 0.0, "calcification_chance": 0.0}


def _case(scan: Scan, cfg: TumorConfig, seed: int) -> Case:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SynthesisWarning)
        return apply(scan, sample(scan, cfg, seed))


def _internal_sd(scan: Scan, cfg: TumorConfig, seeds: range = range(3)) -> float:
    frame = scan_frame(scan)
    values = []
    for seed in seeds:
        case = _case(scan, cfg, seed)
        view = crop_view(
            case.image,
            case.label == 2,
            case.label == 1,
            scan.spacing,
            frame.threshold_hu,
            vessels=scan.vessels,
            margin_mm=16.0,
        )
        values.append(internal_sd_hu(view))
    return float(np.median(values))


def test_an_internal_sd_of_30_hu_and_more_is_within_reach(small_scan):
    """Real tumors: 30 and 95 HU; generator 2: 16 HU. Generator 3's edge inside the label
    about doubles it; a stronger texture (sigma_p x 5, with either edge) goes
    past 30 HU."""
    old = _internal_sd(small_scan, TumorConfig(sizes=MEDIUM, **GENERATOR_2))
    new = _internal_sd(small_scan, TumorConfig(sizes=MEDIUM, **FLAT))
    strong = _internal_sd(small_scan, TumorConfig(sizes=MEDIUM, texture_sigma_factor=5, **FLAT))
    paper_edge = _internal_sd(
        small_scan, TumorConfig(sizes=MEDIUM, **{**GENERATOR_2, "texture_sigma_factor": (5, 5)})
    )
    assert old < 15.0 and new >= 1.8 * old, (old, new)
    assert strong >= 30.0 and paper_edge >= 30.0, (strong, paper_edge)


def test_a_necrotic_core_is_dark_central_and_counted_in_the_mean(small_scan):
    on = TumorConfig(
        sizes=MEDIUM,
        necrosis_chance=1.0,
        necrosis_share=(0.3, 0.3),
        necrosis_hu=(-60.0, -60.0),
        calcification_chance=0.0,
    )
    off = dataclasses.replace(on, necrosis_chance=0.0)
    for seed in range(2):
        dark, plain = _case(small_scan, on, seed), _case(small_scan, off, seed)
        record = dark.tumors[0]
        assert record.necrosis_share == 0.3 and plain.tumors[0].necrosis_share == 0.0
        assert (dark.label == plain.label).all()  # the label does not change
        label = dark.label == 2
        diff = (dark.image - plain.image)[label]
        # the darkest 30 % of the label against the rest: necrosis_hu x the blend's weight
        # apart (the calibration lifts the rest, so that the mean change stays delta_hu)
        cut = np.quantile(diff, 0.3)
        darker = diff <= cut
        assert diff[~darker].mean() - diff[darker].mean() >= 25.0
        # central: the dark voxels lie nearer the centre than the label's voxels do
        where = np.argwhere(label) * np.asarray(small_scan.spacing)
        centre = np.asarray(record.center_vox) * np.asarray(small_scan.spacing)
        distance = np.linalg.norm(where - centre, axis=1)
        assert distance[darker].mean() < 0.8 * distance.mean()
        # delta_hu is the mean change inside the label, necrotic core included
        for case in (dark, plain):
            assert abs(case.tumors[0].mean_hu_change - record.delta_hu) < 1.5


def test_no_necrosis_or_calcification_when_off(small_scan):
    cfg = TumorConfig(sizes=MEDIUM, **FLAT)
    for seed in range(3):
        case = _case(small_scan, cfg, seed)
        record = case.tumors[0]
        assert record.necrosis_share == 0.0 and record.calcification_share == 0.0
        assert not (case.image[case.label == 2] > 200.0).any()
    small = TumorConfig(sizes=(SizeClass("s", (6, 8), (1, 1), (1, 2)),), necrosis_chance=1.0)
    assert all(r.necrosis_share == 0.0 for r in sample(small_scan, small, 0))  # r < 10 mm


def test_calcifications_are_bright_and_leave_the_tissue_alone(small_scan):
    on = TumorConfig(
        sizes=MEDIUM,
        calcification_chance=1.0,
        calcification_share=(0.06, 0.06),
        calcification_hu=(400.0, 400.0),
        necrosis_chance=0.0,
    )
    off = dataclasses.replace(on, calcification_chance=0.0)
    for seed in range(2):
        case, plain = _case(small_scan, on, seed), _case(small_scan, off, seed)
        record = case.tumors[0]
        assert record.calcification_share == 0.06 and plain.tumors[0].calcification_share == 0
        label = case.label == 2
        share = float((case.image > 200.0)[label].mean())
        assert 0.02 <= share <= 0.08, share
        assert not (plain.image > 200.0)[label].any()
        # calcium comes on top of the tissue (absolute HU, no recalibration): it only
        # brightens, and most of the tumor is the same voxel for voxel as without it
        diff = (case.image - plain.image)[label]
        assert diff.min() >= -1e-3 and diff.max() >= 200.0
        assert (diff == 0).mean() >= 0.4, (diff == 0).mean()
