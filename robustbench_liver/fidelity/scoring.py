"""Score a model's prediction on a real case and on its twin cases with the suite's own
metrics (`metrics.score_case`: the same prediction gets the same number as in `run` and
`evaluate`), as one case row and one row per matched lesion.

Real case: the scan's whole label map, every real lesion, exactly as `evaluate` would score
it. Its lesion rows are kept for the measured lesions (those with synthetic twins).

Twin case: the real tumors are still in the image but are not what the twin case tests, so
they are left out before scoring: prediction voxels on them are removed, and so are predicted
components that touch a real tumor and no synthetic one (the model's answer to the real
tumor, already scored on the real case). What remains is scored against the synthetic tumors.

Per-lesion local DSC is the Dice of a lesion and the predicted components that touch it,
2·IoU / (1 + IoU) from `metrics.lesion_detection`'s IoU: 0 for a missed lesion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.fidelity.lesions import CONNECTIVITY, Lesion, ScanFrame
from robustbench_liver.metrics import (
    MetricOptions,
    PredictionError,
    failed_case,
    score_case,
    tumor_mask_from_prediction,
)
from robustbench_liver.metrics.registry import BY_NAME
from robustbench_liver.runs.lesions import lesion_properties
from robustbench_liver.types import Case

Prediction = np.ndarray | tuple[str, str]
"""A model's output, or (status, error) when it gave none."""


def local_dsc(iou: float) -> float:
    """Dice from IoU: D = 2 J / (1 + J)."""
    return 2.0 * iou / (1.0 + iou) if math.isfinite(iou) else math.nan


def real_label(frame: ScanFrame) -> np.ndarray:
    """The real case's label map: 1 liver, 2 tumor (the LiTS / MSD convention)."""
    label = np.asarray(frame.scan.liver).astype(np.uint8)
    label[frame.tumors] = 2
    return label


def real_liver(frame: ScanFrame) -> np.ndarray:
    """The liver mask a model that asks for one gets on the real case: the organ, tumors in."""
    return np.asarray(frame.scan.liver) | frame.tumors


def twin_liver(frame: ScanFrame, case: Case) -> np.ndarray:
    """The same on a twin case: its liver and synthetic tumors, and the real tumors."""
    return np.asarray(case.label >= 1) | frame.tumors


@dataclass(frozen=True)
class Scored:
    case: dict[str, Any]
    lesions: list[dict[str, Any]]
    """One row per matched lesion: `match` names the real lesion."""


def score_real(
    prediction: Prediction,
    frame: ScanFrame,
    lesions: Sequence[Lesion],
    extra: Mapping[str, Any],
    options: MetricOptions,
) -> Scored:
    """The real case scored on every real lesion; lesion rows of the `lesions` given (the
    measured ones), named by `match`."""
    case_id = str(extra["case_id"])
    head = {k: v for k, v in extra.items() if k != "case_id"}
    label = real_label(frame)
    row, rows = _score(prediction, label, None, frame.scan.spacing, case_id, head, options)
    voxel = math.prod(frame.scan.spacing)
    by_number = {lesion.number: lesion for lesion in lesions}
    kept = []
    for r in rows:
        lesion = by_number.get(int(r["lesion_id"]))
        if lesion is None:
            continue
        # the metrics number lesions in raster order, as find_lesions does: check it
        if not math.isclose(float(r["volume_mm3"]), lesion.voxels * voxel, rel_tol=1e-6):
            raise RobustBenchError(
                f"case {case_id!r}: lesion {r['lesion_id']} of the metrics is not real lesion "
                f"{lesion.name} ({r['volume_mm3']:.1f} vs {lesion.voxels * voxel:.1f} mm³): "
                "a bench bug, please report it"
            )
        kept.append({**r, "match": lesion.name, "target_radius_mm": lesion.radius_mm})
    return Scored(row, kept)


def score_twin(
    prediction: Prediction,
    frame: ScanFrame,
    case: Case,
    radii: Mapping[str, float],
    extra: Mapping[str, Any],
    options: MetricOptions,
) -> Scored:
    """A twin case scored on its synthetic tumors, the real tumors left out (module doc).
    `radii`: real lesion name -> its radius (the twin's target). One lesion row per twin: a
    tumor cut in pieces (by a cleft of the liver mask, say) is named by `twin_names` and its
    pieces are pooled by `pooled`."""
    head = {k: v for k, v in extra.items() if k != "case_id"}
    names = twin_names(case)
    row, rows = _score(
        prediction, case.label, frame.tumors, frame.scan.spacing, case.case_id, head, options
    )
    by_match: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_match.setdefault(names.get(int(r["lesion_id"]), ""), []).append(r)
    named = [
        {**pooled(pieces), "match": match, "target_radius_mm": radii.get(match, math.nan)}
        for match, pieces in by_match.items()
    ]
    return Scored(row, named)


