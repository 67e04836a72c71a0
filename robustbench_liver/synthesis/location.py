"""Step 2: where a tumor goes: a liver voxel whose surroundings satisfy every constraint.

Hu et al. (CVPR 2023, Sec. 3.1 "location selection") propose random liver voxels and reject
those with a vessel voxel inside the cube [x - r, x + r]^3 until one passes. We do the same,
in mm (anisotropic voxels get a box of floor(r / spacing) voxels per side), exactly (a k-d
tree query in the max-norm: a vessel lies in the cube iff its max-norm distance is <= r),
with optional constraints, and with a bound: after `max_proposals` random proposals the whole
liver is searched at once (a maximum filter of the vessel mask is the cube check for every
voxel), and if nothing passes, a SynthesisError says which scan, which tumor and radius, and
how many voxels each constraint left. Proposals are uniform over the liver voxels and the
first that passes is taken, so the centre is uniform over the allowed voxels in both phases.

Coarse liver regions (not Couinaud segments, which need the hepatic and portal veins): the
liver is cut by a sagittal plane leaving 35 % of its volume on the patient's left (about the
left lobe, segments II-IV), and each side at its median cranio-caudal level:
right-superior ~ VII/VIII, right-inferior ~ V/VI, left-superior ~ II/IVa, left-inferior
~ III/IVb. Depth is the distance from the centre to the nearest non-liver voxel (the edge
of the field of view does not count as liver surface).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from robustbench_liver.errors import SynthesisError
from robustbench_liver.synthesis.context import ScanContext

REGIONS = ("right-superior", "right-inferior", "left-superior", "left-inferior")
REGION_GROUPS = {
    "right": ("right-superior", "right-inferior"),
    "left": ("left-superior", "left-inferior"),
    "superior": ("right-superior", "left-superior"),
    "inferior": ("right-inferior", "left-inferior"),
}
REGION_NAMES = REGIONS + tuple(REGION_GROUPS)

_ROUNDS = (64, 256, 1024)
_CHUNK = 4096
_EPS = 1e-6


def _unit_ball_lattice(step: float = 1.0 / 3.0) -> np.ndarray:
    """Points of a cubic lattice inside the unit ball: where containment is checked."""
    ticks = np.arange(-1.0, 1.0 + _EPS, step)
    grid = np.stack(np.meshgrid(ticks, ticks, ticks, indexing="ij"), axis=-1).reshape(-1, 3)
    grid = grid[np.sum(grid**2, axis=1) <= 1.0 + _EPS]
    # outermost first: they are the ones that leave the liver, so most candidates that fail
    # are rejected after the first block of points (see _inside)
    order = np.argsort(-np.sum(grid**2, axis=1), kind="stable")
    return grid[order]


BALL = _unit_ball_lattice()


@dataclass(frozen=True)
class Request:
    """What one tumor needs from its place."""

    name: str
    """For messages: e.g. "tumor 3 (medium)"."""
    semi_axes: np.ndarray
    rotation: np.ndarray | None
    cube_half_mm: float
    """0 = no vessel check."""
    bound_mm: float
    """Radius of a sphere holding the deformed tumor (for the no-overlap rule)."""


@dataclass(frozen=True)
class Constraints:
    regions: tuple[str, ...] | None = None
    vessel_gap_mm: tuple[float, float] | None = None
    depth_mm: tuple[float, float] | None = None
    min_inside: float = 0.0
    allow_overlap: bool = True
    overlap_gap_mm: float = 0.0
    max_proposals: int = 20000


def expand_regions(regions: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if regions is None:
        return None
    out: list[str] = []
    for r in regions:
        out.extend(REGION_GROUPS.get(r, (r,)))
    return tuple(dict.fromkeys(out))


def place(
    ctx: ScanContext,
    req: Request,
    cons: Constraints,
    placed: list[tuple[np.ndarray, float]],
    rng: np.random.Generator,
    exhaustive: bool = True,
) -> np.ndarray:
    """Centre voxel (3,) for the tumor, uniform over the voxels that pass every check.

    With `exhaustive=False` the search ends after the random proposals (a SynthesisError
    then says no place was found, not that none exists).
    """
    if cons.vessel_gap_mm is not None and ctx.vessel_tree is None:
        raise SynthesisError(
            f"scan {ctx.scan.id!r}: vessel_gap_mm={cons.vessel_gap_mm} needs vessels, and the "
            f"vessel mask ({ctx.vessel_source}) is empty"
        )
    n = ctx.liver_flat.size
    tried = 0
    for size in (
        *_ROUNDS,
        *([_CHUNK] * ((max(cons.max_proposals - sum(_ROUNDS), 0) + _CHUNK - 1) // _CHUNK)),
    ):
        size = min(size, cons.max_proposals - tried)
        if size <= 0:
            break
        vox = ctx.liver_vox(ctx.liver_flat[rng.integers(0, n, size=size)])
        ok = _passes(ctx, req, cons, placed, vox)
        tried += size
        if ok.any():
            return vox[int(np.argmax(ok))]
    if not exhaustive:
        raise SynthesisError(
            f"scan {ctx.scan.id!r}: no place for {req.name} in {tried:,} random proposals"
        )
    return _exhaustive(ctx, req, cons, placed, rng)


def _passes(
    ctx: ScanContext,
    req: Request,
    cons: Constraints,
    placed: list[tuple[np.ndarray, float]],
    vox: np.ndarray,
) -> np.ndarray:
    """Which candidate centres pass every constraint (cheapest checks first)."""
    ok = np.ones(len(vox), dtype=bool)
    allowed = expand_regions(cons.regions)
    if allowed is not None:
        ok &= np.isin(ctx.region_of(vox), allowed)
    mm = vox * ctx.spacing
    if not cons.allow_overlap:
        ok &= _clear_of_others(mm, req, cons, placed)
    for check in (_inside, _cube_free, _gap_ok, _depth_ok):
        live = np.flatnonzero(ok)
        if not live.size:
            break
        ok[live] = check(ctx, req, cons, vox[live], mm[live])
    return ok


def _clear_of_others(
    mm: np.ndarray, req: Request, cons: Constraints, placed: list[tuple[np.ndarray, float]]
) -> np.ndarray:
    ok = np.ones(len(mm), dtype=bool)
    for center, bound in placed:
        need = req.bound_mm + bound + cons.overlap_gap_mm
        ok &= np.sum((mm - center) ** 2, axis=1) >= need * need
    return ok


def _inside(
    ctx: ScanContext, req: Request, cons: Constraints, vox: np.ndarray, mm: np.ndarray
) -> np.ndarray:
    """Share of the nominal ellipsoid (on a lattice of points) inside the liver >= min_inside.

    Points beyond the field of view are left out of the share (the scan cannot say what is
    there), as long as at least half of the ellipsoid lies within it. Points are checked in
    blocks, outermost first; a candidate is dropped as soon as more points are outside the
    liver than the share allows even if every other point were inside (exact, and fast).
    """
    if cons.min_inside <= 0:
        return np.ones(len(vox), dtype=bool)
    pts = BALL * req.semi_axes
    if req.rotation is not None:
        pts = pts @ req.rotation.T
    liver = ctx.scan.liver
    shape = np.asarray(liver.shape)
    total = len(pts)
    allowed = (1.0 - cons.min_inside) * total + _EPS
    alive = np.arange(len(vox))
    outside = np.zeros(len(vox), dtype=np.int64)
    unseen = np.zeros(len(vox), dtype=np.int64)
    for start in range(0, total, 16):
        p = np.rint((mm[alive, None, :] + pts[None, start : start + 16]) / ctx.spacing)
        p = p.astype(np.intp)
        inb = np.all((p >= 0) & (p < shape), axis=-1)
        np.clip(p, 0, shape - 1, out=p)
        hit = liver[p[..., 0], p[..., 1], p[..., 2]]
        outside[alive] += np.sum(inb & ~hit, axis=1)
        unseen[alive] += np.sum(~inb, axis=1)
        alive = alive[(outside[alive] <= allowed) & (2 * unseen[alive] <= total)]
        if not alive.size:
            break
    ok = np.zeros(len(vox), dtype=bool)
    seen = total - unseen[alive]
    ok[alive] = outside[alive] <= (1.0 - cons.min_inside) * seen + _EPS
    return ok


def _cube_free(
    ctx: ScanContext, req: Request, cons: Constraints, vox: np.ndarray, mm: np.ndarray
) -> np.ndarray:
    if req.cube_half_mm <= 0 or ctx.vessel_tree is None:
        return np.ones(len(vox), dtype=bool)
    d, _ = ctx.vessel_tree.query(mm, p=np.inf, distance_upper_bound=req.cube_half_mm + _EPS)
    return d > req.cube_half_mm + _EPS


def _gap_ok(
    ctx: ScanContext, req: Request, cons: Constraints, vox: np.ndarray, mm: np.ndarray
) -> np.ndarray:
    if cons.vessel_gap_mm is None or ctx.vessel_tree is None:
        return np.ones(len(vox), dtype=bool)
    lo, hi = cons.vessel_gap_mm
    reach = float(req.semi_axes.max()) + hi + _EPS
    d, _ = ctx.vessel_tree.query(mm, distance_upper_bound=reach)
    gap = d - float(req.semi_axes.max())
    return (gap >= lo - _EPS) & (gap <= hi + _EPS)


def _depth_ok(
    ctx: ScanContext, req: Request, cons: Constraints, vox: np.ndarray, mm: np.ndarray
) -> np.ndarray:
    if cons.depth_mm is None:
        return np.ones(len(vox), dtype=bool)
    lo, hi = cons.depth_mm
    tree = ctx.surface_tree
    if tree is None:  # the liver fills the whole array: no surface anywhere
        return np.full(len(vox), np.isinf(hi))
    d, _ = tree.query(mm, distance_upper_bound=hi + _EPS)
    return (d >= lo - _EPS) & (d <= hi + _EPS)


def _exhaustive(
    ctx: ScanContext,
    req: Request,
    cons: Constraints,
    placed: list[tuple[np.ndarray, float]],
    rng: np.random.Generator,
) -> np.ndarray:
    """Search every liver voxel: whole-box masks for the cheap checks, then the rest in a
    random order until one passes. Raises SynthesisError when none does."""
    flat = ctx.liver_flat
    vox = ctx.all_vox
    counts: list[str] = [f"{len(flat):,} liver voxels"]
    ok = np.ones(len(flat), dtype=bool)
    allowed = expand_regions(cons.regions)
    if allowed is not None:
        ok &= np.isin(ctx.region_of(vox), allowed)
        counts.append(f"{int(ok.sum()):,} in regions {', '.join(cons.regions or ())}")
    if req.cube_half_mm > 0 and ctx.vessel_tree is not None:
        ok &= _cube_mask(ctx, req.cube_half_mm)[tuple((vox - ctx.lo).T)]
        counts.append(
            f"{int(ok.sum()):,} with a vessel-free cube of half-size {req.cube_half_mm:.1f} mm"
        )
    if not cons.allow_overlap and placed:
        sel = np.flatnonzero(ok)
        ok[sel] = _clear_of_others(vox[sel] * ctx.spacing, req, cons, placed)
        counts.append(f"{int(ok.sum()):,} clear of the {len(placed)} tumors placed before")
    if cons.depth_mm is not None:
        depth = ctx.depth_map[tuple((vox - ctx.lo).T)]
        ok &= (depth >= cons.depth_mm[0] - _EPS) & (depth <= cons.depth_mm[1] + _EPS)
        counts.append(f"{int(ok.sum()):,} at depth {cons.depth_mm[0]:g}-{cons.depth_mm[1]:g} mm")
    live = np.flatnonzero(ok)
    live = live[rng.permutation(live.size)]
    remaining = (_inside, _gap_ok)
    for start in range(0, live.size, _CHUNK):
        chunk = live[start : start + _CHUNK]
        good = np.ones(chunk.size, dtype=bool)
        for check in remaining:
            sel = np.flatnonzero(good)
            if not sel.size:
                break
            good[sel] = check(ctx, req, cons, vox[chunk[sel]], vox[chunk[sel]] * ctx.spacing)
        if good.any():
            return vox[chunk[int(np.argmax(good))]]
    if cons.min_inside > 0:
        counts.append(f"none with {cons.min_inside:.0%} of the ellipsoid inside the liver")
    if cons.vessel_gap_mm is not None:
        counts.append(f"or a vessel gap of {cons.vessel_gap_mm[0]:g}-{cons.vessel_gap_mm[1]:g} mm")
    radius = float(np.prod(req.semi_axes) ** (1.0 / 3.0))
    axes = " x ".join(f"{a:.1f}" for a in req.semi_axes)
    raise SynthesisError(
        f"scan {ctx.scan.id!r}: no place for {req.name} of radius {radius:.1f} mm "
        f"(semi-axes {axes} mm): " + "; ".join(counts) + ". Try a smaller size, fewer tumors, "
        "allow_overlap=True, a lower min_inside or vessel_clearance, or looser location limits."
    )


_CUBE_CACHE_SIZE = 64  # packed bit masks of the liver box: ~0.1 byte per box voxel each


def _cube_mask(ctx: ScanContext, half_mm: float) -> np.ndarray:
    """Over the liver box: True where the cube of half-size `half_mm` holds no vessel voxel.

    A maximum filter of the vessel mask is the cube check for every voxel at once. Masks
    are cached on the context per cube size in voxels (bit-packed), as the same sizes recur.
    """
    h = np.floor(half_mm / ctx.spacing + _EPS).astype(int)
    key = tuple(h.tolist())
    cache = ctx.cubes
    if key in cache:
        packed = cache.pop(key)
        cache[key] = packed  # most recently used last
        flat = np.unpackbits(packed, count=int(np.prod(ctx.box_shape))).view(bool)
        return flat.reshape(ctx.box_shape)
    shape = np.asarray(ctx.scan.shape)
    lo = np.maximum(ctx.lo - h, 0)
    hi = np.minimum(ctx.hi + h, shape)
    grown = np.zeros(tuple(hi - lo), dtype=bool)
    inside = np.all((ctx.vessel_vox >= lo) & (ctx.vessel_vox < hi), axis=1)
    v = ctx.vessel_vox[inside] - lo
    grown[tuple(v.T)] = True
    # One axis at a time, cutting each axis to the liver box once it has been filtered.
    for axis in range(3):
        grown = ndimage.maximum_filter1d(
            grown, size=int(2 * h[axis] + 1), axis=axis, mode="constant"
        )
        cut = [slice(None)] * 3
        start = int(ctx.lo[axis] - lo[axis])
        cut[axis] = slice(start, start + ctx.box_shape[axis])
        grown = grown[tuple(cut)]
    free = ~grown
    cache[key] = np.packbits(free.ravel())
    while len(cache) > _CUBE_CACHE_SIZE:
        cache.pop(next(iter(cache)))
    return free
