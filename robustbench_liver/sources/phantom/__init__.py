"""The built-in procedural abdomen: a healthy-liver base scan that needs no data.

`make_phantom(seed)` gives a `Scan` (portal-venous-phase HU, liver mask, ground-truth vessel
mask); `generate_phantom(seed)` also returns the full organ label map (see `LABELS`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from robustbench_liver.errors import DataError
from robustbench_liver.sources.phantom.anatomy import Anatomy, sample_anatomy
from robustbench_liver.sources.phantom.body import paint_body, paint_chest, paint_ribs, paint_spine
from robustbench_liver.sources.phantom.canvas import Canvas
from robustbench_liver.sources.phantom.fissures import cut_fissures, sample_fissures
from robustbench_liver.sources.phantom.geometry import Grid, SmoothField
from robustbench_liver.sources.phantom.labels import BASE_HU, LABELS, VESSEL_LABELS
from robustbench_liver.sources.phantom.organs import (
    LIVER_HI,
    LIVER_LO,
    fit_liver_scale,
    paint_liver,
    paint_viscera,
    sample_gallbladder,
    sample_liver_tip,
)
from robustbench_liver.sources.phantom.render import to_ct
from robustbench_liver.sources.phantom.vessels import paint_great_vessels, paint_liver_veins
from robustbench_liver.types import Scan

__all__ = ["LABELS", "Phantom", "PhantomOptions", "generate_phantom", "make_phantom"]

GENERATOR_VERSION = "1"
GALLBLADDER_STREAM = 0x6B
DUODENUM_STREAM = 0xD0
LIVER_TIP_STREAM = 0x71
FISSURE_STREAM = 0xF155
FOV_TOP_MM = 100.0  # the highest dome sits at 84 mm
MAX_VOXELS = 512**3
"""Largest phantom grid: painting holds several arrays of the grid at once (measured: 180 MB
for the default 5.5 million voxels, about 33 bytes a voxel, so some 4.4 GB at the cap)."""


@dataclass(frozen=True)
class PhantomOptions:
    """How the phantom is sampled and on which grid."""

    shape: tuple[int, int, int] = (256, 224, 96)
    """Voxels along x, y, z."""
    spacing: tuple[float, float, float] = (1.5, 1.5, 2.5)
    """Voxel size in mm (in-plane, in-plane, slice)."""
    liver_volume_ml: float | None = None
    """Target liver volume; by default drawn per seed from 1,200-2,200 ml."""
    noise_std: float | None = None
    """Image noise (HU std); by default drawn per seed from 10-20 HU."""
    vary_gallbladder: bool = False
    """Draw the gallbladder's size, place, bile HU and fat plane per seed (for training:
    `organs.sample_gallbladder`); off, every phantom has the one canonical gallbladder. The
    draws come from their own stream, so nothing else in the phantom changes."""
    duodenum: bool = False
    """Add a duodenum (`organs.paint_duodenum`, drawn per seed from its own stream) against
    the liver's hilum, for training; off, the bowel stays away from the hilum."""
    liver_tip: bool = False
    """Give the right lobe an inferior tip against the lateral body wall, beside the right
    kidney (`organs.sample_liver_tip`, drawn per seed from its own stream), for training;
    off, the liver ends round above the kidney."""
    fissures: bool = False
    """Cut the fat-filled fissures of the ligamentum teres and the ligamentum venosum into
    the liver (`fissures.sample_fissures`, drawn per seed from its own stream), for
    training; off, the parenchyma has no clefts."""

    def __post_init__(self) -> None:
        if len(self.shape) != 3 or any(int(n) < 8 for n in self.shape):
            raise DataError(f"phantom shape must be 3 sizes of at least 8 voxels, got {self.shape}")
        if math.prod(int(n) for n in self.shape) > MAX_VOXELS:
            raise DataError(
                f"phantom shape {self.shape} has more than {MAX_VOXELS:,} voxels (512^3); "
                "use a coarser spacing for the same field of view"
            )
        if len(self.spacing) != 3 or any(not (0.2 <= float(s) <= 10.0) for s in self.spacing):
            raise DataError(f"phantom spacing must be 3 values in 0.2-10 mm, got {self.spacing}")
        if self.liver_volume_ml is not None and not 300.0 <= self.liver_volume_ml <= 4000.0:
            raise DataError(f"liver_volume_ml must lie in 300-4000, got {self.liver_volume_ml}")
        if self.noise_std is not None and not 0.0 <= self.noise_std <= 200.0:
            raise DataError(f"noise_std must lie in 0-200 HU, got {self.noise_std}")
        for name in ("vary_gallbladder", "duodenum", "liver_tip", "fissures"):
            if not isinstance(getattr(self, name), bool):
                raise DataError(f"{name} must be true or false, got {getattr(self, name)!r}")


