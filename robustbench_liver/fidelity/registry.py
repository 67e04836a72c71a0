"""The per-lesion features of the fidelity check: one table that the measuring code, the
comparison, the classifier and the report all read (name, unit, definition, use)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Feature:
    """One per-lesion feature."""

    name: str
    """Column name in lesions.csv."""
    label: str
    """Short label for tables and plots."""
    unit: str
    """'mm', 'HU', 'HU^2', '' (a ratio or share)."""
    definition: str
    """What it measures, in one sentence (printed in the report)."""
    classify: bool = True
    """Used by the classifier two-sample test. Off for the matching variable (radius: the
    synthetic tumors are made to match it) and for the position in the liver's box (the
    synthetic tumors go where the real ones are not, so position is different by design)."""


FEATURES: tuple[Feature, ...] = (
    Feature(
        "radius_mm",
        "equivalent radius",
        "mm",
        "(3V/4π)^(1/3) of the lesion's voxels: the size the synthetic tumors are matched to "
        "(a check of the matching, not a fidelity feature)",
        classify=False,
    ),
    Feature(
        "contrast_hu",
        "contrast vs parenchyma",
        "HU",
        "mean HU of the lesion minus the median HU of the local parenchyma (liver 5-15 mm "
        "outside the lesion, vessels and other tumors left out)",
    ),
    Feature(
        "internal_sd_hu",
        "internal SD",
        "HU",
        "standard deviation of HU over the lesion's core (voxels more than 2 mm from the "
        "nearest voxel outside it)",
    ),
    Feature(
        "texture_sd_hu",
        "texture SD (1.5 mm blur)",
        "HU",
        "standard deviation over the core after a 1.5 mm Gaussian blur taken within the "
        "lesion: heterogeneity coarser than the voxel noise",
    ),
    Feature(
        "hyperdense_share",
        "hyperdense share",
        "",
        "share of the core brighter than the local parenchyma by more than 100 HU "
        "(calcification-like; on a portal-venous liver about the share above 200 HU)",
    ),
    Feature(
        "noise_ratio",
        "noise inside / parenchyma",
        "",
        "SD of the high-pass image (image minus its Gaussian blur with σ = max(1.5 mm, one "
        "voxel), taken within the lesion) over the core, divided by the same (blur within the "
        "liver tissue) over the local parenchyma",
    ),
    Feature(
        "edge_rise_mm",
        "edge rise 10-90 %",
        "mm",
        "distance over which the radial profile (mean HU against signed distance from the "
        "lesion's surface, made monotone) goes from 10 % to 90 % of the way from the core "
        "level to the parenchyma level",
    ),
    Feature(
        "edge_sigma_mm",
        "edge σ",
        "mm",
        "σ of an error-function edge fitted to the same profile (a Gaussian-blurred step; "
        "10-90 % rise = 2.56 σ)",
    ),
    Feature(
        "edge_offset_mm",
        "edge midpoint offset",
        "mm",
        "where the fitted edge's midpoint lies relative to the annotated surface "
        "(< 0: inside the label)",
    ),
    Feature(
        "rim_hu",
        "rim",
        "HU",
        "mean HU of the liver in the shell just outside the lesion (0 to max(3 mm, one voxel)) "
        "minus the local parenchyma: > 0 a bright rim or capsule",
    ),
    Feature(
        "glcm_contrast_hu2",
        "GLCM contrast",
        "HU^2",
        "in-plane grey-level co-occurrence contrast of the lesion (scikit-image, distance 1 "
        "voxel, 4 directions, 25 HU bins from the parenchyma level - 200 HU), in HU²",
    ),
    Feature(
        "glcm_homogeneity",
        "GLCM homogeneity",
        "",
        "homogeneity Σ P(i,j)/(1+(i-j)²) of the same co-occurrence matrix",
    ),
    Feature(
        "sphericity",
        "sphericity",
        "",
        "π^(1/3)(6V)^(2/3)/A of the lesion's marching-cubes surface (1 for a ball)",
    ),
    Feature(
        "vessel_distance_mm",
        "distance to vessels",
        "mm",
        "distance from the lesion to the nearest vessel voxel (the scan's vessel labels, or "
        "liver voxels whose 2 mm-smoothed HU exceeds the mean liver HU + 20), capped at 30 mm",
    ),
    Feature(
        "depth_mm",
        "depth under the liver surface",
        "mm",
        "distance from the lesion's centroid to the nearest voxel outside the liver (tumors "
        "count as liver; the edge of the field of view does not count)",
    ),
    Feature(
        "position_lr",
        "position right→left",
        "",
        "centroid's place in the liver's bounding box from its right (0) to its left (1) edge",
        classify=False,
    ),
    Feature(
        "position_si",
        "position inferior→superior",
        "",
        "centroid's place in the liver's bounding box from its inferior (0) to its superior "
        "(1) edge",
        classify=False,
    ),
)

BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}
NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
CLASSIFIER_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.classify)


def axis_label(name: str) -> str:
    """'contrast vs parenchyma (HU)'."""
    feature = BY_NAME[name]
    return f"{feature.label} ({feature.unit})" if feature.unit else feature.label
