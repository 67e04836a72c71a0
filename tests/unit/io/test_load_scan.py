"""load_scan on the three real scans, read in place from ../shared/data."""

from __future__ import annotations

import numpy as np
import pytest

from robustbench_liver.io import load_scan, read_volume
from robustbench_liver.types import Scan

TOTALSEG_LIVER = 5


def _load(shared_data, folder: str, **kwargs) -> Scan:
    base = shared_data / folder
    image = base / ("dicom" if folder == "totalseg-dicom" else "ct.nii.gz")
    return load_scan(image, labels=base / "labels.nii.gz", liver_label=TOTALSEG_LIVER, **kwargs)


def test_small_scan_shape_spacing_and_liver(shared_data):
    scan = _load(shared_data, "totalseg-small")
    assert scan.shape == (122, 101, 30)
    assert scan.spacing == (3.0, 3.0, 3.0)
    assert int(scan.liver.sum()) == 38_634
    assert scan.image.dtype == np.float32
    assert scan.id == "totalseg-small"
    assert scan.liver[:, :, 0].any() and scan.liver[:, :, -1].any()  # liver in all 30 slices


def test_full_scan_liver_slices(shared_data):
    scan = _load(shared_data, "totalseg-full")
    assert scan.shape == (122, 101, 112)
    slices = np.flatnonzero(scan.liver.any(axis=(0, 1)))
    assert (slices.min(), slices.max()) == (69, 111)
    # totalseg-small is slices 82-111 of totalseg-full
    small = _load(shared_data, "totalseg-small")
    np.testing.assert_array_equal(scan.image[:, :, 82:112], small.image)


def test_vessel_labels_become_a_mask(shared_data):
    scan = _load(shared_data, "totalseg-full", vessel_labels=(64, 63))
    assert scan.vessels is not None and scan.vessels.any()
    labels = np.asarray(read_volume(shared_data / "totalseg-full" / "labels.nii.gz").array)
    assert int(scan.vessels.sum()) == int(np.isin(labels, (63, 64)).sum())


def test_dicom_series_aligns_with_its_labels(shared_data):
    scan = _load(shared_data, "totalseg-dicom")
    assert scan.shape == (512, 512, 20)
    np.testing.assert_allclose(scan.spacing, (0.9765625, 0.9765625, 2.0))
    liver_hu = float(scan.image[scan.liver].mean())
    assert 40 < liver_hu < 160  # misaligned labels would average fat and air in
    # the labels' neighbourhood outside the liver is clearly darker than the liver itself
    assert float(np.median(scan.image[~scan.liver])) < liver_hu - 100


def test_canonical_orientation_is_ras(shared_data):
    scan = _load(shared_data, "totalseg-dicom")
    assert np.all(np.diag(scan.affine)[:3] > 0)
    # the liver lies on the patient's right: the high-x half of a RAS array
    xs = np.nonzero(scan.liver)[0]
    assert xs.mean() > scan.shape[0] / 2


def test_scan_arrays_are_read_only(shared_data):
    scan = _load(shared_data, "totalseg-small")
    with pytest.raises(ValueError):
        scan.image[0, 0, 0] = 1.0
    assert len(scan.digest) == 64
