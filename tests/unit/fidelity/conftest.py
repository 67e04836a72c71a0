"""Constructed lesions with known answers: a ball in a uniform 'liver' on a 1 mm grid."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from robustbench_liver.fidelity.view import LesionView, crop_view

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
