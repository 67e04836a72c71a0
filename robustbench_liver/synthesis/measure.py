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
from robustbench_liver.synthesis.shape import extent
from robustbench_liver.types import TumorRecord

Box = tuple[slice, slice, slice]
LESION_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)
"""26-connectivity: how the per-lesion metrics split a tumor label into lesions."""


def grow_into(box: Box | None, crop: Box) -> Box | None:
    """`box` grown to hold `crop` too when they overlap (voxels of the box may have moved
    anywhere in the crop); else `box` unchanged."""
    if box is None or not all(
        b.start < c.stop and c.start < b.stop for b, c in zip(box, crop, strict=True)
    ):
        return box
    return tuple(  # type: ignore[return-value]
        slice(min(b.start, c.start), max(b.stop, c.stop)) for b, c in zip(box, crop, strict=True)
    )


def measure(
    record: TumorRecord,
    image: np.ndarray,
    label: np.ndarray,
    box: Box | None,
    ctx: ScanContext,
) -> tuple[TumorRecord, Box | None]:
    """A copy of `record` with its measured fields set, and the bounding box of its voxels
    (None: it has none); the tumor is label == 2 + index, all of it within `box`."""
    mask = label[box] == 2 + record.index if box is not None else np.zeros((0, 0, 0), bool)
    count = int(mask.sum())
    voxel = float(np.prod(ctx.spacing))
    if box is None or count == 0:
        empty = dataclasses.replace(
            record,
            volume_mm3=0.0,
            equivalent_radius_mm=0.0,
            mean_hu_change=None,
            vessel_distance_mm=None,
        )
        return empty, None
    volume = count * voxel
    radius = (3.0 * volume / (4.0 * math.pi)) ** (1.0 / 3.0)
    change = float(np.mean(image[box][mask], dtype=np.float64)) - record.parenchyma_hu
    # the tumor's own bounding box
    cut = extent(mask)
    tight = tuple(slice(b.start + c.start, b.start + c.stop) for b, c in zip(box, cut, strict=True))
    measured = dataclasses.replace(
        record,
        volume_mm3=volume,
        equivalent_radius_mm=radius,
        mean_hu_change=change,
        vessel_distance_mm=_vessel_distance(mask[cut], tight, ctx),  # type: ignore[arg-type]
    )
    return measured, tight  # type: ignore[return-value]


def _vessel_distance(tight: np.ndarray, box: Box, ctx: ScanContext) -> float | None:
    """Smallest distance (mm, voxel centres) from a tumor voxel to a vessel voxel of the
    base scan; 0 when the tumor covers a vessel voxel. `tight` is the tumor's mask on its
    own bounding box `box`."""
    if ctx.vessel_tree is None:
        return None
    lo = np.asarray([s.start for s in box])
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
    if not len(near):
        return bound
    if len(near) * len(pts) <= 2**16:  # few pairs: all of them, without building a tree
        d2 = np.sum((tree.data[near][:, None, :] - pts[None, :, :]) ** 2, axis=2)
        return float(min(bound, float(np.sqrt(np.min(d2)))))
    d, _ = cKDTree(pts).query(tree.data[near], distance_upper_bound=bound + 1e-6)
    return float(min(bound, float(np.min(d))))


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


def case_lesions(
    label: np.ndarray, boxes: Sequence[Box | None], records: Sequence[TumorRecord]
) -> tuple[list[int], dict[int, int]]:
    """`lesions` of a case whose tumor voxels (label 2) all lie in `boxes` (one per record;
    None for a tumor without voxels), without labelling the hull of every box: each group of
    boxes that touch (26-connectivity across their faces) is labelled apart, and the
    components are numbered by their first voxel in raster order, as a labelling of the
    whole volume would number them.

    Returns:
        The lesion of each record (0 when none), and the voxel count of each lesion.
    """
    present = [i for i, b in enumerate(boxes) if b is not None]
    some: list[Box] = [b for b in boxes if b is not None]
    groups = [[present[i] for i in g] for g in _touching_groups(some)] if some else []
    found: list[tuple[tuple[int, int, int], int, int]] = []  # first voxel, group, local id
    local: list[tuple[np.ndarray, list[int]]] = []
    sizes: list[np.ndarray] = []
    for g, members in enumerate(groups):
        member_boxes = [b for i in members if (b := boxes[i]) is not None]
        lo = np.min([[s.start for s in b] for b in member_boxes], axis=0)
        hi = np.max([[s.stop for s in b] for b in member_boxes], axis=0)
        hull = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        tumor = label[hull] == 2
        if len(groups) > 1:  # voxels of other groups may lie in this hull: keep our boxes'
            own = np.zeros(tumor.shape, dtype=bool)
            for b in member_boxes:
                own[tuple(slice(s.start - a, s.stop - a) for s, a in zip(b, lo, strict=True))] = (
                    True
                )
            tumor &= own
        components, ids = lesions(tumor, [records[i] for i in members], origin=lo)
        local.append((components, ids))
        sizes.append(np.bincount(components.ravel()))
        for j, obj in enumerate(ndimage.find_objects(components), start=1):
            if obj is None:
                continue
            x = obj[0].start  # the first voxel in raster order: lowest x, then y, then z
            plane = components[x, obj[1], obj[2]] == j
            y, z = np.argwhere(plane)[0]
            first = (int(x + lo[0]), int(y + obj[1].start + lo[1]), int(z + obj[2].start + lo[2]))
            found.append((first, g, j))
    order = {(g, j): n for n, (_, g, j) in enumerate(sorted(found), start=1)}
    out = [0] * len(records)
    counts: dict[int, int] = {}
    for g, members in enumerate(groups):
        for i, lesion in zip(members, local[g][1], strict=True):
            out[i] = order[(g, lesion)] if lesion else 0
        for (gg, j), n in order.items():
            if gg == g:
                counts[n] = int(sizes[g][j])
    return out, counts


def _touching_groups(boxes: Sequence[Box]) -> list[list[int]]:
    """Indices of boxes in groups that overlap or touch, transitively (union-find)."""
    lo = np.asarray([[s.start for s in b] for b in boxes])
    hi = np.asarray([[s.stop for s in b] for b in boxes])
    parent = list(range(len(boxes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # grown by one voxel: voxels in boxes that only touch can be 26-neighbours
    near = np.all((lo[:, None] <= hi[None, :]) & (lo[None, :] <= hi[:, None]), axis=2)
    for i, j in zip(*np.nonzero(np.triu(near, 1)), strict=True):
        parent[root(int(i))] = root(int(j))
    groups: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


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
