"""DICOM series folders via SimpleITK (which also decodes JPEG2000 slices)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from robustbench_liver.errors import DataError

# SimpleITK works in LPS; NIfTI and this package in RAS.
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def read_dicom_series(folder: Path) -> nib.Nifti1Image:
    """Read the one DICOM series in `folder` as a NIfTI image in world (RAS) coordinates."""
    reader = sitk.ImageSeriesReader()
    series = reader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise DataError("no DICOM series found in this folder", folder, "is it the slice folder?")
    if len(series) > 1:
        raise DataError(
            f"{len(series)} DICOM series in one folder ({', '.join(series)})",
            folder,
            "put each series in its own folder",
        )
    files = reader.GetGDCMSeriesFileNames(str(folder), series[0])
    reader.SetFileNames(files)
    try:
        image = reader.Execute()
    except RuntimeError as err:
        first = str(err).strip().splitlines()[-1] if str(err).strip() else "unknown reason"
        raise DataError(f"cannot read the DICOM series ({first})", folder) from None
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise DataError(f"expected a 3D single-channel series, got size {image.GetSize()}", folder)
    array = sitk.GetArrayFromImage(image).transpose(2, 1, 0)  # (z, y, x) -> (x, y, z)
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    affine_lps = np.eye(4)
    affine_lps[:3, :3] = direction * np.asarray(image.GetSpacing(), dtype=np.float64)
    affine_lps[:3, 3] = image.GetOrigin()
    return nib.Nifti1Image(np.ascontiguousarray(array), _LPS_TO_RAS @ affine_lps)
