"""Solid and hollow organs: liver, gallbladder, stomach, spleen, kidneys, pancreas, bowel."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robustbench_liver.sources.phantom.anatomy import Anatomy
from robustbench_liver.sources.phantom.body import cavity_level, diaphragm_z
from robustbench_liver.sources.phantom.canvas import Canvas
from robustbench_liver.sources.phantom.geometry import (
    SmoothField,
    ellipsoid_level,
    polyline,
    render_tubes,
    soft_min,
)
from robustbench_liver.sources.phantom.labels import BASE_HU

# The liver's lobes in a canonical patient (mm); `liver_scale` grows them about LIVER_PIVOT.
LIVER_PIVOT = np.array([35.0, 5.0, 5.0])
LIVER_LO = np.array([-120.0, -90.0, -110.0])
LIVER_HI = np.array([140.0, 100.0, 100.0])
Z_GROWTH = 0.7


def _solid(canvas: Canvas, an: Anatomy, centre, axes, yaw: float, label: str, hu, margin: float):
    """An ellipsoid organ inside the cavity, reserved against the liver with a fat plane of
    `margin` mm. `hu` is a number or a function of (normalised radius, y)."""
    reach = np.full(3, max(axes) + margin + 3.0)
    box = canvas.grid.box(np.asarray(centre) - reach, np.asarray(centre) + reach)
    if box is None:
        return
    x, y, z = canvas.grid.axes(box)
    level = ellipsoid_level(x, y, z, centre, axes, yaw)
    inside = (level < 1) & (cavity_level(x, y, an) < 1)
    canvas.paint(box, inside, label, hu(level, y) if callable(hu) else hu)
    canvas.reserve(box, level < 1 + margin / min(axes))


@dataclass(frozen=True)
class Gallbladder:
    """Where the gallbladder lies (mm), its semi-axes, yaw (degrees), bile HU, and the fat
    plane (mm) kept between it and the liver."""

    centre: tuple[float, float, float] = (36.0, 42.0, -34.0)
    axes: tuple[float, float, float] = (16.0, 15.0, 30.0)
    yaw: float = 20.0
    hu: float = BASE_HU["gallbladder"]
    fat_plane_mm: float = 1.5


def sample_gallbladder(rng: np.random.Generator) -> Gallbladder:
    """A gallbladder of its own size, place and bile: 0.7-1.5x the canonical length, shifted
    up to 10-12 mm, bile 0-25 HU, and as often as not pressed into its fossa with no fat
    plane, where it looks most like a dark lesion at the liver's edge."""
    u = rng.uniform
    base = Gallbladder()
    width, length = u(0.7, 1.4), u(0.7, 1.5)
    return Gallbladder(
        centre=(
            base.centre[0] + u(-10.0, 10.0),
            base.centre[1] + u(-8.0, 8.0),
            base.centre[2] + u(-12.0, 12.0),
        ),
        axes=(base.axes[0] * width, base.axes[1] * width, base.axes[2] * length),
        yaw=u(0.0, 45.0),
        hu=u(0.0, 25.0),
        fat_plane_mm=max(0.0, u(-1.5, 1.5)),
    )


def paint_viscera(
    canvas: Canvas,
    an: Anatomy,
    rng: np.random.Generator,
    gallbladder: Gallbladder | None = None,
    duodenum_rng: np.random.Generator | None = None,
) -> None:
    """Everything but the liver and its vessels, back to front; a duodenum when given
    its draws."""
    _paint_bowel(canvas, an, rng)
    if duodenum_rng is not None:
        paint_duodenum(canvas, an, duodenum_rng)
    # pancreas: a soft tube from the head near the duodenum to the tail at the splenic hilum
    head, tail = np.array([22.0, 8.0, -48.0]), np.array([-85.0, -18.0, -12.0])
    for t in np.linspace(0, 1, 9):
        c = head + t * (tail - head) + np.array([0.0, 12.0 * np.sin(np.pi * t), 0.0])
        _solid(canvas, an, tuple(c), (16.0, 11.0, 12.0), 0.0, "pancreas", BASE_HU["pancreas"], 3.0)
    stomach = (-55.0, 22.0, 30.0)
    gas_y = stomach[1] + 36.0 * an.gas_level
    _solid(canvas, an, stomach, (42.0, 36.0, 52.0), -30.0, "stomach", _stomach_hu(gas_y), 4.0)
    _solid(canvas, an, (-90.0, -28.0, 25.0), (22.0, 52.0, 48.0), 40.0, "spleen", an.spleen_hu, 4.0)
    right, left = (68.0, -38.0, an.kidney_right_z), (-68.0, -36.0, an.kidney_left_z)
    _solid(canvas, an, right, (26.0, 24.0, 52.0), 25.0, "kidney_right", _kidney_hu, 4.0)
    _solid(canvas, an, left, (26.0, 24.0, 52.0), -25.0, "kidney_left", _kidney_hu, 4.0)
    gb = gallbladder or Gallbladder()
    _solid(canvas, an, gb.centre, gb.axes, gb.yaw, "gallbladder", gb.hu, gb.fat_plane_mm)


