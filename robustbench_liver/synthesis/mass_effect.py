"""Step 6: mass effect, the local scaling warp that pushes tissue away from the tumor.

Hu et al. (CVPR 2023, Sec. 3.1 "post-processing"): a point at distance gamma from the centre
takes its value from gamma' = (1 - (gamma / gamma_max - 1)^2 I / 100) gamma, gamma_max the
radius of the warped zone and I in [0, 100] the strength. We measure gamma in units of the
tumor's semi-axes (an ellipsoidal zone of gamma_max semi-axes, so elongated tumors push
evenly around their surface). The mapping is monotone for I <= 100 (its slope is
1 - I/100 (gamma/gamma_max - 1)(3 gamma/gamma_max - 1) >= 1 - I/100), so the warp never
folds; it is the identity at gamma_max and beyond.

We warp the base tissue *before* painting the tumor: the tumor then has exactly the
requested size and the tissue it displaces is compressed into the rim around it. (Warping
after painting, as the paper's order reads, also enlarges the tumor, at I = 100 by ~8 %
in radius with gamma_max = 1.5 and ~19 % with 2, so requested and measured sizes would
disagree.) Image,
liver and label are warped alike; the image linearly, the label map by nearest neighbour.

Linear interpolation at fractional source positions averages neighbouring voxels, and the
warp magnifies the tissue near the centre (by 1 / (1 - I/100) there): together they remove
30-40 % of the scan's noise inside the tumor and ~20 % in a ring around it, where real
tumors keep the scanner's grain. Given the scan's grain, the image is split into that
grain (its clipped high-pass, `texture.scan_grain`) and the rest; the rest is warped and the
grain is added back where it was: the tissue moves, the noise stays as the scanner made it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage

from robustbench_liver.synthesis.shape import axis_reach_mm


class Grain(NamedTuple):
    """The scan's grain that a warp kept in place: on `box` (of the arrays warped)."""

    box: tuple[slice, ...]
    values: np.ndarray

    def on(self, box: tuple[slice, ...]) -> np.ndarray | None:
        """The grain on `box` (same coordinates), or None when `box` is not inside."""
        pairs = list(zip(self.box, box, strict=True))
        if not all(a.start <= b.start and b.stop <= a.stop for a, b in pairs):
            return None
        return self.values[tuple(slice(b.start - a.start, b.stop - a.start) for a, b in pairs)]


def source_scale(rho: np.ndarray, strength: float, extent: float) -> np.ndarray:
    """gamma'/gamma for normalised radius `rho` (identity at and beyond `extent`)."""
    t = np.minimum(rho / np.float32(extent), np.float32(1.0)) - np.float32(1.0)
    return np.float32(1.0) - t * t * np.float32(strength / 100.0)


def zone_box(
    center: np.ndarray,
    spacing: np.ndarray,
    semi_axes: np.ndarray,
    rotated: bool,
    extent: float,
    shape: tuple[int, ...],
) -> tuple[slice, slice, slice] | None:
    """The box (of arrays of `shape`) holding every voxel with normalised radius < extent
    around `center`; None when it is empty."""
    half = np.ceil(zone_extent_mm(semi_axes, rotated, extent) / spacing) + 1
    lo = np.maximum(np.asarray(center) - half.astype(int), 0)
    hi = np.minimum(np.asarray(center) + half.astype(int) + 1, shape)
    if np.any(hi <= lo):
        return None
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))  # type: ignore[return-value]


def warp(
    image: np.ndarray,
    label: np.ndarray,
    center: np.ndarray,
    spacing: np.ndarray,
    semi_axes: np.ndarray,
    rotation: np.ndarray | None,
    strength: float,
    extent: float,
    grain: Grain | None = None,
) -> None:
    """Warp `image` (float32) and `label` (uint8) in place around `center`.

    Both are views of the same box; `center` is the tumor centre in that box's voxel
    coordinates. Only voxels inside the zone (normalised radius < extent) change. With
    `grain` (the scan's grain on a box holding the zone's, `texture.scan_grain`), all but
    the grain is warped and the grain stays in place (module doc).
    """
    if strength <= 0:
        return
    zone = zone_box(center, spacing, semi_axes, rotation is not None, extent, image.shape)
    if zone is None:
        return
    lo = np.asarray([z.start for z in zone])
    grids = np.meshgrid(
        *[
            ((np.arange(z.start, z.stop) - c) * s).astype(np.float32)
            for z, c, s in zip(zone, center, spacing, strict=True)
        ],
        indexing="ij",
        sparse=True,
    )
    q = list(grids)
    if rotation is not None:
        r = rotation.astype(np.float32)
        q = [r[0, i] * grids[0] + r[1, i] * grids[1] + r[2, i] * grids[2] for i in range(3)]
    a = semi_axes.astype(np.float32)
    rho2 = (q[0] / a[0]) ** 2 + (q[1] / a[1]) ** 2 + (q[2] / a[2]) ** 2
    within = rho2 < np.float32(extent * extent)
    inner = np.flatnonzero(within)
    if not inner.size:
        return
    factor = source_scale(np.sqrt(rho2.ravel()[inner]), strength, extent)
    # voxel indices of the zone's voxels, per axis (a masked gather of broadcast ranges is
    # faster than unravelling the flat indices)
    idx = tuple(
        np.broadcast_to(
            np.arange(z.start, z.stop).reshape([-1 if j == axis else 1 for j in range(3)]),
            within.shape,
        )[within]
        for axis, z in enumerate(zone)
    )
    flat = np.ravel_multi_index(idx, image.shape) if image.flags.c_contiguous else inner
    # source voxel coordinate = centre + (x - centre) * factor, per axis
    coords = np.empty((3, flat.size), dtype=np.float32)
    for axis in range(3):
        coords[axis] = center[axis] + (idx[axis] - np.float32(center[axis])) * factor
    kept = None if grain is None else grain.on(zone)
    if kept is not None:
        # every source point lies between the centre and its voxel: inside the zone's box
        rest = image[zone] - kept
        local = coords - lo.astype(np.float32)[:, None]
        moved = ndimage.map_coordinates(rest, local, order=1, mode="nearest")
        moved += kept[within]
    else:
        # map_coordinates reads every source value before the assignment writes any
        moved = ndimage.map_coordinates(image, coords, order=1, mode="nearest")
    _put(image, flat, idx, moved)
    near = label[zone]
    if near.min() != near.max():  # deep in the liver the label is uniform: nothing moves
        _put(label, flat, idx, ndimage.map_coordinates(label, coords, order=0, mode="nearest"))


def _put(
    array: np.ndarray, flat: np.ndarray, idx: tuple[np.ndarray, ...], values: np.ndarray
) -> None:
    """array[idx] = values, by flat index when the array is contiguous (faster)."""
    if array.flags.c_contiguous:
        array.reshape(-1)[flat] = values
    else:
        array[idx] = values


def zone_extent_mm(semi_axes: np.ndarray, rotated: bool, extent: float) -> np.ndarray:
    """Half-extent (mm) per axis of the warped zone."""
    return axis_reach_mm(semi_axes, rotated) * extent
