"""Header checks before any voxel is read: size against the voxel and memory budget and the
file's length, spacing finite and above zero; the budget's override."""

from __future__ import annotations

import struct

import nibabel as nib
import numpy as np
import pytest

from robustbench_liver.errors import DataError
from robustbench_liver.io import read_volume
from robustbench_liver.io import volume as volume_module
from robustbench_liver.io.volume import (
    MAX_VOXELS,
    MAX_VOXELS_ENV,
    check_header,
    check_size,
    check_spacing,
    voxel_budget,
)


def test_the_budget_and_its_override(monkeypatch):
    monkeypatch.delenv(MAX_VOXELS_ENV, raising=False)
    assert voxel_budget() == MAX_VOXELS
    monkeypatch.setenv(MAX_VOXELS_ENV, "2_000_000_000")
    assert voxel_budget() == 2_000_000_000
    monkeypatch.setenv(MAX_VOXELS_ENV, "lots")
    with pytest.raises(DataError, match="must be a positive number of voxels"):
        voxel_budget()


def test_size_within_and_past_the_budget(monkeypatch):
    monkeypatch.setenv(MAX_VOXELS_ENV, "1000")
    check_size((10, 10, 10), 2, "x.nii")
    with pytest.raises(DataError, match=r"x\.nii: the header claims 10 x 10 x 11 = 1,100 voxels"):
        check_size((10, 10, 11), 2, "x.nii")
    with pytest.raises(DataError, match="no voxels"):
        check_size((10, 0, 10), 2, "x.nii")


def test_size_past_the_memory_available(monkeypatch):
    monkeypatch.setattr(volume_module, "_available_bytes", lambda: 1_000_000)
    check_size((50, 50, 50), 2, "x.nii")  # 750 kB
    with pytest.raises(DataError, match="of memory is available"):
        check_size((100, 100, 100), 2, "x.nii")


@pytest.mark.parametrize(
    "spacing", [(0, 1, 1), (1, -1, 1), (1, 1, float("nan")), (float("inf"), 1, 1)]
)
def test_spacing_must_be_finite_and_positive(spacing):
    with pytest.raises(DataError, match="must be finite and above 0"):
        check_spacing(spacing, "x.nii")


def _patched(tmp_path, name: str, *patches: tuple[int, str, tuple[float, ...]]) -> str:
    """A valid 1 mm NIfTI with bytes of its header replaced: (offset, format, values)."""
    path = tmp_path / "ok.nii"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 4), np.int16), np.eye(4)), str(path))
    raw = bytearray(path.read_bytes())
    for offset, fmt, values in patches:
        struct.pack_into(fmt, raw, offset, *values)
    out = tmp_path / name
    out.write_bytes(bytes(raw))
    return str(out)


def test_a_zero_pixdim_is_refused_though_nibabel_would_read_1_mm(tmp_path):
    path = _patched(tmp_path, "zero.nii", (80, "<f", (0.0,)), (252, "<hh", (0, 0)))
    assert nib.load(path).header.get_zooms()[0] == 1.0  # what used to be read, silently
    with pytest.raises(DataError, match=r"pixdim\) gives the voxel spacing \(0, 1, 1\) mm"):
        read_volume(path)


def test_a_flat_sform_is_refused(tmp_path):
    # qform off, sform on, its first row zero: the x axis maps nowhere
    path = _patched(tmp_path, "flat.nii", (252, "<hh", (0, 1)), (280, "<4f", (0.0,) * 4))
    with pytest.raises(DataError, match="not finite or is flat"):
        read_volume(path)


def test_an_uncompressed_file_shorter_than_its_header_says(tmp_path):
    path = _patched(tmp_path, "short.nii", (42, "<h", (400,)))  # dim[1] 8 -> 400
    with pytest.raises(DataError, match="but the file has"):
        read_volume(path)


def test_check_header_reads_no_voxels(tmp_path):
    path = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 4), np.int16), np.eye(4)), str(path))
    check_header(path)
    with pytest.raises(DataError, match="file not found"):
        check_header(tmp_path / "missing.nii.gz")


def test_a_dicom_series_is_checked_before_its_pixels_are_read(shared_data, monkeypatch):
    folder = shared_data / "totalseg-dicom" / "dicom"
    check_header(folder)
    monkeypatch.setenv(MAX_VOXELS_ENV, "1000000")
    with pytest.raises(DataError, match=r"512 x 512 x 20 = 5,242,880 voxels"):
        read_volume(folder)
