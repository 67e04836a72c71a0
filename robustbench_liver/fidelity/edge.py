"""The lesion's edge: the radial intensity profile from its core to the parenchyma.

Profile: every lesion voxel and every parenchyma voxel (liver, not vessel, no other tumor)
up to 15 mm outside the surface, as (signed distance to the surface, HU), normalised so that
the core level (median HU of the lesion's inner half by depth) is 0 and the parenchyma
level (median of the 5-15 mm ring) is 1, averaged in bins of a quarter of the smallest
voxel size and made monotone (weighted isotonic regression): noise and vessels then cannot
cross the 10 % or 90 % level twice.

- rise: distance between the 10 % and the 90 % crossings (a Gaussian-blurred step of σ
  gives 2.563 σ);
- σ and offset: an error-function edge Φ((d - offset) / σ) fitted to the binned profile by
  weighted least squares; offset < 0 means the edge's midpoint lies inside the label.

All three are NaN when the lesion's contrast is below `MIN_CONTRAST_HU` (no edge to find),
when a level is missing, or when the profile does not cross 10 % and 90 % in range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special
from sklearn.isotonic import IsotonicRegression

from robustbench_liver.fidelity.view import RING_MM, LesionView

MIN_CONTRAST_HU = 10.0
RISE_LEVELS = (0.1, 0.9)
GAUSSIAN_RISE = 2.0 * math.sqrt(2.0) * float(special.erfinv(0.8))
"""10-90 % rise of an error-function edge, in units of its σ (2.563)."""


@dataclass(frozen=True)
class EdgeFit:
    rise_mm: float
    sigma_mm: float
    offset_mm: float


NO_EDGE = EdgeFit(math.nan, math.nan, math.nan)


def radial_profile(view: LesionView) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Binned normalised profile: bin centres (mm), mean normalised level, voxel counts."""
    low, high = view.core_hu, view.parenchyma_hu
    select = (view.lesion | view.tissue) & (view.signed_mm <= RING_MM[1])
    distance = view.signed_mm[select]
    level = (view.image[select] - low) / (high - low)
    width = max(min(view.spacing) / 4.0, 0.05)
    bins = np.floor(distance / width).astype(np.int64)
    _, index, counts = np.unique(bins, return_inverse=True, return_counts=True)
    centres = np.bincount(index, weights=distance) / counts
    means = np.bincount(index, weights=level) / counts
    return centres, means, counts.astype(float)


def crossing(x: np.ndarray, y: np.ndarray, level: float) -> float:
    """First x where the non-decreasing y reaches `level` (linear between points); NaN if
    y starts at or above it or never reaches it."""
    above = np.flatnonzero(y >= level)
    if above.size == 0 or above[0] == 0:
        return math.nan
    i = int(above[0])
    y0, y1 = float(y[i - 1]), float(y[i])
    return float(x[i - 1] + (level - y0) / (y1 - y0) * (x[i] - x[i - 1]))


def edge_profile(view: LesionView) -> EdgeFit:
    """Rise (10-90 %), σ and midpoint offset of the edge, in mm (see the module doc)."""
    low, high = view.core_hu, view.parenchyma_hu
    if not (math.isfinite(low) and math.isfinite(high)) or abs(high - low) < MIN_CONTRAST_HU:
        return NO_EDGE
    x, y, w = radial_profile(view)
    if x.size < 3:
        return NO_EDGE
    monotone = IsotonicRegression(increasing=True).fit_transform(x, y, sample_weight=w)
    d10, d90 = (crossing(x, monotone, level) for level in RISE_LEVELS)
    rise = d90 - d10
    if not math.isfinite(rise):
        return NO_EDGE
    sigma, offset = _fit_erf(x, y, w, d10, d90)
    return EdgeFit(rise, sigma, offset)


def _fit_erf(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, d10: float, d90: float
) -> tuple[float, float]:
    root_w = np.sqrt(w)

    def residual(p: np.ndarray) -> np.ndarray:
        return root_w * (special.ndtr((x - p[0]) / p[1]) - y)

    start = np.array([(d10 + d90) / 2.0, max((d90 - d10) / GAUSSIAN_RISE, 0.05)])
    lower, upper = [float(x.min()), 0.01], [float(x.max()), 50.0]
    start = np.clip(start, lower, upper)
    fit = optimize.least_squares(residual, start, bounds=(lower, upper))
    return float(fit.x[1]), float(fit.x[0])
