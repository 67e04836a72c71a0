"""Geometry on a voxel grid in mm: boxes, ellipsoids, smooth random fields and tubes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from robustbench_liver.numerics import separable_apply


@dataclass(frozen=True)
class Grid:
    """A regular grid whose voxel centres sit at `origin + index * spacing` (mm, RAS)."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]

    def box(self, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, slice, slice] | None:
        """Index slices covering the mm box [lo, hi], clipped to the grid (None if outside)."""
        sp, org = np.asarray(self.spacing), np.asarray(self.origin)
        i0 = np.maximum(np.floor((np.asarray(lo) - org) / sp).astype(int), 0)
        i1 = np.minimum(np.ceil((np.asarray(hi) - org) / sp).astype(int) + 1, self.shape)
        if np.any(i1 <= i0):
            return None
        return tuple(slice(int(a), int(b)) for a, b in zip(i0, i1, strict=True))  # type: ignore[return-value]

    def axes(self, box: tuple[slice, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Open-mesh mm coordinates (broadcastable) of the voxel centres in `box` (slices
        may have a step)."""
        out = []
        for d, s in enumerate(box):
            idx = np.arange(s.start, s.stop, s.step or 1, dtype=np.float32)
            coord = self.origin[d] + idx * self.spacing[d]
            shape = [1, 1, 1]
            shape[d] = coord.size
            out.append(coord.reshape(shape))
        return out[0], out[1], out[2]

    def points_to_index(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points) - np.asarray(self.origin)) / np.asarray(self.spacing)

    @property
    def affine(self) -> np.ndarray:
        affine = np.diag([*self.spacing, 1.0])
        affine[:3, 3] = self.origin
        return affine


def ellipsoid_level(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    centre: tuple[float, float, float],
    semi_axes: tuple[float, float, float],
    yaw_deg: float = 0.0,
) -> np.ndarray:
    """Normalised radius: < 1 inside the ellipsoid, 1 on its surface (rotated about z)."""
    dx, dy, dz = x - centre[0], y - centre[1], z - centre[2]
    if yaw_deg:
        c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
        dx, dy = c * dx + s * dy, -s * dx + c * dy
    a, b, cz = semi_axes
    return np.sqrt((dx / a) ** 2 + (dy / b) ** 2 + (dz / cz) ** 2)


def soft_min(levels: list[np.ndarray], k: float = 0.08) -> np.ndarray:
    """Smooth union of implicit shapes (polynomial smooth minimum, blending over a band of
    width k), so lobes join without creases; cheaper than log-sum-exp."""
    out = levels[0]
    for b in levels[1:]:
        h = np.clip(0.5 + 0.5 * (b - out) / k, 0.0, 1.0)
        out = b + (out - b) * h - k * h * (1.0 - h)
    return out


class SmoothField:
    """A smooth random field (std about 1), defined everywhere in mm: a cubic B-spline over
    Gaussian noise on a coarse lattice `scale_mm` apart."""

    def __init__(self, rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, scale_mm: float):
        self.lo = np.asarray(lo, dtype=np.float64)
        self.scale = float(scale_mm)
        n = np.ceil((np.asarray(hi) - self.lo) / self.scale).astype(int) + 4
        raw = rng.standard_normal(tuple(n))
        self.coef = ndimage.spline_filter(raw, order=3, mode="nearest").astype(np.float32)

    def at(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Values on the open mesh x (n,1,1), y (1,m,1), z (1,1,k): the B-spline is separable,
        so three small matrix products replace 64 taps per voxel."""
        weights = [self._weights(c.ravel(), d) for d, c in enumerate((x, y, z))]
        # in single-thread blocks: the same bytes whatever the BLAS thread count (numerics)
        return separable_apply(self.coef, tuple(weights))

    def _weights(self, coord: np.ndarray, axis: int) -> np.ndarray:
        """Cubic B-spline weights (points × lattice) along one axis."""
        u = (coord.astype(np.float64) - self.lo[axis]) / self.scale + 1.0
        size = self.coef.shape[axis]
        u = np.clip(u, 1.0, size - 3.0)
        w = np.zeros((u.size, size), dtype=np.float32)
        base = np.floor(u).astype(int)
        rows = np.arange(u.size)
        for k in range(-1, 3):
            t = np.abs(u - (base + k))
            w[rows, base + k] = np.where(t < 1, 2 / 3 - t**2 + t**3 / 2, (2 - t) ** 3 / 6)
        return w


@dataclass(frozen=True)
class Segment:
    """A tapered tube from p0 to p1 (mm) with radii r0 and r1 (mm)."""

    p0: tuple[float, float, float]
    p1: tuple[float, float, float]
    r0: float
    r1: float


def render_tubes(grid: Grid, segments: list[Segment]) -> np.ndarray:
    """Depth inside the union of tubes (mm; > 0 inside, -inf far away), over the whole grid."""
    depth = np.full(grid.shape, -np.inf, dtype=np.float32)
    for seg in segments:
        p0, p1 = np.asarray(seg.p0, np.float32), np.asarray(seg.p1, np.float32)
        pad = max(seg.r0, seg.r1) + 1.5 * max(grid.spacing)
        box = grid.box(np.minimum(p0, p1) - pad, np.maximum(p0, p1) + pad)
        if box is None:
            continue
        x, y, z = grid.axes(box)
        d = p1 - p0
        length2 = float(d @ d) or 1e-6
        t = np.clip(((x - p0[0]) * d[0] + (y - p0[1]) * d[1] + (z - p0[2]) * d[2]) / length2, 0, 1)
        dist = np.sqrt(
            (x - p0[0] - t * d[0]) ** 2 + (y - p0[1] - t * d[1]) ** 2 + (z - p0[2] - t * d[2]) ** 2
        )
        inside = seg.r0 + t * (seg.r1 - seg.r0) - dist
        np.maximum(depth[box], inside, out=depth[box])
    return depth


def polyline(points: np.ndarray, radii: np.ndarray) -> list[Segment]:
    """Consecutive segments through `points` (N×3 mm) with radii (N)."""
    return [
        Segment(tuple(points[i]), tuple(points[i + 1]), float(radii[i]), float(radii[i + 1]))
        for i in range(len(points) - 1)
    ]
