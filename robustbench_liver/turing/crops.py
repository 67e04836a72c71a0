"""From a lesion in a volume to a blinded crop, by one rule for real and synthetic tumors.

1. Slab: the axial slice through the lesion's largest cross-section, averaged with its
   neighbours into a slab as thick as the thickest slice of any source, so that thin-slice
   and thick-slice sources show the same partial-volume blur.
2. Field of view: a square of `scale` x the cross-section's diameter (or a fixed size in mm),
   centred on the cross-section's centroid, lying wholly inside the scan (no padding, which
   would mark the source).
3. Matched resolution: every crop is sampled onto the same number of "detail" pixels across
   its field of view — no more than the coarsest crop has source pixels — with a Gaussian
   anti-aliasing filter, so a fine-grid source cannot be told from a coarse one by its
   sharpness.
4. Matched noise: white noise is added on the detail grid until every crop has the noise of
   the noisiest one (estimated in the liver parenchyma, MAD of Immerkær's operator).
5. Window: one width for every crop; its level either fixed or set from the liver
   parenchyma in the crop (so that the contrast phase of a source does not give it away).
6. Display: cubic upsampling to a fixed pixel grid, 8-bit gray, radiological orientation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from robustbench_liver import display

LIVER_LEVEL_OFFSET_HU = -70.0
"""Window level = liver parenchyma median + this: where a portal-venous liver (~110 HU) sits
in the usual soft-tissue window (level 40 HU)."""
MIN_PARENCHYMA_PIXELS = 10
_IMMERKAER = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
_IMMERKAER_GAIN = 6.0  # sqrt of the sum of squared weights: the operator's gain on white noise
_MAD_TO_SD = 0.6744897501960817  # median |N(0, 1)|
_GAIN_REPEATS = 16


@dataclass(frozen=True, eq=False)
class Slab:
    """An axial slab: the mean of `slices` adjacent slices, axes (x, y)."""

    image: np.ndarray
    parenchyma: np.ndarray
    """Liver without tumor (for the window level and the noise estimate)."""
    spacing: tuple[float, float]
    slices: int


def slab_slices(slice_mm: float, slab_mm: float) -> int:
    """How many slices of `slice_mm` make a slab of about `slab_mm`."""
    return max(1, round(slab_mm / slice_mm))


def slab_fits(k: int, depth: int, slices: int) -> bool:
    """Whether the slab of `slices` slices around slice `k` lies inside `depth` slices."""
    start = k - (slices - 1) // 2
    return start >= 0 and start + slices <= depth


def take_slab(
    image: np.ndarray,
    parenchyma: np.ndarray,
    spacing: tuple[float, float, float],
    k: int,
    slices: int,
) -> Slab | None:
    """The slab of `slices` slices centred on slice `k`, or None where it leaves the volume."""
    if not slab_fits(k, image.shape[2], slices):
        return None
    start = k - (slices - 1) // 2
    stop = start + slices
    block = np.asarray(image[:, :, start:stop], dtype=np.float64)
    return Slab(
        image=block.mean(axis=2),
        parenchyma=np.asarray(parenchyma[:, :, k], dtype=bool),
        spacing=(float(spacing[0]), float(spacing[1])),
        slices=slices,
    )


def field_of_view(
    diameter_mm: float, scale: float, minimum_mm: float, fixed_mm: float | None
) -> float:
    return float(fixed_mm) if fixed_mm is not None else max(scale * diameter_mm, minimum_mm)


def fits(
    shape: tuple[int, ...], spacing: tuple[float, ...], center_mm: tuple[float, float], fov: float
) -> bool:
    """Whether the square crop lies inside the image (between the outer voxel centres)."""
    half = fov / 2.0
    return all(
        c - half >= 0.0 and c + half <= (n - 1) * s
        for c, n, s in zip(center_mm, shape[:2], spacing[:2], strict=True)
    )


def source_pixels(spacing: tuple[float, float], fov: float) -> int:
    """Source pixels across the crop along its coarser axis."""
    return math.floor(fov / max(spacing))


def _sigma(spacing: tuple[float, float], pixel_mm: float) -> tuple[float, float]:
    """Anti-aliasing Gaussian (in source voxels) for sampling at `pixel_mm`: (factor - 1) / 2,
    none when not shrinking (scikit-image's `rescale` default)."""
    return tuple(max(0.0, (pixel_mm / s - 1.0) / 2.0) for s in spacing)  # type: ignore[return-value]


def _window_box(
    shape: tuple[int, ...],
    spacing: tuple[float, float],
    center_mm: tuple[float, float],
    fov: float,
    sigma: tuple[float, float],
) -> tuple[slice, slice]:
    """The part of the slab the crop (and its filter's reach) reads."""
    box = []
    for c, n, s, g in zip(center_mm, shape, spacing, sigma, strict=True):
        margin = math.ceil(4.0 * g) + 2
        lo = max(0, math.floor((c - fov / 2.0) / s) - margin)
        hi = min(n, math.ceil((c + fov / 2.0) / s) + margin + 1)
        box.append(slice(lo, hi))
    return box[0], box[1]


def _sample(
    image: np.ndarray,
    box: tuple[slice, slice],
    spacing: tuple[float, float],
    center_mm: tuple[float, float],
    fov: float,
    pixels: int,
    order: int = 1,
) -> np.ndarray:
    """`image[box]`, anti-aliased and sampled at `pixels` x `pixels` pixel centres of the crop."""
    pixel_mm = fov / pixels
    part = ndimage.gaussian_filter(
        np.asarray(image, dtype=np.float64), _sigma(spacing, pixel_mm), mode="nearest"
    )
    axes = []
    for c, s, b in zip(center_mm, spacing, box, strict=True):
        mm = c - fov / 2.0 + (np.arange(pixels) + 0.5) * pixel_mm
        axes.append(mm / s - b.start)
    grid = np.meshgrid(*axes, indexing="ij")
    return ndimage.map_coordinates(part, grid, order=order, mode="nearest")


def detail(slab: Slab, center_mm: tuple[float, float], fov: float, pixels: int) -> np.ndarray:
    """The crop on the detail grid, HU, axes (x, y)."""
    box = _window_box(
        slab.image.shape, slab.spacing, center_mm, fov, _sigma(slab.spacing, fov / pixels)
    )
    return _sample(slab.image[box], box, slab.spacing, center_mm, fov, pixels)


def noise_gain(
    slab: Slab, center_mm: tuple[float, float], fov: float, pixels: int, rng: np.random.Generator
) -> float:
    """SD on the detail grid of unit white noise on the slab's grid: how much `detail` keeps
    of a source's noise (measured on `_GAIN_REPEATS` noise fields, not derived)."""
    box = _window_box(
        slab.image.shape, slab.spacing, center_mm, fov, _sigma(slab.spacing, fov / pixels)
    )
    shape = (box[0].stop - box[0].start, box[1].stop - box[1].start)
    values = [
        _sample(rng.standard_normal(shape), box, slab.spacing, center_mm, fov, pixels)
        for _ in range(_GAIN_REPEATS)
    ]
    return float(np.std(values))


def noise_sd(slab: Slab) -> float | None:
    """Noise SD (HU) of the slab in the liver parenchyma: Immerkær's (1996) Laplacian-difference
    operator, made robust to edges and vessels with the median absolute response.
    None when the slab holds too little parenchyma to say."""
    inner = ndimage.binary_erosion(slab.parenchyma, structure=np.ones((3, 3), dtype=bool))
    if int(inner.sum()) < MIN_PARENCHYMA_PIXELS:
        return None
    response = ndimage.convolve(slab.image, _IMMERKAER, mode="nearest")
    return float(np.median(np.abs(response[inner])) / (_MAD_TO_SD * _IMMERKAER_GAIN))


def matching_noise(detail_sds: list[float]) -> list[float]:
    """White noise SD to add to each crop so that all reach the noisiest one's noise."""
    target = max(detail_sds)
    return [math.sqrt(max(0.0, target**2 - sd**2)) for sd in detail_sds]


def liver_level(slab: Slab, center_mm: tuple[float, float], fov: float) -> float | None:
    """Median HU of the liver parenchyma inside the crop (or the whole slab's, when the crop
    holds too little of it), for a liver-relative window; None without parenchyma."""
    box = _window_box(slab.image.shape, slab.spacing, center_mm, fov, (0.0, 0.0))
    inside = slab.parenchyma[box]
    if int(inside.sum()) >= MIN_PARENCHYMA_PIXELS:
        return float(np.median(slab.image[box][inside]))
    if slab.parenchyma.any():
        return float(np.median(slab.image[slab.parenchyma]))
    return None


def to_display(detail_hu: np.ndarray, window: tuple[float, float], pixels: int) -> np.ndarray:
    """Cubic upsampling to `pixels` x `pixels`, windowing to 8-bit gray, radiological view
    (rows anterior to posterior, columns patient right to left)."""
    g = detail_hu.shape[0]
    coords = (np.arange(pixels) + 0.5) * g / pixels - 0.5
    grid = np.meshgrid(coords, coords, indexing="ij")
    up = ndimage.map_coordinates(detail_hu, grid, order=3, mode="nearest")
    lo, hi = window
    gray = np.clip((up - lo) / (hi - lo), 0.0, 1.0)
    pixels_u8 = np.round(gray * 255.0).astype(np.uint8)
    return np.ascontiguousarray(display.axial(pixels_u8[:, :, None], 0))
