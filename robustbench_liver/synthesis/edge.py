"""The tumor's edge: its label t' and the blurred weight t'' on the tumor's tight box.

The paper labels the deformed ellipsoid t' and blurs it with sigma_c ~ U(1, 2) mm for the
intensity, so the intensity changes over 3-5 mm centred on the label's edge. Annotated real
tumors change over 8-10 mm almost entirely inside their label (issue 13). With a label level
l, the label stays t' (the nominal deformed ellipsoid) but the intensity weight t'' is the
blur of a core: the same ellipsoid, in the same elastic field, with its semi-axes shrunk by
sigma_c z_l (z_l = Phi^-1(1 - l), how far a plane edge's l level lies outside its 0.5 level).
t'' then falls to about l at the label's edge, and the 10-90 % rise (2.56 sigma_c) lies inside
the label. Label and core are both voxelised from the continuous shape (blurring a voxel
mask would not move its l level outward by less than a voxel), and an edge the grid cannot
resolve keeps the paper's label (`inset_mm`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from robustbench_liver.synthesis import shape

Box = tuple[slice, slice, slice]
REACH = 2.5
"""How far (sigma_c) beyond the core the tight box reaches when the label has a level."""
CORE_MIN = 0.3
"""The core's semi-axes never shrink below this share of the nominal ones."""


def inset_mm(edge_blur_mm: float, label_level: float | None, spacing: np.ndarray) -> float:
    """How far the core's surface lies inside the label's edge (mm; 0 for the paper's label).

    An edge narrower than half the largest voxel is a step on this grid: it has no part
    inside the label to speak of, and a core shrunk by a fraction of a voxel would leave the
    label's outer voxels without tumor (a checkerboard on the 5 mm voxels of lits-tiny). So
    the inset grows from 0 at sigma_c = half a voxel to its full value at one voxel.
    """
    if label_level is None or edge_blur_mm <= 0:
        return 0.0
    resolved = (edge_blur_mm / float(np.max(spacing)) - 0.5) / 0.5
    return float(edge_blur_mm * special.ndtri(1.0 - label_level) * min(max(resolved, 0.0), 1.0))


def core_axes(
    semi_axes: np.ndarray, edge_blur_mm: float, label_level: float | None, spacing: np.ndarray
) -> np.ndarray:
    """Semi-axes of the core whose blur t'' falls to `label_level` at the nominal surface."""
    a = np.asarray(semi_axes, dtype=np.float64)
    inset = inset_mm(edge_blur_mm, label_level, spacing)
    if inset == 0.0:
        return a
    return np.maximum(a - inset, CORE_MIN * a)


def capped_blur(
    edge_blur_mm: float, semi_axes: tuple[float, ...], max_ratio: float | None
) -> float:
    """sigma_c capped at `max_ratio` x the radius (geometric mean of the semi-axes)."""
    if max_ratio is None:
        return edge_blur_mm
    return min(edge_blur_mm, max_ratio * math.prod(semi_axes) ** (1.0 / 3.0))


def blurred_tumor(
    seed: int,
    sigma_mm: float,
    points: int,
    semi_axes: np.ndarray,
    rotation: np.ndarray | None,
    lobulation: float,
    lobes: int,
    edge_blur_mm: float,
    center: np.ndarray,
    tumor_half: np.ndarray,
    spacing: np.ndarray,
    shape_: tuple[int, ...],
    label_level: float | None = None,
) -> tuple[np.ndarray | None, tuple[np.ndarray, ...], Box, np.ndarray | None]:
    """(t', per-axis offsets in mm, box in volume voxels, t'') on the tumor's tight box: the
    bounding box of t' grown by the edge blur's reach, within its box (`shape.deformed_mask`,
    whose arguments these are, with the nominal semi-axes). t'' blurs t' itself (the paper's
    label, `label_level` None) or the core (module doc). (None, offsets, box, None) when t'
    is empty."""
    inner = core_axes(semi_axes, edge_blur_mm, label_level, spacing)
    mask, offsets, tbox, core = shape.deformed_mask(
        seed,
        sigma_mm,
        points,
        semi_axes,
        rotation,
        lobulation,
        lobes,
        edge_blur_mm,
        center,
        tumor_half,
        spacing,
        shape_,
        core_axes=None if np.array_equal(inner, semi_axes) else inner,
    )
    if mask is None or core is None:
        return None, offsets, tbox, None
    # With a label level, t'' of the core falls below Phi(-2.5) = 0.006 within 2.5 sigma of
    # it: a box (and kernel) of that reach rather than 3 sigma, nothing that shows, and a
    # quarter less work for the wide edges this model uses.
    reach = shape.TRUNCATE if label_level is None else REACH
    margin = shape.blur_margin(edge_blur_mm, spacing, reach)
    hit = shape.extent(mask)
    lo = np.maximum(np.asarray([h.start for h in hit]) - margin, 0)
    hi = np.minimum(np.asarray([h.stop for h in hit]) + margin, mask.shape)
    tight = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    offsets = tuple(o[t] for o, t in zip(offsets, tight, strict=True))
    blurred = shape.edge_blur(core[tight], edge_blur_mm, spacing, truncate=reach)
    mask = mask[tight]
    box = tuple(
        slice(int(s.start + a), int(s.start + b)) for s, a, b in zip(tbox, lo, hi, strict=True)
    )
    return mask, offsets, box, blurred  # type: ignore[return-value]
