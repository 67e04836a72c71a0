"""Contrast-phase augmentation: move a portal-venous base scan part or all of the way to
non-contrast CT, tissue by tissue, before tumors are synthesized into it.

The phantoms and the real training scan are portal-venous (liver ~95-110 HU, portal vein
130-200 HU). Without contrast the liver lies at ~45-65 HU and blood at ~35-50 HU, darker than
the liver instead of brighter (totalseg-full, the non-contrast scan in ../shared/data, has
liver 46, spleen 35, aorta 41, portal vein 37 HU; the totalseg-dicom training scan, liver 93,
portal vein 133). A global HU
shift cannot give both, so each enhancing tissue moves by its own offset toward a target
drawn per case: `image + degree * (target - median)`, the offsets blurred by 0.6 voxel so
that label edges do not become steps. Tumors are synthesized afterwards, so their contrast is
set against the moved parenchyma, as it would be in such a scan.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage

NON_CONTRAST_HU: dict[str, tuple[float, float]] = {
    "liver": (40.0, 65.0),
    "blood": (30.0, 50.0),
    "spleen": (35.0, 50.0),
    "kidney": (25.0, 40.0),
    "pancreas": (30.0, 45.0),
}
"""Unenhanced attenuation (HU) per tissue, drawn uniformly per case."""

MIN_VOXELS = 50
"""A tissue with fewer voxels in the scan is left alone (its median would be noise)."""

Tissues = Mapping[str, np.ndarray]
"""Tissue name -> bool mask on the scan's grid."""


def tissue_masks(
    labels: np.ndarray, tissue_labels: Mapping[str, tuple[int, ...]]
) -> dict[str, np.ndarray]:
    """Masks of the tissues in `NON_CONTRAST_HU` from a label map (tissue -> its label values)."""
    masks = {}
    for tissue, values in tissue_labels.items():
        mask = np.isin(labels, np.asarray(values))
        if int(mask.sum()) >= MIN_VOXELS:
            masks[tissue] = mask
    return masks


def toward_non_contrast(
    image: np.ndarray,
    tissues: Tissues,
    degree: float,
    targets: Mapping[str, float],
) -> np.ndarray:
    """`image` with each tissue moved `degree` (0: unchanged, 1: all the way) from its
    median toward its target HU; tissues without a target stay as they are."""
    offsets = np.zeros(image.shape, dtype=np.float32)
    for tissue, mask in tissues.items():
        if tissue not in targets:
            continue
        values = image[mask]
        median = float(np.median(values[:: max(1, values.size // 20000)]))
        offsets[mask] = np.float32(degree * (targets[tissue] - median))
    ndimage.gaussian_filter(offsets, sigma=0.6, output=offsets, truncate=2.0)
    return image + offsets


def draw_targets(
    rng: np.random.Generator, ranges: Mapping[str, tuple[float, float]]
) -> dict[str, float]:
    """One target per tissue, in a fixed (sorted) order so the draws do not depend on dict order."""
    return {t: float(rng.uniform(*ranges[t])) for t in sorted(ranges)}


PHANTOM_TISSUES: dict[str, tuple[str, ...]] = {
    "liver": ("liver",),
    "blood": ("portal_vein", "hepatic_veins", "inferior_vena_cava", "aorta", "heart"),
    "spleen": ("spleen",),
    "kidney": ("kidney_right", "kidney_left"),
    "pancreas": ("pancreas",),
}
"""The phantom's label names per tissue (sources.phantom.labels.LABELS)."""

TOTALSEG_TISSUES: dict[str, tuple[int, ...]] = {
    "liver": (5,),
    "blood": (51, 52, 63, 64),
    "spleen": (1,),
    "kidney": (2, 3),
    "pancreas": (7,),
}
"""TotalSegmentator v2 "total" label values per tissue (51 heart, 52 aorta, 63 IVC, 64 portal
and splenic vein)."""


def phantom_tissue_labels() -> dict[str, tuple[int, ...]]:
    from robustbench_liver.sources.phantom.labels import LABELS

    return {t: tuple(LABELS[n] for n in names) for t, names in PHANTOM_TISSUES.items()}


__all__ = [
    "NON_CONTRAST_HU",
    "TOTALSEG_TISSUES",
    "draw_targets",
    "phantom_tissue_labels",
    "tissue_masks",
    "toward_non_contrast",
]