DUODENUM_PATH = np.array(
    [
        [6.0, 36.0, -28.0],  # bulb, from the pylorus
        [28.0, 24.0, -26.0],  # superior part, under the hilum, behind the gallbladder neck
        [44.0, 8.0, -38.0],  # superior flexure
        [46.0, 2.0, -66.0],  # descending part, beside the pancreatic head
        [30.0, -2.0, -88.0],
        [0.0, 4.0, -94.0],  # horizontal part
    ]
)


def paint_duodenum(canvas: Canvas, an: Anatomy, rng: np.random.Generator) -> None:
    """The duodenum's C-loop around the pancreatic head: a fluid-filled tube (0-25 HU,
    sometimes gas in the bulb) with a 2.5 mm wall, pressed against the liver's hilum with
    0-2 mm of fat: in non-contrast CT, a dark structure at the liver's edge that is not a
    tumor. Its course, calibre and content come from `rng`."""
    grid = canvas.grid
    path = DUODENUM_PATH + rng.normal(0.0, 4.0, DUODENUM_PATH.shape)
    t = np.linspace(0, 1, 40)
    points = np.stack([np.interp(t, np.linspace(0, 1, len(path)), path[:, d]) for d in range(3)], 1)
    radii = rng.uniform(9.0, 14.0) * (1.0 + 0.2 * np.sin(t * rng.uniform(12.0, 24.0)))
    depth = render_tubes(grid, polyline(points, radii))
    box = canvas.full_box()
    x, y, _ = grid.axes(box)
    inside = (depth > 0) & (cavity_level(x, y, an) < 1)
    fluid = np.float32(BASE_HU["bowel_fluid"] + rng.uniform(-20.0, 5.0))
    content = np.where((y > 30.0) & (rng.random() < 0.3), np.float32(BASE_HU["gas"]), fluid)
    canvas.paint(box, inside, "bowel", np.where(depth < 2.5, BASE_HU["bowel_wall"], content))
    canvas.reserve(box, depth > -rng.uniform(0.0, 2.0))


def _stomach_hu(gas_y: float):
    def hu(level: np.ndarray, y: np.ndarray) -> np.ndarray:
        # a 4-5 mm wall around fluid; gas floats to the front (the patient lies supine)
        content = np.where(y > gas_y, BASE_HU["gas"], BASE_HU["stomach_fluid"])
        return np.where(level > 0.9, BASE_HU["stomach_wall"], content)

    return hu


def _kidney_hu(level: np.ndarray, y: np.ndarray) -> np.ndarray:
    # cortex shading smoothly into medulla, a little sinus fat at the centre
    blend = np.clip((level - 0.6) / 0.2, 0.0, 1.0)
    hu = BASE_HU["kidney_medulla"] + blend * (BASE_HU["kidney_cortex"] - BASE_HU["kidney_medulla"])
    return np.where(level < 0.3, BASE_HU["visceral_fat"] + 60.0, hu)


