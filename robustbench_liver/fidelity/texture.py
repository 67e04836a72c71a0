"""Grey-level co-occurrence (GLCM) texture of a lesion, with scikit-image.

pyradiomics would be the field's reference, but it does not install cleanly on Python 3.11
here: it ships no wheels, the 3.1.0 source archive's metadata says 3.0.1a1 (pip refuses it)
and the 3.0.1 build imports numpy before declaring it. scikit-image's `graycomatrix` is 2D,
so the matrix is summed over the lesion's axial slices and four in-plane directions
(0°, 45°, 90°, 135°) at a distance of one voxel, symmetric. HU are binned in 25 HU bins
(pyradiomics' default bin width) from the local parenchyma level - 200 HU to + 200 HU,
values outside clipped to the end bins; voxels outside the lesion get a level of their own
whose pairs are dropped, so only pairs of two lesion voxels count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from skimage.feature import graycomatrix

from robustbench_liver.fidelity.view import LesionView

BIN_HU = 25.0
HALF_WINDOW_HU = 200.0
LEVELS = int(2 * HALF_WINDOW_HU / BIN_HU)
ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)


@dataclass(frozen=True)
class Glcm:
    contrast_hu2: float
    """Σ P(i,j) (i-j)² in squared bins, times the bin width²: the mean squared HU difference
    of neighbouring lesion voxels, at 25 HU resolution."""
    homogeneity: float
    """Σ P(i,j) / (1 + (i-j)²) (scikit-image's definition)."""


def cooccurrence(view: LesionView) -> np.ndarray:
    """LEVELS x LEVELS count matrix of in-plane neighbour pairs inside the lesion."""
    centre = view.parenchyma_hu
    if not math.isfinite(centre):
        centre = float(np.median(view.image[view.lesion]))
    binned = np.floor((view.image - (centre - HALF_WINDOW_HU)) / BIN_HU)
    levels = (np.clip(binned, 0, LEVELS - 1) + 1).astype(np.uint8)
    levels[~view.lesion] = 0
    total = np.zeros((LEVELS + 1, LEVELS + 1), dtype=np.float64)
    for z in np.flatnonzero(view.lesion.any(axis=(0, 1))):
        plane = levels[:, :, z]
        if np.count_nonzero(plane) < 2:
            continue
        counts = graycomatrix(plane, [1], list(ANGLES), levels=LEVELS + 1, symmetric=True)
        total += counts[:, :, 0, :].sum(axis=-1)
    return total[1:, 1:]


def glcm_features(view: LesionView) -> Glcm:
    """Contrast (HU²) and homogeneity of the lesion's co-occurrence matrix (NaN when no two
    lesion voxels are in-plane neighbours)."""
    counts = cooccurrence(view)
    n = counts.sum()
    if n == 0:
        return Glcm(math.nan, math.nan)
    p = counts / n
    i, j = np.indices(p.shape)
    square = (i - j) ** 2
    return Glcm(
        contrast_hu2=float((p * square).sum()) * BIN_HU**2,
        homogeneity=float((p / (1.0 + square)).sum()),
    )
