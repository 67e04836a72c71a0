"""Image-level distribution shifts, in physical units, applied to the image only.

They model another scanner or protocol: more noise, a softer kernel, thicker slices, coarser
pixels, another contrast phase or calibration. Labels stay at the original resolution, so
a model is scored against the truth, not against a degraded copy of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from robustbench_liver.errors import DataError

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
HU_RANGE = (-1024.0, 3071.0)


@dataclass(frozen=True)
class ImageShift:
    """One image-level shift; the defaults change nothing."""

    noise_std_hu: float = 0.0
    """Extra Gaussian noise (HU standard deviation)."""
    noise_grain_mm: float = 0.0
    """Correlation length of that noise in-plane (0 = white)."""
    blur_fwhm_mm: float = 0.0
    """Extra in-plane blur (a softer reconstruction kernel), FWHM in mm."""
    slice_thickness_mm: float | None = None
    """Reconstruct at this slice thickness (average slabs, resample back); None = as is."""
    inplane_mm: float | None = None
    """Reconstruct at this pixel size in-plane (area average, resample back); None = as is."""
    hu_scale: float = 1.0
    """Multiply HU (about 0 HU) by this, as for another contrast phase or calibration."""
    hu_offset: float = 0.0
    """Then add this many HU."""

    def __post_init__(self) -> None:
        checks = {
            "noise_std_hu": (self.noise_std_hu, 0.0, 500.0),
            "noise_grain_mm": (self.noise_grain_mm, 0.0, 20.0),
            "blur_fwhm_mm": (self.blur_fwhm_mm, 0.0, 30.0),
            "hu_scale": (self.hu_scale, 0.1, 5.0),
            "hu_offset": (self.hu_offset, -500.0, 500.0),
        }
        if self.slice_thickness_mm is not None:
            checks["slice_thickness_mm"] = (self.slice_thickness_mm, 0.1, 20.0)
        if self.inplane_mm is not None:
            checks["inplane_mm"] = (self.inplane_mm, 0.1, 10.0)
        for name, (value, lo, hi) in checks.items():
            if (
                not isinstance(value, (int, float))
                or not np.isfinite(value)
                or not lo <= value <= hi
            ):
                raise DataError(
                    f"image shift {name} must be a number in [{lo}, {hi}], got {value!r}"
                )

    @property
    def is_identity(self) -> bool:
        return self == ImageShift()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def apply_image_shift(
    image: np.ndarray,
    spacing: tuple[float, float, float],
    shift: ImageShift,
    rng: np.random.Generator,
) -> np.ndarray:
    """A shifted copy of `image` (float32 HU, axes x, y, z). Order: resolution (slices, then
    pixels), blur, calibration, noise: the noise of the new protocol comes last, unblurred."""
    if shift.is_identity:
        return image
    out = np.asarray(image, dtype=np.float32).copy()
    if shift.slice_thickness_mm is not None and shift.slice_thickness_mm > spacing[2]:
        out = _thick_slices(out, spacing[2], shift.slice_thickness_mm)
    if shift.inplane_mm is not None and shift.inplane_mm > min(spacing[:2]):
        out = _coarse_pixels(out, spacing, shift.inplane_mm)
    if shift.blur_fwhm_mm > 0:
        sigma = [shift.blur_fwhm_mm * FWHM_TO_SIGMA / s for s in spacing[:2]] + [0.0]
        out = ndimage.gaussian_filter(out, sigma, mode="nearest")
    if shift.hu_scale != 1.0 or shift.hu_offset != 0.0:
        out = out * np.float32(shift.hu_scale) + np.float32(shift.hu_offset)
    if shift.noise_std_hu > 0:
        out += _noise(out.shape, spacing, shift.noise_std_hu, shift.noise_grain_mm, rng)
    return np.clip(out, *HU_RANGE).astype(np.float32, copy=False)


def _thick_slices(image: np.ndarray, dz: float, thickness: float) -> np.ndarray:
    """Average over slabs `thickness` thick centred every `thickness` mm, then interpolate
    back to the original slice positions (linear, as a reader's reformat would)."""
    nz = image.shape[2]
    z = np.arange(nz) * dz
    centres = np.arange(z[0] + thickness / 2, z[-1] + dz / 2, thickness)
    if centres.size < 2:
        centres = np.array([z.mean()])
    # slab weights: the overlap of each original slice (width dz) with each slab
    lo = centres[:, None] - thickness / 2
    hi = centres[:, None] + thickness / 2
    overlap = np.clip(np.minimum(hi, z + dz / 2) - np.maximum(lo, z - dz / 2), 0, None)
    weights = overlap / overlap.sum(axis=1, keepdims=True)
    slabs = np.tensordot(image, weights.T.astype(np.float32), axes=(2, 0))  # (x, y, n_slabs)
    if centres.size == 1:
        return np.repeat(slabs, nz, axis=2)
    index = np.interp(z, centres, np.arange(centres.size))
    i0 = np.clip(np.floor(index).astype(int), 0, centres.size - 2)
    frac = (index - i0).astype(np.float32)
    return slabs[:, :, i0] * (1 - frac) + slabs[:, :, i0 + 1] * frac


def _coarse_pixels(image: np.ndarray, spacing, pixel_mm: float) -> np.ndarray:
    """Area-average to pixels of `pixel_mm`, then interpolate back (in-plane only)."""
    factors = [max(spacing[d] / pixel_mm, 1e-3) for d in range(2)] + [1.0]
    small = ndimage.zoom(
        ndimage.uniform_filter(image, size=[max(1, round(1 / f)) for f in factors[:2]] + [1]),
        factors,
        order=1,
        mode="nearest",
        grid_mode=True,
    )
    back = [image.shape[d] / small.shape[d] for d in range(3)]
    return ndimage.zoom(small, back, order=1, mode="nearest", grid_mode=True)[
        : image.shape[0], : image.shape[1], : image.shape[2]
    ]


def _noise(shape, spacing, std: float, grain_mm: float, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal(shape, dtype=np.float32)
    if grain_mm > 0:
        noise = ndimage.gaussian_filter(
            noise, [grain_mm / s for s in spacing[:2]] + [0.0], mode="wrap"
        )
        noise *= np.float32(1.0 / max(float(noise.std()), 1e-6))
    return noise * np.float32(std)
