"""Matrix products whose bytes do not depend on the BLAS thread count.

OpenBLAS runs a product on one thread when m * n * k is at most 65536 x 4; larger products
are split over its thread pool, and how they are split changes the order of the float sums,
so the same product gives other bytes with another thread setting (a Dask worker runs
with one BLAS thread, a local worker with several). On a busy machine the pool's threads
also spin while waiting for a core: one medium tumor took 111 ms instead of 28 ms that way.
So we multiply in row blocks under that size: the same bytes with any thread setting.
"""

from __future__ import annotations

import numpy as np

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
