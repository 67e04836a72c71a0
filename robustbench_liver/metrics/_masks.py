"""Shared plumbing of the metrics: argument checks and the union bounding-box crop."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from robustbench_liver.errors import DataError

Spacing = tuple[float, float, float]


def as_mask_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both masks as 3D bool arrays of one shape (nonzero = tumor)."""
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape:
        raise DataError(
            f"prediction has shape {pred.shape}, ground truth has {gt.shape}: "
            "they must be on the same voxel grid"
        )
    if pred.ndim != 3:
        raise DataError(f"masks must be 3D (x, y, z), got shape {pred.shape}")
    return (pred if pred.dtype == bool else pred != 0), (gt if gt.dtype == bool else gt != 0)


def as_spacing(spacing: Sequence[float] | np.ndarray) -> Spacing:
    values = tuple(float(s) for s in np.asarray(spacing, dtype=np.float64).ravel())
    if len(values) != 3 or not all(math.isfinite(s) and s > 0 for s in values):
        raise DataError(f"spacing must be 3 positive numbers in mm (x, y, z), got {spacing!r}")
    return values[0], values[1], values[2]


def bounding_box(mask: np.ndarray) -> tuple[slice, ...] | None:
    """Tightest box around the True voxels of a 3D mask, or None when there are none."""
    # two passes over the volume: a z projection for x and y, an (x, y) projection for z
    in_plane = np.any(mask, axis=2)
    spans = (np.any(in_plane, axis=1), np.any(in_plane, axis=0), np.any(mask, axis=(0, 1)))
    box = []
    for span in spans:
        hits = np.flatnonzero(span)
        if hits.size == 0:
            return None
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(box)


def union_box(*masks: np.ndarray) -> tuple[slice, ...] | None:
    """Bounding box of the union of `masks` (one pass for the union, then projections)."""
    union = masks[0]
    for mask in masks[1:]:
        union = union | mask
    return bounding_box(union)


def crop_padded(mask: np.ndarray, box: tuple[slice, ...], margin: Sequence[int]) -> np.ndarray:
    """`mask[box]` grown by `margin` voxels per axis; voxels beyond the volume are False."""
    shape = tuple(s.stop - s.start + 2 * m for s, m in zip(box, margin, strict=True))
    out = np.zeros(shape, dtype=bool)
    src, dst = [], []
    for s, m, n in zip(box, margin, mask.shape, strict=True):
        lo, hi = max(s.start - m, 0), min(s.stop + m, n)
        src.append(slice(lo, hi))
        dst.append(slice(lo - (s.start - m), hi - (s.start - m)))
    out[tuple(dst)] = mask[tuple(src)]
    return out
