"""Step 4: the tumor's shape: a deformed ellipsoid t' and its blurred edge t''.

Hu et al. (CVPR 2023, Sec. 3.1 "shape generation"): an ellipsoid with semi-axes from
U(0.75 r, 1.25 r), elastically deformed (sigma_e), then t'' = t' * g(sigma_c). The authors'
code deforms the ellipsoid on a 3-point control grid spanning four semi-axes
(`elasticdeform.deform_random_grid(..., points=3)` on a box of 4x, 4y, 4z); we do the same
in 3D and in mm: a displacement u with s.d. sigma_e at each control point, spline-
interpolated, and t'(x) = 1[x + u(x) inside the ellipsoid]. Evaluating the implicit
ellipsoid at displaced points (instead of warping a voxel mask) gives the same shapes
without resampling a binary image. All lengths honour the voxel spacing.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from scipy import ndimage

from robustbench_liver.numerics import separable_apply
from robustbench_liver.synthesis.noise import interp_matrix

# Displacements are clipped at this many sigma_e, which bounds the tumor's extent.
ELASTIC_CLIP = 2.5
# Gaussian blurs are truncated here (sigma units); boxes are grown by as much.
TRUNCATE = 3.0
# Angular width of a lobe (larger = narrower bumps).
_LOBE_SHARPNESS = 4.0


def rotation_matrix(angles_deg: tuple[float, float, float]) -> np.ndarray:
    """Rotation for intrinsic z-y-x Euler angles (degrees); columns are the ellipsoid's axes."""
    az, ay, ax = np.deg2rad(angles_deg)
    cz, sz, cy, sy, cx, sx = np.cos(az), np.sin(az), np.cos(ay), np.sin(ay), np.cos(ax), np.sin(ax)
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    return rz @ ry @ rx


def axis_reach_mm(semi_axes: np.ndarray, rotated: bool) -> np.ndarray:
    """Half-extent per axis (mm) of the ellipsoid: a rotated one may reach its longest
    semi-axis along any axis."""
    if rotated:
        return np.full(3, semi_axes.max())
    return np.asarray(semi_axes, dtype=np.float64)


def extent_mm(
    semi_axes: np.ndarray, rotated: bool, lobulation: float, elastic: float
) -> np.ndarray:
    """Half-extent per axis (mm) that contains the deformed, lobulated ellipsoid."""
    return axis_reach_mm(semi_axes, rotated) * (1.0 + lobulation) + ELASTIC_CLIP * elastic


def axis_offsets(lo: int, hi: int, center: int, spacing: float) -> np.ndarray:
    """Positions (mm, relative to the centre) of voxel indices lo..hi-1 along one axis."""
    return (np.arange(lo, hi) - center) * spacing


def elastic_displacement(
    seed: int,
    sigma_mm: float,
    points: int,
    semi_axes: np.ndarray,
    offsets: tuple[np.ndarray, ...],
) -> tuple[np.ndarray, ...] | None:
    """Displacement (u_x, u_y, u_z) in mm on the box given by per-axis offsets; None if off.

    Control points span +-2 max semi-axis around the centre (the authors' 4r box) and are
    fixed relative to the tumor, so the field does not depend on the box it is read on.
    """
    if sigma_mm <= 0:
        return None
    rng = np.random.default_rng([seed, 1])
    span = 2.0 * float(np.max(semi_axes))
    nodes = np.linspace(-span, span, points)
    limit = ELASTIC_CLIP * sigma_mm
    control = rng.normal(0.0, sigma_mm, size=(3, points, points, points))
    control = np.minimum(np.maximum(control, -limit), limit)
    mats = tuple(interp_matrix(nodes, off) for off in offsets)
    out = []
    for c in range(3):
        u = separable_apply(control[c].astype(np.float32), mats)
        # spline overshoot stays within the bound (np.clip, without its per-call overhead)
        np.minimum(np.maximum(u, np.float32(-limit), out=u), np.float32(limit), out=u)
        out.append(u)
    return tuple(out)


