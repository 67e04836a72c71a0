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
    control = np.clip(rng.normal(0.0, sigma_mm, size=(3, points, points, points)), -limit, limit)
    mats = tuple(interp_matrix(nodes, off) for off in offsets)
    out = []
    for c in range(3):
        u = separable_apply(control[c].astype(np.float32), mats)
        np.clip(u, -limit, limit, out=u)  # spline overshoot stays within the bound
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
    coarse = tuple(o[:: max(1, len(o) // 12)] for o in offsets)
    u = elastic_displacement(seed, sigma_mm, points, semi_axes, coarse)
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
) -> float:
    """Radius (mm) of the smallest sphere about the centre voxel that holds the voxels of
    the deformed tumor t' on this spacing. The voxel pattern does not depend on where the
    centre voxel is, so it is computed once, on the worst-case box, before placement."""
    spacing = np.asarray(spacing, dtype=np.float64)
    ext = extent_mm(semi_axes, rotation is not None, lobulation, sigma_mm)
    half = np.ceil(ext / spacing).astype(int) + 1
    offsets = tuple(axis_offsets(-h, h + 1, 0, s) for h, s in zip(half, spacing, strict=True))
    disp = elastic_displacement(seed, sigma_mm, points, semi_axes, offsets)
    dirs = lobe_directions(seed, lobes) if lobulation > 0 else None
    mask = tumor_mask(offsets, semi_axes, rotation, disp, lobulation, dirs)
    if not mask.any():
        return 0.0
    r2 = sum(
        np.where(mask.any(axis=tuple(j for j in range(3) if j != i)), o**2, 0.0).reshape(
            [-1 if j == i else 1 for j in range(3)]
        )
        for i, o in enumerate(offsets)
    )
    return float(np.sqrt(np.max(np.where(mask, r2, 0.0))))


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


def edge_blur(mask: np.ndarray, sigma_mm: float, spacing: np.ndarray) -> np.ndarray:
    """t'' = t' * g(sigma_c) as float32 (a copy of the mask when sigma_c is 0)."""
    t = mask.astype(np.float32)
    if sigma_mm <= 0:
        return t
    return ndimage.gaussian_filter(t, sigma_mm / spacing, mode="constant", truncate=TRUNCATE)


def blur_margin(sigma_mm: float, spacing: np.ndarray) -> np.ndarray:
    """Voxels the edge blur reaches beyond the mask, per axis."""
    if sigma_mm <= 0:
        return np.zeros(3, dtype=int)
    return np.ceil(TRUNCATE * sigma_mm / spacing).astype(int) + 1
