"""Step 2: where a tumor goes: a liver voxel whose surroundings satisfy every constraint.

Hu et al. (CVPR 2023, Sec. 3.1 "location selection") propose random liver voxels and reject
those with a vessel voxel inside the cube [x - r, x + r]^3 until one passes. We do the same,
in mm (anisotropic voxels get a box of floor(r / spacing) voxels per side), exactly (a k-d
tree query in the max-norm: a vessel lies in the cube iff its max-norm distance is <= r),
with optional constraints, and with a bound: after a few rounds of random proposals (at
most `max_proposals`) the whole liver is searched at once, on maps instead of in a loop:

- a necessary condition for the share of the ellipsoid inside the liver, per 4 mm cell of
  the liver box (`feasibility.possible_cells`), keeps only the centres that may pass;
- a maximum filter of the vessel mask is the cube check for every voxel;
- the no-overlap rule is the distance to the centres placed before; regions and depth are
  read from maps;
- the exact share check (`feasibility.share_ok`) then runs on the centres left, in a random
  order, until one passes.

Large tumors (1 % of the liver's volume and more) are spread: when the first round of
proposals says that few of the places the liver's shape allows keep `min_inside` of the
tumor inside the liver, the share asked for is lowered for that tumor (to
`min_inside_floor` at most, see `spread`); without it a large tumor lands where the liver
is thickest every time, and none of it may reach the liver's surface.

If nothing passes, a SynthesisError says which scan, which tumor and radius, and how many
voxels each constraint left. Proposals are uniform over the liver voxels and the first
that passes is taken; the search takes the first that passes in a uniformly random order
of the centres its maps leave (a superset of those that pass): so the centre is uniform over
the allowed voxels in both phases.

Coarse liver regions (not Couinaud segments, which need the hepatic and portal veins): the
liver is cut by a sagittal plane leaving 35 % of its volume on the patient's left (about the
left lobe, segments II-IV), and each side at its median cranio-caudal level:
right-superior ~ VII/VIII, right-inferior ~ V/VI, left-superior ~ II/IVa, left-inferior
~ III/IVb. Depth is the distance from the centre to the nearest non-liver voxel (the edge
of the field of view does not count as liver surface).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from robustbench_liver.errors import SynthesisError
from robustbench_liver.synthesis import feasibility, spread
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
"""Random proposals before the map search (each round is one vectorised check)."""
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
    spread_share: float = 0.0
    """Lower `min_inside` (to `min_inside_floor` at most) for large tumors until this share
    of the places the liver's shape allows passes (see `spread`); 0 = off."""
    min_inside_floor: float = 0.0


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

    Random proposals first (at most `cons.max_proposals`, and no more than the rounds of
    `_ROUNDS` when the map search follows), then the map search of the whole liver. With
    `exhaustive=False` there is no map search: proposals go on up to `cons.max_proposals`,
    and a SynthesisError then says no place was found, not that none exists.
    """
    if cons.vessel_gap_mm is not None and ctx.vessel_tree is None:
        raise SynthesisError(
            f"scan {ctx.scan.id!r}: vessel_gap_mm={cons.vessel_gap_mm} needs vessels, and the "
            f"vessel mask ({ctx.vessel_source}) is empty"
        )
    n = ctx.liver_flat.size
    budget = cons.max_proposals if not exhaustive else min(cons.max_proposals, sum(_ROUNDS))
    tried = 0
    for size in (*_ROUNDS, *([_CHUNK] * ((max(budget - sum(_ROUNDS), 0) + _CHUNK - 1) // _CHUNK))):
        size = min(size, budget - tried)
        if size <= 0:
            break
        vox = ctx.liver_vox(ctx.liver_flat[rng.integers(0, n, size=size)])
        ok = _passes(ctx, req, cons, placed, vox)
        if not tried and ok.mean() < cons.spread_share and spread.is_large(ctx, req.semi_axes):
            cons, ok = spread.relax(ctx, req, cons, placed, vox, ok, _passes, _points(req))
        tried += size
        if ok.any():
            return vox[int(np.argmax(ok))]
    if not exhaustive:
        raise SynthesisError(
            f"scan {ctx.scan.id!r}: no place for {req.name} in {tried:,} random proposals"
        )
    return _search(ctx, req, cons, placed, rng)


def place_bounded(
    ctx: ScanContext,
    req: Request,
    cons: Constraints,
    placed: list[tuple[np.ndarray, float]],
    rng: np.random.Generator,
    lower: Callable[[], float] | None,
    exact: Callable[[], float],
    exhaustive: bool = True,
) -> tuple[np.ndarray, float]:
    """`place`, and the tumor's bounding radius, for a tumor whose exact radius (`exact`,
    the painted voxels) costs much more than a lower bound of it (`lower`; None: none).

    The radius matters only for the no-overlap rule, so the place is first drawn with the
    lower bound: none there means none at all (the rule is looser), and the exact radius is
    never computed for a tumor that is left out. A place drawn that way is uniform over the
    places allowed with the lower bound; kept when it also keeps the exact radius clear of
    the others, it is uniform over those (rejection), else it is drawn again with the exact
    radius: either way the centre is uniform over the places allowed with the exact radius.
    """
    if lower is None or cons.allow_overlap or not placed:
        bound = exact()  # no cheaper bound, or the radius plays no part in this placement
        return place(ctx, replace(req, bound_mm=bound), cons, placed, rng, exhaustive), bound
    first = place(ctx, replace(req, bound_mm=lower()), cons, placed, rng, exhaustive)
    bound = exact()
    checked = replace(req, bound_mm=bound)
    if _clear_of_others((first * ctx.spacing)[None], checked, cons, placed)[0]:
        return first, bound
    return place(ctx, checked, cons, placed, rng, exhaustive), bound


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
    if not placed:
        return np.ones(len(mm), dtype=bool)
    if len(mm) * len(placed) <= 2**18:  # few candidates (random proposals): all at once
        centers = np.asarray([c for c, _ in placed])
        need = req.bound_mm + np.asarray([b for _, b in placed]) + cons.overlap_gap_mm
        d2 = np.sum((mm[:, None, :] - centers[None]) ** 2, axis=2)
        return np.all(d2 >= need * need, axis=1)
    ok = np.ones(len(mm), dtype=bool)
    for center, bound in placed:
        need_one = req.bound_mm + bound + cons.overlap_gap_mm
        ok &= np.sum((mm - center) ** 2, axis=1) >= need_one * need_one
    return ok


def _points(req: Request) -> np.ndarray:
    """The lattice of the nominal ellipsoid (mm from its centre), outermost first."""
    pts = BALL * req.semi_axes
    return pts @ req.rotation.T if req.rotation is not None else pts


def _inside(
    ctx: ScanContext, req: Request, cons: Constraints, vox: np.ndarray, mm: np.ndarray
) -> np.ndarray:
    """Share of the nominal ellipsoid (on a lattice of points) inside the liver >= min_inside.

    Points beyond the field of view are left out of the share (the scan cannot say what is
    there), as long as at least half of the ellipsoid lies within it (see
    `feasibility.share_ok`).
    """
    return feasibility.share_ok(ctx, _points(req), cons.min_inside, vox)


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


def _search(
    ctx: ScanContext,
    req: Request,
    cons: Constraints,
    placed: list[tuple[np.ndarray, float]],
    rng: np.random.Generator,
) -> np.ndarray:
    """Search every liver voxel: maps for every check that has one (first per 4 mm cell,
    then per voxel), then the exact checks on the centres left, in a random order, until
    one passes. Raises SynthesisError when none does."""
    counts: list[str] = [f"{ctx.liver_flat.size:,} liver voxels"]
    vox = _candidates(ctx, req, cons, placed, counts)
    vox = vox[rng.permutation(len(vox))]
    start, size = 0, 256  # chunks grow: the first usually holds a place when there is one
    while start < len(vox):
        chunk = vox[start : start + size]
        start += size
        good = np.ones(len(chunk), dtype=bool)
        for check in (_inside, _gap_ok):
            sel = np.flatnonzero(good)
            if not sel.size:
                break
            good[sel] = check(ctx, req, cons, chunk[sel], chunk[sel] * ctx.spacing)
        if good.any():
            return chunk[int(np.argmax(good))]
        size = min(size * 4, 16 * _CHUNK)
    if len(vox):  # the maps left some: the exact checks failed them all
        exact = []
        if cons.min_inside > 0:
            exact.append(f"{cons.min_inside:.0%} of the ellipsoid inside the liver")
        if cons.vessel_gap_mm is not None:
            exact.append(f"a vessel gap of {cons.vessel_gap_mm[0]:g}-{cons.vessel_gap_mm[1]:g} mm")
        counts.append(f"none with {' and '.join(exact)}")
    radius = float(np.prod(req.semi_axes) ** (1.0 / 3.0))
    axes = " x ".join(f"{a:.1f}" for a in req.semi_axes)
    raise SynthesisError(
        f"scan {ctx.scan.id!r}: no place for {req.name} of radius {radius:.1f} mm "
        f"(semi-axes {axes} mm): " + "; ".join(counts) + ". Try a smaller size, fewer tumors, "
        "allow_overlap=True, a lower min_inside or vessel_clearance, or looser location limits."
    )


def _candidates(
    ctx: ScanContext,
    req: Request,
    cons: Constraints,
    placed: list[tuple[np.ndarray, float]],
    counts: list[str],
) -> np.ndarray:
    """(N, 3) liver voxels that pass every check a map can answer (a superset of the centres
    that pass every check); `counts` gets how many each step left (up to the first empty)."""
    flat = ctx.liver_flat
    cells = np.ones(feasibility.cell_grid(ctx), dtype=bool)
    why = []
    if cons.min_inside > 0:
        cells &= feasibility.possible_cells(ctx, _points(req), cons.min_inside)
        why.append(f"{cons.min_inside:.0%} of the ellipsoid inside the liver")
    others = not cons.allow_overlap and bool(placed)
    if others:
        cells &= ~_blocked_cells(ctx, req, cons, placed)
        why.append(f"clear of the {len(placed)} tumors placed before")
    if why:
        flat = feasibility.liver_in_cells(ctx, cells)
        counts.append(f"{len(flat):,} in 4 mm cells where it may fit ({', '.join(why)})")
    if len(flat) and req.cube_half_mm > 0 and ctx.vessel_tree is not None:
        flat = flat[_cube_free_at(ctx, req.cube_half_mm, flat)]
        counts.append(
            f"{len(flat):,} with a vessel-free cube of half-size {req.cube_half_mm:.1f} mm"
        )
    vox = ctx.liver_vox(flat)
    allowed = expand_regions(cons.regions)
    if len(vox) and allowed is not None:
        vox = vox[np.isin(_region_index(ctx, vox), [REGIONS.index(r) for r in allowed])]
        counts.append(f"{len(vox):,} in regions {', '.join(cons.regions or ())}")
    if len(vox) and others:
        vox = vox[_clear_of_others(vox * ctx.spacing, req, cons, placed)]
        counts.append(f"{len(vox):,} clear of the {len(placed)} tumors placed before")
    if len(vox) and cons.depth_mm is not None:
        depth = ctx.depth_map[tuple((vox - ctx.lo).T)]
        vox = vox[(depth >= cons.depth_mm[0] - _EPS) & (depth <= cons.depth_mm[1] + _EPS)]
        counts.append(f"{len(vox):,} at depth {cons.depth_mm[0]:g}-{cons.depth_mm[1]:g} mm")
    return vox


def _region_index(ctx: ScanContext, vox: np.ndarray) -> np.ndarray:
    """Index into REGIONS of each voxel's region."""
    right, sup = ctx.region_sides(vox)
    return np.where(right, 0, 2) + np.where(sup, 0, 1)


