"""Position-addressable noise and small separable-interpolation helpers.

A tumor's noise value at lattice node (i, j, k) depends only on (seed, i, j, k): it is a
counter-based hash (splitmix64), not a draw from a stream. So the noise of a tumor is the
same whatever box it is evaluated on, and switching a step that only changes the box (edge
blur, mass effect) leaves the texture alone. No global RNG state is touched.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from scipy.interpolate import BSpline, make_interp_spline

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_AXIS_KEYS = (
    np.uint64(0xD6E8FEB86659FD93),
    np.uint64(0xA0761D6478BD642F),
    np.uint64(0xE7037ED1A0B428DB),
)


def _mix(x: Any) -> Any:
    """splitmix64 finaliser: a bijective 64-bit mix with good avalanche."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def lattice_uniform(seed: int, stream: int, ranges: tuple[range, ...]) -> np.ndarray:
    """Uniform (0, 1) values, float64, on the integer lattice ranges[0] x ranges[1] x ranges[2]."""
    with np.errstate(over="ignore"):
        key = _mix(np.uint64(seed) * _GOLDEN + np.uint64(stream) * _M2 + _GOLDEN)
        parts = [
            _mix((np.asarray(r, dtype=np.int64).astype(np.uint64) + key) * k)
            for r, k in zip(ranges, _AXIS_KEYS, strict=True)
        ]
        h = _mix(
            parts[0][:, None, None]
            ^ (parts[1][None, :, None] * _GOLDEN)
            ^ (parts[2][None, None, :] + key)
        )
    # 53 high bits -> (0, 1), never exactly 0 (log below)
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def lattice_normal(seed: int, stream: int, ranges: tuple[range, ...]) -> np.ndarray:
    """Standard normal values (float32) on the lattice, by Box-Muller on two hashed uniforms."""
    u1 = lattice_uniform(seed, 2 * stream, ranges)
    u2 = lattice_uniform(seed, 2 * stream + 1, ranges)
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32)


def interp_matrix(nodes: np.ndarray, targets: np.ndarray, degree: int = 3) -> np.ndarray:
    """Matrix W (len(targets) x len(nodes)) so that W @ values interpolates the node values
    with an interpolating spline (cubic by default; constant beyond the end nodes).

    Equally spaced nodes (all callers here) use the splines of nodes 0, 1, ..., n - 1 at
    (target - first node) / step: interpolating splines do not change under an affine map
    of the axis, and those few splines are built once rather than for every tumor.
    """
    nodes = np.asarray(nodes, dtype=np.float64)
    n = len(nodes)
    degree = min(degree, n - 1)
    if degree < 1:
        return np.ones((len(targets), 1), dtype=np.float32)
    t = np.asarray(targets, dtype=np.float64)
    step = (nodes[-1] - nodes[0]) / (n - 1)
    gaps = np.diff(nodes)
    if step > 0 and float(gaps.max() - gaps.min()) <= 1e-9 * step:
        u = np.minimum(np.maximum((t - nodes[0]) / step, 0.0), float(n - 1))
        return np.ascontiguousarray(_unit_splines(n, degree)(u), dtype=np.float32)
    spline = _cardinal_splines(tuple(nodes.tolist()), degree)
    t = np.minimum(np.maximum(t, nodes[0]), nodes[-1])
    return np.ascontiguousarray(spline(t), dtype=np.float32)


@functools.lru_cache(maxsize=64)
def _unit_splines(n: int, degree: int) -> BSpline:
    """The cardinal splines of the nodes 0, 1, ..., n - 1."""
    return make_interp_spline(np.arange(n, dtype=np.float64), np.eye(n), k=degree)


@functools.lru_cache(maxsize=64)
def _cardinal_splines(nodes: tuple[float, ...], degree: int) -> BSpline:
    """One spline per node (1 there, 0 at the others); a tumor asks for the same nodes on
    several axes and boxes."""
    return make_interp_spline(np.asarray(nodes), np.eye(len(nodes)), k=degree)


def gaussian_matrix(n: int, sigma_vox: float, truncate: float = 3.0) -> np.ndarray:
    """(n x n) 1D Gaussian blur with 'nearest' edges: folding it into W blurs for free."""
    if sigma_vox <= 0:
        return np.eye(n, dtype=np.float32)
    radius = int(np.ceil(truncate * sigma_vox))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma_vox) ** 2)
    kernel /= kernel.sum()
    rows = np.repeat(np.arange(n), len(offsets))
    cols = np.minimum(np.maximum(np.arange(n)[:, None] + offsets[None, :], 0), n - 1).ravel()
    # per cell, the weights add up in the order of the offsets (row-major flattening)
    g = np.bincount(rows * n + cols, weights=np.tile(kernel, n), minlength=n * n)
    return g.reshape(n, n).astype(np.float32)
