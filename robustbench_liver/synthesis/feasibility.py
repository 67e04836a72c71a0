"""How much of a tumor's ellipsoid lies inside the liver, for one centre or the whole liver.

Placement asks, per candidate centre, for the share of a lattice of points in the nominal
ellipsoid (`location.BALL` x semi-axes) that falls on liver voxels, where a point is rounded
to its voxel as rint((centre x spacing + point) / spacing) and points beyond the field of
view are not counted. Two tools answer it here:

- `share_ok`, the exact check for a list of centres: one gather per point from a byte map
  of the liver's box (1 liver, 0 not) bordered on each side by a slab that stands for "in
  the volume, outside the box" (0) and one for "beyond the volume" (2); per axis, a table
  rounds each centre coordinate and point to its index there, with the same float
  operations as rounding every point of every centre, so the answer is the same, bit for
  bit;
- `possible_cells`, a necessary condition for every centre of the liver at once: the liver
  box is cut into cells of about 4 mm. From any centre of a cell, a point rounds to a voxel
  of two neighbouring cells along each axis (the cell's offset by the point, and the next),
  so it counts for the cell when any of those 2 x 2 x 2 cells holds liver or reaches beyond
  the volume. A cell whose count stays below the share cannot hold a centre that passes;
  the exact check then runs on the centres of the other cells.

The maps are small (the liver box once, and a map of cells) and cached on the scan's context.
"""

from __future__ import annotations

import numpy as np

from robustbench_liver.synthesis.context import ScanContext

CELL_MM = 4.0
"""Edge of a cell of the necessary-condition map (per axis: a whole number of voxels)."""
_BLOCK = 16
_EPS = 1e-6
OUTSIDE, LIVER, BEYOND = 0, 1, 2


def cell_size(ctx: ScanContext) -> np.ndarray:
    """Voxels per cell edge along each axis (about CELL_MM)."""
    return np.maximum(np.rint(CELL_MM / ctx.spacing), 1).astype(int)


def _code_map(ctx: ScanContext) -> np.ndarray:
    """uint8 over the liver box with two slabs on each side per axis: index 0 stands for
    beyond the volume (low side), 1 for outside the box within the volume, 2.. the box,
    then outside (high side), then beyond. Beyond wins over outside wins over the liver."""
    code = ctx.maps.get("code")
    if code is None:
        code = np.zeros(tuple(n + 4 for n in ctx.box_shape), dtype=np.uint8)
        code[2:-2, 2:-2, 2:-2] = ctx.liver_box
        # the "outside" slabs stay OUTSIDE (0) except where another axis is beyond
        for axis in range(3):
            beyond = [slice(None)] * 3
            for index in (0, -1):
                beyond[axis] = slice(index, index + 1 or None)
                code[tuple(beyond)] = BEYOND
        ctx.maps["code"] = code
    return code


def _axis_index(ctx: ScanContext, axis: int, voxel: np.ndarray) -> np.ndarray:
    """Index along `axis` of the code map for volume voxel coordinates (any integers)."""
    lo, hi, n = int(ctx.lo[axis]), int(ctx.hi[axis]), ctx.scan.shape[axis]
    out = voxel - (lo - 2)
    out = np.where(voxel < lo, 1, out)
    out = np.where(voxel >= hi, hi - lo + 2, out)
    out = np.where(voxel < 0, 0, out)
    return np.where(voxel >= n, hi - lo + 3, out)


def share_ok(
    ctx: ScanContext, points_mm: np.ndarray, min_inside: float, vox: np.ndarray
) -> np.ndarray:
    """Exact: does the share of `points_mm` (around each centre of `vox`, voxels of the liver
    box) on liver voxels reach `min_inside`, among the points within the volume, with at
    least half of the points within the volume?

    Points are checked in blocks, in the order given (outermost first is fastest); a centre
    is dropped once more points are outside the liver than the share allows even if every
    other point were inside.
    """
    total = len(points_mm)
    if min_inside <= 0 or not len(vox):
        return np.ones(len(vox), dtype=bool)
    outside, unseen, alive = _count(ctx, points_mm, vox, (1.0 - min_inside) * total + _EPS)
    ok = np.zeros(len(vox), dtype=bool)
    seen = total - unseen[alive]
    ok[alive] = outside[alive] <= (1.0 - min_inside) * seen + _EPS
    return ok


