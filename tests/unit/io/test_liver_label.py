"""Which value of a label map is the liver, and whether the liver looks like one."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from robustbench_liver.errors import DataError
from robustbench_liver.io import load_scan, save_nifti
from robustbench_liver.io.scan import LiverMaskWarning

SPACING = 3.0
AFFINE = np.diag([SPACING, SPACING, SPACING, 1.0])
SHAPE = (48, 48, 48)  # 144 mm along each axis: room for a whole liver


def _write(tmp_path, labels: np.ndarray, liver_hu: float = 60.0, name: str = "case"):
    """A CT at -100 HU with `liver_hu` wherever `labels` is 5 (or 1 when 5 is absent)."""
    image = np.full(labels.shape, -100.0, dtype=np.float32)
    image[labels == (5 if (labels == 5).any() else 1)] = liver_hu
    folder = tmp_path / name
    return (
        save_nifti(folder / "ct.nii.gz", image, AFFINE),
        save_nifti(folder / "labels.nii.gz", labels, AFFINE, kind="label"),
    )


def _totalseg_like(liver_voxels_side: int = 30) -> np.ndarray:
    """Spleen 1, kidneys 2/3, liver 5, aorta 52, portal vein 64 (TotalSegmentator numbers)."""
    labels = np.zeros(SHAPE, dtype=np.uint8)
    n = liver_voxels_side
    labels[4 : 4 + n, 4 : 4 + n, 8 : 8 + n] = 5  # 30^3 voxels of 27 mm^3: 0.73 l
    labels[36:46, 10:40, 10:38] = 1  # 0.23 l
    labels[36:40, 4:8, 10:16] = 2
    labels[40:44, 4:8, 10:16] = 3
    labels[20:22, 40:42, 5:40] = 52
    labels[10:12, 40:42, 20:25] = 64
    return labels


def test_totalseg_map_without_liver_label_reads_label_5_and_says_so(tmp_path):
    image, labels = _write(tmp_path, _totalseg_like())
    with pytest.warns(LiverMaskWarning, match=r"scan case: .*liver = 5 \(TotalSegmentator"):
        scan = load_scan(image, labels=labels)
    assert int(scan.liver.sum()) == 30**3  # the liver, not the spleen (label 1)
    assert scan.provenance["liver_label"] == 5


def test_explicit_spleen_label_on_a_totalseg_map_is_warned(tmp_path):
    image, labels = _write(tmp_path, _totalseg_like())
    with pytest.warns(LiverMaskWarning) as caught:
        scan = load_scan(image, labels=labels, liver_label=1)
    text = " ".join(str(w.message) for w in caught)
    assert "TotalSegmentator" in text and "liver_label: 5" in text
    assert "implausible" in text  # 0.23 l at -100 HU, also named by the plausibility check
    assert int(scan.liver.sum()) == 10 * 30 * 28


def test_binary_and_lits_maps_read_label_1(tmp_path):
    labels = np.zeros(SHAPE, dtype=np.uint8)
    labels[4:34, 4:34, 8:38] = 1
    image, path = _write(tmp_path, labels, name="binary")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a binary mask needs no word
        assert int(load_scan(image, labels=path).liver.sum()) == 30**3
    labels[10:14, 10:14, 10:14] = 2
    image, path = _write(tmp_path, labels, name="lits")
    with pytest.warns(LiverMaskWarning, match="LiTS/MSD"):
        assert load_scan(image, labels=path).provenance["liver_label"] == 1


def test_unknown_layout_asks_for_liver_label(tmp_path):
    labels = np.zeros(SHAPE, dtype=np.uint8)
    for value in range(1, 14):  # BTCV: 13 organs, liver 6
        labels[3 * value : 3 * value + 2, 4:10, 4:10] = value
    image, path = _write(tmp_path, labels)
    with pytest.raises(DataError, match="which value is the liver") as info:
        load_scan(image, labels=path)
    assert "liver_label" in str(info.value) and "labels.nii.gz" in str(info.value)


def test_small_whole_liver_is_warned_with_volume_and_hu(tmp_path):
    image, labels = _write(tmp_path, _totalseg_like(liver_voxels_side=20))  # 0.22 l
    with pytest.warns(LiverMaskWarning, match=r"scan case: the liver looks implausible") as got:
        load_scan(image, labels=labels, liver_label=5)
    message = str(got[-1].message)
    assert "0.22 l" in message and "mean 60 HU" in message and "liver_label:" in message


def test_liver_of_air_is_warned(tmp_path):
    image, labels = _write(tmp_path, _totalseg_like(), liver_hu=-600.0)
    with pytest.warns(LiverMaskWarning, match=r"mean HU outside.*mean -600 HU"):
        load_scan(image, labels=labels, liver_label=5)


def test_absurd_liver_volume_stops(tmp_path):
    image, labels = _write(tmp_path, _totalseg_like(liver_voxels_side=10))  # 0.03 l, whole
    with pytest.raises(DataError, match=r"scan case: the liver mask is 0.03 l"):
        load_scan(image, labels=labels, liver_label=5)


def test_partial_liver_is_not_judged_by_its_small_volume(tmp_path):
    labels = _totalseg_like(liver_voxels_side=10)
    labels[labels == 5] = 0
    labels[4:14, 4:14, 0:10] = 5  # cut by the first slice: a crop of a larger liver
    image, path = _write(tmp_path, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert int(load_scan(image, labels=path, liver_label=5).liver.sum()) == 1000


@pytest.mark.parametrize(
    ("folder", "image"),
    [("totalseg-small", "ct.nii.gz"), ("totalseg-full", "ct.nii.gz"), ("totalseg-dicom", "dicom")],
)
def test_real_crops_raise_no_plausibility_warning(shared_data, folder, image):
    """Real scans cover part of the liver (30, 43 and 20 slices of it): no false alarm."""
    base = shared_data / folder
    with warnings.catch_warnings():
        warnings.simplefilter("error", LiverMaskWarning)
        scan = load_scan(base / image, labels=base / "labels.nii.gz", liver_label=5)
    assert scan.liver.any()


def test_real_totalseg_scan_without_liver_label_is_its_liver(shared_data):
    base = shared_data / "totalseg-small"
    with pytest.warns(LiverMaskWarning, match="totalseg-small.*liver = 5"):
        scan = load_scan(base / "ct.nii.gz", labels=base / "labels.nii.gz")
    assert int(scan.liver.sum()) == 38_634
