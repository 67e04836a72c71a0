"""Read a 3D volume (NIfTI file or DICOM series folder) into RAS-canonical axes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from robustbench_liver.errors import DataError

NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass(frozen=True, eq=False)
class Volume:
    """A voxel array with axes (x, y, z) in RAS orientation, and where it sits in mm."""

    array: np.ndarray
    affine: np.ndarray
    spacing: tuple[float, float, float]
    path: Path


def is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def read_volume(path: str | Path) -> Volume:
    """Read a NIfTI file or a DICOM series folder, reoriented to the closest canonical (RAS)."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path, "check the path; it is read as given")
    if path.is_dir():
        from robustbench_liver.io.dicom import read_dicom_series  # SimpleITK only when needed

        image = read_dicom_series(path)
    elif is_nifti(path):
        image = _load_nifti(path)
    else:
        raise DataError(
            "not a NIfTI file (.nii, .nii.gz) or a DICOM series folder",
            path,
            "convert it to NIfTI, or pass the folder that holds the DICOM slices",
        )
    image = nib.as_closest_canonical(_as_3d(image, path))
    try:
        array = np.asanyarray(image.dataobj)
    except (OSError, EOFError, ValueError, MemoryError) as err:
        raise DataError(
            f"cannot read the voxel data ({err})", path, "is the file truncated?"
        ) from None
    affine = np.asarray(image.affine, dtype=np.float64)
    spacing = tuple(float(z) for z in image.header.get_zooms()[:3])
    return Volume(array=np.asarray(array), affine=affine, spacing=spacing, path=path)  # type: ignore[arg-type]


def _load_nifti(path: Path) -> nib.Nifti1Image:
    try:
        image = nib.load(path)
    except Exception as err:  # nibabel raises many types for damaged files
        raise DataError(
            f"unreadable NIfTI file ({type(err).__name__}: {err})",
            path,
            "is it complete and really NIfTI?",
        ) from None
    return image  # type: ignore[return-value]


def _as_3d(image: nib.Nifti1Image, path: Path) -> nib.Nifti1Image:
    """Drop trailing singleton dimensions (x, y, z, 1); refuse 2D and real 4D images."""
    shape = image.shape
    if len(shape) > 3 and all(s == 1 for s in shape[3:]):
        data = np.asanyarray(image.dataobj).reshape(shape[:3])
        return nib.Nifti1Image(data, image.affine, image.header)
    if len(shape) != 3:
        raise DataError(
            f"expected a 3D volume, got {len(shape)}D with shape {shape}",
            path,
            "pass one 3D CT volume (for 4D data, split the time points first)",
        )
    return image
