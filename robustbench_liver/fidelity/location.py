"""Where a lesion sits in its liver: depth under the surface, place in the liver's bounding
box, coarse region. Measured against the whole organ (liver and every tumor in it), the
same for real and synthetic lesions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from robustbench_liver.synthesis import TumorConfig, context
from robustbench_liver.types import Scan

_NO_VESSELS = TumorConfig(vessel_source="none")


@dataclass(frozen=True, eq=False)
class LiverFrame:
    """The whole liver of one scan, measured once for all its lesions."""

    first: np.ndarray
    last: np.ndarray
    """The organ's first and last voxel along each axis."""
    lo: np.ndarray
    """Corner of `depth_mm` in the volume (the bounding box and a voxel around it)."""
    depth_mm: np.ndarray
    """Distance to the nearest non-organ voxel (the field of view's edge is not liver
    surface)."""
    lr_axis: int
    right_is_high: bool
    si_axis: int
    superior_is_high: bool
    regions: Any
    """The synthesis context whose `region_of` names coarse liver regions."""


def liver_frame(scan: Scan, organ: np.ndarray) -> LiverFrame:
    """Measure the organ (bool, liver and tumors) of `scan` once."""
    where = np.argwhere(organ)
    # one voxel around the organ, so its surface shows; none past the grid's faces
    lo = np.maximum(where.min(axis=0) - 1, 0)
    hi = np.minimum(where.max(axis=0) + 2, organ.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    inside = organ[box]
    if inside.all():  # the organ fills the field of view: no surface to measure from
        depth = np.full(inside.shape, np.nan)
    else:
        depth = np.asarray(ndimage.distance_transform_edt(inside, sampling=scan.spacing))
    affine = np.asarray(scan.affine)
    lr_axis = int(np.argmax(np.abs(affine[0, :3])))
    si_axis = int(np.argmax(np.abs(affine[2, :3])))
    whole = Scan(
        image=scan.image, spacing=scan.spacing, liver=organ, affine=affine, id=f"{scan.id}/organ"
    )
    return LiverFrame(
        first=where.min(axis=0),
        last=where.max(axis=0),
        lo=lo,
        depth_mm=depth,
        lr_axis=lr_axis,
        right_is_high=bool(affine[0, lr_axis] > 0),  # RAS: world x grows to the right
        si_axis=si_axis,
        superior_is_high=bool(affine[2, si_axis] > 0),
        regions=context(whole, _NO_VESSELS),
    )


def location(frame: LiverFrame, lesion: np.ndarray) -> dict[str, float | str]:
    """depth_mm, position_lr (0 right edge, 1 left edge), position_si (0 inferior, 1 superior)
    of the lesion's centroid, and its coarse region (synthesis' regions)."""
    centroid = np.argwhere(lesion).mean(axis=0)
    vox = np.clip(np.rint(centroid).astype(int), frame.first, frame.last)
    depth = float(frame.depth_mm[tuple(vox - frame.lo)])
    rel = (centroid - frame.first + 0.5) / (frame.last - frame.first + 1)
    lr = float(rel[frame.lr_axis])
    si = float(rel[frame.si_axis])
    region = str(frame.regions.region_of(vox[None])[0])
    return {
        "depth_mm": depth,
        "position_lr": 1.0 - lr if frame.right_is_high else lr,
        "position_si": si if frame.superior_is_high else 1.0 - si,
        "region": region,
    }


def nan_location() -> dict[str, float | str]:
    return {"depth_mm": math.nan, "position_lr": math.nan, "position_si": math.nan, "region": ""}
