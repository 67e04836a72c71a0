"""Constructed lesions with known answers: a ball in a uniform 'liver' on a 1 mm grid; and
'real' sets of phantom patients whose tumors are synthetic, made with known settings."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage

from robustbench_liver.fidelity.lesions import ScanFrame, scan_frame
from robustbench_liver.fidelity.view import LesionView, crop_view
from robustbench_liver.sources.phantom import make_phantom
from robustbench_liver.synthesis import SizeClass, TumorConfig, synthesize
from robustbench_liver.types import Scan

SPACING = (1.0, 1.0, 1.0)
SIZE = 56
RADIUS = 10.0
LIVER_HU = 100.0
CONTRAST = -60.0


def ball(radius: float = RADIUS, size: int = SIZE, axes: tuple[float, ...] | None = None):
    """Voxel centres within the ellipsoid (semi-axes `axes`, default a ball) about the centre."""
    grid = np.indices((size,) * 3, dtype=float) - (size - 1) / 2.0
    semi = axes or (radius,) * 3
    return sum((g / a) ** 2 for g, a in zip(grid, semi, strict=True)) <= 1.0


def view_of(image: np.ndarray, lesion: np.ndarray, vessels: np.ndarray | None = None) -> LesionView:
    """The lesion in a liver filling the rest of the volume (no vessel threshold)."""
    return crop_view(
        image.astype(np.float32), lesion, ~lesion, SPACING, threshold_hu=None, vessels=vessels
    )


def blurred_ball(sigma_mm: float, noise: float = 0.0, seed: int = 0) -> LesionView:
    lesion = ball()
    image = np.where(lesion, LIVER_HU + CONTRAST, LIVER_HU)
    if sigma_mm > 0:
        image = ndimage.gaussian_filter(image, sigma_mm)
    if noise:
        image = image + np.random.default_rng(seed).normal(0.0, noise, image.shape)
    return view_of(image, lesion)


# one fixed contrast and no necrosis or calcium: tumors alike enough that a gap of a few
# hundredths means something (heterogeneous tumors scatter it by about as much)
DARK = TumorConfig(
    sizes=(SizeClass("m", (10, 16), (3, 3), (2, 4)),),
    delta_hu=(-60.0, -60.0),
    necrosis_chance=0.0,
    calcification_chance=0.0,
)
"""Three hypo-attenuating tumors of 10-16 mm per case."""


def fake_real_set(config: TumorConfig, scans: int = 4, seed: int = 100) -> list[ScanFrame]:
    """Phantom patients whose tumors, made with `config`, play the real ones."""
    frames = []
    for i in range(scans):
        base = make_phantom(i, shape=(128, 112, 48), spacing=(3.0, 3.0, 5.0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            case = synthesize(base, config, np.random.default_rng(seed + i))
        scan = Scan(
            image=case.image,
            spacing=base.spacing,
            liver=case.label == 1,
            affine=base.affine,
            id=f"fake-real-{i}",
            vessels=base.vessels,
        )
        frames.append(scan_frame(scan, case.label == 2))
    return frames
