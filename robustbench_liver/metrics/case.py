"""Score one case: every metric of DESIGN.md §6 as one case row plus one row per lesion.

This is what the runner and `robustbench-liver evaluate` call for each (model, case). The
prediction is a label map (tumor = `tumor_label`), a tumor probability map (tumor where
p >= `probability_threshold`) or a bool tumor mask; the ground truth is a 0/1/2 label map.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, NamedTuple

import numpy as np

from robustbench_liver.errors import DataError, RobustBenchError
from robustbench_liver.metrics._masks import as_spacing, union_box
from robustbench_liver.metrics.detection import LesionRule, case_detection, lesion_detection
from robustbench_liver.metrics.overlap import dice
from robustbench_liver.metrics.result import EMPTY_POLICY
from robustbench_liver.metrics.surface import hd95, nsd

PredictionKind = Literal["auto", "labels", "probability"]
LABELS = (0, 1, 2)
"""Ground truth and label-map predictions: 0 background, 1 liver, 2 tumor (LiTS / MSD)."""


@dataclass(frozen=True)
class MetricOptions:
    """How a case is scored. The defaults are DESIGN.md §6, and the only defaults: scenarios
    (`scenarios.schema`), `run` and `evaluate` all take theirs from here."""

    nsd_tolerance_mm: float = 2.0
    min_volume_mm3: float = 10.0
    """Case-level detection: smallest predicted tumor volume that calls a case positive
    (10 mm³: a few stray voxels do not make a case positive)."""
    lesion_rule: LesionRule = "overlap"
    iou_threshold: float = 0.1
    """Only with ``lesion_rule="iou"``."""
    probability_threshold: float = 0.5
    tumor_label: int = 2
    """Label of tumor in label-map predictions (1 for tools that write a binary tumor mask)."""
    hd95: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.probability_threshold < 1.0:
            raise RobustBenchError(
                f"probability_threshold must be in (0, 1), got {self.probability_threshold!r}"
            )
        if self.tumor_label not in (1, 2):
            raise RobustBenchError(f"tumor_label must be 1 or 2, got {self.tumor_label!r}")


class PredictionError(DataError):
    """A prediction that cannot be scored; `status` names the problem for the result row."""

    def __init__(self, message: str, status: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.status = status
        """One of: misshapen, non_finite, invalid_values, invalid_dtype."""


class CaseScores(NamedTuple):
    """One case row and one row per ground-truth lesion (plain dicts, ready for pandas)."""

    case: dict[str, Any]
    lesions: list[dict[str, Any]]


def _check_labels(
    array: np.ndarray, allowed: Sequence[int], what: str, case_id: str
) -> tuple[str, str] | None:
    """(status, message) unless every value of `array` is one of the `allowed` integers."""
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            return "non_finite", f"case {case_id!r}: {what} has non-finite values (NaN or inf)"
        integral = bool((array == np.round(array)).all())
    else:
        integral = True
    lo, hi = array.min(initial=0), array.max(initial=0)
    if integral and min(allowed) <= lo and hi <= max(allowed):
        return None
    bad = [v for v in np.unique(array).tolist() if v not in allowed][:5]
    return "invalid_values", f"case {case_id!r}: {what} has values {bad} outside {list(allowed)}"


def tumor_mask_from_prediction(
    prediction: np.ndarray,
    case_id: str,
    kind: PredictionKind = "auto",
    options: MetricOptions | None = None,
) -> np.ndarray:
    """The predicted tumor as a bool mask.

    `kind="auto"` goes by dtype only, never by values: bool is a tumor mask, integers a label
    map, floats a probability map. A label map stored as floats needs ``kind="labels"``.
    """
    options = options or MetricOptions()
    array = np.asarray(prediction)
    if array.dtype == bool:
        return array
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise PredictionError(
            f"case {case_id!r}: prediction has dtype {array.dtype}, expected numbers",
            status="invalid_dtype",
        )
    if kind == "auto":
        kind = "labels" if np.issubdtype(array.dtype, np.integer) else "probability"
    if kind == "labels":
        allowed = LABELS if options.tumor_label == 2 else (0, 1)
        problem = _check_labels(array, allowed, "prediction", case_id)
        if problem:
            hint = (
                "expected a label map with 0 background, 1 liver, 2 tumor"
                if options.tumor_label == 2
                else "expected a binary tumor mask (0/1)"
            )
            raise PredictionError(problem[1], status=problem[0], hint=hint)
        return array == options.tumor_label
    if kind != "probability":
        raise RobustBenchError(f"prediction kind must be auto, labels or probability: {kind!r}")
    if not np.isfinite(array).all():
        raise PredictionError(
            f"case {case_id!r}: probability map has non-finite values (NaN or inf)",
            status="non_finite",
        )
    lo, hi = float(array.min(initial=0.0)), float(array.max(initial=0.0))
    if lo < 0.0 or hi > 1.0:
        raise PredictionError(
            f"case {case_id!r}: probability map has values in [{lo:g}, {hi:g}], outside [0, 1]",
            status="invalid_values",
            hint="if this is a label map stored as floats, pass kind='labels'",
        )
    return array >= options.probability_threshold


def tumor_mask_from_ground_truth(ground_truth: np.ndarray, case_id: str) -> np.ndarray:
    """Tumor (label 2) of a 0/1/2 ground-truth label map; a bool array is taken as the mask."""
    array = np.asarray(ground_truth)
    if array.dtype == bool:
        return array
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise DataError(f"case {case_id!r}: ground truth has dtype {array.dtype}")
    problem = _check_labels(array, LABELS, "ground truth", case_id)
    if problem:
        raise DataError(problem[1], hint="expected a label map with 0 background, 1 liver, 2 tumor")
    return array == 2


def score_case(
    prediction: np.ndarray,
    ground_truth: np.ndarray,
    spacing: Sequence[float],
    *,
    case_id: str,
    options: MetricOptions | None = None,
    kind: PredictionKind = "auto",
    extra: Mapping[str, Any] | None = None,
) -> CaseScores:
    """All metrics of one case. `extra` (model, condition, base_scan, ...) leads every row.

    Raises DataError naming the case for a wrong shape, dtype, non-finite or unknown values.
    """
    options = options or MetricOptions()
    pred = tumor_mask_from_prediction(prediction, case_id, kind, options)
    gt = tumor_mask_from_ground_truth(ground_truth, case_id)
    if gt.ndim != 3:
        raise DataError(f"case {case_id!r}: ground truth must be 3D, got shape {gt.shape}")
    if pred.shape != gt.shape:
        raise PredictionError(
            f"case {case_id!r}: prediction has shape {pred.shape}, ground truth has {gt.shape}",
            status="misshapen",
            hint="predictions must be on the ground truth's voxel grid",
        )
    try:
        spacing_ = as_spacing(spacing)
    except DataError as err:
        raise DataError(f"case {case_id!r}: {err}") from None

    # nothing lies outside the union box and every metric pads it as it needs: crop once
    box = union_box(pred, gt)
    if box is None:
        pred_c = gt_c = np.zeros((1, 1, 1), dtype=bool)
    else:
        pred_c, gt_c = pred[box], gt[box]

    dsc = dice(pred_c, gt_c)
    surface = nsd(pred_c, gt_c, spacing_, options.nsd_tolerance_mm)
    hd = hd95(pred_c, gt_c, spacing_) if options.hd95 else None
    called = case_detection(pred_c, gt_c, spacing_, options.min_volume_mm3)
    found = lesion_detection(pred_c, gt_c, spacing_, options.lesion_rule, options.iou_threshold)
    voxel = float(np.prod(spacing_))

    head = {"case_id": case_id, **(extra or {})}
    case = {
        **head,
        "status": "ok",
        "error": None,
        "dsc": dsc.value,
        "dsc_reason": dsc.reason,
        "nsd": surface.value,
        "nsd_reason": surface.reason,
        "hd95_mm": math.nan if hd is None else hd.value,
        "hd95_reason": None if hd is None else hd.reason,
        "has_tumor": called.has_tumor,
        "predicted_positive": called.positive,
        "detection_outcome": called.outcome,
        # 0/1 per case, NaN where it does not apply: their means are sensitivity/specificity
        "case_sensitivity": float(called.positive) if called.has_tumor else math.nan,
        "case_specificity": math.nan if called.has_tumor else float(not called.positive),
        "gt_volume_mm3": float(np.count_nonzero(gt_c)) * voxel,
        "pred_volume_mm3": called.predicted_volume_mm3,
        "n_lesions": len(found.lesions),
        "n_lesions_detected": found.n_detected,
        "n_predicted_lesions": found.n_predicted_components,
        "n_false_positive_lesions": found.false_positives,
        "false_positive_volume_mm3": found.false_positive_volume_mm3,
        "spacing_x_mm": spacing_[0],
        "spacing_y_mm": spacing_[1],
        "spacing_z_mm": spacing_[2],
        "dsc_profile": dsc.profile,
        "nsd_profile": surface.profile,
        "hd95_profile": None if hd is None else hd.profile,
        "case_detection_profile": called.profile,
        "lesion_profile": found.profile,
        "empty_policy": EMPTY_POLICY,
    }
    lesions = [
        {**head, **asdict(lesion), "lesion_profile": found.profile, "status": "ok"}
        for lesion in found.lesions
    ]
    return CaseScores(case, lesions)


def failed_case_row(
    case_id: str, status: str, error: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The case row of a case that could not be scored: status and error, no metrics (the
    statistics decide what a failure counts as: `metrics.registry`)."""
    return {
        "case_id": case_id,
        **(extra or {}),
        "status": status,
        "error": error,
        "dsc": math.nan,
        "nsd": math.nan,
        "hd95_mm": math.nan,
        "case_sensitivity": math.nan,
        "case_specificity": math.nan,
        "empty_policy": EMPTY_POLICY,
    }


def failed_case(
    case_id: str,
    status: str,
    error: str,
    ground_truth: np.ndarray,
    spacing: Sequence[float],
    *,
    options: MetricOptions | None = None,
    extra: Mapping[str, Any] | None = None,
) -> CaseScores:
    """A prediction that failed on a case whose ground truth is known: the failed case row,
    with whether the case has tumor, and one row per ground-truth lesion, not found.

    Keeping the lesions is what lets a failure count as a miss: a model must not gain
    lesion sensitivity by failing on the hard cases."""
    options = options or MetricOptions()
    empty = score_case(
        np.zeros(np.shape(ground_truth), dtype=bool),
        ground_truth,
        spacing,
        case_id=case_id,
        options=replace(options, hd95=False),
        extra=extra,
    )
    row = failed_case_row(case_id, status, error, extra)
    row["has_tumor"] = empty.case["has_tumor"]
    row["n_lesions"] = empty.case["n_lesions"]
    row["gt_volume_mm3"] = empty.case["gt_volume_mm3"]
    for column in ("dsc_profile", "nsd_profile", "case_detection_profile", "lesion_profile"):
        row[column] = empty.case[column]
    lesions = [{**lesion, "status": status} for lesion in empty.lesions]
    return CaseScores(row, lesions)
