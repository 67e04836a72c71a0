"""save_nifti writes what read_volume reads back, with the right dtype and geometry."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from robustbench_liver.errors import DataError
from robustbench_liver.io import read_volume, save_nifti


def test_image_round_trip_as_int16(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.normal(50, 30, (6, 5, 4)).astype(np.float32)
    affine = np.diag([0.8, 0.8, 2.5, 1.0])
    path = save_nifti(tmp_path / "ct.nii.gz", image, affine)
    assert nib.load(path).get_data_dtype() == np.int16
    volume = read_volume(path)
    np.testing.assert_array_equal(volume.array, np.rint(image).astype(np.int16))
    np.testing.assert_allclose(volume.affine, affine)
    assert volume.spacing == pytest.approx((0.8, 0.8, 2.5))


def test_label_round_trip_as_uint8(tmp_path):
    labels = np.zeros((4, 4, 4), dtype=np.int64)
    labels[1, 1, 1] = 2
    path = save_nifti(tmp_path / "lab.nii", labels, np.eye(4), kind="label")
    assert nib.load(path).get_data_dtype() == np.uint8
    np.testing.assert_array_equal(read_volume(path).array, labels)


def test_reorientation_to_ras(tmp_path):
    """An LPS-stored volume reads back flipped into RAS with the same world positions."""
    data = np.arange(4 * 3 * 2, dtype=np.int16).reshape(4, 3, 2)
    lps = np.diag([-2.0, -2.0, 3.0, 1.0])
    path = tmp_path / "lps.nii.gz"
    nib.save(nib.Nifti1Image(data, lps), path)
    volume = read_volume(path)
    assert np.all(np.diag(volume.affine)[:3] > 0)
    np.testing.assert_array_equal(volume.array, data[::-1, ::-1, :])
    # voxel (0,0,0) of the RAS array is the old voxel (3,2,0): same world point
    np.testing.assert_allclose(volume.affine @ [0, 0, 0, 1], lps @ [3, 2, 0, 1])


def test_bad_label_values(tmp_path):
    with pytest.raises(DataError, match="whole numbers"):
        save_nifti(tmp_path / "l.nii.gz", np.full((2, 2, 2), 0.5), np.eye(4), kind="label")
    with pytest.raises(DataError, match=r"0\.\.255"):
        save_nifti(tmp_path / "l.nii.gz", np.full((2, 2, 2), 300), np.eye(4), kind="label")


def test_bad_suffix(tmp_path):
    with pytest.raises(DataError, match=r"\.nii"):
        save_nifti(tmp_path / "l.png", np.zeros((2, 2, 2)), np.eye(4))
