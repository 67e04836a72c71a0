"""Body wall, table, spine, ribs, and the chest above the diaphragm."""

from __future__ import annotations

import numpy as np

from robustbench_liver.sources.phantom.anatomy import Anatomy
from robustbench_liver.sources.phantom.canvas import Canvas
from robustbench_liver.sources.phantom.geometry import Segment, polyline, render_tubes
from robustbench_liver.sources.phantom.labels import BASE_HU

SKIN_MM = 2.0
BACK_MM = 46.0  # paraspinal muscle depth behind the cavity
RIB_RADIUS = 5.0


def superellipse(x: np.ndarray, y: np.ndarray, a: float, ant: float, post: float) -> np.ndarray:
    """< 1 inside an axial body cross-section that is fuller than an ellipse (exponent 2.4)."""
    b = np.where(y >= 0, ant, post)
    return np.abs(x / a) ** 2.4 + np.abs(y / b) ** 2.4


def cavity_level(x: np.ndarray, y: np.ndarray, an: Anatomy, shrink: float = 0.0) -> np.ndarray:
    return superellipse(x, y, an.cavity_a - shrink, an.cavity_ant - shrink, an.cavity_post - shrink)


def vertebra_y(an: Anatomy) -> float:
    """Centre of the vertebral bodies: they bulge into the back of the cavity."""
    return -an.cavity_post + 14.0


def diaphragm_z(x: np.ndarray, y: np.ndarray, an: Anatomy) -> np.ndarray:
    """Height of the diaphragm: two domes (the right one higher) over a lower central tendon."""
    right = an.dome_z - 0.0048 * ((x - 55.0) ** 2 + (0.85 * (y + 5.0)) ** 2)
    left = an.dome_z - 12.0 - 0.0048 * ((x + 60.0) ** 2 + (0.85 * (y + 5.0)) ** 2)
    k = 6.0  # smooth maximum, so the domes meet without a crease
    return k * np.logaddexp(right / k, left / k)


def paint_body(canvas: Canvas, an: Anatomy) -> None:
    """Skin, subcutaneous fat, muscle wall, back muscles, visceral fat and the table.
    The cross-section is the same on every slice, so it is drawn once in 2D."""
    grid = canvas.grid
    box = canvas.full_box()
    x, y, _ = grid.axes(box)
    wall = an.muscle_mm
    outer = (an.cavity_a + wall + an.fat_mm, an.cavity_ant + wall + an.fat_mm)
    post = an.cavity_post + BACK_MM + 0.6 * an.fat_mm
    body = superellipse(x, y, outer[0], outer[1], post) < 1
    fat = superellipse(x, y, outer[0] - SKIN_MM, outer[1] - SKIN_MM, post - SKIN_MM) < 1
    muscle = superellipse(x, y, an.cavity_a + wall, an.cavity_ant + wall, an.cavity_post + wall) < 1
    yv = vertebra_y(an)
    back = ((np.abs(x) - 30.0) / 34.0) ** 2 + ((y - (yv - 44.0)) / 24.0) ** 2 < 1
    muscle = (muscle | back) & fat
    cavity = cavity_level(x, y, an) < 1
    canvas.paint(box, body[..., :1], "skin", BASE_HU["skin"])
    canvas.paint(box, fat[..., :1], "subcutaneous_fat", an.fat_hu)
    canvas.paint(box, muscle[..., :1], "muscle", an.muscle_hu)
    canvas.paint(box, cavity[..., :1], "visceral_fat", BASE_HU["visceral_fat"])
    # carbon-fibre table, slightly curved, a few mm under the back
    top = -post - 6.0 + 0.0015 * x**2
    table = (y < top) & (y > top - 4.0) & (np.abs(x) < outer[0] + 20.0)
    canvas.paint(box, table[..., :1], "table", BASE_HU["table"])


def paint_chest(canvas: Canvas, an: Anatomy) -> None:
    """Lungs and heart above the diaphragm, and the diaphragm's muscle itself."""
    grid = canvas.grid
    lo = np.array([-an.cavity_a, -an.cavity_post, an.dome_z - 80.0])
    hi = np.array([an.cavity_a, an.cavity_ant, an.dome_z + 200.0])
    box = grid.box(lo, hi)
    if box is None:
        return
    x, y, z = grid.axes(box)
    dz = diaphragm_z(x, y, an)
    cavity = cavity_level(x, y, an) < 1
    above = (z > dz) & cavity
    canvas.paint(box, above & (z < dz + 5.0), "muscle", an.muscle_hu)
    lung = above & (z >= dz + 5.0)
    canvas.paint(box, lung, "lung", BASE_HU["lung"])
    heart_c = (-15.0, 30.0, an.dome_z + 48.0)
    r = np.sqrt(
        ((x - heart_c[0]) / 62) ** 2 + ((y - heart_c[1]) / 52) ** 2 + ((z - heart_c[2]) / 52) ** 2
    )
    heart = lung & (r < 1)
    canvas.paint(box, heart, "heart", np.where(r < 0.8, BASE_HU["heart"], BASE_HU["myocardium"]))