def displacement_reach(
    seed: int,
    sigma_mm: float,
    points: int,
    semi_axes: np.ndarray,
    offsets: tuple[np.ndarray, ...],
) -> float:
    """Largest |u| component on a coarse sample of the box (mm), plus a little: the usual
    reach of the deformation, well below the worst case ELASTIC_CLIP x sigma_e."""
    if sigma_mm <= 0:
        return 0.0
    coarse = tuple(tuple(o[:: max(1, len(o) // 12)].tolist()) for o in offsets)
    return _coarse_reach(seed, sigma_mm, points, tuple(np.asarray(semi_axes).tolist()), coarse)


@functools.lru_cache(maxsize=256)
def _coarse_reach(
    seed: int,
    sigma_mm: float,
    points: int,
    semi_axes: tuple[float, ...],
    coarse: tuple[tuple[float, ...], ...],
) -> float:
    u = elastic_displacement(
        seed, sigma_mm, points, np.asarray(semi_axes), tuple(np.asarray(c) for c in coarse)
    )
    assert u is not None  # sigma_mm > 0
    return float(max(np.abs(c).max() for c in u)) * 1.1 + 0.5


def bounding_radius_mm(
    seed: int,
    sigma_mm: float,
    points: int,
    semi_axes: np.ndarray,
    rotation: np.ndarray | None,
    lobulation: float,
    lobes: int,
    spacing: np.ndarray,
    edge_blur_mm: float | None = None,
    stride: int = 1,
    core_axes: np.ndarray | None = None,
) -> float:
    """Radius (mm) of the smallest sphere about the centre voxel that holds the voxels of
    the deformed tumor t' on this spacing. The voxel pattern does not depend on where the
    centre voxel is, so it is computed once, before placement: on the box painting uses
    when `edge_blur_mm` is given (`deformed_mask`, exactly the voxels painted away from the
    volume's edge, fewer near it), else on the worst-case box (a bound for any box).

    With `stride` > 1 (and `edge_blur_mm` given): a lower bound, from every stride-th voxel
    along each axis of the box painting starts with (about stride^3 times less work).
    `core_axes`: the core painting will ask for too (computed and kept with the mask).
    """
    spacing = np.asarray(spacing, dtype=np.float64)
    ext = extent_mm(semi_axes, rotation is not None, lobulation, sigma_mm)
    half = np.ceil(ext / spacing).astype(int) + 1
    dirs = lobe_directions(seed, lobes) if lobulation > 0 else None
    found: np.ndarray | None
    if edge_blur_mm is None:
        offsets = tuple(axis_offsets(-h, h + 1, 0, s) for h, s in zip(half, spacing, strict=True))
        disp = elastic_displacement(seed, sigma_mm, points, semi_axes, offsets)
        found = tumor_mask(offsets, semi_axes, rotation, disp, lobulation, dirs)
    elif stride > 1:
        # mask voxels of the reach box: painted whichever box painting ends with
        half = half + blur_margin(edge_blur_mm, spacing)
        shape_ = tuple(int(n) for n in 2 * half + 1)
        first, _ = _first_boxes(
            seed,
            sigma_mm,
            points,
            semi_axes,
            rotation,
            lobulation,
            edge_blur_mm,
            half,
            clip_box(half, half, shape_),
            spacing,
            shape_,
            half,
        )
        offsets = tuple(o[::stride] for o in _offsets(first, half, spacing))
        disp = elastic_displacement(seed, sigma_mm, points, semi_axes, offsets)
        found = tumor_mask(offsets, semi_axes, rotation, disp, lobulation, dirs)
    else:
        half = half + blur_margin(edge_blur_mm, spacing)
        found, offsets, _, _ = deformed_mask(
            seed,
            sigma_mm,
            points,
            semi_axes,
            rotation,
            lobulation,
            lobes,
            edge_blur_mm,
            half,
            half,
            spacing,
            tuple(int(n) for n in 2 * half + 1),
            core_axes=core_axes,
        )
    if found is None or not found.any():
        return 0.0
    mask = found
    # the farthest voxel lies in the mask's own bounding box: square distances there only
    cut = extent(mask)
    o2 = [
        (o[c] ** 2).reshape([-1 if j == i else 1 for j in range(3)])
        for i, (o, c) in enumerate(zip(offsets, cut, strict=True))
    ]
    r2 = np.where(mask[cut], o2[0] + o2[1] + o2[2], 0.0)
    return float(np.sqrt(np.max(r2)))


def extent(mask: np.ndarray) -> tuple[slice, slice, slice]:
    """The bounding box of a non-empty 3D mask (two passes over it)."""
    rows: np.ndarray = np.any(mask, axis=2)
    hit = (
        np.flatnonzero(rows.any(axis=1)),
        np.flatnonzero(rows.any(axis=0)),
        np.flatnonzero(mask.any(axis=(0, 1))),
    )
    return tuple(slice(int(h[0]), int(h[-1]) + 1) for h in hit)  # type: ignore[return-value]


def clip_box(
    center: np.ndarray, half: np.ndarray, shape_: tuple[int, ...]
) -> tuple[slice, slice, slice]:
    """The box center +- half (voxels), clipped to a volume of shape `shape_`."""
    lo = np.maximum(center - half, 0)
    hi = np.minimum(center + half + 1, shape_)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))  # type: ignore[return-value]


def deformed_mask(
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
    core_axes: np.ndarray | None = None,
) -> tuple[
    np.ndarray | None, tuple[np.ndarray, ...], tuple[slice, slice, slice], np.ndarray | None
]:
    """t' around `center` in a volume of shape `shape_`: (mask or None when empty, per-axis
    offsets in mm, box, core). First on the box the deformation usually reaches (a coarse
    look at the field), and on the worst-case box (`tumor_half`) only if the tumor comes
    near an inner face of the first (so that it, or its edge blur, may be cut). The core is
    the same shape with `core_axes` as semi-axes, in the same elastic field, on the same
    box (`edge`); the mask itself when `core_axes` is None.

    Away from the volume's edge the result does not depend on where the centre is: such
    results are kept for a while (`_MASKS`), as `sample` computes every tumor's mask for
    its bounding radius just before `apply` paints it. The mask returned is read-only.
    """
    center = np.asarray(center)
    tumor_half = np.asarray(tumor_half)
    full = clip_box(center, tumor_half, shape_)
    whole = all(s.stop - s.start == 2 * h + 1 for s, h in zip(full, tumor_half, strict=True))
    key = (
        seed,
        sigma_mm,
        points,
        np.asarray(semi_axes, dtype=np.float64).tobytes(),
        None if rotation is None else np.asarray(rotation, dtype=np.float64).tobytes(),
        lobulation,
        lobes,
        edge_blur_mm,
        tuple(int(h) for h in tumor_half),
        np.asarray(spacing, dtype=np.float64).tobytes(),
        None if core_axes is None else np.asarray(core_axes, dtype=np.float64).tobytes(),
    )
    if whole:
        kept = _MASKS.get(key)
        if kept is not None:
            mask, offsets, rel, core = kept
            box = tuple(
                slice(int(c + a), int(c + b)) for c, (a, b) in zip(center, rel, strict=True)
            )
            return mask, offsets, box, core  # type: ignore[return-value]
    found = _deformed_mask(
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
        full,
        spacing,
        shape_,
        core_axes,
    )
    if whole:
        mask, offsets, box, core = found
        for array in (mask, core, *offsets):
            if array is not None:
                array.flags.writeable = False
        rel = tuple((s.start - int(c), s.stop - int(c)) for s, c in zip(box, center, strict=True))
        _MASKS.put(key, (mask, offsets, rel, core))
    return found


def _deformed_mask(
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
    full: tuple[slice, slice, slice],
    spacing: np.ndarray,
    shape_: tuple[int, ...],
    core_axes: np.ndarray | None = None,
) -> tuple[
    np.ndarray | None, tuple[np.ndarray, ...], tuple[slice, slice, slice], np.ndarray | None
]:
    dirs = lobe_directions(seed, lobes) if lobulation > 0 else None
    reach, first = _first_boxes(
        seed,
        sigma_mm,
        points,
        semi_axes,
        rotation,
        lobulation,
        edge_blur_mm,
        center,
        full,
        spacing,
        shape_,
        tumor_half,
    )
    # The mask on the reach box; unless it comes within a voxel of a face of that box inside
    # `full` (then on `full`), it is empty in the blur's margin around it, which painting
    # still needs as part of the box.
    offsets = _offsets(reach, center, spacing)
    disp = elastic_displacement(seed, sigma_mm, points, semi_axes, offsets)
    mask = tumor_mask(offsets, semi_axes, rotation, disp, lobulation, dirs)
    box = reach
    if reach != full and _touches_inner_face(mask, reach, full, np.ones(3, dtype=int)):
        box = full
        offsets = _offsets(full, center, spacing)
        disp = elastic_displacement(seed, sigma_mm, points, semi_axes, offsets)
        mask = tumor_mask(offsets, semi_axes, rotation, disp, lobulation, dirs)
    core = mask
    if core_axes is not None:
        core = tumor_mask(offsets, np.asarray(core_axes), rotation, disp, lobulation, dirs)
    if box == reach and first != reach:
        inner = tuple(
            slice(r.start - f.start, r.stop - f.start) for r, f in zip(reach, first, strict=True)
        )
        grown = np.zeros(tuple(s.stop - s.start for s in first), dtype=bool)
        grown[inner] = mask
        if core is not mask:
            grown_core = np.zeros(grown.shape, dtype=bool)
            grown_core[inner] = core
            core = grown_core
        else:
            core = grown
        mask, box, offsets = grown, first, _offsets(first, center, spacing)
    if not mask.any():
        return None, offsets, box, None
    return mask, offsets, box, core


def _first_boxes(
    seed: int,
    sigma_mm: float,
    points: int,
    semi_axes: np.ndarray,
    rotation: np.ndarray | None,
    lobulation: float,
    edge_blur_mm: float,
    center: np.ndarray,
    full: tuple[slice, slice, slice],
    spacing: np.ndarray,
    shape_: tuple[int, ...],
    tumor_half: np.ndarray,
) -> tuple[tuple[slice, slice, slice], tuple[slice, slice, slice]]:
    """The box the deformation usually reaches (from a coarse look at the field on `full`),
    and that box with the edge blur's margin around it, both within `full`."""
    reach = displacement_reach(seed, sigma_mm, points, semi_axes, _offsets(full, center, spacing))
    base = axis_reach_mm(semi_axes, rotation is not None)
    half = np.ceil((base * (1.0 + lobulation) + reach) / spacing).astype(int) + 1
    margin = blur_margin(edge_blur_mm, spacing)
    return (
        clip_box(center, np.minimum(half, tumor_half), shape_),
        clip_box(center, np.minimum(half + margin, tumor_half), shape_),
    )


class _Kept:
    """A small least-recently-used store of deformed masks, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.items: OrderedDict[Any, Any] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            if key not in self.items:
                return None
            self.items.move_to_end(key)
            return self.items[key]

    def put(self, key: Any, value: Any) -> None:
        nbytes = _nbytes(value)
        if nbytes > self.max_bytes:
            return
        with self.lock:
            if key in self.items:
                return
            self.items[key] = value
            self.size += nbytes
            while self.size > self.max_bytes:
                _, old = self.items.popitem(last=False)
                self.size -= _nbytes(old)


def _nbytes(value: tuple[Any, ...]) -> int:
    """Bytes of the arrays of a stored tuple (its top-level items)."""
    return sum(int(v.nbytes) for v in value if isinstance(v, np.ndarray))


_MASKS = _Kept(max_bytes=64 * 2**20)
"""Deformed masks by their parameters (a cache: results never depend on it)."""


def _offsets(
    box: tuple[slice, slice, slice], center: np.ndarray, spacing: np.ndarray
) -> tuple[np.ndarray, ...]:
    return tuple(
        axis_offsets(s.start, s.stop, c, sp) for s, c, sp in zip(box, center, spacing, strict=True)
    )


def _touches_inner_face(
    mask: np.ndarray,
    box: tuple[slice, slice, slice],
    full: tuple[slice, slice, slice],
    width: np.ndarray,
) -> bool:
    """Does the mask come within `width` voxels of a face of `box` that lies inside `full`?"""
    for axis in range(3):
        w = int(width[axis])
        low = [slice(None)] * 3
        low[axis] = slice(0, w)
        high = [slice(None)] * 3
        high[axis] = slice(-w, None)
        if box[axis].start > full[axis].start and mask[tuple(low)].any():
            return True
        if box[axis].stop < full[axis].stop and mask[tuple(high)].any():
            return True
    return False


def lobe_directions(seed: int, lobes: int) -> np.ndarray:
    """Unit vectors (lobes x 3) where the surface bulges; from the tumor's own seed."""
    rng = np.random.default_rng([seed, 2])
    d = rng.normal(size=(lobes, 3))
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def tumor_mask(
    offsets: tuple[np.ndarray, ...],
    semi_axes: np.ndarray,
    rotation: np.ndarray | None,
    displacement: tuple[np.ndarray, ...] | None,
    lobulation: float,
    directions: np.ndarray | None,
) -> np.ndarray:
    """t': bool mask on the box whose per-axis offsets (mm from the centre) are given."""
    p = list(np.meshgrid(*[o.astype(np.float32) for o in offsets], indexing="ij", sparse=True))
    if displacement is not None:
        p = [pi + ui for pi, ui in zip(p, displacement, strict=True)]
    if rotation is not None:
        r = rotation.astype(np.float32)
        # q = R^T p: coordinates along the ellipsoid's own axes
        p = [r[0, i] * p[0] + r[1, i] * p[1] + r[2, i] * p[2] for i in range(3)]
    a = semi_axes.astype(np.float32)
    rho2 = (p[0] / a[0]) ** 2 + (p[1] / a[1]) ** 2 + (p[2] / a[2]) ** 2
    if lobulation <= 0 or directions is None:
        return rho2 <= 1.0
    rho = np.sqrt(rho2) + np.float32(1e-6)
    bump = np.zeros_like(rho)
    for d in directions.astype(np.float32):
        cos = (d[0] * p[0] / a[0] + d[1] * p[1] / a[1] + d[2] * p[2] / a[2]) / rho
        np.maximum(bump, np.exp(_LOBE_SHARPNESS * (cos - 1.0)), out=bump)
    return rho <= 1.0 + np.float32(lobulation) * bump


def edge_blur(
    mask: np.ndarray, sigma_mm: float, spacing: np.ndarray, truncate: float = TRUNCATE
) -> np.ndarray:
    """t'' = t' * g(sigma_c) as float32 (a copy of the mask when sigma_c is 0)."""
    t = mask.astype(np.float32)
    if sigma_mm <= 0:
        return t
    return ndimage.gaussian_filter(t, sigma_mm / spacing, mode="constant", truncate=truncate)


def blur_margin(sigma_mm: float, spacing: np.ndarray, truncate: float = TRUNCATE) -> np.ndarray:
    """Voxels the edge blur (truncated at `truncate` sigma) reaches beyond the mask, per axis."""
    if sigma_mm <= 0:
        return np.zeros(3, dtype=int)
    return np.ceil(truncate * sigma_mm / spacing).astype(int) + 1
