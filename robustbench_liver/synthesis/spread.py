"""Spreading large tumors over the liver (placement, `location.place`).

With a fixed share of the tumor inside the liver (`min_inside`, 0.95), a tumor of a tenth
of the liver's volume fits only where the liver is thickest: over seeds, large tumors landed
on one site (issue 13), or found no place at all. For a large tumor, the first round of
random proposals estimates how much of the liver it may go to; when that is little, the
share asked for is lowered for this tumor, step by step, down to `min_inside_floor`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from robustbench_liver.synthesis import feasibility
from robustbench_liver.synthesis.context import ScanContext

if TYPE_CHECKING:
    from robustbench_liver.synthesis.location import Constraints, Request

STEP = 0.05
"""How much `min_inside` is lowered at a time."""
LARGE_SHARE = 0.01
"""Spreading is for tumors of at least this share of the liver's volume (a radius of 0.22
liver radii, 16 mm in a 1.6 l liver): smaller ones fit nearly anywhere, and checking them
would cost every case of tiny and small tumors time for nothing."""
_EPS = 1e-6

Passes = Callable[..., np.ndarray]


def is_large(ctx: ScanContext, semi_axes: np.ndarray) -> bool:
    """Is the ellipsoid at least LARGE_SHARE of the liver's volume?"""
    volume = 4.0 / 3.0 * np.pi * float(np.prod(semi_axes))
    return volume >= LARGE_SHARE * ctx.liver_flat.size * float(np.prod(ctx.spacing))


def relax(
    ctx: ScanContext,
    req: Request,
    cons: Constraints,
    placed: list[tuple[np.ndarray, float]],
    vox: np.ndarray,
    ok: np.ndarray,
    passes: Passes,
    points: np.ndarray,
) -> tuple[Constraints, np.ndarray]:
    """The constraints a large tumor is placed with, and which of the first round's
    proposals `vox` pass them (`ok`: which pass `cons`, fewer than `spread_share` of them;
    `passes`: location's check of every constraint; `points`: the tumor's lattice in mm).

    Among the proposals that pass every other check (the tumors placed before left out:
    the liver's shape decides), the share that also keeps `min_inside` of the ellipsoid
    inside the liver says how much of the liver the tumor may go to. While it is below
    `spread_share`, `min_inside` is lowered by STEP (not below `min_inside_floor`): the
    tumor may then reach the liver's surface where the liver is thinner, instead of landing
    where it is thickest every time.
    """
    if cons.min_inside <= cons.min_inside_floor + _EPS:
        return cons, ok
    base = passes(ctx, req, replace(cons, min_inside=0.0, allow_overlap=True), placed, vox)
    live = np.flatnonzero(base)
    if not live.size:
        return cons, ok
    shares = feasibility.inside_shares(ctx, points, vox[live])
    need = cons.spread_share * live.size
    if np.count_nonzero(shares >= cons.min_inside - _EPS) >= need:
        return cons, ok
    level = cons.min_inside
    while level > cons.min_inside_floor + _EPS:
        level = max(level - STEP, cons.min_inside_floor)
        if np.count_nonzero(shares >= level - _EPS) >= need:
            break
    cons = replace(cons, min_inside=level)
    return cons, passes(ctx, req, cons, placed, vox)