def paint_spine(canvas: Canvas, an: Anatomy) -> None:
    """Vertebral bodies (cortical shell, cancellous core) with discs, canal and posterior arch."""
    grid = canvas.grid
    box = canvas.full_box()
    x, y, z = grid.axes(box)
    yv = vertebra_y(an)
    rbody = np.sqrt((x / 24.0) ** 2 + ((y - yv) / 19.0) ** 2)
    level = np.mod(z - an.dome_z, 31.0)  # vertebra 24 mm, disc 7 mm
    disc = (level < 7.0) & (rbody < 1)
    canal = np.sqrt(x**2 + (y - yv + 29.0) ** 2) < 9.0
    core = np.where(rbody > 0.88, BASE_HU["cortical_bone"], BASE_HU["cancellous_bone"])
    canvas.paint(box, (rbody < 1) & ~disc, "bone", core)
    canvas.paint(box, disc, "intervertebral_disc", BASE_HU["intervertebral_disc"])
    canvas.paint(box, _posterior_arch(canvas, an) > 0, "bone", 0.75 * BASE_HU["cortical_bone"])
    canvas.paint(box, canal, "spinal_canal", BASE_HU["spinal_canal"])
    canvas.reserve(box, rbody < 1.6)


def _posterior_arch(canvas: Canvas, an: Anatomy) -> np.ndarray:
    """Pedicles, laminae meeting in a spinous process that slopes down, and transverse
    processes: drawn per vertebra, so they come and go between slices as in a real spine."""
    yv = vertebra_y(an)
    grid = canvas.grid
    z_lo, z_hi = grid.origin[2] - 31.0, grid.origin[2] + grid.shape[2] * grid.spacing[2] + 31.0
    segments = []
    for top in np.arange(an.dome_z - 31.0 * 8, z_hi, 31.0):
        if top < z_lo:
            continue
        zc = top + 16.0  # mid-height of the vertebral body
        for side in (-1.0, 1.0):
            pedicle = (side * 13.0, yv - 17.0, zc)
            lamina = (side * 8.0, yv - 40.0, zc - 3.0)
            segments.append(Segment(pedicle, lamina, 4.0, 3.5))
            segments.append(Segment(pedicle, (side * 38.0, yv - 27.0, zc + 2.0), 4.5, 3.0))
        segments.append(Segment((0.0, yv - 40.0, zc - 3.0), (0.0, yv - 66.0, zc - 16.0), 4.0, 3.0))
    return render_tubes(grid, segments)


def paint_ribs(canvas: Canvas, an: Anatomy) -> None:
    """Ribs curve from the spine around the body wall, falling as they run forward;
    the upper ones end in costal cartilage."""
    grid = canvas.grid
    a = an.cavity_a + 0.5 * an.muscle_mm
    ant, post = an.cavity_ant + 0.5 * an.muscle_mm, an.cavity_post + 0.5 * an.muscle_mm
    bone, cartilage = [], []
    for i in range(10):
        top = an.dome_z + 40.0 - 19.0 * i
        reach = np.pi * (0.85 if i < 6 else 0.72 - 0.1 * (i - 6))
        phi = np.linspace(0.12 * np.pi, reach, 28)
        for side in (1.0, -1.0):
            px = side * a * np.sin(phi)
            py = np.where(phi < np.pi / 2, -post, -ant) * np.cos(phi)
            pz = top - 55.0 * (phi / (np.pi / 2)) ** 1.4
            points = np.stack([px, py, pz], axis=1)
            radii = np.full(len(phi), RIB_RADIUS)
            cut = np.searchsorted(phi, 0.62 * np.pi)
            bone += polyline(points[: cut + 1], radii[: cut + 1])
            cartilage += polyline(points[cut:], radii[cut:] * 0.9)
    box = canvas.full_box()
    soft = render_tubes(grid, cartilage)
    canvas.paint(box, soft > 0, "costal_cartilage", BASE_HU["costal_cartilage"])
    depth = render_tubes(grid, bone)
    hu = np.where(depth < 1.6, BASE_HU["cortical_bone"], BASE_HU["cancellous_bone"])
    canvas.paint(box, depth > 0, "bone", hu)
