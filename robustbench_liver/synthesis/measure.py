"""Measure each tumor after synthesis: volume, equivalent radius, HU change, vessel distance,
and which tumors merge into one lesion."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from robustbench_liver.synthesis.context import ScanContext
from robustbench_liver.types import TumorRecord

Box = tuple[slice, slice, slice]
LESION_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)
"""26-connectivity: how the per-lesion metrics split a tumor label into lesions."""


def reach(index: int, boxes: list[Box]) -> Box:
    """Box that holds every voxel of tumor `index`: later tumors' warps may move it into
    their own boxes, so grow by every later box that touches it. One pass in index order
    is transitive: that is the order the warps ran in."""
    lo = np.asarray([s.start for s in boxes[index]])
    hi = np.asarray([s.stop for s in boxes[index]])
    for later in boxes[index + 1 :]:
        blo = np.asarray([s.start for s in later])
        bhi = np.asarray([s.stop for s in later])
        if np.all(blo < hi) and np.all(bhi > lo):
            lo, hi = np.minimum(lo, blo), np.maximum(hi, bhi)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))  # type: ignore[return-value]


def measure(
    record: TumorRecord,
    image: np.ndarray,
    label: np.ndarray,
    box: Box,
    ctx: ScanContext,
) -> TumorRecord:
    """A copy of `record` with its measured fields set; the tumor is label == 2 + index."""
    mask = label[box] == 2 + record.index
    count = int(mask.sum())
    voxel = float(np.prod(ctx.spacing))
    if count == 0:
        return dataclasses.replace(
            record,
            volume_mm3=0.0,
            equivalent_radius_mm=0.0,
            mean_hu_change=None,
            vessel_distance_mm=None,
        )
    volume = count * voxel
    radius = (3.0 * volume / (4.0 * math.pi)) ** (1.0 / 3.0)
    change = float(np.mean(image[box][mask], dtype=np.float64)) - record.parenchyma_hu
    return dataclasses.replace(
        record,
        volume_mm3=volume,
        equivalent_radius_mm=radius,
        mean_hu_change=change,
        vessel_distance_mm=_vessel_distance(mask, box, ctx),
    )


def _vessel_distance(mask: np.ndarray, box: Box, ctx: ScanContext) -> float | None:
    """Smallest distance (mm, voxel centres) from a tumor voxel to a vessel voxel of the
    base scan; 0 when the tumor covers a vessel voxel."""
    if ctx.vessel_tree is None:
        return None
    # Work on the tumor's own bounding box.
    hit = [
        np.flatnonzero(np.any(mask, axis=tuple(j for j in range(3) if j != i))) for i in range(3)
    ]
    tlo = np.asarray([h[0] for h in hit])
    thi = np.asarray([h[-1] + 1 for h in hit])
    tight = mask[tuple(slice(int(a), int(b)) for a, b in zip(tlo, thi, strict=True))]
    lo = np.asarray([s.start for s in box]) + tlo
    # The nearest tumor voxel to any outside point is on the tumor's boundary.
    pts = (np.argwhere(_boundary(tight)) + lo) * ctx.spacing
    center = pts.mean(axis=0)
    radius = float(np.sqrt(np.max(np.sum((pts - center) ** 2, axis=1))))
    # An upper bound first: the vessel nearest to the centroid, to its nearest boundary point.
    tree = ctx.vessel_tree
    _, j = tree.query(center)
    bound = float(np.sqrt(np.min(np.sum((pts - tree.data[j]) ** 2, axis=1))))
    # Every vessel within `bound` of the tumor lies within radius + bound of the centroid.
    near = np.asarray(tree.query_ball_point(center, radius + bound + 1e-6), dtype=np.intp)
    vox = ctx.vessel_vox[near] - lo
    inside = np.all((vox >= 0) & (vox < tight.shape), axis=1)
    if inside.any() and tight[tuple(vox[inside].T)].any():
        return 0.0
    d, _ = cKDTree(pts).query(tree.data[near], distance_upper_bound=bound + 1e-6)
    return float(min(bound, float(np.min(d)))) if len(d) else bound


def _boundary(mask: np.ndarray) -> np.ndarray:
    """Voxels of `mask` with a 6-neighbour outside it (the box edge counts as outside)."""
    padded = np.pad(mask, 1)
    core = padded[1:-1, 1:-1, 1:-1]
    inner = core.copy()
    for axis in range(3):
        for step in (-1, 1):
            view = [slice(1, -1)] * 3
            view[axis] = slice(1 + step, padded.shape[axis] - 1 + step)
            inner &= padded[tuple(view)]
    return core & ~inner


def lesions(
    tumor: np.ndarray, records: Sequence[TumorRecord], origin: Sequence[int] = (0, 0, 0)
) -> tuple[np.ndarray, list[int]]:
    """The lesions of a tumor mask and the lesion of each record.

    Lesions are the 26-connected components of `tumor`, numbered from 1 in raster order:
    the ids the per-lesion metrics report, as long as `tumor` is a box of the case (its
    corner at voxel `origin`) that holds every tumor voxel. A record belongs to the lesion
    at its centre, or to the nearest one within a few voxels when a later tumor's warp moved
    its centre out of its mask; 0 when there is none.

    Returns:
        The component ids (shape of `tumor`), and one lesion id per record, in order.
    """
    components, _ = ndimage.label(tumor, structure=LESION_CONNECTIVITY)
    lo = np.asarray(origin, dtype=np.intp)
    found: list[int] = []
    for record in records:
        centre = tuple(int(c) for c in np.asarray(record.center_vox) - lo)
        inside = all(0 <= c < n for c, n in zip(centre, components.shape, strict=True))
        lesion = int(components[centre]) if inside else 0
        found.append(lesion or _nearest(components, centre))
    return components, found


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