@dataclass(frozen=True, eq=False)
class Phantom:
    """A phantom scan with its full organ label map (values in `LABELS`)."""

    scan: Scan
    labels: np.ndarray
    anatomy: Anatomy
    options: PhantomOptions = field(default_factory=PhantomOptions)


def _grid(options: PhantomOptions) -> Grid:
    """Centre the body axis in x, leave room for the table below it, and start the field of
    view just above the diaphragm, as an abdominal scan does."""
    shape = tuple(int(n) for n in options.shape)
    sp = tuple(float(s) for s in options.spacing)
    origin = (
        -0.5 * (shape[0] - 1) * sp[0],
        -0.5 * (shape[1] - 1) * sp[1] - 12.0,
        FOV_TOP_MM - (shape[2] - 1) * sp[2],
    )
    return Grid(shape=shape, spacing=sp, origin=origin)  # type: ignore[arg-type]


def generate_phantom(
    seed: int = 0, options: PhantomOptions | None = None, **overrides: Any
) -> Phantom:
    """Build a phantom abdomen from `seed`: same seed and options give identical bytes."""
    options = replace(options or PhantomOptions(), **overrides)
    streams = np.random.SeedSequence([int(seed), 0x9A7]).spawn(2)
    anatomy_rng = np.random.default_rng(streams[0])
    noise_rng = np.random.default_rng(streams[1])
    an = sample_anatomy(anatomy_rng, options.liver_volume_ml, options.noise_std)
    grid = _grid(options)
    canvas = Canvas(grid, BASE_HU["background"])
    paint_body(canvas, an)
    paint_chest(canvas, an)
    gallbladder = None
    if options.vary_gallbladder:
        gallbladder = sample_gallbladder(_option_rng(seed, GALLBLADDER_STREAM))
    duodenum_rng = _option_rng(seed, DUODENUM_STREAM) if options.duodenum else None
    paint_viscera(canvas, an, np.random.default_rng(an.bowel_seed), gallbladder, duodenum_rng)
    paint_spine(canvas, an)
    paint_great_vessels(canvas, an)
    lo, hi = LIVER_LO - 40.0, LIVER_HI + 40.0
    shape_field = SmoothField(np.random.default_rng(an.texture_seed), lo, hi, scale_mm=28.0)
    mottle = SmoothField(np.random.default_rng(an.texture_seed + 1), lo, hi, scale_mm=9.0)
    tip = sample_liver_tip(_option_rng(seed, LIVER_TIP_STREAM)) if options.liver_tip else None
    an = replace(an, liver_scale=fit_liver_scale(canvas, an, shape_field, tip))
    liver = paint_liver(canvas, an, shape_field, mottle, tip)
    if not liver.any():
        raise DataError(
            f"phantom grid {options.shape} at {options.spacing} mm does not reach the liver",
            hint="use a larger field of view (about 380 x 330 x 200 mm)",
        )
    if options.fissures:
        liver = cut_fissures(canvas, an, liver, sample_fissures(_option_rng(seed, FISSURE_STREAM)))
    paint_liver_veins(canvas, an, liver, np.random.default_rng(an.vessel_seed))
    paint_ribs(canvas, an)
    labels = canvas.labels
    in_liver_vessel = np.isin(labels, (LABELS["portal_vein"], LABELS["hepatic_veins"])) & liver
    liver_mask = (labels == LABELS["liver"]) | in_liver_vessel
    image = to_ct(canvas.hu, grid.spacing, an.noise_std, noise_rng)
    scan = Scan(
        image=image,
        spacing=grid.spacing,
        liver=liver_mask,
        affine=grid.affine,
        id=f"phantom-{seed}",
        vessels=np.isin(labels, VESSEL_LABELS),
        provenance={
            "source": "phantom",
            "seed": int(seed),
            "generator_version": GENERATOR_VERSION,
            "options": {k: v for k, v in options.__dict__.items()},
            "anatomy": an.to_dict(),
        },
    )
    return Phantom(scan=scan, labels=labels, anatomy=an, options=options)


def _option_rng(seed: int, stream: int) -> np.random.Generator:
    """The draws of one optional structure: a stream of its own, so switching it on changes
    nothing else in the phantom."""
    return np.random.default_rng([int(seed), 0x9A7, stream])


def make_phantom(seed: int = 0, **options: Any) -> Scan:
    """The built-in base scan for `seed` (options: see `PhantomOptions`)."""
    return generate_phantom(seed, **options).scan
