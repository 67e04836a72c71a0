"""A lesion and its surroundings, cropped out of a scan: what every feature is measured on.

Distances are in mm on the voxel grid (anisotropic spacing included). The lesion's surface
is the 0.5 level of its mask blurred with σ = 0.7 voxel (marching cubes): a smooth surface
through the middle of the mask's boundary. A distance transform to the nearest voxel centre
on the other side would read the staircase of a digitised curved surface and squeeze every
radial profile by about half a voxel on each side (12 % of a 5 mm edge at 1 mm voxels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.measure import marching_cubes

CORE_DEPTH_MM = 2.0
"""The core: lesion voxels more than this from the nearest voxel outside the lesion (the
outer 2 mm are mostly partial volume and edge blur)."""
RING_MM = (5.0, 15.0)
"""Local parenchyma: liver voxels this far outside the lesion's surface, vessels and other
tumors left out."""
SURFACE_SIGMA_VOXELS = 0.7
"""Blur of the mask (voxels) whose 0.5 level is the lesion's surface."""
MIN_VOXELS = 3
"""Fewest voxels a core or ring must have for a level or spread to be measured on it."""
VESSEL_SIGMA_MM = 2.0
"""Smoothing before the vessel threshold (DESIGN.md §3 step 1)."""
VESSEL_MARGIN_HU = 20.0
"""Vessels: smoothed HU above the mean smoothed liver HU plus this (DESIGN.md §3 step 1)."""
VESSEL_CAP_MM = 30.0
"""Distances to vessels beyond this are reported as this (the crop holds no farther one)."""
MARGIN_MM = VESSEL_CAP_MM + 2.0
"""Crop margin around the lesion's bounding box."""


@dataclass(frozen=True, eq=False)
class LesionView:
    """One lesion in a crop of its scan. Arrays share one shape; axes (x, y, z) in RAS."""

    image: np.ndarray
    """float32 HU."""
    lesion: np.ndarray
    """bool: this lesion's voxels."""
    liver: np.ndarray
    """bool: liver tissue that may serve as parenchyma (no tumor of any kind)."""
    vessels: np.ndarray
    """bool: vessel voxels (the scan's mask and/or the threshold rule)."""
    spacing: tuple[float, float, float]

    @cached_property
    def depth_mm(self) -> np.ndarray:
        """Inside the lesion: distance to the nearest voxel centre outside it; 0 elsewhere."""
        return np.asarray(ndimage.distance_transform_edt(self.lesion, sampling=self.spacing))

    @cached_property
    def signed_mm(self) -> np.ndarray:
        """Signed distance to the lesion's surface (< 0 inside), see the module doc."""
        return surface_distance(self.lesion, self.spacing)

    @cached_property
    def core(self) -> np.ndarray:
        """Lesion voxels deeper than `CORE_DEPTH_MM`."""
        return self.lesion & (self.depth_mm > CORE_DEPTH_MM)

    @cached_property
    def tissue(self) -> np.ndarray:
        """Liver voxels that may be parenchyma: liver, not vessel."""
        return self.liver & ~self.vessels

    @cached_property
    def ring(self) -> np.ndarray:
        """Local parenchyma: `tissue` voxels within `RING_MM` outside the surface."""
        low, high = RING_MM
        return self.tissue & (self.signed_mm > low) & (self.signed_mm <= high)

    @cached_property
    def parenchyma_hu(self) -> float:
        """Median HU of the local parenchyma (NaN when the ring has too few voxels)."""
        values = self.image[self.ring]
        return float(np.median(values)) if values.size >= MIN_VOXELS else math.nan

    @cached_property
    def core_hu(self) -> float:
        """Median HU of the lesion's inner half by depth: the level the edge rises from."""
        depth = self.depth_mm[self.lesion]
        values = self.image[self.lesion][depth >= depth.max() / 2.0]
        return float(np.median(values)) if values.size else math.nan


