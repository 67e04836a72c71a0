"""DICOM series folders via SimpleITK (which also decodes JPEG2000 slices)."""

from __future__ import annotations

import math
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from robustbench_liver.errors import DataError
from robustbench_liver.io.volume import check_size, check_spacing

# SimpleITK works in LPS; NIfTI and this package in RAS.
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _series_files(reader: sitk.ImageSeriesReader, folder: Path) -> tuple[str, ...]:
    series = reader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise DataError("no DICOM series found in this folder", folder, "is it the slice folder?")
    if len(series) > 1:
        raise DataError(
            f"{len(series)} DICOM series in one folder ({', '.join(series)})",
            folder,
            "put each series in its own folder",
        )
    return tuple(reader.GetGDCMSeriesFileNames(str(folder), series[0]))


def check_dicom_header(folder: Path) -> None:
    """The one series in `folder` exists and its header passes `_check_header`."""
    _check_header(_series_files(sitk.ImageSeriesReader(), folder), folder)


def read_dicom_series(folder: Path) -> nib.Nifti1Image:
    """Read the one DICOM series in `folder` as a NIfTI image in world (RAS) coordinates."""
    reader = sitk.ImageSeriesReader()
    files = _series_files(reader, folder)
    _check_header(files, folder)
    reader.SetFileNames(files)
    try:
        image = reader.Execute()
    except RuntimeError as err:
        first = str(err).strip().splitlines()[-1] if str(err).strip() else "unknown reason"
        raise DataError(f"cannot read the DICOM series ({first})", folder) from None
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise DataError(f"expected a 3D single-channel series, got size {image.GetSize()}", folder)
    check_spacing(image.GetSpacing(), folder, "DICOM series")
    array = sitk.GetArrayFromImage(image).transpose(2, 1, 0)  # (z, y, x) -> (x, y, z)
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    affine_lps = np.eye(4)
    affine_lps[:3, :3] = direction * np.asarray(image.GetSpacing(), dtype=np.float64)
    affine_lps[:3, 3] = image.GetOrigin()
    return nib.Nifti1Image(np.ascontiguousarray(array), _LPS_TO_RAS @ affine_lps)


def _check_header(files: tuple[str, ...], folder: Path) -> None:
    """The series' size from its first file's header (rows x columns x frames, times the
    files) against the voxel and memory budget, before any pixel data is read."""
    info = sitk.ImageFileReader()
    info.SetFileName(files[0])
    try:
        info.ReadImageInformation()
    except RuntimeError as err:
        first = str(err).strip().splitlines()[-1] if str(err).strip() else "unknown reason"
        raise DataError(f"cannot read the DICOM header of {files[0]} ({first})", folder) from None
    size = [int(n) for n in info.GetSize()]
    shape = [*size[:2], max(1, math.prod(size[2:])) * len(files)]
    try:
        stored = sitk.Image([1, 1], info.GetPixelID()).GetSizeOfPixelComponent()
    except RuntimeError:
        stored = 8
    check_size(shape, stored * max(1, info.GetNumberOfComponents()), folder)
    check_spacing(info.GetSpacing()[:2], folder, "DICOM header (pixel spacing)")
