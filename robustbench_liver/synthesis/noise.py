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
    with an interpolating spline (cubic by default; constant beyond the end nodes)."""
    nodes = np.asarray(nodes, dtype=np.float64)
    degree = min(degree, len(nodes) - 1)
    if degree < 1:
        return np.ones((len(targets), 1), dtype=np.float32)
    spline = _cardinal_splines(tuple(nodes.tolist()), degree)
    t = np.clip(np.asarray(targets, dtype=np.float64), nodes[0], nodes[-1])
    return np.ascontiguousarray(spline(t), dtype=np.float32)


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
    g = np.zeros((n, n), dtype=np.float64)
    rows = np.arange(n)
    for off, w in zip(offsets, kernel, strict=True):
        cols = np.clip(rows + off, 0, n - 1)
        np.add.at(g, (rows, cols), w)
    return g.astype(np.float32)


# OpenBLAS runs a matrix product on one thread when m * n * k is at most 65536 x 4; larger
# products wake its thread pool, and on a busy machine those threads spin while waiting for
# a core: one medium tumor took 111 ms instead of 28 ms that way. So we multiply in row
# blocks under that size (same results, any thread setting).
_SINGLE_THREAD_MNK = 65536 * 4


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b in row blocks small enough for OpenBLAS to stay on one thread."""
    m, k = a.shape
    n = b.shape[1]
    rows = max(1, _SINGLE_THREAD_MNK // max(1, k * n))
    if m <= rows:
        return a @ b
    out = np.empty((m, n), dtype=np.result_type(a, b))
    for start in range(0, m, rows):
        np.dot(a[start : start + rows], b, out=out[start : start + rows])
    return out


def separable_apply(values: np.ndarray, mats: tuple[np.ndarray, ...]) -> np.ndarray:
    """Apply one matrix per axis: out[a, b, c] = sum W0[a, i] W1[b, j] W2[c, k] v[i, j, k]."""
    w0, w1, w2 = (np.ascontiguousarray(m, dtype=np.float32) for m in mats)
    i, j, k = values.shape
    a, b, c = w0.shape[0], w1.shape[0], w2.shape[0]
    v = np.ascontiguousarray(values, dtype=np.float32).reshape(i, j * k)
    s1 = matmul(w0, v).reshape(a, j, k)  # contract i
    s2 = matmul(np.ascontiguousarray(s1.transpose(0, 2, 1)).reshape(a * k, j), w1.T.copy())
    s3 = np.ascontiguousarray(s2.reshape(a, k, b).transpose(0, 2, 1)).reshape(a * b, k)
    return matmul(s3, w2.T.copy()).reshape(a, b, c)  # contract j, then k
