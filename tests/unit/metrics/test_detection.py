"""Case- and lesion-level detection: 26-connectivity, hit rules, radius bins, false positives."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.metrics import (
    case_detection,
    equivalent_radius_mm,
    lesion_detection,
    radius_bin,
)

UNIT = (1.0, 1.0, 1.0)


def test_equivalent_radius_of_a_sphere():
    assert equivalent_radius_mm(4 / 3 * math.pi * 7**3) == pytest.approx(7.0)


@pytest.mark.parametrize(
    ("radius", "label"),
    [(0.0, "[0,5)"), (4.999, "[0,5)"), (5.0, "[5,10)"), (14.9, "[10,15)"), (15.0, "[15,20)"),
     (19.99, "[15,20)"), (20.0, "[20,inf)"), (44.0, "[20,inf)")],
)  # fmt: skip
def test_radius_bins(radius, label):
    assert radius_bin(radius) == label


def test_case_detection_outcomes(cube4):
    empty = np.zeros_like(cube4)
    assert case_detection(cube4, cube4, UNIT).outcome == "TP"
    assert case_detection(empty, cube4, UNIT).outcome == "FN"
    assert case_detection(cube4, empty, UNIT).outcome == "FP"
    assert case_detection(empty, empty, UNIT).outcome == "TN"


def test_case_detection_min_volume(cube4):
    one = np.zeros_like(cube4)
    one[0, 0, 0] = True  # 2 mm³ at spacing (1, 1, 2)
    called = case_detection(one, cube4, (1, 1, 2), min_volume_mm3=2.0)
    assert called.positive and called.predicted_volume_mm3 == 2.0
    assert called.profile == "case@2mm3"
    assert not case_detection(one, cube4, (1, 1, 2), min_volume_mm3=2.5).positive
    with pytest.raises(RobustBenchError, match="min_volume_mm3"):
        case_detection(one, cube4, UNIT, min_volume_mm3=-1)


def test_diagonal_voxels_are_one_lesion_26_connected():
    gt = np.zeros((4, 4, 4), dtype=bool)
    gt[0, 0, 0] = gt[1, 1, 1] = True  # corner-touching: one lesion with 26-connectivity
    gt[3, 3, 3] = True  # a second lesion
    found = lesion_detection(np.zeros_like(gt), gt, UNIT)
    assert [lesion.volume_mm3 for lesion in found.lesions] == [2.0, 1.0]
    assert found.n_detected == 0


def test_hits_misses_and_false_positives():
    gt = np.zeros((8, 4, 4), dtype=bool)
    gt[0:2, 0:2, 0:2] = True  # lesion 1: 8 voxels, found by one voxel
    gt[5:7, 0:2, 0:2] = True  # lesion 2: missed
    pred = np.zeros_like(gt)
    pred[1, 1, 1] = True
    pred[3, 3, 3] = True  # touches no lesion: false positive
    pred[7, 3, 0:2] = True  # second false positive, 2 voxels
    found = lesion_detection(pred, gt, (1, 1, 2))
    first, second = found.lesions
    assert first.detected and first.overlap_mm3 == 2.0 and first.iou == pytest.approx(1 / 8)
    assert not second.detected and second.iou == 0.0
    assert first.volume_mm3 == 16.0
    assert first.radius_mm == pytest.approx(equivalent_radius_mm(16.0))
    assert found.n_predicted_components == 3
    assert found.false_positives == 2
    assert found.false_positive_volume_mm3 == 6.0
    assert found.profile == "lesion/26c/overlap"


def test_iou_rule():
    gt = np.zeros((6, 4, 4), dtype=bool)
    gt[0:2, 0:2, 0:2] = True
    pred = np.zeros_like(gt)
    pred[0:2, 0:2, 0:1] = True  # half the lesion: IoU 0.5
    assert lesion_detection(pred, gt, UNIT, rule="iou", iou_threshold=0.5).lesions[0].detected
    strict = lesion_detection(pred, gt, UNIT, rule="iou", iou_threshold=0.6)
    assert not strict.lesions[0].detected
    assert strict.profile == "lesion/26c/iou>=0.6"
    # the whole touching component counts in the union: a big blob overlapping a lesion
    pred[0:6, 0:4, 0:4] = True
    assert lesion_detection(pred, gt, UNIT).lesions[0].iou == pytest.approx(8 / 96)


def test_empty_combinations(cube4):
    empty = np.zeros_like(cube4)
    nothing = lesion_detection(empty, empty, UNIT)
    assert nothing.lesions == () and nothing.false_positives == 0
    only_pred = lesion_detection(cube4, empty, UNIT)
    assert only_pred.lesions == () and only_pred.false_positives == 1
    only_gt = lesion_detection(empty, cube4, UNIT)
    assert len(only_gt.lesions) == 1 and not only_gt.lesions[0].detected


def test_bad_rule(cube4):
    with pytest.raises(RobustBenchError, match="rule"):
        lesion_detection(cube4, cube4, UNIT, rule="dice")  # type: ignore[arg-type]
