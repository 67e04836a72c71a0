"""Surfel areas of the 256 possible 2×2×2 neighbourhoods (Nikolov et al.'s surface elements).

The surfel-area NSD (DeepMind's `surface-distance`, MONAI's `use_subvoxels=True`) gives every
2×2×2 block of voxels that straddles the boundary the area of its marching-cubes surface piece,
scaled to the voxel spacing. We rebuild that table from first principles instead of carrying
a 256-row literal:

* the surface piece of a block is made of polygons whose corners are the midpoints of the
  block's edges that join an inside and an outside voxel;
* on a face with two diagonal inside corners (the ambiguous case) the corners of the minority
  class are cut off separately (inside corners when at most four corners are inside);
* each polygon is split into the triangles that give it the largest area at unit spacing.

These rules reproduce DeepMind's table for all 256 codes at any spacing; the unit test
`tests/unit/metrics/test_surfels.py` checks this against MONAI's copy of it.

Bit convention (same as MONAI's encoding kernel): the voxel at offset (a, b, c) inside the block
sets bit ``7 - (4a + 2b + c)``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

Point = tuple[float, float, float]
Triangle = tuple[Point, Point, Point]

CORNERS: tuple[tuple[int, int, int], ...] = tuple(
    (a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)
)


def corner_bit(corner: tuple[int, int, int]) -> int:
    a, b, c = corner
    return 7 - (4 * a + 2 * b + c)


def _faces() -> list[list[tuple[int, int, int]]]:
    """The six faces of the unit cube, each as its four corners in cyclic order."""
    faces = []
    for axis in range(3):
        others = [k for k in range(3) if k != axis]
        for side in (0, 1):
            cycle = []
            for u, w in ((0, 0), (0, 1), (1, 1), (1, 0)):
                corner = [0, 0, 0]
                corner[axis], corner[others[0]], corner[others[1]] = side, u, w
                cycle.append((corner[0], corner[1], corner[2]))
            faces.append(cycle)
    return faces


_FACES = _faces()


def _midpoint(p: tuple[int, int, int], q: tuple[int, int, int]) -> Point:
    return ((p[0] + q[0]) / 2, (p[1] + q[1]) / 2, (p[2] + q[2]) / 2)


def _polygons(code: int) -> list[list[Point]]:
    """Closed polygons (lists of edge midpoints) of the surface piece of one block."""
    inside = {c for c in CORNERS if code >> corner_bit(c) & 1}
    cut_inside = len(inside) <= 4  # ambiguous faces cut off the minority class
    segments: list[tuple[Point, Point]] = []
    for cycle in _FACES:
        state = [c in inside for c in cycle]
        crossings = [i for i in range(4) if state[i] != state[(i + 1) % 4]]
        mids = {i: _midpoint(cycle[i], cycle[(i + 1) % 4]) for i in crossings}
        if len(crossings) == 2:
            segments.append((mids[crossings[0]], mids[crossings[1]]))
        elif len(crossings) == 4:
            # corner k lies between face edges k-1 and k: cut it off on its own
            for k in range(4):
                if state[k] == cut_inside:
                    segments.append((mids[(k - 1) % 4], mids[k]))
    neighbours: dict[Point, list[Point]] = {}
    for p, q in segments:
        neighbours.setdefault(p, []).append(q)
        neighbours.setdefault(q, []).append(p)
    polygons, seen = [], set()
    for start in neighbours:
        if start in seen:
            continue
        loop, current = [start], start
        seen.add(start)
        while True:
            step = [n for n in neighbours[current] if n not in seen]
            if not step:
                break
            current = step[0]
            loop.append(current)
            seen.add(current)
        polygons.append(loop)
    return polygons


def _triangulations(polygon: list[Point]) -> list[list[Triangle]]:
    """Every triangulation of a polygon (at most a hexagon here: 14 of them)."""
    n = len(polygon)
    if n < 3:
        return [[]]
    if n == 3:
        return [[(polygon[0], polygon[1], polygon[2])]]
    result = []
    for k in range(1, n - 1):  # the triangle on edge (0, n-1) has its apex at k
        apex = (polygon[0], polygon[k], polygon[-1])
        for left in _triangulations(polygon[: k + 1]):
            for right in _triangulations(polygon[k:]):
                result.append([*left, *right, apex])
    return result


def _area_vector(triangle: Triangle) -> np.ndarray:
    """Half the cross product: the triangle's normal, as long as its area."""
    a, b, c = (np.asarray(p, dtype=np.float64) for p in triangle)
    return 0.5 * np.cross(b - a, c - a)


@lru_cache(maxsize=1)
def area_vectors() -> tuple[np.ndarray, ...]:
    """Per code, the (n_triangles, 3) area vectors of its surface piece at unit spacing."""
    table: list[np.ndarray] = []
    for code in range(256):
        vectors: list[np.ndarray] = []
        for polygon in _polygons(code):
            options = [np.array([_area_vector(t) for t in tri]) for tri in _triangulations(polygon)]
            areas = [float(np.linalg.norm(v, axis=1).sum()) for v in options]
            vectors.extend(options[int(np.argmax(areas))])
        table.append(np.array(vectors).reshape(-1, 3))
    return tuple(table)


@lru_cache(maxsize=32)
def surfel_area_table(spacing: tuple[float, float, float]) -> np.ndarray:
    """Area in mm² of the surface piece of each of the 256 codes at `spacing` (x, y, z mm)."""
    sx, sy, sz = spacing
    # scaling the axes by s scales an area vector's components by the other two spacings
    scale = np.array([sy * sz, sx * sz, sx * sy])
    table = np.array([np.linalg.norm(v * scale, axis=1).sum() for v in area_vectors()])
    table.flags.writeable = False
    return table
