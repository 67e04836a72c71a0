"""Twin cases and how the calibration scores a prediction (no model process: predictions are
made by hand here)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage

from robustbench_liver.fidelity.lesions import find_lesions
from robustbench_liver.fidelity.scoring import (
    local_dsc,
    real_label,
    score_real,
    score_twin,
    without_ignored,
)
from robustbench_liver.fidelity.twins import heal, make_twin, twin_config
from robustbench_liver.metrics import MetricOptions
from robustbench_liver.synthesis import TumorConfig

from .conftest import DARK, fake_real_set

OPTIONS = MetricOptions()
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # NSD tolerance < 3 mm voxels


@pytest.fixture(scope="module")
def frame():
    return fake_real_set(DARK, scans=1)[0]


@pytest.fixture(scope="module")
def measured(frame):
    return [lesion for lesion in find_lesions(frame)[1] if lesion.measured]


@pytest.fixture(scope="module")
def twin(frame, measured):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_twin(frame, DARK, measured, replicate=0, seed=5)


def extra(case_id: str, kind: str) -> dict:
    return {"case_id": case_id, "model": "m", "set": kind, "real_scan": "s", "replicate": 0}


def test_local_dsc_is_dice_from_the_iou():
    assert local_dsc(1.0) == 1.0 and local_dsc(0.0) == 0.0
    assert local_dsc(1.0 / 3.0) == pytest.approx(0.5)  # |A∩B| = 1, |A| = |B| = 2


def test_ignored_voxels_and_components_answering_only_them_are_removed():
    pred = np.zeros((12, 4, 4), dtype=bool)
    truth = np.zeros_like(pred)
    ignore = np.zeros_like(pred)
    pred[0:3, 1, 1] = True  # touches the ignored (real) tumor only: dropped
    ignore[1, 1, 1] = True
    pred[5:8, 1, 1] = True  # touches both: kept, less its ignored voxel
    ignore[5, 1, 1] = truth[7, 1, 1] = True
    pred[10, 1, 1] = True  # touches neither: a false positive, kept
    kept = without_ignored(pred, truth, ignore)
    assert np.flatnonzero(kept[:, 1, 1]).tolist() == [6, 7, 10]


def test_twin_cases_hold_one_named_tumor_per_measured_lesion_and_replay(frame, measured, twin):
    config = twin_config(DARK, measured)
    assert [s.name for s in config.sizes] == [lesion.name for lesion in measured]
    assert all(s.count == (1, 1) for s in config.sizes)
    assert twin.case is not None and twin.case_id == "fake-real-0~twin0"
    assert sorted(t.size_class for t in twin.case.tumors) == sorted(les.name for les in measured)
    # the real tumors stay where they are and no synthetic tumor goes on them
    assert not (twin.case.label == 2)[frame.tumors].any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = make_twin(frame, DARK, measured, replicate=0, seed=5)
        other = make_twin(frame, DARK, measured, replicate=1, seed=5)
    assert again.case is not None and other.case is not None
    assert np.array_equal(again.case.image, twin.case.image)
    assert not np.array_equal(other.case.image, twin.case.image)


def test_healing_fills_the_real_tumors_with_parenchyma_and_nothing_else(frame):
    healed = heal(frame, seed=3)
    image, before = healed.image, frame.scan.image
    changed = image != before
    rim = ndimage.binary_dilation(frame.tumors, structure=np.ones((3, 3, 3), dtype=bool))
    assert changed.any() and not changed[~rim].any()  # the tumors and a one-voxel rim only
    liver = np.asarray(frame.scan.liver) & ~changed
    parenchyma = float(np.median(before[liver]))
    tumors = frame.tumors
    # the tumors were 60 HU darker; filled, they sit at the liver's level, with its grain
    assert float(np.median(before[tumors])) < parenchyma - 40
    assert abs(float(np.median(image[tumors])) - parenchyma) < 10
    assert 0.5 < float(image[tumors].std()) / float(before[liver].std()) < 2.0
    assert np.array_equal(heal(frame, seed=3).image, image)
    assert np.array_equal(healed.liver, frame.scan.liver)


def test_a_perfect_prediction_of_the_real_case_scores_one_per_lesion(frame, measured):
    label = real_label(frame)
    scored = score_real(label, frame, measured, extra("real", "real"), OPTIONS)
    assert scored.case["dsc"] == 1.0
    assert [r["match"] for r in scored.lesions] == [les.name for les in measured]
    assert all(r["local_dsc"] == 1.0 and r["detected"] == 1.0 for r in scored.lesions)
    for row, lesion in zip(scored.lesions, measured, strict=True):
        assert row["target_radius_mm"] == lesion.radius_mm


def test_finding_the_real_tumors_in_a_twin_case_is_not_charged(frame, measured, twin):
    case = twin.case
    both = case.label.copy()
    both[frame.tumors] = 2  # the model finds the synthetic tumors and the real ones
    radii = {les.name: les.radius_mm for les in measured}
    scored = score_twin(both, frame, case, radii, extra(case.case_id, "synthetic"), OPTIONS)
    assert scored.case["dsc"] == 1.0 and scored.case["n_false_positive_lesions"] == 0
    assert sorted(r["match"] for r in scored.lesions) == sorted(radii)
    assert all(r["local_dsc"] == 1.0 for r in scored.lesions)
    # scored plainly, the real tumors would be false positives: the rule is what saves it
    from robustbench_liver.metrics import score_case

    plain = score_case(both, case.label, frame.scan.spacing, case_id="plain")
    assert plain.case["dsc"] < 1.0 and plain.case["n_false_positive_lesions"] > 0


def test_a_failed_prediction_is_a_miss_with_its_status(frame, measured):
    failure = ("timeout", "no answer within 5 s")
    scored = score_real(failure, frame, measured, extra("real", "real"), OPTIONS)
    assert scored.case["status"] == "timeout" and scored.case["dsc"] == 0.0
    assert {r["status"] for r in scored.lesions} == {"timeout"}
    assert all(r["local_dsc"] == 0.0 and r["detected"] == 0.0 for r in scored.lesions)


def test_an_unusable_prediction_fails_that_case_only(frame, measured):
    garbage = np.full(frame.scan.shape, np.nan, dtype=np.float32)
    scored = score_real(garbage, frame, measured, extra("real", "real"), OPTIONS)
    assert scored.case["status"] == "non_finite" and scored.case["dsc"] == 0.0


def test_a_twin_without_space_is_a_reason_not_a_crash(frame, measured):
    huge = TumorConfig.level("large").with_(if_no_place="error")
    big = [type(m)(m.scan_id, m.number, m.voxels, 80.0, True) for m in measured]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        made = make_twin(frame, huge, big, replicate=0, seed=0)
    assert made.case is None and made.error


def test_a_twin_cut_in_pieces_is_one_twin(frame, measured, twin):
    import dataclasses

    case = twin.case
    tumor = case.tumors[0]
    x = tumor.center_vox[0]
    label = case.label.copy()
    cut = label[x] == 2
    label[x][cut] = 1  # a cleft through its centre: two pieces, neither holding the centre
    pieces = dataclasses.replace(case, label=label)
    radii = {les.name: les.radius_mm for les in measured}
    scored = score_twin(label, frame, pieces, radii, extra(case.case_id, "synthetic"), OPTIONS)
    assert scored.case["n_lesions"] == len(measured) + 1  # the metrics see the pieces
    rows = {r["match"]: r for r in scored.lesions}
    assert sorted(rows) == sorted(radii)  # every piece named, one row per twin
    assert rows[tumor.size_class]["n_pieces"] == 2
    assert rows[tumor.size_class]["local_dsc"] == 1.0 and rows[tumor.size_class]["detected"] == 1
    volume = float((label == 2).sum()) * np.prod(frame.scan.spacing)
    assert sum(r["volume_mm3"] for r in rows.values()) == pytest.approx(volume)
