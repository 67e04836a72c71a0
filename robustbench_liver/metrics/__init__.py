"""Per-case metrics (DESIGN.md §6): DSC, surfel NSD, HD95, case- and lesion-level detection.

Pure functions on numpy arrays; no torch. Every value carries its metric profile and the
empty-case policy (`Score`).
"""

from __future__ import annotations

from robustbench_liver.metrics._masks import bounding_box
from robustbench_liver.metrics.case import (
    CaseScores,
    MetricOptions,
    PredictionError,
    failed_case,
    failed_case_row,
    score_case,
    tumor_mask_from_ground_truth,
    tumor_mask_from_prediction,
)
from robustbench_liver.metrics.detection import (
    RADIUS_BIN_EDGES_MM,
    CaseDetection,
    Lesion,
    LesionDetection,
    case_detection,
    equivalent_radius_mm,
    lesion_detection,
    radius_bin,
)
from robustbench_liver.metrics.overlap import DSC_PROFILE, dice
from robustbench_liver.metrics.result import EMPTY_POLICY, Score
from robustbench_liver.metrics.surface import ToleranceBelowSpacingWarning, hd95, nsd

__all__ = [
    "DSC_PROFILE",
    "EMPTY_POLICY",
    "RADIUS_BIN_EDGES_MM",
    "CaseDetection",
    "CaseScores",
    "Lesion",
    "LesionDetection",
    "MetricOptions",
    "PredictionError",
    "Score",
    "ToleranceBelowSpacingWarning",
    "bounding_box",
    "case_detection",
    "dice",
    "equivalent_radius_mm",
    "failed_case",
    "failed_case_row",
    "hd95",
    "lesion_detection",
    "nsd",
    "radius_bin",
    "score_case",
    "tumor_mask_from_ground_truth",
    "tumor_mask_from_prediction",
]
