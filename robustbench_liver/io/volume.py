"""Read a 3D volume (NIfTI file or DICOM series folder) into RAS-canonical axes.

The header is checked before any voxel is read: the size it claims against a voxel budget,
the memory available and (uncompressed files) the file's length; the voxel spacing and the
voxel-to-world mapping must be finite and non-zero. A damaged or hostile header then costs a
clear error at once, not a minute of reading and a MemoryError, and a zero spacing is not
silently read as 1 mm.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from robustbench_liver.errors import DataError

NIFTI_SUFFIXES = (".nii", ".nii.gz")
MAX_VOXELS = 2**29
"""Largest volume read, in voxels: a 512 x 512 x 2048 CT (1 GB as int16, 2 GB as float32).
Set `MAX_VOXELS_ENV` to read larger ones."""
MAX_VOXELS_ENV = "ROBUSTBENCH_LIVER_MAX_VOXELS"
_WORKING_BYTES = 4
"""Bytes a voxel takes once read, besides its stored bytes: the float32 copy scans become."""


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


def voxel_budget() -> int:
    """`MAX_VOXELS`, or the number in $ROBUSTBENCH_LIVER_MAX_VOXELS."""
    text = os.environ.get(MAX_VOXELS_ENV, "").strip().replace("_", "")
    if not text:
        return MAX_VOXELS
    try:
        value = int(float(text))
    except ValueError:
        value = 0
    if value < 1:
        raise DataError(f"${MAX_VOXELS_ENV} must be a positive number of voxels, got {text!r}")
    return value


def _available_bytes() -> int | None:
    """MemAvailable of /proc/meminfo (Linux); None where it cannot be read."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def check_size(shape: Sequence[int], stored_bytes: int, path: str | Path) -> None:
    """Refuse a volume of `shape` (`stored_bytes` a voxel in the file) before reading it: an
    empty grid, more than `voxel_budget()` voxels, or more memory than is available."""
    dims = [int(n) for n in shape]
    shown = " x ".join(str(n) for n in dims)
    if not dims or any(n < 1 for n in dims):
        raise DataError(
            f"the header gives the grid size {shown}: no voxels", path, "is the header damaged?"
        )
    voxels = math.prod(dims)
    budget = voxel_budget()
    need = voxels * (stored_bytes + _WORKING_BYTES)
    if voxels > budget:
        raise DataError(
            f"the header claims {shown} = {voxels:,} voxels (about {_gb(need)} to read), more "
            f"than the limit of {budget:,}",
            path,
            f"is the header damaged? for a volume this large set {MAX_VOXELS_ENV}",
        )
    available = _available_bytes()
    if available is not None and need > available:
        raise DataError(
            f"reading {shown} voxels needs about {_gb(need)}, and {_gb(available)} of memory "
            "is available",
            path,
            "free memory, use fewer workers, or crop or resample the volume",
        )


def check_spacing(spacing: Sequence[float], path: str | Path, source: str = "header") -> None:
    """Refuse a voxel size that is zero, negative or not finite (every mm would be wrong)."""
    values = [float(v) for v in spacing]
    if any(not math.isfinite(v) or v <= 0 for v in values):
        shown = ", ".join(f"{v:g}" for v in values)
        raise DataError(
            f"the {source} gives the voxel spacing ({shown}) mm; it must be finite and above 0",
            path,
            "set the true voxel size in the header before use (it is not guessed: every "
            "size in mm would follow from the guess)",
        )


def _check_nifti(image: nib.Nifti1Image, path: Path) -> None:
    """The checks of `check_size` and `check_spacing` on a NIfTI header, plus the file's
    length for uncompressed files and a usable voxel-to-world mapping."""
    header = image.header
    shape = tuple(int(n) for n in header.get_data_shape())
    dtype = header.get_data_dtype()
    slope, inter = header.get_slope_inter()
    scaled = slope not in (None, 1.0) or inter not in (None, 0.0)
    stored = 8 if scaled else dtype.itemsize  # scaled data are read as float64
    check_size(shape, stored, path)
    if path.name.lower().endswith(".nii"):
        offset = int(header.get("vox_offset", 352))
        expected = offset + math.prod(shape) * dtype.itemsize
        size = path.stat().st_size
        if size < expected:
            raise DataError(
                f"the header claims {' x '.join(map(str, shape))} voxels of {dtype} "
                f"({expected:,} bytes with the header), but the file has {size:,} bytes",
                path,
                "the file is truncated or its header damaged",
            )
    pixdim = _raw_pixdim(header, path)[1 : 1 + min(3, len(shape))]
    check_spacing(pixdim.tolist(), path, "header (pixdim)")
    with np.errstate(all="ignore"):
        affine = np.asarray(image.affine, dtype=np.float64)
        usable = bool(np.isfinite(affine).all()) and abs(np.linalg.det(affine[:3, :3])) > 0
    if not usable:
        raise DataError(
            "the header's voxel-to-world mapping (qform/sform) is not finite or is flat",
            path,
            "fix the header's qform or sform before use",
        )


def _raw_pixdim(header: nib.Nifti1Header, path: Path) -> np.ndarray:
    """pixdim as written: nibabel's loader turns a zero into 1 and a negative into its
    absolute value, with a log line, so the header is read again without its fixes."""
    from nibabel.openers import ImageOpener

    try:
        with ImageOpener(str(path)) as handle:
            raw = type(header)(handle.read(header.sizeof_hdr), check=False)
        return np.asarray(raw["pixdim"], dtype=np.float64)
    except Exception:  # what nibabel could load once it can load again; keep its reading
        return np.asarray(header["pixdim"], dtype=np.float64)


def _load_nifti(path: Path) -> nib.Nifti1Image:
    try:
        image = nib.load(path)
    except Exception as err:  # nibabel raises many types for damaged files
        raise DataError(
            f"unreadable NIfTI file ({type(err).__name__}: {err})",
            path,
            "is it complete and really NIfTI?",
        ) from None
    _check_nifti(image, path)  # type: ignore[arg-type]
    return image  # type: ignore[return-value]


def check_header(path: str | Path) -> None:
    """The checks `read_volume` makes before reading voxels, alone: for `validate`."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path, "check the path; it is read as given")
    if path.is_dir():
        from robustbench_liver.io.dicom import check_dicom_header

        check_dicom_header(path)
    elif is_nifti(path):
        _load_nifti(path)
    else:
        raise DataError(
            "not a NIfTI file (.nii, .nii.gz) or a DICOM series folder",
            path,
            "convert it to NIfTI, or pass the folder that holds the DICOM slices",
        )


def open_nifti(path: str | Path) -> nib.Nifti1Image:
    """A NIfTI image whose header passed the checks above; its voxels are not read yet."""
    return _load_nifti(Path(path))


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
