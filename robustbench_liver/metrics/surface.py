"""Surface metrics on surfels: NSD (Nikolov et al., the Decathlon's definition) and HD95.

A surfel is a 2×2×2 block of voxels that straddles the boundary, placed at the block's centre
and weighted by the area of its marching-cubes surface piece (`_surfels`). NSD at tolerance τ
is the area of both surfaces lying within τ of the other surface, over the total area: the
value of DeepMind's `surface-distance` and of MONAI's
``compute_surface_dice(..., use_subvoxels=True)``. MONAI's default, edge-voxel counting, is a
different quantity.

Work stays inside the union bounding box of the two masks grown by the tolerance, so a tumor
in a 512×512×600 scan costs what its neighbourhood costs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from robustbench_liver.errors import DataError
from robustbench_liver.metrics._masks import (
    Spacing,
    as_mask_pair,
    as_spacing,
    crop_padded,
    union_box,
)
from robustbench_liver.metrics._surfels import surfel_area_table
from robustbench_liver.metrics.result import (
    REASON_GT_EMPTY,
    REASON_PRED_EMPTY,
    Score,
    format_mm,
)

HD95_PROFILE = "hd95/surfel"
_HD_GRID_SEARCH_MM = 4.0  # HD95: nearer surfels by grid lookups, farther ones by KD-tree


class ToleranceBelowSpacingWarning(UserWarning):
    """The NSD tolerance is smaller than the voxel spacing along an axis (often the slices)."""


def nsd_profile(tolerance_mm: float) -> str:
    return f"nsd@{format_mm(tolerance_mm)}mm/surfel"


def warn_if_tolerance_below_spacing(spacing: Spacing, tolerance_mm: float) -> None:
    axes = zip("xyz", spacing, strict=True)
    coarse = [f"{axis} ({s:g} mm)" for axis, s in axes if s > tolerance_mm]
    if coarse:
        warnings.warn(
            f"NSD tolerance {tolerance_mm:g} mm is below the voxel spacing along "
            f"{', '.join(coarse)}: a boundary one voxel off along "
            f"{'that axis' if len(coarse) == 1 else 'those axes'} never counts as within "
            "tolerance. Report the spacing with the score, or resample to finer voxels "
            "for an isotropic tolerance.",
            ToleranceBelowSpacingWarning,
            stacklevel=3,
        )


def _check_tolerance(tolerance_mm: float) -> float:
    value = float(tolerance_mm)
    if not math.isfinite(value) or value < 0:
        raise DataError(f"NSD tolerance must be a finite number of mm >= 0, got {tolerance_mm!r}")
    return value


def neighbour_codes(mask: np.ndarray) -> np.ndarray:
    """The 8-bit code of every 2×2×2 block of a 3D bool mask (shape minus one per axis)."""
    m = mask.view(np.uint8)
    # separable: pair along z, then y, then x; bit 7 - (4a + 2b + c) for offset (a, b, c)
    z = (m[:, :, :-1] << 1) | m[:, :, 1:]
    y = (z[:, :-1] << 2) | z[:, 1:]
    return (y[:-1] << 4) | y[1:]


@dataclass(frozen=True)
class Surfels:
    """The surfels of a prediction and a ground truth on one shared grid of block centres."""

    shape: tuple[int, int, int]
    """Shape of the block grid (flat indices below refer to it, C order)."""
    spacing: Spacing
    pred_index: np.ndarray
    pred_area: np.ndarray
    gt_index: np.ndarray
    gt_area: np.ndarray
    gt_on_grid: np.ndarray
    """Flat bool grid, True at ground-truth surfels."""
    pred_on_grid: np.ndarray

    def coords_mm(self, index: np.ndarray) -> np.ndarray:
        voxels = np.stack(np.unravel_index(index, self.shape), axis=1).astype(np.float64)
        return voxels * np.asarray(self.spacing)


def surfels(
    pred: np.ndarray, gt: np.ndarray, spacing: Spacing, margin: Sequence[int] = (1, 1, 1)
) -> Surfels | None:
    """Surfels of both masks in their union box grown by `margin` voxels (>= 1 per axis).

    Returns None when both masks are empty.
    """
    box = union_box(pred, gt)
    if box is None:
        return None
    table = surfel_area_table(spacing)

    def one(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        codes = neighbour_codes(crop_padded(mask, box, margin)).ravel()
        on_surface = (codes != 0) & (codes != 255)
        index = np.flatnonzero(on_surface)
        return index, table[codes[index]], on_surface

    pred_index, pred_area, pred_on_grid = one(pred)
    gt_index, gt_area, gt_on_grid = one(gt)
    nx, ny, nz = (s.stop - s.start + 2 * m - 1 for s, m in zip(box, margin, strict=True))
    return Surfels(
        shape=(nx, ny, nz),
        spacing=spacing,
        pred_index=pred_index,
        pred_area=pred_area,
        gt_index=gt_index,
        gt_area=gt_area,
        gt_on_grid=gt_on_grid,
        pred_on_grid=pred_on_grid,
    )


def tolerance_offsets(
    spacing: Spacing, tolerance_mm: float
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """Integer voxel offsets within `tolerance_mm`, nearest first, with their lengths in mm
    and their reach in voxels per axis."""
    # one voxel more than needed: the distance test below decides, not rounding of τ / s
    rx, ry, rz = (math.floor(tolerance_mm / s) + 1 for s in spacing)
    grids = np.meshgrid(*[np.arange(-r, r + 1) for r in (rx, ry, rz)], indexing="ij")
    offsets = np.stack([g.ravel() for g in grids], axis=1)
    # the same float arithmetic as a KD-tree on scaled coordinates, so ties resolve alike
    distance = np.sqrt(((offsets * np.asarray(spacing)) ** 2).sum(axis=1))
    keep = distance <= tolerance_mm
    order = np.argsort(distance[keep], kind="stable")
    return offsets[keep][order], distance[keep][order], (rx, ry, rz)


def _nearest_on_grid(
    index: np.ndarray, target: np.ndarray, flat_offsets: np.ndarray, offset_mm: np.ndarray
) -> np.ndarray:
    """Distance (mm) from each flat grid index to the nearest True of `target` among the
    offsets, which come nearest first: the first hit is the nearest. inf when none hits."""
    distance = np.full(index.size, np.inf)
    remaining = np.arange(index.size)
    position = index
    for offset, length in zip(flat_offsets, offset_mm, strict=True):
        hit = target[position + offset]
        if hit.any():
            distance[remaining[hit]] = length
            remaining, position = remaining[~hit], position[~hit]
            if remaining.size == 0:  # most surfels are settled within a few offsets
                break
    return distance


def _flat(offsets: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    return offsets @ np.array([shape[1] * shape[2], shape[2], 1])


def nsd(
    pred: np.ndarray,
    gt: np.ndarray,
    spacing: Sequence[float],
    tolerance_mm: float = 2.0,
) -> Score:
    """Normalised surface Dice at `tolerance_mm`, surfel-area definition (Nikolov et al.).

    GT empty: NaN (undefined); GT with tumor and an empty prediction: 0. Warns
    (`ToleranceBelowSpacingWarning`) when the tolerance is below the spacing along an axis.
    """
    pred, gt = as_mask_pair(pred, gt)
    spacing_ = as_spacing(spacing)
    tolerance = _check_tolerance(tolerance_mm)
    profile = nsd_profile(tolerance)
    warn_if_tolerance_below_spacing(spacing_, tolerance)
    offsets, lengths, reach = tolerance_offsets(spacing_, tolerance)
    # the margin keeps every offset lookup from a surfel inside the grid
    found = surfels(pred, gt, spacing_, margin=[r + 1 for r in reach])
    if found is None or found.gt_index.size == 0:
        return Score(math.nan, profile, REASON_GT_EMPTY)
    if found.pred_index.size == 0:
        return Score(0.0, profile, REASON_PRED_EMPTY)
    flat = _flat(offsets, found.shape)
    pred_ok = np.isfinite(_nearest_on_grid(found.pred_index, found.gt_on_grid, flat, lengths))
    gt_ok = np.isfinite(_nearest_on_grid(found.gt_index, found.pred_on_grid, flat, lengths))
    total = found.pred_area.sum() + found.gt_area.sum()
    within = found.pred_area[pred_ok].sum() + found.gt_area[gt_ok].sum()
    return Score(float(within / total), profile)


def _weighted_percentile(distance: np.ndarray, area: np.ndarray, percent: float) -> float:
    """Smallest distance below which `percent` % of the surface area lies."""
    order = np.argsort(distance, kind="stable")
    cumulative = np.cumsum(area[order]) / area.sum()
    k = min(int(np.searchsorted(cumulative, percent / 100.0)), distance.size - 1)
    return float(distance[order][k])


def hd95(pred: np.ndarray, gt: np.ndarray, spacing: Sequence[float]) -> Score:
    """Robust Hausdorff distance in mm: the larger of the two directed 95th percentiles of
    surfel distances, each weighted by surfel area (DeepMind's `compute_robust_hausdorff`).

    GT empty: NaN; GT with tumor and an empty prediction: inf.
    """
    pred, gt = as_mask_pair(pred, gt)
    spacing_ = as_spacing(spacing)
    # near surfels by grid lookups (exact, nearest offset first); the rest by a KD-tree
    offsets, lengths, reach = tolerance_offsets(spacing_, _HD_GRID_SEARCH_MM)
    found = surfels(pred, gt, spacing_, margin=[r + 1 for r in reach])
    if found is None or found.gt_index.size == 0:
        return Score(math.nan, HD95_PROFILE, REASON_GT_EMPTY)
    if found.pred_index.size == 0:
        return Score(math.inf, HD95_PROFILE, REASON_PRED_EMPTY)
    flat = _flat(offsets, found.shape)
    directed = []
    for source, area, target_grid, target_index in (
        (found.pred_index, found.pred_area, found.gt_on_grid, found.gt_index),
        (found.gt_index, found.gt_area, found.pred_on_grid, found.pred_index),
    ):
        distance = _nearest_on_grid(source, target_grid, flat, lengths)
        far = ~np.isfinite(distance)
        if far.any():
            tree = cKDTree(found.coords_mm(target_index))
            distance[far] = tree.query(found.coords_mm(source[far]), k=1)[0]
        directed.append(_weighted_percentile(distance, area, 95.0))
    return Score(max(directed), HD95_PROFILE)
