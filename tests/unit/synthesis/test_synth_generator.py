"""Properties of whole cases, looped over seeds: on a tiny anisotropic scan, the real
totalseg-full scan (3 mm) and the built-in phantom. Heavier sweeps are marked slow."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from robustbench_liver.errors import SynthesisError
from robustbench_liver.synthesis import (
    LEVELS,
    SizeClass,
    TumorConfig,
    apply,
    context,
    sample,
    synthesize,
    tumor_box,
)
from robustbench_liver.types import TumorRecord

SCANS = ["small_scan", "full_scan", "phantom_scan"]
SEEDS = range(4)
STEPS = ("vessels", "texture", "elastic", "edge_blur", "mass_effect", "capsule")
# One tumor per case, or several kept apart: the sizes and HU changes are then exactly
# what was asked (up to the voxel grid and a tolerance for neighbours' mass effect).
APART = {"allow_overlap": False, "if_no_place": "error"}


def one(level: str, **changes) -> TumorConfig:  # type: ignore[no-untyped-def]
    size = LEVELS[level][0]
    return TumorConfig(sizes=(dataclasses.replace(size, count=(1, 1)),), **changes)


def outside_boxes(case, scan) -> np.ndarray:  # type: ignore[no-untyped-def]
    keep = np.ones(scan.shape, dtype=bool)
    for r in case.tumors:
        keep[tumor_box(r, scan.shape, scan.spacing)] = False
    return keep


def vessel_mask(scan) -> np.ndarray:  # type: ignore[no-untyped-def]
    ctx = context(scan)
    mask = np.zeros(scan.shape, dtype=bool)
    mask[tuple(ctx.vessel_vox.T)] = True
    return mask


@pytest.mark.parametrize("scan_name", SCANS)
def test_case_properties(scan_name, request):
    """Inside the liver, vessel cube, no NaN, untouched outside the boxes, labels 0/1/2."""
    scan = request.getfixturevalue(scan_name)
    vessels = vessel_mask(scan)
    for seed in SEEDS:
        for level in ("tiny", "medium", "mix"):
            case = synthesize(scan, level, seed)
            assert case.scan_id == scan.id and case.tumors
            assert not np.isnan(case.image).any()
            assert set(np.unique(case.label)) <= {0, 1, 2}
            tumor = case.label == 2
            assert tumor.any()
            keep = outside_boxes(case, scan)
            np.testing.assert_array_equal(case.image[keep], scan.image[keep])
            np.testing.assert_array_equal(case.label[keep], scan.liver[keep].astype(np.uint8))
            # tumor voxels lie in the liver, or where a mass effect pushed the liver out
            assert not (tumor & ~scan.liver & keep).any()
            for r in case.tumors:
                h = np.floor(r.cube_half_mm / np.asarray(scan.spacing) + 1e-6).astype(int)
                cube = tuple(
                    slice(max(c - k, 0), c + k + 1) for c, k in zip(r.center_vox, h, strict=True)
                )
                assert not vessels[cube].any()


@pytest.mark.parametrize("scan_name", SCANS)
@pytest.mark.parametrize("level", ["tiny", "small", "medium", "large"])
def test_measured_radius_is_in_the_level_range(scan_name, level, request):
    scan = request.getfixturevalue(scan_name)
    low, high = LEVELS[level][0].semi_axes_mm
    tolerance = max(scan.spacing)  # one voxel
    config = one(level, **APART) if level == "large" else TumorConfig.level(level, **APART)
    for seed in SEEDS:
        for r in synthesize(scan, config, seed).tumors:
            assert low - tolerance <= r.equivalent_radius_mm <= high + tolerance, r
            assert r.volume_mm3 == pytest.approx(4 / 3 * np.pi * r.equivalent_radius_mm**3)


@pytest.mark.parametrize("scan_name", SCANS)
def test_measured_hu_change_matches_the_request(scan_name, request):
    """Exact (<= 0.5 HU) for a lone tumor: the blend level is calibrated for the soft edge,
    the texture and grain means, a necrotic core and the capsule. Neighbours' mass effect
    may move a tumor's voxels later, so with several tumors allow 5 HU. (Calcifications
    come on top of the tissue that delta describes: off here.)"""
    scan = request.getfixturevalue(scan_name)
    for seed in SEEDS:
        for delta in ((-60.0, -20.0), (-5.0, 5.0), (20.0, 50.0)):  # hypo, iso, hyper
            cfg = one("medium", delta_hu=delta, calcification_chance=0.0, necrosis_chance=0.5)
            (r,) = synthesize(scan, cfg, seed).tumors
            assert abs(r.mean_hu_change - r.delta_hu) <= 0.5
            assert delta[0] <= r.delta_hu <= delta[1]
        small = TumorConfig.level("small", calcification_chance=0.0, **APART)
        for r in synthesize(scan, small, seed).tumors:
            assert abs(r.mean_hu_change - r.delta_hu) <= 5.0


def test_released_model_is_always_hypo_attenuating(full_scan):
    cfg = TumorConfig.level("medium", intensity_model="released")
    for seed in SEEDS:
        for r in synthesize(full_scan, cfg, seed).tumors:
            assert 65 <= -r.delta_hu <= 145  # Delta ~ U(65, 145)
            # texture (~0.5 +- 0.07) x soft mask (~0.85) x Delta: typically 18-69 HU, as
            # measured on the authors' code; up to ~95 HU with Delta and texture both high
            assert -100 < r.mean_hu_change < -10


@pytest.mark.parametrize("scan_name", SCANS)
def test_same_seed_same_bytes_and_replay(scan_name, request):
    scan = request.getfixturevalue(scan_name)
    for seed in SEEDS[:2]:
        first = synthesize(scan, "mix", seed)
        again = synthesize(scan, "mix", np.random.default_rng(seed))
        assert first.image.tobytes() == again.image.tobytes()
        assert first.label.tobytes() == again.label.tobytes()
        text = json.dumps([r.to_dict() for r in first.tumors])
        records = [TumorRecord.from_dict(d) for d in json.loads(text)]
        replay = apply(scan, records)
        assert replay.image.tobytes() == first.image.tobytes()
        assert replay.label.tobytes() == first.label.tobytes()
        assert replay.tumors == first.tumors
        other = synthesize(scan, "mix", seed + 100)
        assert other.image.tobytes() != first.image.tobytes()


def test_no_global_rng_state_is_touched(small_scan):
    legacy = np.random  # the global RandomState, which synthesis must never touch
    legacy.seed(123)
    before = legacy.get_state()[1].copy()
    synthesize(small_scan, "small", 0)
    assert np.array_equal(legacy.get_state()[1], before)


@pytest.mark.parametrize("step", STEPS)
def test_a_step_switched_off_changes_only_its_own_work(small_scan, step):
    on = TumorConfig.level("small")
    off = on.with_(**{step: False})
    for seed in SEEDS[:3]:
        a_records = sample(small_scan, on, seed)
        b_records = sample(small_scan, off, seed)
        assert len(a_records) == len(b_records)
        for a, b in zip(a_records, b_records, strict=True):
            same = {"seed", "semi_axes_mm", "size_class", "delta_hu"}
            if step != "vessels":  # only the places (and what depends on them) may change
                same |= {"center_vox", "liver_region", "parenchyma_hu"}
            for name in same:
                assert getattr(a, name) == getattr(b, name), name
        a, b = apply(small_scan, a_records), apply(small_scan, b_records)
        if step == "vessels":
            assert all(r.cube_half_mm == 0 for r in b.tumors)
            continue
        differs = (a.image != b.image) | (a.label != b.label)
        boxes = ~outside_boxes(a, small_scan)
        assert not (differs & ~boxes).any()
        if step in ("texture", "edge_blur", "capsule"):  # image only: the label is t'
            if step == "edge_blur":
                # without blur the capsule band is empty; the mask itself is unchanged
                pass
            np.testing.assert_array_equal(a.label, b.label)
        if step == "mass_effect":
            for r in b.tumors:
                assert r.mass_effect == 0


def test_step_switches_zero_their_parameters(small_scan):
    cfg = TumorConfig.level(
        "tiny",
        texture=False,
        elastic=False,
        edge_blur=False,
        mass_effect=False,
        capsule=False,
        vessels=False,
    )
    for r in sample(small_scan, cfg, 0):
        assert r.texture_sigma_hu == r.elastic_sigma_mm == r.edge_blur_mm == 0
        assert r.mass_effect == r.capsule_hu == r.cube_half_mm == 0


def test_mass_effect_leaves_the_tumor_size_alone(phantom_scan):
    # 95 % of the ellipsoid inside the liver (spreading may let a large tumor reach out to
    # 85 %, where the pushed surface lets more of it in: that is the liver, not the warp)
    for seed in SEEDS:
        (r,) = sample(phantom_scan, one("medium", spread_share=0.0), seed)
        pushed = apply(phantom_scan, [dataclasses.replace(r, mass_effect=100.0)])
        still = apply(phantom_scan, [dataclasses.replace(r, mass_effect=0.0)])
        # the same, except where the tumor meets the liver surface: the warp pushes the
        # surface outward, so a little more of t' lies inside the liver
        assert 1.0 <= pushed.tumors[0].volume_mm3 / still.tumors[0].volume_mm3 < 1.06
        assert (pushed.image != still.image).sum() > 0


def test_apply_checks_records(small_scan):
    records = sample(small_scan, "small", 0)
    with pytest.raises(SynthesisError, match="index"):
        apply(small_scan, records[1:])
    bad = dataclasses.replace(records[0], center_vox=(999, 0, 0))
    with pytest.raises(SynthesisError, match="outside the volume"):
        apply(small_scan, [bad])


def test_measurements(small_scan):
    ctx = context(small_scan)
    for seed in range(4):
        case = synthesize(small_scan, one("small"), seed)
        (r,) = case.tumors
        assert r.liver_region in (
            "right-superior",
            "right-inferior",
            "left-superior",
            "left-inferior",
        )
        assert r.vessel_distance_mm is not None and r.vessel_distance_mm >= 0
        # brute force: every tumor voxel against every vessel voxel
        vox = np.argwhere(case.label == 2)
        d, _ = ctx.vessel_tree.query(vox * ctx.spacing)
        assert r.vessel_distance_mm == pytest.approx(float(d.min()), abs=1e-6)
        assert r.volume_mm3 == pytest.approx(len(vox) * np.prod(small_scan.spacing))


def test_controls_and_empty_configs(small_scan):
    cfg = TumorConfig(sizes=(SizeClass("none", (5, 5), (0, 0), (1, 1)),))
    case = synthesize(small_scan, cfg, 0, case_id="c0", condition="ctrl", replicate=2)
    assert case.tumors == () and case.case_id == "c0" and case.replicate == 2
    assert case.image.tobytes() == small_scan.image.tobytes()


@pytest.mark.slow
@pytest.mark.parametrize("scan_name", ["full_scan", "phantom_scan", "dicom_scan"])
def test_many_seeds(scan_name, request):
    """The properties above over 30 seeds and every level (slow)."""
    scan = request.getfixturevalue(scan_name)
    vessels = vessel_mask(scan)
    for seed in range(30):
        for level in ("tiny", "small", "medium", "large", "mix"):
            case = synthesize(scan, level, seed)
            assert not np.isnan(case.image).any()
            keep = outside_boxes(case, scan)
            np.testing.assert_array_equal(case.image[keep], scan.image[keep])
            assert not ((case.label == 2) & ~scan.liver & keep).any()
            for r in case.tumors:
                h = np.floor(r.cube_half_mm / np.asarray(scan.spacing) + 1e-6).astype(int)
                cube = tuple(
                    slice(max(c - k, 0), c + k + 1) for c, k in zip(r.center_vox, h, strict=True)
                )
                assert not vessels[cube].any()
            replay = apply(scan, case.tumors)
            assert replay.image.tobytes() == case.image.tobytes()
