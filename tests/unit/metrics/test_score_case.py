"""score_case: prediction kinds, validation naming the case, rows, and crop = whole volume."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from robustbench_liver.errors import DataError
from robustbench_liver.metrics import (
    EMPTY_POLICY,
    MetricOptions,
    PredictionError,
    case_detection,
    dice,
    failed_case_row,
    hd95,
    lesion_detection,
    nsd,
    score_case,
)

SPACING = (0.8, 0.9, 2.5)


@pytest.fixture
def labels(blobs) -> tuple[np.ndarray, np.ndarray]:
    """A 0/1/2 ground truth and a 0/1/2 prediction on a 40×36×20 grid."""
    rng = np.random.default_rng(7)
    shape = (40, 36, 20)
    liver = np.zeros(shape, dtype=bool)
    liver[5:35, 5:31, 3:17] = True
    gt = liver.astype(np.uint8)
    gt[blobs(rng, shape, 0.05) & liver] = 2
    pred = liver.astype(np.uint8)
    pred[blobs(rng, shape, 0.05) & liver] = 2
    return pred, gt


def _score(pred, gt, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return score_case(pred, gt, SPACING, case_id="c7", **kw)


def test_rows_equal_the_whole_volume_metrics(labels):
    pred, gt = labels
    scores = _score(pred, gt, extra={"model": "m", "condition": "ref"})
    row = scores.case
    p, g = pred == 2, gt == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert row["dsc"] == dice(p, g).value
        assert row["nsd"] == pytest.approx(nsd(p, g, SPACING).value, abs=1e-12)
    assert row["hd95_mm"] == pytest.approx(hd95(p, g, SPACING).value)
    found = lesion_detection(p, g, SPACING)
    assert row["n_lesions"] == len(found.lesions) == len(scores.lesions)
    assert row["n_false_positive_lesions"] == found.false_positives
    assert row["predicted_positive"] == case_detection(p, g, SPACING).positive
    assert (row["case_id"], row["model"], row["condition"]) == ("c7", "m", "ref")
    assert row["status"] == "ok" and row["error"] is None
    assert row["nsd_profile"] == "nsd@2mm/surfel" and row["dsc_profile"] == "dsc"
    assert row["empty_policy"] == EMPTY_POLICY
    assert row["case_sensitivity"] == 1.0 and math.isnan(row["case_specificity"])
    lesion = scores.lesions[0]
    assert {"case_id", "model", "lesion_id", "radius_bin", "detected", "lesion_profile"} <= set(
        lesion
    )


def test_probability_map_is_thresholded_at_half(labels):
    pred, gt = labels
    probability = np.where(pred == 2, 0.5, 0.49).astype(np.float32)
    assert _score(probability, gt).case["dsc"] == _score(pred, gt).case["dsc"]
    stricter = _score(probability, gt, options=MetricOptions(probability_threshold=0.6))
    assert stricter.case["dsc"] == 0.0


def test_float_label_map_needs_kind_labels(labels):
    pred, gt = labels
    with pytest.raises(PredictionError, match=r"c7.*outside \[0, 1\]") as err:
        _score(pred.astype(np.float32), gt)
    assert err.value.status == "invalid_values"
    assert "kind='labels'" in str(err.value)
    assert _score(pred.astype(np.float32), gt, kind="labels").case["dsc"] > 0


def test_binary_tumor_mask_with_tumor_label_1(labels):
    pred, gt = labels
    binary = (pred == 2).astype(np.uint8)
    one = _score(binary, gt, options=MetricOptions(tumor_label=1))
    assert one.case["dsc"] == _score(pred, gt).case["dsc"]
    with pytest.raises(PredictionError, match=r"values \[2\]"):
        _score(pred, gt, options=MetricOptions(tumor_label=1))


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        (lambda p: p[:-1], "misshapen", "shape"),
        (lambda p: np.where(p == 2, np.nan, p.astype(np.float32)), "non_finite", "non-finite"),
        (lambda p: np.where(p == 2, 3, p), "invalid_values", r"values \[3\]"),
        (lambda p: p.astype(str), "invalid_dtype", "dtype"),
    ],
)
def test_bad_predictions_name_the_case(labels, change, status, message):
    pred, gt = labels
    with pytest.raises(PredictionError, match=message) as err:
        _score(change(pred), gt, kind="labels")
    assert err.value.status == status
    assert "'c7'" in str(err.value)


def test_bad_ground_truth(labels):
    pred, gt = labels
    with pytest.raises(DataError, match=r"c7.*ground truth has values"):
        _score(pred, np.where(gt == 2, 5, gt))


def test_empty_combinations():
    empty = np.zeros((6, 6, 6), dtype=np.uint8)
    tumor = empty.copy()
    tumor[2:4, 2:4, 2:4] = 2
    control_clean = _score(empty, empty).case
    assert math.isnan(control_clean["dsc"]) and math.isnan(control_clean["nsd"])
    assert control_clean["case_specificity"] == 1.0 and math.isnan(
        control_clean["case_sensitivity"]
    )
    assert "ground truth" in control_clean["dsc_reason"]
    control_flagged = _score(tumor, empty).case
    assert control_flagged["case_specificity"] == 0.0
    assert control_flagged["n_false_positive_lesions"] == 1
    missed = _score(empty, tumor).case
    assert missed["dsc"] == 0.0 and missed["nsd"] == 0.0 and missed["hd95_mm"] == math.inf
    assert missed["case_sensitivity"] == 0.0 and missed["dsc_reason"] == "no tumor predicted"


def test_failed_row_carries_status_and_policy():
    row = failed_case_row("c9", "missing", "no file", {"condition": "ref"})
    assert row["status"] == "missing" and row["condition"] == "ref" and math.isnan(row["dsc"])
    assert row["empty_policy"] == EMPTY_POLICY