def inside_shares(ctx: ScanContext, points_mm: np.ndarray, vox: np.ndarray) -> np.ndarray:
    """Per centre of `vox`: the share of `points_mm` on liver voxels among those within the
    volume (the share `share_ok` compares), or -1 when fewer than half are within it."""
    total = len(points_mm)
    if not len(vox):
        return np.zeros(0)
    outside, unseen, alive = _count(ctx, points_mm, vox, float(total))
    out = np.full(len(vox), -1.0)
    seen = total - unseen[alive]
    out[alive] = 1.0 - outside[alive] / np.maximum(seen, 1)
    return out


def _count(
    ctx: ScanContext, points_mm: np.ndarray, vox: np.ndarray, allowed: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points outside the liver and beyond the volume per centre, and the centres still
    alive: with at most `allowed` points outside and at least half of them within the
    volume (the others are dropped as soon as that is sure, their counts then partial)."""
    total = len(points_mm)
    sp = ctx.spacing
    code = _code_map(ctx)
    strides = np.asarray(code.strides, dtype=np.intp)  # uint8: bytes = elements
    # Per axis, the map offset of each point for each centre coordinate: a table over the
    # liver box's coordinates, or over the centres themselves when they are fewer.
    few = len(vox) < min(ctx.box_shape)
    tables = []
    for axis in range(3):
        u = vox[:, axis] if few else np.arange(ctx.lo[axis], ctx.hi[axis])
        # the same float operations as rint((u * spacing + point) / spacing) per centre
        t = np.rint((u[:, None] * sp[axis] + points_mm[None, :, axis]) / sp[axis])
        tables.append(_axis_index(ctx, axis, t.astype(np.intp)) * strides[axis])
    if few:
        rows = np.repeat(np.arange(len(vox), dtype=np.intp)[:, None], 3, axis=1)
    else:
        rows = (vox - ctx.lo).astype(np.intp)
    flat = code.reshape(-1)
    alive = np.arange(len(vox))
    outside = np.zeros(len(vox), dtype=np.int64)
    unseen = np.zeros(len(vox), dtype=np.int64)
    for start in range(0, total, _BLOCK):
        block = slice(start, start + _BLOCK)
        r = rows[alive]
        idx = tables[0][r[:, 0], block] + tables[1][r[:, 1], block] + tables[2][r[:, 2], block]
        values = flat[idx]
        outside[alive] += np.count_nonzero(values == OUTSIDE, axis=1)
        unseen[alive] += np.count_nonzero(values == BEYOND, axis=1)
        alive = alive[(outside[alive] <= allowed) & (2 * unseen[alive] <= total)]
        if not alive.size:
            break
    return outside, unseen, alive


def possible_cells(ctx: ScanContext, points_mm: np.ndarray, min_inside: float) -> np.ndarray:
    """Per cell of the liver box (shape `cell_grid(ctx)`): can a centre in it pass `share_ok`?

    False only where none can (a necessary condition, never a sufficient one).
    """
    total = len(points_mm)
    g = cell_size(ctx)
    # a point rounds to centre + lo or centre + lo + 1 (ties, or float noise at .5): from a
    # cell's voxels c g .. c g + g - 1, to voxels c g + lo .. c g + g + lo, which lie in the
    # cells c + q and c + q + 1 along each axis, q = lo // g
    lo = np.floor(points_mm / ctx.spacing + 0.5 - _EPS).astype(int)
    q = np.floor_divide(lo, g)
    margin = np.abs(q).max(axis=0) + 1
    pairs, first = _pair_map(ctx, margin)
    cells = cell_grid(ctx)
    count = np.zeros(cells, dtype=np.uint16)
    for i, j, k in q - first:
        count += pairs[i : i + cells[0], j : j + cells[1], k : k + cells[2]]
    # passing needs inside >= m x seen, so inside + unseen >= m x total
    return count >= min_inside * total - _EPS


def _pair_map(ctx: ScanContext, margin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Over cells from `first` (cell offsets from the box's first cell) on, with at least
    `margin` cells around the box: does the cell or its next one along each axis (2 x 2 x 2
    cells) hold a liver voxel or a voxel beyond the volume. Cached, grown on need."""
    cached = ctx.maps.get("pairs")
    if cached is not None and np.all(-cached[1] >= margin):
        return cached
    if cached is not None:
        margin = np.maximum(margin, -cached[1])
    margin = -(-np.asarray(margin) // 4) * 4  # in steps of 4 cells: fewer rebuilds
    g = cell_size(ctx)
    cells = np.asarray(cell_grid(ctx))
    # liver per cell over the box (the box padded to whole cells with non-liver)
    padded = np.zeros(tuple(cells * g), dtype=bool)
    padded[tuple(slice(0, n) for n in ctx.box_shape)] = ctx.liver_box
    split = padded.reshape(cells[0], g[0], cells[1], g[1], cells[2], g[2])
    liver = split.any(axis=(1, 3, 5))
    shape = cells + 2 * margin + 1
    any_ = np.zeros(tuple(shape), dtype=bool)
    any_[tuple(slice(m, m + n) for m, n in zip(margin, cells, strict=True))] = liver
    for axis in range(3):  # cells with a voxel beyond the volume
        start = ctx.lo[axis] + (np.arange(shape[axis]) - margin[axis]) * g[axis]
        beyond = (start < 0) | (start + g[axis] > ctx.scan.shape[axis])
        index = [slice(None)] * 3
        index[axis] = beyond
        any_[tuple(index)] = True
    for axis in range(3):  # the cell or the next
        src = [slice(None)] * 3
        dst = [slice(None)] * 3
        src[axis] = slice(1, None)
        dst[axis] = slice(0, -1)
        any_[tuple(dst)] |= any_[tuple(src)]
    out = (any_, -margin)
    ctx.maps["pairs"] = out
    return out


def cell_grid(ctx: ScanContext) -> tuple[int, int, int]:
    """Cells per axis over the liver box."""
    g = cell_size(ctx)
    return tuple(int(n) for n in -(-np.asarray(ctx.box_shape) // g))  # type: ignore[return-value]


def cell_centres_mm(ctx: ScanContext) -> tuple[list[np.ndarray], float]:
    """Per axis, the mm position (index x spacing) of each cell's middle; and the largest
    distance from a cell's middle to one of its voxels."""
    g = cell_size(ctx)
    grid = cell_grid(ctx)
    axes = [
        (lo + np.arange(n) * k + (k - 1) / 2.0) * sp
        for lo, n, k, sp in zip(ctx.lo, grid, g, ctx.spacing, strict=True)
    ]
    return axes, float(np.linalg.norm((g - 1) / 2.0 * ctx.spacing))


def liver_in_cells(ctx: ScanContext, cells: np.ndarray) -> np.ndarray:
    """Box-flat indices of the liver voxels in the cells where `cells` (over `cell_grid`)
    is True, grouped by cell (costs in proportion to what it returns)."""
    order, starts = _liver_by_cell(ctx)
    chosen = np.flatnonzero(cells.ravel())
    counts = starts[chosen + 1] - starts[chosen]
    chosen, counts = chosen[counts > 0], counts[counts > 0]
    total = int(counts.sum())
    if not total:
        return np.zeros(0, dtype=ctx.liver_flat.dtype)
    # positions starts[c], starts[c] + 1, ..., for each chosen cell c in turn
    shift = np.repeat(starts[chosen] - np.cumsum(counts) + counts, counts)
    return order[shift + np.arange(total)]


def _liver_by_cell(ctx: ScanContext) -> tuple[np.ndarray, np.ndarray]:
    """The liver voxels (box-flat indices, int32) sorted by cell, and where each cell starts."""
    cached = ctx.maps.get("by_cell")
    if cached is None:
        g = cell_size(ctx)
        grid = cell_grid(ctx)
        _, n1, n2 = ctx.box_shape
        flat = ctx.liver_flat.astype(np.int32)
        cells = (flat // (n1 * n2)) // int(g[0]) * grid[1]
        cells += (flat // n2) % n1 // int(g[1])
        cells *= grid[2]
        cells += flat % n2 // int(g[2])
        sort = np.argsort(cells, kind="stable")
        starts = np.zeros(int(np.prod(grid)) + 1, dtype=np.int64)
        np.cumsum(np.bincount(cells, minlength=int(np.prod(grid))), out=starts[1:])
        cached = (flat[sort], starts)
        ctx.maps["by_cell"] = cached
    return cached
