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
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from robustbench_liver.synthesis.shape import axis_reach_mm


def source_scale(rho: np.ndarray, strength: float, extent: float) -> np.ndarray:
    """gamma'/gamma for normalised radius `rho` (identity at and beyond `extent`)."""
    t = np.minimum(rho / np.float32(extent), np.float32(1.0)) - np.float32(1.0)
    return np.float32(1.0) - t * t * np.float32(strength / 100.0)


def warp(
    image: np.ndarray,
    label: np.ndarray,
    center: np.ndarray,
    spacing: np.ndarray,
    semi_axes: np.ndarray,
    rotation: np.ndarray | None,
    strength: float,
    extent: float,
) -> None:
    """Warp `image` (float32) and `label` (uint8) in place around `center`.

    Both are views of the same box; `center` is the tumor centre in that box's voxel
    coordinates. Only voxels inside the zone (normalised radius < extent) change.
    """
    if strength <= 0:
        return
    shape = image.shape
    # the zone's box within the arrays (every voxel with normalised radius < extent)
    half = np.ceil(zone_extent_mm(semi_axes, rotation is not None, extent) / spacing) + 1
    lo = np.maximum(np.asarray(center) - half.astype(int), 0)
    hi = np.minimum(np.asarray(center) + half.astype(int) + 1, shape)
    if np.any(hi <= lo):
        return
    grids = np.meshgrid(
        *[
            ((np.arange(a, b) - c) * s).astype(np.float32)
            for a, b, c, s in zip(lo, hi, center, spacing, strict=True)
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
    inner = np.flatnonzero(rho2 < np.float32(extent * extent))
    if not inner.size:
        return
    factor = source_scale(np.sqrt(rho2.ravel()[inner]), strength, extent)
    idx = tuple(i + int(o) for i, o in zip(np.unravel_index(inner, rho2.shape), lo, strict=True))
    flat = np.ravel_multi_index(idx, shape) if image.flags.c_contiguous else inner
    # source voxel coordinate = centre + (x - centre) * factor, per axis
    coords = np.empty((3, flat.size), dtype=np.float32)
    for axis in range(3):
        coords[axis] = center[axis] + (idx[axis] - np.float32(center[axis])) * factor
    # map_coordinates reads every source value before the assignment writes any
    moved = ndimage.map_coordinates(image, coords, order=1, mode="nearest")
    _put(image, flat, idx, moved)
    near = label[tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))]
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
