"""Placement on maps: the exact share check, its necessary-condition map, the search that
uses both, and the lower bound of the radius. Each against brute force; placement must
stay uniform over the allowed voxels and find every place there is."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
from scipy import stats

from robustbench_liver.errors import SynthesisError
from robustbench_liver.synthesis import SynthesisWarning, context, paint, sample, shape
from robustbench_liver.synthesis import feasibility as fz
from robustbench_liver.synthesis import location as loc
from robustbench_liver.types import Scan

from .conftest import make_small_scan


def share_brute(scan: Scan, points: np.ndarray, min_inside: float, vox: np.ndarray) -> np.ndarray:
    """The share rule point by point: rint((centre x spacing + point) / spacing), points
    beyond the volume left out, at least half of them within it."""
    sp = np.asarray(scan.spacing, dtype=np.float64)
    shape_ = np.asarray(scan.shape)
    out = np.zeros(len(vox), dtype=bool)
    for n, v in enumerate(vox):
        p = np.rint((v * sp + points) / sp).astype(int)
        inb = np.all((p >= 0) & (p < shape_), axis=1)
        q = np.clip(p, 0, shape_ - 1)
        inside = scan.liver[q[:, 0], q[:, 1], q[:, 2]] & inb
        seen = int(inb.sum())
        outside = seen - int(inside.sum())
        out[n] = (
            2 * (len(points) - seen) <= len(points) and outside <= (1.0 - min_inside) * seen + 1e-6
        )
    return out


def cut_scan() -> Scan:
    """The small scan with its liver cut by the field of view (low z), for unseen points."""
    s = make_small_scan(scan_id="cut")
    z = slice(10, None)
    return Scan(
        image=np.ascontiguousarray(s.image[:, :, z]),
        spacing=s.spacing,
        liver=np.ascontiguousarray(s.liver[:, :, z]),
        affine=np.asarray(s.affine),
        id="cut",
        vessels=np.ascontiguousarray(s.vessels[:, :, z]) if s.vessels is not None else None,
    )


def requests(rng: np.random.Generator, n: int) -> list[loc.Request]:
    out = []
    for i in range(n):
        a = rng.uniform(2.0, 30.0, size=3)
        rot = paint.rotation(tuple(rng.uniform(-90, 90, size=3))) if i % 2 else None
        out.append(loc.Request("t", a, rot, 0.0, 0.0))
    return out


@pytest.mark.parametrize("scan", [make_small_scan(), cut_scan()], ids=["small", "cut"])
def test_share_check_is_the_brute_force_rule(scan):
    ctx = context(scan)
    rng = np.random.default_rng(0)
    vox = ctx.liver_vox(ctx.liver_flat)
    for req in requests(rng, 6):
        pts = loc._points(req)
        for min_inside in (0.5, 0.95):
            # a few centres (tables per centre) and many (tables per coordinate)
            for n in (20, 600):
                pick = vox[rng.choice(len(vox), n, replace=False)]
                got = fz.share_ok(ctx, pts, min_inside, pick)
                np.testing.assert_array_equal(got, share_brute(scan, pts, min_inside, pick))


@pytest.mark.parametrize("scan", [make_small_scan(), cut_scan()], ids=["small", "cut"])
def test_the_cell_map_is_a_necessary_condition_and_prunes(scan):
    ctx = context(scan)
    vox = ctx.liver_vox(ctx.liver_flat)
    cell = ((vox - ctx.lo) // fz.cell_size(ctx)).T
    pruned = []
    for req in requests(np.random.default_rng(1), 6):
        pts = loc._points(req)
        ok = fz.share_ok(ctx, pts, 0.95, vox)
        possible = fz.possible_cells(ctx, pts, 0.95)[tuple(cell)]
        assert not (ok & ~possible).any()  # never drops a centre that passes
        pruned.append(float((~possible).mean()))
    assert max(pruned) > 0.3  # and it does drop many for the big ones


def test_liver_in_cells_is_the_liver_of_those_cells(small_scan):
    ctx = context(small_scan)
    rng = np.random.default_rng(2)
    vox = ctx.liver_vox(ctx.liver_flat)
    cell_of = np.ravel_multi_index(
        tuple(((vox - ctx.lo) // fz.cell_size(ctx)).T), fz.cell_grid(ctx)
    )
    for share in (0.0, 0.2, 1.0):
        cells = rng.random(fz.cell_grid(ctx)) < share
        got = fz.liver_in_cells(ctx, cells)
        want = ctx.liver_flat[cells.ravel()[cell_of]]
        np.testing.assert_array_equal(np.sort(got), np.sort(want))


def allowed_set(ctx, req: loc.Request, cons: loc.Constraints, placed) -> set[tuple[int, ...]]:  # type: ignore[no-untyped-def]
    vox = ctx.liver_vox(ctx.liver_flat)
    ok = loc._passes(ctx, req, cons, placed, vox)
    return {tuple(int(c) for c in v) for v in vox[ok]}


def rare_place(ctx) -> tuple[loc.Request, loc.Constraints, set[tuple[int, ...]]]:  # type: ignore[no-untyped-def]
    """A request with between 8 and 60 allowed voxels (deep, in one region, vessel-free)."""
    req = loc.Request("t", np.array([6.0, 7.0, 5.0]), None, 4.0, 0.0)
    for depth in np.arange(50.0, 10.0, -0.5):
        cons = loc.Constraints(
            regions=("right-superior",), depth_mm=(depth, depth + 1.0), min_inside=0.95
        )
        allowed = allowed_set(ctx, req, cons, [])
        if 8 <= len(allowed) <= 60:
            return req, cons, allowed
    raise AssertionError("no depth gives a small allowed set")


def assert_uniform(picks: list[tuple[int, ...]], allowed: set[tuple[int, ...]]) -> None:
    assert set(picks) <= allowed  # every pick passes every check
    counts = np.array([picks.count(v) for v in sorted(allowed)])
    assert (counts > 0).all()  # every allowed voxel is found
    assert stats.chisquare(counts).pvalue > 1e-4  # uniformly


@pytest.mark.parametrize("proposals", [1, 20000], ids=["map-search", "proposals"])
def test_placement_is_uniform_over_the_allowed_voxels(small_scan, proposals):
    ctx = context(small_scan)
    req, cons, allowed = rare_place(ctx)
    cons = dataclasses.replace(cons, max_proposals=proposals)
    rng = np.random.default_rng(3)
    picks = [
        tuple(int(c) for c in loc.place(ctx, req, cons, [], rng)) for _ in range(40 * len(allowed))
    ]
    assert_uniform(picks, allowed)


def test_placement_with_a_lower_bound_first_is_uniform(small_scan):
    """`place_bounded` draws with a smaller radius first, then keeps or redraws: still
    uniform over the places the exact radius allows."""
    ctx = context(small_scan)
    req, cons, allowed_alone = rare_place(ctx)
    cons = dataclasses.replace(cons, allow_overlap=False)
    # a tumor placed before at one end of the allowed set, whose exclusion (with the exact
    # radius) takes about half of it
    pts = np.asarray(sorted(allowed_alone), dtype=float) * ctx.spacing
    end = pts[np.argmin(pts[:, 0])]
    exact, lower = 3.0, 1.0
    other = float(np.median(np.linalg.norm(pts - end, axis=1))) - exact
    placed = [(end, other)]
    allowed = allowed_set(ctx, dataclasses.replace(req, bound_mm=exact), cons, placed)
    looser = allowed_set(ctx, dataclasses.replace(req, bound_mm=lower), cons, placed)
    assert allowed and looser > allowed  # the lower bound allows more: some are redrawn
    rng = np.random.default_rng(4)
    picks = []
    for _ in range(40 * len(allowed)):
        centre, bound = loc.place_bounded(ctx, req, cons, placed, rng, lambda: lower, lambda: exact)
        assert bound == exact
        picks.append(tuple(int(c) for c in centre))
    assert_uniform(picks, allowed)


def test_search_finds_a_place_when_there_is_one_and_says_so_when_not(small_scan):
    ctx = context(small_scan)
    req, cons, allowed = rare_place(ctx)
    cons = dataclasses.replace(cons, max_proposals=1)
    for seed in range(20):
        assert tuple(loc.place(ctx, req, cons, [], np.random.default_rng(seed))) in allowed
    blocked = [(np.asarray(v, dtype=float) * ctx.spacing, 0.0) for v in sorted(allowed)]
    cons = dataclasses.replace(cons, allow_overlap=False)
    with pytest.raises(SynthesisError, match=r"clear of the \d+ tumors placed before"):
        loc.place(
            ctx, dataclasses.replace(req, bound_mm=1.0), cons, blocked, np.random.default_rng(0)
        )


def test_lower_bound_of_the_radius(small_scan):
    rng = np.random.default_rng(5)
    spacing = np.asarray(small_scan.spacing)
    for i in range(12):
        a = rng.uniform(3.0, 25.0, size=3)
        rot = paint.rotation(tuple(rng.uniform(-90, 90, size=3))) if i % 3 == 0 else None
        args = (int(rng.integers(2**40)), float(rng.uniform(0, 6)), 3, a, rot, 0.2 * (i % 2), 4)
        blur = float(rng.uniform(0.5, 2.0))
        exact = shape.bounding_radius_mm(*args, spacing, blur)
        lower = shape.bounding_radius_mm(*args, spacing, blur, stride=2)
        assert lower <= exact <= shape.bounding_radius_mm(*args, spacing)  # <= worst-case box
        assert exact - lower <= 2 * float(np.linalg.norm(spacing))


@pytest.mark.parametrize("seed", range(4))
def test_no_placement_failure_on_a_normal_liver(phantom_scan, seed):
    """The built-in phantom (a liver of normal size): every mix case is made and its biggest
    tumor, which has the whole liver to itself, is always placed; the others are placed
    when a place clear of them exists (the search is exhaustive, tested above)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SynthesisWarning)
        records = sample(phantom_scan, "mix", seed)
    said = " ".join(str(w.message) for w in caught)
    assert records and records[0].size_class == "large"
    assert "tumor 0 " not in said  # the first (biggest) tumor is never left out
