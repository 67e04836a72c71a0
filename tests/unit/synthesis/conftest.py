"""Scans for the synthesis tests: a tiny anisotropic phantom built here, the real
totalseg-full scan (3 mm), and the built-in phantom when it is installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robustbench_liver.types import Scan


def make_small_scan(
    shape: tuple[int, int, int] = (96, 88, 48),
    spacing: tuple[float, float, float] = (1.5, 1.5, 2.5),
    seed: int = 0,
    vessels: bool = True,
    scan_id: str = "small",
) -> Scan:
    """An ellipsoid liver (100 HU, noise 12 HU) with two bright tubes, on an anisotropic grid."""
    rng = np.random.default_rng(seed)
    sx, sy, sz = spacing
    x = (np.arange(shape[0]) - shape[0] / 2) * sx
    y = (np.arange(shape[1]) - shape[1] / 2) * sy
    z = (np.arange(shape[2]) - shape[2] / 2) * sz
    X, Y, Z = np.meshgrid(x, y, z, indexing="ij", sparse=True)
    liver = (X / 62.0) ** 2 + (Y / 55.0) ** 2 + (Z / 50.0) ** 2 <= 1.0
    tube1 = ((X - 15.0) ** 2 + (Y + 10.0) ** 2 <= 4.0**2) & np.ones_like(Z, dtype=bool)
    tube2 = ((Y - 20.0) ** 2 + (Z - 5.0) ** 2 <= 3.0**2) & np.ones_like(X, dtype=bool)
    vessel = (tube1 | tube2) & liver
    image = np.full(shape, -90.0, dtype=np.float32)
    image[liver] = 100.0
    image[vessel] = 190.0
    image += rng.normal(0.0, 12.0, size=shape).astype(np.float32)
    affine = np.diag([sx, sy, sz, 1.0])
    return Scan(
        image=image,
        spacing=spacing,
        liver=liver,
        affine=affine,
        id=scan_id,
        vessels=vessel if vessels else None,
    )


@pytest.fixture(scope="session")
def small_scan() -> Scan:
    return make_small_scan()


@pytest.fixture(scope="session")
def full_scan(shared_data: Path) -> Scan:
    """totalseg-full: 3 mm voxels, liver 5, portal vein 64 and cava 63 as vessels."""
    from robustbench_liver.io import load_scan

    folder = shared_data / "totalseg-full"
    return load_scan(
        folder / "ct.nii.gz", labels=folder / "labels.nii.gz", liver_label=5, vessel_labels=(64, 63)
    )


@pytest.fixture(scope="session")
def dicom_scan(shared_data: Path) -> Scan:
    """totalseg-dicom: 0.98 x 0.98 x 2 mm, 20 slices."""
    from robustbench_liver.io import load_scan

    folder = shared_data / "totalseg-dicom"
    return load_scan(
        folder / "dicom", labels=folder / "labels.nii.gz", liver_label=5, vessel_labels=(64, 63)
    )


@pytest.fixture(scope="session")
def phantom_scan() -> Scan:
    phantom = pytest.importorskip("robustbench_liver.sources.phantom")
    return phantom.make_phantom(0)
