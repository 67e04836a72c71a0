"""Great vessels and the liver's two venous trees, grown by bifurcation (Murray's law)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from robustbench_liver.sources.phantom.anatomy import Anatomy
from robustbench_liver.sources.phantom.body import vertebra_y
from robustbench_liver.sources.phantom.canvas import Canvas
from robustbench_liver.sources.phantom.geometry import Grid, Segment, polyline, render_tubes
from robustbench_liver.sources.phantom.organs import liver_point

MIN_RADIUS_MM = 1.8  # thinner branches vanish in 1-1.5 mm voxels anyway
MAX_DEPTH = 16


class LiverDepth:
    """Distance (mm) from a point inside the liver to its surface; <= 0 outside."""

    def __init__(self, grid: Grid, liver: np.ndarray):
        self.grid = grid
        self.step = 2  # a half-resolution distance map is plenty for steering branches
        coarse = liver[:: self.step, :: self.step, :]
        sampling = (grid.spacing[0] * self.step, grid.spacing[1] * self.step, grid.spacing[2])
        self.depth = ndimage.distance_transform_edt(coarse, sampling=sampling).astype(np.float32)

    def __call__(self, point: np.ndarray) -> float:
        idx = self.grid.points_to_index(point)
        idx[:2] /= self.step
        i = np.rint(idx).astype(int)
        if np.any(i < 0) or np.any(i >= self.depth.shape):
            return 0.0
        return float(self.depth[tuple(i)])


def _turn(direction: np.ndarray, angle: float, rng: np.random.Generator) -> np.ndarray:
    """Rotate a unit vector by `angle` (radians) about a random axis perpendicular to it."""
    helper = rng.standard_normal(3)
    axis = np.cross(direction, helper)
    axis /= np.linalg.norm(axis) or 1.0
    turned = np.cos(angle) * direction + np.sin(angle) * np.cross(axis, direction)
    return turned / np.linalg.norm(turned)


def grow_tree(
    start: np.ndarray,
    direction: np.ndarray,
    radius: float,
    depth_at: LiverDepth,
    rng: np.random.Generator,
) -> list[Segment]:
    """Segments of a venous tree that stays inside the liver, tapering by bifurcation."""
    segments: list[Segment] = []
    stack = [(np.asarray(start, float), direction / np.linalg.norm(direction), radius, 0)]
    while stack:
        p, d, r, level = stack.pop()
        length = max(10.0, r * rng.uniform(5.0, 8.0))
        end = None
        for attempt in range(10):  # steer back inside when a branch would leave the liver
            trial = _turn(d, 1.2 * attempt / 9, rng) if attempt else d
            for frac in (1.0, 0.6):
                q = p + trial * length * frac
                if depth_at(q) > r + 1.0:
                    end, d = q, trial
                    break
            if end is not None:
                break
        if end is None:
            continue
        bend = p + (end - p) * 0.5 + rng.normal(0, 0.08 * length, 3)
        points = np.stack([p, bend, end])
        segments += polyline(points, np.array([r, 0.97 * r, 0.94 * r]))
        r_end = 0.94 * r
        # Murray: r^3 = r1^3 + r2^3; mostly a trunk that keeps its calibre and a side branch
        ratio = rng.uniform(0.35, 0.9)
        r1 = r_end / (1 + ratio**3) ** (1 / 3)
        r2 = ratio * r1
        if level >= MAX_DEPTH:
            continue
        for child_r, angle in ((r1, rng.uniform(0.25, 0.55)), (r2, rng.uniform(0.6, 1.1))):
            if child_r >= MIN_RADIUS_MM:
                stack.append((end, _turn(d, angle, rng), child_r, level + 1))
    return segments


def _ivc_axis(an: Anatomy) -> np.ndarray:
    return np.array([24.0, vertebra_y(an) + 30.0])


def paint_great_vessels(canvas: Canvas, an: Anatomy) -> None:
    """Aorta in front of the spine and the IVC to its right, which the liver wraps around:
    both drawn (and kept free of liver) before the liver grows."""
    box = canvas.full_box()
    x, y, z = canvas.grid.axes(box)
    aorta = np.hypot(x + 16.0, y - (vertebra_y(an) + 30.0)) < 11.5
    canvas.paint(box, aorta, "aorta", an.aorta_hu)
    canvas.reserve(box, np.hypot(x + 16.0, y - (vertebra_y(an) + 30.0)) < 14.0)
    ivc_xy = _ivc_axis(an)
    ivc = (np.hypot((x - ivc_xy[0]) / 1.2, y - ivc_xy[1]) < 10.0) & (z < an.dome_z + 15.0)
    canvas.paint(box, ivc, "inferior_vena_cava", an.ivc_hu)
    canvas.reserve(box, ivc)


def paint_liver_veins(
    canvas: Canvas, an: Anatomy, liver: np.ndarray, rng: np.random.Generator
) -> None:
    """The portal system from the splenic confluence into the liver hilum, and hepatic veins
    draining into the IVC under the diaphragm; tree vessels only inside the liver."""
    grid = canvas.grid
    yv = vertebra_y(an)
    ivc = _ivc_axis(an)
    box = canvas.full_box()
    depth_at = LiverDepth(grid, liver)
    portal_hu = an.liver_hu + an.portal_delta_hu
    confluence = np.array([4.0, yv + 52.0, -55.0])
    hilum = liver_point((32.0, 6.0, -14.0), an, an.liver_scale)
    trunks = polyline(np.stack([confluence, hilum]), np.array([7.5, 7.0]))
    spleen_hilum = np.array([-74.0, -16.0, 12.0])
    trunks += polyline(
        np.stack(
            [confluence, (confluence + spleen_hilum) / 2 + np.array([0.0, -8.0, 0.0]), spleen_hilum]
        ),
        np.array([5.0, 4.5, 4.5]),
    )
    trunks += polyline(
        np.stack([confluence, confluence + np.array([6.0, 10.0, -70.0])]), np.array([6.0, 5.0])
    )
    canvas.paint(box, render_tubes(grid, trunks) > 0, "portal_vein", portal_hu)

    tree: list[Segment] = []
    tree += grow_tree(hilum, np.array([1.0, -0.35, 0.35]), 6.5, depth_at, rng)
    tree += grow_tree(hilum, np.array([-1.0, 0.7, 0.4]), 5.5, depth_at, rng)
    _paint_in_liver(canvas, tree, liver, "portal_vein", portal_hu)

    junction = np.array([ivc[0], ivc[1] + 4.0, an.dome_z - 14.0])
    hepatic: list[Segment] = []
    for direction, r in (
        ((1.0, -0.1, -0.7), 7.0),
        ((0.3, 1.0, -0.6), 6.5),
        ((-0.8, 1.0, -0.25), 6.0),
    ):
        hepatic += grow_tree(junction, np.asarray(direction, float), r, depth_at, rng)
    _paint_in_liver(canvas, hepatic, liver, "hepatic_veins", an.liver_hu + an.hepatic_delta_hu)


def _paint_in_liver(
    canvas: Canvas, segments: list[Segment], liver: np.ndarray, label: str, hu: float
) -> None:
    depth = render_tubes(canvas.grid, segments)
    canvas.paint(canvas.full_box(), (depth > 0) & liver, label, hu)
