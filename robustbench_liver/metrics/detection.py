"""Detection: is tumor found in the case, and which ground-truth lesions are found.

Case level: a case is positive when the predicted tumor volume is at least `min_volume_mm3`
(and non-zero). Lesion level: ground-truth lesions are 26-connected components; a lesion is
detected when any predicted tumor voxel overlaps it (default) or when its IoU with the
predicted components touching it reaches a threshold. Predicted components touching no
ground-truth lesion are false positives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.metrics._masks import as_mask_pair, as_spacing, union_box

RADIUS_BIN_EDGES_MM: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0, 20.0)
"""Lower edges of the equivalent-radius bins; the last bin is open: [20, inf)."""

LesionRule = Literal["overlap", "iou"]

_CONNECTIVITY_26 = np.ones((3, 3, 3), dtype=bool)


def equivalent_radius_mm(volume_mm3: float) -> float:
    """Radius of the sphere with this volume: r = (3V / 4π)^(1/3)."""
    return float((3.0 * volume_mm3 / (4.0 * math.pi)) ** (1.0 / 3.0))


def radius_bin(radius_mm: float) -> str:
    """The bin label of an equivalent radius, e.g. ``"[5,10)"`` or ``"[20,inf)"``."""
    edges = RADIUS_BIN_EDGES_MM
    k = int(np.searchsorted(edges, radius_mm, side="right")) - 1
    k = max(k, 0)
    high = f"{edges[k + 1]:g}" if k + 1 < len(edges) else "inf"
    return f"[{edges[k]:g},{high})"


def case_profile(min_volume_mm3: float) -> str:
    return f"case@{min_volume_mm3:g}mm3"


def lesion_profile(rule: LesionRule, iou_threshold: float) -> str:
    return "lesion/26c/overlap" if rule == "overlap" else f"lesion/26c/iou>={iou_threshold:g}"


@dataclass(frozen=True)
class CaseDetection:
    """Case-level call: does the prediction say this case has tumor?"""

    has_tumor: bool
    """The ground truth has at least one tumor voxel."""
    predicted_volume_mm3: float
    positive: bool
    profile: str

    @property
    def outcome(self) -> str:
        """TP, FN, FP or TN."""
        if self.has_tumor:
            return "TP" if self.positive else "FN"
        return "FP" if self.positive else "TN"


def case_detection(
    pred: np.ndarray, gt: np.ndarray, spacing: Sequence[float], min_volume_mm3: float = 0.0
) -> CaseDetection:
    """Positive when the predicted tumor volume is non-zero and at least `min_volume_mm3`."""
    pred, gt = as_mask_pair(pred, gt)
    voxel = float(np.prod(as_spacing(spacing)))
    if not math.isfinite(min_volume_mm3) or min_volume_mm3 < 0:
        raise RobustBenchError(f"min_volume_mm3 must be >= 0, got {min_volume_mm3!r}")
    box = union_box(pred, gt)
    n_pred = 0 if box is None else int(np.count_nonzero(pred[box]))
    has_tumor = box is not None and bool(gt[box].any())
    volume = n_pred * voxel
    positive = n_pred > 0 and volume >= min_volume_mm3
    return CaseDetection(has_tumor, volume, positive, case_profile(min_volume_mm3))


@dataclass(frozen=True)
class Lesion:
    """One ground-truth lesion (26-connected component) and whether it was found."""

    lesion_id: int
    """1-based, in raster order of the lesion's first voxel."""
    volume_mm3: float
    radius_mm: float
    """Equivalent radius (3V / 4π)^(1/3)."""
    radius_bin: str
    overlap_mm3: float
    """Predicted tumor volume inside the lesion."""
    iou: float
    """IoU of the lesion and the predicted components that touch it."""
    detected: bool


@dataclass(frozen=True)
class LesionDetection:
    """Lesion-level result of one case."""

    lesions: tuple[Lesion, ...]
    n_predicted_components: int
    false_positives: int
    """Predicted components that touch no ground-truth lesion."""
    false_positive_volume_mm3: float
    profile: str

    @property
    def n_detected(self) -> int:
        return sum(lesion.detected for lesion in self.lesions)


def lesion_detection(
    pred: np.ndarray,
    gt: np.ndarray,
    spacing: Sequence[float],
    rule: LesionRule = "overlap",
    iou_threshold: float = 0.5,
) -> LesionDetection:
    """Match 26-connected ground-truth lesions with 26-connected predicted components."""
    if rule not in ("overlap", "iou"):
        raise RobustBenchError(f"lesion rule must be 'overlap' or 'iou', got {rule!r}")
    if not 0.0 < iou_threshold <= 1.0:
        raise RobustBenchError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
    pred, gt = as_mask_pair(pred, gt)
    voxel = float(np.prod(as_spacing(spacing)))
    profile = lesion_profile(rule, iou_threshold)
    box = union_box(pred, gt)
    if box is None:
        return LesionDetection((), 0, 0, 0.0, profile)
    p, g = pred[box], gt[box]  # components never reach outside the union box
    gt_labels, n_gt = ndimage.label(g, structure=_CONNECTIVITY_26)
    pred_labels, n_pred = ndimage.label(p, structure=_CONNECTIVITY_26)
    gt_size = np.bincount(gt_labels.ravel(), minlength=n_gt + 1)
    pred_size = np.bincount(pred_labels.ravel(), minlength=n_pred + 1)

    both = p & g
    gt_both, pred_both = gt_labels[both], pred_labels[both]
    pairs = np.unique(gt_both.astype(np.int64) * (n_pred + 1) + pred_both)
    pair_gt, pair_pred = np.divmod(pairs, n_pred + 1)
    overlap = np.bincount(gt_both, minlength=n_gt + 1)
    # union of a lesion with the components touching it = lesion + components - overlap
    touching = np.bincount(pair_gt, weights=pred_size[pair_pred], minlength=n_gt + 1)
    union = gt_size + touching - overlap

    lesions = []
    for k in range(1, n_gt + 1):
        volume = float(gt_size[k]) * voxel
        radius = equivalent_radius_mm(volume)
        iou = float(overlap[k] / union[k])
        hit = overlap[k] > 0 if rule == "overlap" else iou >= iou_threshold
        lesions.append(
            Lesion(k, volume, radius, radius_bin(radius), float(overlap[k]) * voxel, iou, bool(hit))
        )
    false_positive = np.ones(n_pred + 1, dtype=bool)
    false_positive[0] = False
    false_positive[pair_pred] = False
    return LesionDetection(
        lesions=tuple(lesions),
        n_predicted_components=int(n_pred),
        false_positives=int(false_positive.sum()),
        false_positive_volume_mm3=float(pred_size[false_positive].sum()) * voxel,
        profile=profile,
    )
