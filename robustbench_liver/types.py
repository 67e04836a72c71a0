"""The shared vocabulary: frozen records that flow from scans to reports."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np

from robustbench_liver.errors import DataError


def _frozen(array: np.ndarray) -> np.ndarray:
    """A read-only view: the caller's array stays writable, ours cannot change under us."""
    view = array.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True, eq=False)
class Scan:
    """A healthy-liver base scan in HU, axes (x, y, z) in RAS orientation."""

    image: np.ndarray
    """float32 Hounsfield units, shape (X, Y, Z)."""
    spacing: tuple[float, float, float]
    """Voxel size in mm along x, y, z."""
    liver: np.ndarray
    """bool mask of the liver, same shape as `image`."""
    affine: np.ndarray
    """4×4 voxel-to-world (RAS, mm) matrix."""
    id: str
    """Stable name of the scan (file stem, phantom seed, ...)."""
    vessels: np.ndarray | None = None
    """Optional bool mask of vessels (ground truth from the source, when it has one)."""
    provenance: Mapping[str, Any] = field(default_factory=dict)
    """Where the scan came from: paths, label values, generator options."""

    def __post_init__(self) -> None:
        where = f"scan {self.id!r}"
        image = np.asarray(self.image)
        if image.ndim != 3:
            raise DataError(f"{where}: image must be 3D (x, y, z), got shape {image.shape}")
        if not np.issubdtype(image.dtype, np.number):
            raise DataError(f"{where}: image must be numeric, got dtype {image.dtype}")
        image = image.astype(np.float32, copy=False)
        if not np.isfinite(image).all():
            bad = int(np.size(image) - np.isfinite(image).sum())
            raise DataError(f"{where}: image has {bad} non-finite voxels (NaN or inf)")
        liver = self._mask(self.liver, image.shape, "liver")
        if not liver.any():
            raise DataError(f"{where}: the liver mask is empty")
        vessels = None if self.vessels is None else self._mask(self.vessels, image.shape, "vessels")
        spacing = tuple(float(s) for s in np.asarray(self.spacing, dtype=float).ravel())
        if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
            raise DataError(
                f"{where}: spacing must be 3 positive numbers in mm, got {self.spacing}"
            )
        affine = np.asarray(self.affine, dtype=np.float64)
        if affine.shape != (4, 4) or not np.isfinite(affine).all():
            raise DataError(
                f"{where}: affine must be a finite 4x4 matrix, got shape {affine.shape}"
            )
        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "image", _frozen(image))
        set_(self, "liver", _frozen(liver))
        set_(self, "vessels", None if vessels is None else _frozen(vessels))
        set_(self, "spacing", spacing)
        set_(self, "affine", _frozen(affine))
        set_(self, "provenance", MappingProxyType(dict(self.provenance)))

    def _mask(self, mask: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
        mask = np.asarray(mask)
        if mask.shape != shape:
            raise DataError(
                f"scan {self.id!r}: {name} mask has shape {mask.shape}, image has {shape}"
            )
        return mask if mask.dtype == bool else mask != 0

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.image.shape

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing))

    @property
    def liver_volume_ml(self) -> float:
        return float(self.liver.sum()) * self.voxel_volume_mm3 / 1000.0

    @cached_property
    def digest(self) -> str:
        """sha256 of the content (image, masks, spacing): the scan's identity for caches."""
        h = hashlib.sha256()
        for part in (self.image, self.liver, self.vessels):
            if part is not None:
                h.update(str(part.shape).encode())
                h.update(np.ascontiguousarray(part).tobytes())
        h.update(np.asarray(self.spacing, dtype=np.float64).tobytes())
        return h.hexdigest()