def _blocked_cells(
    ctx: ScanContext, req: Request, cons: Constraints, placed: list[tuple[np.ndarray, float]]
) -> np.ndarray:
    """Cells whose every voxel lies too close to a tumor placed before (no-overlap rule)."""
    axes, half_diagonal = feasibility.cell_centres_mm(ctx)
    blocked = np.zeros(tuple(len(a) for a in axes), dtype=bool)
    for center, bound in placed:
        # every voxel of the cell nearer than the gap the rule asks (a hair looser: float)
        reach = req.bound_mm + bound + cons.overlap_gap_mm - half_diagonal - _EPS
        if reach <= 0:
            continue
        d2 = [(a - c) ** 2 for a, c in zip(axes, center, strict=True)]
        blocked |= d2[0][:, None, None] + d2[1][None, :, None] + d2[2][None, None, :] < reach**2
    return blocked


_CUBE_CACHE_SIZE = 64  # packed bit masks of the liver box: ~0.1 byte per box voxel each


def _cube_packed(ctx: ScanContext, half_mm: float) -> np.ndarray:
    """Over the liver box, bit-packed (C order): True where the cube of half-size `half_mm`
    holds no vessel voxel.

    A maximum filter of the vessel mask is the cube check for every voxel at once. Masks
    are cached on the context per cube size in voxels, as the same sizes recur.
    """
    h = np.floor(half_mm / ctx.spacing + _EPS).astype(int)
    key = tuple(h.tolist())
    cache = ctx.cubes
    if key in cache:
        packed = cache.pop(key)
        cache[key] = packed  # most recently used last
        return packed
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
    packed = np.packbits(~grown.ravel())
    cache[key] = packed
    while len(cache) > _CUBE_CACHE_SIZE:
        cache.pop(next(iter(cache)))
    return packed


def _cube_mask(ctx: ScanContext, half_mm: float) -> np.ndarray:
    """`_cube_packed` unpacked to a bool mask of the liver box."""
    flat = np.unpackbits(_cube_packed(ctx, half_mm), count=int(np.prod(ctx.box_shape)))
    return flat.view(bool).reshape(ctx.box_shape)


def _cube_free_at(ctx: ScanContext, half_mm: float, flat: np.ndarray) -> np.ndarray:
    """`_cube_mask` read at box-flat indices (without unpacking the whole box)."""
    packed = _cube_packed(ctx, half_mm)
    return ((packed[flat >> 3] >> (7 - (flat & 7)).astype(np.uint8)) & 1).astype(bool)
