"""Where each ground-truth lesion came from: the tumor record(s) behind a component."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from robustbench_liver.metrics import bounding_box
from robustbench_liver.types import Case

_STRUCTURE = np.ones((3, 3, 3), dtype=bool)  # 26-connectivity, as the metrics use


def lesion_properties(case: Case) -> dict[int, dict[str, Any]]:
    """Per lesion id (26-connected components of the tumor label, raster order — the ids the
    metrics report): the properties of the largest tumor record whose centre lies in it.

    Labels the tumors' bounding box only: raster order, and so every id, is the same there
    as in the whole volume."""
    tumor = case.label == 2
    box = bounding_box(tumor)
    if box is None:
        return {}
    components, _ = ndimage.label(tumor[box], structure=_STRUCTURE)
    lo = np.asarray([s.start for s in box])
    found: dict[int, dict[str, Any]] = {}
    for record in sorted(case.tumors, key=lambda r: -(r.volume_mm3 or 0.0)):
        centre = tuple(int(c) for c in np.asarray(record.center_vox) - lo)
        inside = all(0 <= c < n for c, n in zip(centre, components.shape, strict=True))
        component = int(components[centre]) if inside else 0
        if component == 0:  # the centre was warped out of its own mask: take the nearest
            component = _nearest(components, centre)
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


def _nearest(components: np.ndarray, centre: tuple[int, ...], reach: int = 6) -> int:
    """The component nearest to `centre` within `reach` voxels (0 if none); `centre` may lie
    outside the array."""
    lo = [max(0, c - reach) for c in centre]
    box = tuple(slice(a, max(a, c + reach + 1)) for a, c in zip(lo, centre, strict=True))
    ids = components[box]
    if not ids.any():
        return 0
    pts = np.argwhere(ids)
    d = ((pts + np.asarray(lo) - np.asarray(centre)) ** 2).sum(axis=1)
    return int(ids[tuple(pts[int(np.argmin(d))])])
