"""Step 7: the capsule, a brighter rim at the tumor's edge.

Hu et al. (CVPR 2023, Sec. 3.1 "post-processing"): the edge band e = 1[lb < t'' < ub] of the
blurred tumor mask is brightened by d HU. With a hard edge (no edge blur) the band is
empty, so the capsule needs the edge blur step.
"""

from __future__ import annotations

import numpy as np


def capsule_band(blurred: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """e = 1[lb < t'' < ub] as a bool mask."""
    lb, ub = band
    return (blurred > np.float32(lb)) & (blurred < np.float32(ub))


def add_capsule(image: np.ndarray, band_mask: np.ndarray, weight: np.ndarray, hu: float) -> None:
    """Add `hu` to `image` where the band is on, scaled by `weight` (the liver mask), in place."""
    if hu == 0:
        return
    image += np.float32(hu) * (band_mask * weight)
