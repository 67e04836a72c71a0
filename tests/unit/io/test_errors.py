"""Every way a scan can be broken gives a DataError that names the file."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
import pytest

from robustbench_liver.errors import DataError
from robustbench_liver.io import load_scan, save_nifti

AFFINE = np.diag([1.5, 1.5, 2.5, 1.0])


@pytest.fixture
def pair(tmp_path):
    """A small valid image + label pair, written with save_nifti."""
    image = np.full((12, 10, 8), 100.0, dtype=np.float32)
    labels = np.zeros((12, 10, 8), dtype=np.uint8)
    labels[3:9, 3:7, 2:6] = 1
    return (
        save_nifti(tmp_path / "patient7.nii.gz", image, AFFINE),
        save_nifti(tmp_path / "lab.nii.gz", labels, AFFINE, kind="label"),
        image,
        labels,
    )


def _raises(match: str, path_part: str, **kwargs):
    with pytest.raises(DataError, match=match) as info:
        load_scan(**kwargs)
    assert path_part in str(info.value)
    return info.value


def test_valid_pair_loads(pair):
    image_path, label_path, image, labels = pair
    scan = load_scan(image_path, labels=label_path)
    assert scan.shape == image.shape and int(scan.liver.sum()) == int(labels.sum())
    assert scan.id == "patient7"


def test_missing_file(tmp_path):
    _raises("not found", "nope.nii.gz", image_path=tmp_path / "nope.nii.gz", labels=None)


def test_unreadable_file(tmp_path, pair):
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"this is not a nifti file at all" * 10)
    _raises("unreadable", "broken.nii.gz", image_path=bad, labels=pair[1])


def test_truncated_file(tmp_path, pair):
    bad = tmp_path / "cut.nii"
    nib.save(nib.Nifti1Image(pair[2], AFFINE), bad)
    bad.write_bytes(bad.read_bytes()[:600])
    with pytest.raises(DataError, match=r"cut\.nii"):
        load_scan(bad, labels=pair[1])


def test_not_nifti_suffix(tmp_path, pair):
    other = tmp_path / "scan.mha"
    other.write_bytes(b"x")
    _raises("not a NIfTI", "scan.mha", image_path=other, labels=pair[1])


def test_no_mask_given(pair):
    _raises("no liver mask", "patient7.nii.gz", image_path=pair[0])


def test_shape_mismatch(tmp_path, pair):
    labels = save_nifti(tmp_path / "small.nii.gz", pair[3][:, :, :5], AFFINE, kind="label")
    _raises("does not match", "small.nii.gz", image_path=pair[0], labels=labels)


def test_affine_mismatch(tmp_path, pair):
    shifted = AFFINE.copy()
    shifted[0, 3] = 4.0
    labels = save_nifti(tmp_path / "moved.nii.gz", pair[3], shifted, kind="label")
    _raises("affine", "moved.nii.gz", image_path=pair[0], labels=labels)


def test_liver_label_absent(pair):
    err = _raises(
        "liver_label=6 does not occur",
        "lab.nii.gz",
        image_path=pair[0],
        labels=pair[1],
        liver_label=6,
    )
    assert "values present: 0, 1" in str(err)


def test_empty_liver_mask(tmp_path, pair):
    mask = save_nifti(tmp_path / "empty.nii.gz", np.zeros_like(pair[3]), AFFINE, kind="label")
    _raises("empty", "empty.nii.gz", image_path=pair[0], liver=mask)


def test_non_binary_liver_mask(tmp_path, pair):
    mask = save_nifti(tmp_path / "multi.nii.gz", pair[3] * 3, AFFINE, kind="label")
    _raises("not binary", "multi.nii.gz", image_path=pair[0], liver=mask)


def test_non_finite_voxels(tmp_path, pair):
    image = pair[2].copy()
    image[1, 1, 1] = np.nan
    path = save_nifti(tmp_path / "nan.nii.gz", image, AFFINE, kind="float")
    _raises("non-finite", "nan.nii.gz", image_path=path, labels=pair[1])


def test_2d_image(tmp_path, pair):
    path = tmp_path / "flat.nii.gz"
    nib.save(nib.Nifti1Image(pair[2][:, :, 0], AFFINE), path)
    _raises("3D volume, got 2D", "flat.nii.gz", image_path=path, labels=pair[1])


def test_4d_image(tmp_path, pair):
    path = tmp_path / "time.nii.gz"
    nib.save(nib.Nifti1Image(np.stack([pair[2]] * 3, axis=-1), AFFINE), path)
    _raises("got 4D", "time.nii.gz", image_path=path, labels=pair[1])


def test_trailing_singleton_dimension_is_accepted(tmp_path, pair):
    path = tmp_path / "one.nii.gz"
    nib.save(nib.Nifti1Image(pair[2][..., None], AFFINE), path)
    assert load_scan(path, labels=pair[1]).shape == pair[2].shape


def test_vessel_labels_need_a_label_map(tmp_path, pair):
    mask = save_nifti(tmp_path / "liver.nii.gz", pair[3], AFFINE, kind="label")
    _raises(
        "vessel_labels need", "patient7.nii.gz", image_path=pair[0], liver=mask, vessel_labels=(2,)
    )


def test_empty_dicom_folder(tmp_path):
    folder = tmp_path / "series"
    folder.mkdir()
    (folder / "readme.txt").write_text("no slices here")
    _raises("no DICOM series", "series", image_path=folder, labels=None, liver=folder)


def test_broken_copy_of_real_dicom_labels(tmp_path, shared_data):
    """A real scan with labels from another scan: the geometry check catches it."""
    labels = tmp_path / "labels.nii.gz"
    shutil.copy(shared_data / "totalseg-small" / "labels.nii.gz", labels)
    with pytest.raises(DataError, match="does not match"):
        load_scan(shared_data / "totalseg-full" / "ct.nii.gz", labels=labels, liver_label=5)