def _paint_bowel(canvas: Canvas, an: Anatomy, rng: np.random.Generator) -> None:
    """The colon framing the abdomen (gas mixed with stool), and small-bowel loops below
    and in front of the liver (walls, fluid, some gas)."""
    grid = canvas.grid
    path = np.array(
        [
            [82.0, 5.0, -130.0],  # ascending colon
            [86.0, 8.0, -70.0],
            [62.0, 38.0, -52.0],  # hepatic flexure, under the liver
            [0.0, 62.0, -45.0],  # transverse colon, in front
            [-70.0, 35.0, -20.0],
            [-88.0, -8.0, -5.0],  # splenic flexure
            [-88.0, -12.0, -70.0],  # descending colon
            [-80.0, 0.0, -130.0],
        ]
    )
    t = np.linspace(0, 1, 60)
    points = np.stack([np.interp(t, np.linspace(0, 1, len(path)), path[:, d]) for d in range(3)], 1)
    points += rng.normal(0, 3.0, points.shape)
    radii = 20.0 + 4.0 * np.sin(t * 60.0)  # haustral bulges
    depth = render_tubes(grid, polyline(points, radii))
    box = canvas.full_box()
    x, y, _ = grid.axes(box)
    stool = BASE_HU["bowel_fluid"] - 420.0 * (
        SmoothField(rng, LIVER_LO - 100, LIVER_HI + 100, 7.0).at(*grid.axes(box)) > 0.3
    )
    inside = (depth > 0) & (cavity_level(x, y, an) < 1)
    canvas.paint(box, inside, "bowel", np.where(depth < 3.0, BASE_HU["bowel_wall"], stool))
    for _ in range(22):
        centre = (rng.uniform(-60, 60), rng.uniform(-15, 70), rng.uniform(-125, -45))
        r = rng.uniform(12.0, 22.0)
        axes = (r * rng.uniform(0.8, 1.3), r, r * rng.uniform(0.8, 1.6))
        loop_box = grid.box(np.asarray(centre) - 2 * r, np.asarray(centre) + 2 * r)
        if loop_box is None:
            continue
        x, y, z = grid.axes(loop_box)
        level = ellipsoid_level(x, y, z, centre, axes, rng.uniform(0, 180))
        inside = (level < 1) & (cavity_level(x, y, an) < 1)
        gas = rng.random() < 0.35
        content = BASE_HU["gas"] if gas else BASE_HU["bowel_fluid"] + rng.uniform(-10, 25)
        canvas.paint(
            loop_box, inside, "bowel", np.where(level > 0.82, BASE_HU["bowel_wall"], content)
        )


@dataclass(frozen=True)
class LiverTip:
    """The inferior tip of the right lobe (mm, in the canonical patient, so it grows with the
    liver): a flat lobe against the lateral body wall, reaching down beside the right
    kidney. Real right lobes often end so, a thin crescent in axial slices below the
    hilum, where the canonical phantom liver ends round and bulky above the kidney."""

    centre: tuple[float, float, float]
    axes: tuple[float, float, float]
    yaw: float


def sample_liver_tip(rng: np.random.Generator) -> LiverTip:
    """A tip 16-32 mm thick, 50-100 mm wide front to back and 70-130 mm tall, centred
    65-100 mm below the canonical liver's centre."""
    u = rng.uniform
    return LiverTip(
        centre=(u(92.0, 108.0), u(-20.0, 10.0), u(-95.0, -60.0)),
        axes=(u(8.0, 16.0), u(25.0, 50.0), u(35.0, 65.0)),
        yaw=u(-20.0, 20.0),
    )


def liver_point(canonical, an: Anatomy, scale: float) -> np.ndarray:
    """Where a point of the canonical liver lies (mm) in a liver of lobe scale `scale`:
    the inverse of `liver_level`'s move to canonical coordinates."""
    grow = scale ** np.array([1.0, 1.0, Z_GROWTH])
    return LIVER_PIVOT + (np.asarray(canonical) - LIVER_PIVOT) * grow + an.liver_offset


