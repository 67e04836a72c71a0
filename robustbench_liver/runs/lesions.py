"""Where each ground-truth lesion came from: the tumor record(s) behind a component."""

from __future__ import annotations

from typing import Any

from robustbench_liver.metrics import bounding_box
from robustbench_liver.synthesis.measure import lesions
from robustbench_liver.types import Case


def lesion_properties(case: Case) -> dict[int, dict[str, Any]]:
    """Per lesion id (26-connected components of the tumor label, raster order — the ids the
    metrics report): the properties of the largest tumor record whose centre lies in it.

    Labels the tumors' bounding box only: raster order, and so every id, is the same there
    as in the whole volume. The lesions are found as synthesis finds them (its records'
    `lesion_id`), recomputed here so records written before that field still count."""
    tumor = case.label == 2
    box = bounding_box(tumor)
    if box is None:
        return {}
    _, ids = lesions(tumor[box], case.tumors, origin=[s.start for s in box])
    found: dict[int, dict[str, Any]] = {}
    by_size = sorted(zip(case.tumors, ids, strict=True), key=lambda p: -(p[0].volume_mm3 or 0.0))
    for record, component in by_size:
        if component and component not in found:
            found[component] = {
                "tumor_index": record.index,
                "size_class": record.size_class,
                "liver_region": record.liver_region,
                "vessel_distance_mm": record.vessel_distance_mm,
                "requested_delta_hu": record.delta_hu,
                "mean_hu_change": record.mean_hu_change,
                "n_tumors_merged": 0,
            }
        if component:
            found[component]["n_tumors_merged"] += 1
    return found
