"""Step 1: the vessel mask that tumor centres must keep clear of.

Hu et al. (CVPR 2023, Sec. 3.1 "location selection") smooth the CT, f' = f * g(sigma_a),
and call vessel what is brighter than a threshold set slightly above the mean liver HU:
v = 1[f' > T] (.) l, T = mean + b. In portal-venous scans that picks the enhancing hepatic
and portal veins; in non-contrast scans vessels are darker than the parenchyma and the
threshold finds little (use the scan's own mask there). When a source ships a vessel mask
(the phantom, TotalSegmentator labels) it is used; "auto" joins it with the threshold mask.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from robustbench_liver.errors import SynthesisError
from robustbench_liver.types import Scan


def resolve_source(scan: Scan, source: str) -> str:
    """The vessel source actually used.

    auto -> union (the scan's mask and the threshold) when the scan has a mask, else
    threshold. A source's mask can be partial: TotalSegmentator's "total" task labels the
    portal and splenic veins and the cava, while the hepatic veins stay inside the liver
    label; in a contrast scan the threshold adds them (in a non-contrast scan it adds next
    to nothing).
    """
    if source == "auto":
        return "union" if scan.vessels is not None else "threshold"
    if source in ("scan", "union") and scan.vessels is None:
        raise SynthesisError(
            f"scan {scan.id!r}: vessel_source={source!r} needs the scan's own vessel mask, "
            "and this scan has none (use 'threshold' or 'auto', or load vessel labels)"
        )
    return source


def threshold_vessels(
    image: np.ndarray,
    liver: np.ndarray,
    spacing: tuple[float, float, float],
    sigma_mm: float,
    margin_hu: float,
    box: tuple[slice, slice, slice],
) -> tuple[np.ndarray, float]:
    """Vessel mask inside `box` by the smoothed-CT threshold; returns (mask over box, T).

    Smoothing (truncated at 3 sigma) runs on the box grown by 3 sigma, so the result equals
    smoothing the whole volume, at a fraction of the cost.
    """
    sigma_vox = np.asarray([sigma_mm / s for s in spacing])
    pad = np.ceil(3 * sigma_vox).astype(int)
    grown = tuple(
        slice(max(0, b.start - p), min(n, b.stop + p))
        for b, p, n in zip(box, pad, image.shape, strict=True)
    )
    inner = tuple(
        slice(b.start - g.start, b.stop - g.start) for b, g in zip(box, grown, strict=True)
    )
    region = np.asarray(image[grown], dtype=np.float32)
    smooth = ndimage.gaussian_filter(region, sigma_vox, truncate=3.0) if sigma_mm > 0 else region
    smooth = smooth[inner]
    liver_box = liver[box]
    threshold = float(smooth[liver_box].mean()) + float(margin_hu)
    return (smooth > threshold) & liver_box, threshold