def liver_level(
    x, y, z, an: Anatomy, field: SmoothField, scale: float, tip: LiverTip | None = None
) -> np.ndarray:
    """Implicit liver (< 1 inside): a large right lobe, a thinner left lobe reaching across
    the midline in front of the stomach, and the caudate lobe (and an inferior tip when
    given), blended and made irregular."""
    px = LIVER_PIVOT[0] + (x - LIVER_PIVOT[0] - an.liver_offset[0]) / scale
    py = LIVER_PIVOT[1] + (y - LIVER_PIVOT[1] - an.liver_offset[1]) / scale
    # bigger livers grow less in height than in width and depth (adult spans 14-20 cm)
    pz = LIVER_PIVOT[2] + (z - LIVER_PIVOT[2] - an.liver_offset[2]) / scale**Z_GROWTH
    taper = 1.0 - 0.35 * np.clip(-(pz - 5.0) / 85.0, 0.0, 1.0)  # narrower towards the tip
    right = ellipsoid_level(px / taper, py / taper, pz, (60.0, 0.0, 5.0), (66.0, 74.0, 85.0))
    ll = an.left_lobe
    thin = 0.45 + 0.55 * np.clip((px + 95.0 * ll) / (120.0 * ll), 0.0, 1.0)  # sharp left edge
    left = ellipsoid_level(
        px, (py - 40.0) / thin + 40.0, pz, (-22.0, 40.0, 32.0), (68.0 * ll, 30.0, 34.0), -15.0
    )
    caudate = ellipsoid_level(px, py, pz, (12.0, -14.0, 28.0), (24.0, 22.0, 32.0))
    lobes = [right, left, caudate]
    if tip is not None:
        lobes.append(ellipsoid_level(px, py, pz, tip.centre, tip.axes, tip.yaw))
    return soft_min(lobes, k=0.07) + 0.045 * field.at(x, y, z)


def liver_mask(
    canvas: Canvas,
    an: Anatomy,
    field: SmoothField,
    scale: float,
    stride: tuple[int, ...] = (1, 1, 1),
    tip: LiverTip | None = None,
):
    """The liver where the implicit shape, the cavity and the diaphragm all allow it."""
    grid = canvas.grid
    lo = LIVER_PIVOT + (LIVER_LO - LIVER_PIVOT) * scale
    if tip is not None:  # a long tip reaches below the lobes' box
        lowest = tip.centre[2] - tip.axes[2] - 10.0  # canonical mm, with room for the blend
        lo[2] = min(lo[2], liver_point((0.0, 0.0, lowest), an, scale)[2])
    box = grid.box(lo, LIVER_PIVOT + (LIVER_HI - LIVER_PIVOT) * scale)
    if box is None:
        return None, None
    box = tuple(slice(s.start, s.stop, st) for s, st in zip(box, stride, strict=True))  # type: ignore[assignment]
    x, y, z = grid.axes(box)
    inside = liver_level(x, y, z, an, field, scale, tip) < 1
    inside &= cavity_level(x, y, an, shrink=2.0) < 1
    inside &= z < diaphragm_z(x, y, an) - 1.0
    inside &= ~canvas.reserved[box]
    return box, inside


def fit_liver_scale(
    canvas: Canvas, an: Anatomy, field: SmoothField, tip: LiverTip | None = None
) -> float:
    """Scale the lobes until the liver (after every cut) has the target volume: secant steps
    on log(volume) against log(scale), measured on a lattice 3 x 3 x 2 voxels apart."""
    stride = (3, 3, 2)
    voxel_ml = float(np.prod(canvas.grid.spacing)) * float(np.prod(stride)) / 1000.0

    def log_ratio(scale: float) -> float:
        _, inside = liver_mask(canvas, an, field, scale, stride, tip)
        volume = 0.0 if inside is None else float(inside.sum()) * voxel_ml
        return float(np.log(max(volume, 1e-3) / an.liver_target_ml))

    s0, f0 = 0.0, log_ratio(1.0)  # in log(scale)
    s1 = -f0 / 2.5  # the body wall caps growth: volume rises slower than scale^3
    for _ in range(6):
        f1 = log_ratio(float(np.exp(s1)))
        if abs(f1) < 0.004 or f1 == f0:
            break
        s0, s1, f0 = s1, s1 - f1 * (s1 - s0) / (f1 - f0), f1
        s1 = float(np.clip(s1, -1.0, 1.0))
    return float(np.exp(s1))


def paint_liver(
    canvas: Canvas,
    an: Anatomy,
    field: SmoothField,
    texture: SmoothField,
    tip: LiverTip | None = None,
) -> np.ndarray:
    """Paint the parenchyma (with faint low-frequency mottling); return the full liver mask."""
    box, inside = liver_mask(canvas, an, field, an.liver_scale, tip=tip)
    mask = np.zeros(canvas.grid.shape, dtype=bool)
    if box is None or inside is None:
        return mask
    x, y, z = canvas.grid.axes(box)
    canvas.paint(box, inside, "liver", an.liver_hu + 4.0 * texture.at(x, y, z))
    mask[box] = inside
    return mask