def twin_names(case: Case) -> dict[int, str]:
    """Lesion id (the metrics' numbering: 26-connected components in raster order) -> the
    real lesion its tumor stands for (the size class of its record, `twins.twin_config`):
    the tumor whose centre lies in the component (`runs.lesions`), else, for a piece
    without a centre, the tumor whose centre is nearest in mm."""
    places = lesion_properties(case)
    names = {k: str(v.get("size_class", "")) for k, v in places.items()}
    labelled, count = ndimage.label(case.label == 2, structure=CONNECTIVITY)
    missing = [k for k in range(1, count + 1) if k not in names]
    if missing and case.tumors:
        spacing = np.asarray(case.spacing or (1.0, 1.0, 1.0))
        centres = np.array([t.center_vox for t in case.tumors], dtype=float) * spacing
        found = ndimage.center_of_mass(np.ones_like(labelled), labelled, missing)
        for k, centre in zip(missing, found, strict=True):
            nearest = np.argmin(np.linalg.norm(centres - np.asarray(centre) * spacing, axis=1))
            names[k] = case.tumors[int(nearest)].size_class
    return names


def pooled(pieces: list[dict[str, Any]]) -> dict[str, Any]:
    """One row for the pieces of one twin: the largest piece's row with the pieces' total
    volume (and its equivalent radius), found if any piece is, and local DSC weighted by
    volume."""
    if len(pieces) == 1:
        return {**pieces[0], "n_pieces": 1}
    volume = sum(float(p["volume_mm3"]) for p in pieces)
    largest = max(pieces, key=lambda p: float(p["volume_mm3"]))
    weighted = sum(float(p["local_dsc"]) * float(p["volume_mm3"]) for p in pieces)
    return {
        **largest,
        "volume_mm3": volume,
        "radius_mm": (3.0 * volume / (4.0 * math.pi)) ** (1.0 / 3.0),
        "detected": max(float(p["detected"]) for p in pieces),
        "local_dsc": weighted / volume if volume > 0 else math.nan,
        "n_pieces": len(pieces),
    }


def without_ignored(pred: np.ndarray, truth: np.ndarray, ignore: np.ndarray) -> np.ndarray:
    """`pred` without the voxels in `ignore` and without the components that touch `ignore`
    and no voxel of `truth`."""
    if not ignore.any() or not pred.any():
        return pred
    components, _ = ndimage.label(pred, structure=CONNECTIVITY)
    touching = np.unique(components[ignore & pred])
    found = np.unique(components[truth & pred])
    drop = np.setdiff1d(touching[touching > 0], found)
    out = pred & ~ignore
    if drop.size:
        out &= ~np.isin(components, drop)
    return out


def _score(
    prediction: Prediction,
    label: np.ndarray,
    ignore: np.ndarray | None,
    spacing: tuple[float, float, float],
    case_id: str,
    head: Mapping[str, Any],
    options: MetricOptions,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if isinstance(prediction, tuple):
        return _failed(prediction, label, spacing, case_id, head, options)
    try:
        pred: np.ndarray = prediction
        if ignore is not None:
            mask = tumor_mask_from_prediction(prediction, case_id, options=options)
            if mask.shape == label.shape:  # a misshapen one fails in score_case
                pred = without_ignored(mask, label == 2, ignore)
        scores = score_case(pred, label, spacing, case_id=case_id, options=options, extra=head)
    except PredictionError as err:
        return _failed((err.status, str(err)), label, spacing, case_id, head, options)
    except RobustBenchError as err:
        return _failed(("invalid_prediction", str(err)), label, spacing, case_id, head, options)
    lesions = [_lesion(r) for r in scores.lesions]
    return scores.case, lesions


def _failed(
    failure: tuple[str, str],
    label: np.ndarray,
    spacing: tuple[float, float, float],
    case_id: str,
    head: Mapping[str, Any],
    options: MetricOptions,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A prediction that failed counts as a miss (metrics.registry: DSC 0, no lesion found)."""
    status, error = failure
    scores = failed_case(case_id, status, error, label, spacing, options=options, extra=head)
    row = dict(scores.case)
    row["dsc"] = BY_NAME["dsc"].on_failure
    # the empty prediction's lesion rows: none found, IoU 0; their status says why
    return row, [_lesion(r) for r in scores.lesions]


def _lesion(row: Mapping[str, Any]) -> dict[str, Any]:
    """A lesion row of the metrics, with detection as 0/1 (a proportion's values) and the
    local DSC."""
    out = dict(row)
    out["detected"] = float(bool(row["detected"]))
    out["local_dsc"] = local_dsc(float(row["iou"]))
    return out