def surface_distance(lesion: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Signed distance (mm, < 0 inside) of every voxel centre to the lesion's smoothed surface
    (see the module doc). A lesion too small to keep a surface once blurred uses its
    unblurred mask's surface; the sign follows the surface used."""
    pad = 2
    for sigma in (SURFACE_SIGMA_VOXELS, 0.0):
        field = np.pad(lesion, pad).astype(np.float32)
        if sigma:
            field = ndimage.gaussian_filter(field, sigma)
        if field.max() > 0.5:
            break
    verts, faces, _, _ = marching_cubes(field, 0.5, spacing=spacing)
    verts -= pad * np.asarray(spacing)
    points = np.concatenate([verts, verts[faces].mean(axis=1)])
    grid = np.indices(lesion.shape, dtype=np.float32).reshape(3, -1).T
    distance, _ = cKDTree(points).query(grid * np.asarray(spacing, dtype=np.float32), workers=-1)
    inside = field[(slice(pad, -pad),) * 3] >= 0.5
    return np.where(inside, -distance.reshape(lesion.shape), distance.reshape(lesion.shape))


def vessel_threshold(image: np.ndarray, liver: np.ndarray, spacing: tuple[float, ...]) -> float:
    """T = mean over the liver of the image smoothed with σ = 2 mm, plus 20 HU."""
    box = _bbox(liver, _voxels(4.0 * VESSEL_SIGMA_MM, spacing), liver.shape)
    smooth = ndimage.gaussian_filter(
        np.asarray(image[box], dtype=np.float32), _sigma(VESSEL_SIGMA_MM, spacing)
    )
    return float(smooth[liver[box]].mean()) + VESSEL_MARGIN_HU


def crop_view(
    image: np.ndarray,
    lesion: np.ndarray,
    liver: np.ndarray,
    spacing: tuple[float, float, float],
    threshold_hu: float | None,
    vessels: np.ndarray | None = None,
    margin_mm: float = MARGIN_MM,
) -> LesionView:
    """Crop `lesion` (full-volume bool) with `margin_mm` around it and find the vessels.

    `liver` must hold no tumor voxels. Vessels: `vessels` (a scan's own mask) united with
    the liver voxels whose 2 mm-smoothed HU exceeds `threshold_hu` (None: no threshold rule).
    """
    spacing = (float(spacing[0]), float(spacing[1]), float(spacing[2]))
    box = _bbox(lesion, _voxels(margin_mm, spacing), lesion.shape)
    liver_crop = np.asarray(liver[box], dtype=bool)
    found = np.zeros(liver_crop.shape, dtype=bool) if vessels is None else vessels[box].copy()
    if threshold_hu is not None:
        # smooth a wider crop, so that the crop's own border does not bias the smoothing
        pad = _voxels(4.0 * VESSEL_SIGMA_MM, spacing)
        wide = _bbox(lesion, _voxels(margin_mm, spacing) + pad, lesion.shape)
        smooth = ndimage.gaussian_filter(
            np.asarray(image[wide], dtype=np.float32), _sigma(VESSEL_SIGMA_MM, spacing)
        )
        inner = tuple(
            slice(b.start - w.start, b.stop - w.start) for b, w in zip(box, wide, strict=True)
        )
        found |= (smooth[inner] > threshold_hu) & liver_crop
    return LesionView(
        image=np.asarray(image[box], dtype=np.float32),
        lesion=np.asarray(lesion[box], dtype=bool),
        liver=liver_crop,
        vessels=found & ~np.asarray(lesion[box], dtype=bool),
        spacing=spacing,
    )


def _sigma(mm: float, spacing: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(mm / s for s in spacing)


def _voxels(mm: float, spacing: tuple[float, ...]) -> np.ndarray:
    return np.ceil(mm / np.asarray(spacing, dtype=float)).astype(int)


def _bbox(mask: np.ndarray, margin: np.ndarray, shape: tuple[int, ...]) -> tuple[slice, ...]:
    """Bounding box of `mask` grown by `margin` voxels per axis, within `shape`."""
    where = np.argwhere(mask)
    lo = np.maximum(where.min(axis=0) - margin, 0)
    hi = np.minimum(where.max(axis=0) + 1 + margin, np.asarray(shape))
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
