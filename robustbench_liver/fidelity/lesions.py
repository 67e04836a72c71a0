"""Lesions of a scan and their features: the real lesions from a tumor mask, the synthetic
ones from a synthesized case, both measured by one function."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from robustbench_liver.fidelity.features import lesion_features
from robustbench_liver.fidelity.location import LiverFrame, liver_frame, location
from robustbench_liver.fidelity.view import crop_view, vessel_threshold
from robustbench_liver.types import Case, Scan

CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)
"""Lesions are 26-connected components (DESIGN.md §6)."""
MIN_DIAMETER_VOXELS = 2.0
"""Default smallest lesion measured: an equivalent diameter of two of the scan's largest
voxel sizes. Below it a lesion has no interior, edge or shape to measure."""


@dataclass(frozen=True, eq=False)
class ScanFrame:
    """One scan with what every lesion in it is measured against."""

    scan: Scan
    """The image, its tumor-free liver (the base for synthesis) and its vessel mask."""
    tumors: np.ndarray
    """bool: the scan's own tumor voxels (real lesions; all False for a healthy scan)."""
    threshold_hu: float
    """The vessel threshold T of the tumor-free liver (`view.vessel_threshold`)."""
    liver: LiverFrame
    """The whole organ (liver and tumors): depth, bounding box, regions."""


def scan_frame(scan: Scan, tumors: np.ndarray | None = None) -> ScanFrame:
    tumors = np.zeros(scan.shape, dtype=bool) if tumors is None else np.asarray(tumors, bool)
    liver = np.asarray(scan.liver) & ~tumors
    return ScanFrame(
        scan=scan,
        tumors=tumors,
        threshold_hu=vessel_threshold(scan.image, liver, scan.spacing),
        liver=liver_frame(scan, liver | tumors),
    )


@dataclass(frozen=True)
class Lesion:
    """A real lesion: a component of the scan's tumor mask."""

    scan_id: str
    number: int
    """Component number (raster order of `ndimage.label`, from 1)."""
    voxels: int
    radius_mm: float
    measured: bool
    """Large enough to measure (`MIN_DIAMETER_VOXELS`)."""

    @property
    def name(self) -> str:
        return f"{self.scan_id}#{self.number}"


def find_lesions(
    frame: ScanFrame, min_diameter_voxels: float = MIN_DIAMETER_VOXELS
) -> tuple[np.ndarray, list[Lesion]]:
    """The scan's tumor components (label array) and a Lesion for each."""
    labelled, count = ndimage.label(frame.tumors, structure=CONNECTIVITY)
    sizes = np.bincount(labelled.ravel(), minlength=count + 1)
    voxel = math.prod(frame.scan.spacing)
    smallest = min_diameter_voxels * max(frame.scan.spacing)
    lesions = []
    for number in range(1, count + 1):
        radius = (3.0 * sizes[number] * voxel / (4.0 * math.pi)) ** (1.0 / 3.0)
        lesions.append(
            Lesion(
                scan_id=frame.scan.id,
                number=number,
                voxels=int(sizes[number]),
                radius_mm=float(radius),
                measured=2.0 * radius >= smallest - 1e-9,
            )
        )
    return np.asarray(labelled), lesions


def measure(
    frame: ScanFrame, image: np.ndarray, lesion: np.ndarray, liver: np.ndarray
) -> dict[str, Any]:
    """Every feature of one lesion (bool, full volume) of `image`; `liver` holds no tumor."""
    view = crop_view(
        image,
        lesion,
        liver,
        frame.scan.spacing,
        frame.threshold_hu,
        vessels=frame.scan.vessels,
    )
    row: dict[str, Any] = {"voxels": int(view.lesion.sum())}
    row.update(lesion_features(view))
    row.update(location(frame.liver, lesion))
    return row


def measure_real(frame: ScanFrame, labelled: np.ndarray, lesion: Lesion) -> dict[str, Any]:
    """Features of a real lesion; the parenchyma leaves out every tumor of the scan."""
    liver = np.asarray(frame.scan.liver) & ~frame.tumors
    return measure(frame, frame.scan.image, labelled == lesion.number, liver)


def measure_synthetic(frame: ScanFrame, case: Case) -> dict[str, Any] | None:
    """Features of the one synthetic tumor of `case` (painted into `frame.scan`); None when
    it left no voxel in the label (too small for the grid)."""
    lesion = case.label == 2
    if not lesion.any():
        return None
    liver = (case.label == 1) & ~frame.tumors
    return measure(frame, case.image, lesion, liver)
