"""Fat-filled clefts of the liver: the fissures of the ligamentum teres and of the
ligamentum venosum. On real CT they cut into the parenchyma as thin sheets of fat that
liver labels leave out; at 2.5-3 mm voxels they blur into a dark band of 0-30 HU inside the
liver's outline, which a model that has never seen one takes for a tumor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robustbench_liver.sources.phantom.anatomy import Anatomy
from robustbench_liver.sources.phantom.canvas import Box, Canvas
from robustbench_liver.sources.phantom.organs import liver_point

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Fissure:
    """A lens-shaped sheet (canonical mm, so it moves and grows with the liver): thickest
    at its centre, thinning to nothing at its rim. `axes` are its half-extents along the
    sheet, horizontally and then vertically; `thickness_mm` does not grow with the liver."""

    centre: Vec3
    normal: Vec3
    axes: tuple[float, float]
    thickness_mm: float


def sample_fissures(rng: np.random.Generator) -> tuple[Fissure, ...]:
    """Each of the two fissures present in three patients of four (how much fat fills
    them varies), 2.5-8 mm thick at the centre. The ligamentum teres runs
    sagittally between the left lateral segment and segment IV, opening on the anterior
    lower surface; the ligamentum venosum runs coronally between the caudate and the left
    lobe."""
    u = rng.uniform
    teres = Fissure(
        centre=(u(-6.0, 14.0), u(42.0, 62.0), u(-12.0, 18.0)),
        normal=(1.0, u(-0.3, 0.3), u(-0.2, 0.2)),
        axes=(u(20.0, 35.0), u(15.0, 30.0)),
        thickness_mm=u(2.5, 8.0),
    )
    venosum = Fissure(
        centre=(u(-6.0, 20.0), u(2.0, 12.0), u(8.0, 34.0)),
        normal=(u(-0.3, 0.3), 1.0, u(-0.3, 0.3)),
        axes=(u(15.0, 30.0), u(12.0, 25.0)),
        thickness_mm=u(2.5, 6.0),
    )
    present = rng.random(2) < 0.75
    return tuple(f for f, keep in zip((teres, venosum), present, strict=True) if keep)


def _sheet_axes(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors along a sheet: horizontal, then the one completing the frame."""
    along = np.cross(normal, (0.0, 0.0, 1.0))
    along /= np.linalg.norm(along)
    return along, np.cross(normal, along)


def fissure_mask(
    canvas: Canvas, an: Anatomy, fissure: Fissure
) -> tuple[Box, np.ndarray] | tuple[None, None]:
    """The box around one fissure and its voxels there (anywhere: the caller cuts them out
    of the liver); (None, None) when it lies outside the grid."""
    grid = canvas.grid
    centre = liver_point(fissure.centre, an, an.liver_scale)
    normal = np.asarray(fissure.normal, float)
    normal /= np.linalg.norm(normal)
    along, up = _sheet_axes(normal)
    a, b = np.asarray(fissure.axes) * an.liver_scale
    reach = max(a, b) + fissure.thickness_mm
    box = grid.box(centre - reach, centre + reach)
    if box is None:
        return None, None
    x, y, z = grid.axes(box)
    d = (x - centre[0], y - centre[1], z - centre[2])
    across = sum(n * c for n, c in zip(normal, d, strict=True))
    r2 = (sum(v * c for v, c in zip(along, d, strict=True)) / a) ** 2
    r2 = r2 + (sum(v * c for v, c in zip(up, d, strict=True)) / b) ** 2
    half = 0.5 * fissure.thickness_mm * np.sqrt(np.clip(1.0 - r2, 0.0, None))
    return box, np.abs(across) < half


def cut_fissures(
    canvas: Canvas, an: Anatomy, liver: np.ndarray, fissures: tuple[Fissure, ...]
) -> np.ndarray:
    """Fill each fissure's part of the liver with fat; return the liver without them."""
    liver = liver.copy()
    for fissure in fissures:
        box, sheet = fissure_mask(canvas, an, fissure)
        if box is None:
            continue
        cleft = sheet & liver[box]
        canvas.paint(box, cleft, "visceral_fat", an.fat_hu)
        liver[box] &= ~cleft
    return liver


__all__ = ["Fissure", "cut_fissures", "fissure_mask", "sample_fissures"]
