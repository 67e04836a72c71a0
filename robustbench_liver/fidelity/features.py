"""Per-lesion features of a `LesionView`, each a small function (definitions in mm and HU;
the registry holds the one-line definitions the report prints).

A feature that cannot be measured on a lesion (a core of fewer than three voxels, no local
parenchyma, no contrast to find an edge by) is NaN, never a made-up number.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from skimage.measure import marching_cubes, mesh_surface_area

from robustbench_liver.fidelity.edge import edge_profile
from robustbench_liver.fidelity.texture import glcm_features
from robustbench_liver.fidelity.view import MIN_VOXELS, VESSEL_CAP_MM, LesionView

TEXTURE_BLUR_MM = 1.5
HIGH_PASS_MM = 1.5
HYPERDENSE_HU = 100.0
RIM_MM = 3.0


def equivalent_radius_mm(view: LesionView) -> float:
    """r = (3V / 4π)^(1/3), V = the lesion's voxel count times the voxel volume (mm)."""
    volume = float(view.lesion.sum()) * math.prod(view.spacing)
    return (3.0 * volume / (4.0 * math.pi)) ** (1.0 / 3.0)


def contrast_hu(view: LesionView) -> float:
    """Mean HU of the lesion minus the median HU of its local parenchyma (5-15 mm ring)."""
    return float(view.image[view.lesion].mean()) - view.parenchyma_hu


def internal_sd_hu(view: LesionView) -> float:
    """Standard deviation (HU) over the lesion's core."""
    return _sd(view.image[view.core])


def smooth_within(image: np.ndarray, mask: np.ndarray, sigma: list[float]) -> np.ndarray:
    """Gaussian blur of `image` taken over `mask` only (normalised convolution): a lesion's
    blur is not pulled toward the parenchyma at its edge, nor the parenchyma's toward a
    vessel."""
    weight = ndimage.gaussian_filter(mask.astype(np.float32), sigma)
    total = ndimage.gaussian_filter(np.where(mask, image, 0.0).astype(np.float32), sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 1e-6, total / weight, image)


def texture_sd_hu(view: LesionView, blur_mm: float = TEXTURE_BLUR_MM) -> float:
    """Standard deviation (HU) over the core of the lesion blurred with a σ = `blur_mm`
    Gaussian (taken within the lesion): heterogeneity coarser than the voxel noise."""
    blurred = smooth_within(view.image, view.lesion, [blur_mm / s for s in view.spacing])
    return _sd(blurred[view.core])


def hyperdense_share(view: LesionView, above_hu: float = HYPERDENSE_HU) -> float:
    """Share of the core brighter than the local parenchyma by more than `above_hu`."""
    core = view.image[view.core]
    if core.size < MIN_VOXELS or not math.isfinite(view.parenchyma_hu):
        return math.nan
    return float(np.mean(core > view.parenchyma_hu + above_hu))


def high_pass(view: LesionView, region: np.ndarray, sigma_mm: float = HIGH_PASS_MM) -> np.ndarray:
    """Image minus its Gaussian blur within `region`, σ = max(`sigma_mm`, one voxel) per
    axis: the voxel-scale noise, without the response of the lesion's edge."""
    sigma = [max(sigma_mm, s) / s for s in view.spacing]
    return view.image - smooth_within(view.image, region, sigma)


def noise_ratio(view: LesionView) -> float:
    """SD of the high-pass image over the core (blur within the lesion) / SD of it over the
    local parenchyma (blur within the liver tissue)."""
    inside = _sd(high_pass(view, view.lesion)[view.core])
    outside = _sd(high_pass(view, view.tissue)[view.ring])
    return inside / outside if outside > 0 else math.nan


def rim_hu(view: LesionView, width_mm: float = RIM_MM) -> float:
    """Mean HU of the liver tissue within max(`width_mm`, the largest voxel size) outside the
    lesion's surface, minus the local parenchyma (> 0: a bright rim or capsule)."""
    width = max(width_mm, max(view.spacing))
    shell = view.tissue & (view.signed_mm > 0) & (view.signed_mm <= width)
    if shell.sum() < MIN_VOXELS:
        return math.nan
    return float(view.image[shell].mean()) - view.parenchyma_hu


def sphericity(view: LesionView) -> float:
    """π^(1/3) (6V)^(2/3) / A of the marching-cubes surface of the lesion mask (level 0.5,
    as in IBSI / pyradiomics; V the mesh's volume). A ball digitised at 10+ voxels of radius
    gives about 0.91 (the staircase surface), a single voxel 0.85."""
    padded = np.pad(view.lesion, 1).astype(np.float32)
    verts, faces, _, _ = marching_cubes(padded, 0.5, spacing=view.spacing)
    area = float(mesh_surface_area(verts, faces))
    tri = verts[faces]
    volume = abs(float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum()))
    volume /= 6.0
    if area <= 0 or volume <= 0:
        return math.nan
    return float(math.pi ** (1.0 / 3.0) * (6.0 * volume) ** (2.0 / 3.0) / area)


def vessel_distance_mm(view: LesionView, cap_mm: float = VESSEL_CAP_MM) -> float:
    """Distance from the lesion's surface to the nearest vessel voxel centre (0 when a vessel
    touches it), capped at `cap_mm` (also when the crop holds no vessel)."""
    if (view.vessels & view.lesion).any():
        return 0.0
    near = view.signed_mm[view.vessels]
    if near.size == 0:
        return cap_mm
    return float(np.clip(near.min(), 0.0, cap_mm))


def lesion_features(view: LesionView) -> dict[str, float]:
    """Every feature of the view (the location features need the whole liver: `location`)."""
    edge = edge_profile(view)
    glcm = glcm_features(view)
    return {
        "radius_mm": equivalent_radius_mm(view),
        "contrast_hu": contrast_hu(view),
        "internal_sd_hu": internal_sd_hu(view),
        "texture_sd_hu": texture_sd_hu(view),
        "hyperdense_share": hyperdense_share(view),
        "noise_ratio": noise_ratio(view),
        "edge_rise_mm": edge.rise_mm,
        "edge_sigma_mm": edge.sigma_mm,
        "edge_offset_mm": edge.offset_mm,
        "rim_hu": rim_hu(view),
        "glcm_contrast_hu2": glcm.contrast_hu2,
        "glcm_homogeneity": glcm.homogeneity,
        "sphericity": sphericity(view),
        "vessel_distance_mm": vessel_distance_mm(view),
        "parenchyma_hu": view.parenchyma_hu,
        "core_hu": view.core_hu,
    }


def _sd(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if values.size >= MIN_VOXELS else math.nan
