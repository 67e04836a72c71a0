"""Load healthy-liver base scans (image + liver mask) and write NIfTI files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from robustbench_liver.errors import DataError
from robustbench_liver.io.volume import NIFTI_SUFFIXES, Volume, read_volume
from robustbench_liver.types import Scan

# Where the header's geometry must agree between an image and its labels.
_AFFINE_ATOL_MM = 1e-2
# File or folder names that say nothing of the case: its id is the parent folder's name.
GENERIC_STEMS = frozenset({"ct", "image", "img", "imaging", "volume", "scan", "dicom"})


def load_scan(
    image_path: str | Path,
    labels: str | Path | None = None,
    liver_label: int = 1,
    vessel_labels: Sequence[int] = (),
    liver: str | Path | None = None,
    id: str | None = None,
) -> Scan:
    """Load a base scan from a NIfTI file or DICOM folder and its liver mask.

    Args:
        image_path: CT in HU (.nii, .nii.gz, or a folder with one DICOM series).
        labels: a label map; the liver is the voxels equal to `liver_label`
            (LiTS / MSD: 1, BTCV: 6, TotalSegmentator: 5).
        vessel_labels: label values of vessels in `labels` (TotalSegmentator: 64, 63).
        liver: a separate binary liver mask; used instead of `labels` for the liver.
        id: the scan's name; by default the file stem (its folder's name for "ct.nii.gz").
    """
    image = read_volume(image_path)
    if labels is None and liver is None:
        raise DataError(
            "no liver mask given", image.path, "pass labels=<label map> or liver=<binary mask>"
        )
    label_map = _aligned(read_volume(labels), image) if labels is not None else None
    if liver is not None:
        mask = _aligned(read_volume(liver), image).array
        if not np.isin(np.unique(mask), (0, 1)).all():
            raise DataError("the liver mask is not binary (values other than 0 and 1)", liver)
        liver_mask = mask != 0
        liver_source = Path(liver)
    elif label_map is not None:
        liver_mask = _label_mask(label_map, liver_label, "liver_label")
        liver_source = label_map.path
    if not liver_mask.any():
        raise DataError("the liver mask is empty", liver_source, "is this the right mask?")
    vessels = None
    if vessel_labels:
        if label_map is None:
            raise DataError("vessel_labels need a label map", image.path, "pass labels=")
        vessels = np.zeros(liver_mask.shape, dtype=bool)
        for value in vessel_labels:
            vessels |= _label_mask(label_map, value, "vessel_labels")
    if not np.isfinite(image.array).all():
        raise DataError(
            "the image has non-finite voxels (NaN or inf)",
            image.path,
            "replace them (e.g. with -1024 HU) before use",
        )
    return Scan(
        image=image.array.astype(np.float32, copy=False),
        spacing=image.spacing,
        liver=liver_mask,
        affine=image.affine,
        id=id or _default_id(image.path),
        vessels=vessels,
        provenance={
            "image": str(image.path),
            "labels": None if labels is None else str(labels),
            "liver": None if liver is None else str(liver),
            "liver_label": None if liver is not None else int(liver_label),
            "vessel_labels": [int(v) for v in vessel_labels],
        },
    )


def save_nifti(
    path: str | Path,
    array: np.ndarray,
    affine: np.ndarray,
    kind: str = "image",
) -> Path:
    """Write a volume as NIfTI: "image" as int16 HU, "label" as uint8, "float" as float32."""
    path = Path(path)
    if not path.name.lower().endswith(NIFTI_SUFFIXES):
        raise DataError("a NIfTI path must end in .nii or .nii.gz", path)
    array = np.asarray(array)
    if kind == "image":
        data = np.clip(np.rint(array), -32768, 32767).astype(np.int16)
    elif kind == "label":
        if array.dtype.kind == "f" and not np.array_equal(array, np.rint(array)):
            raise DataError("a label map must hold whole numbers", path)
        if array.min(initial=0) < 0 or array.max(initial=0) > 255:
            raise DataError("label values must lie in 0..255", path)
        data = array.astype(np.uint8)
    elif kind == "float":
        data = array.astype(np.float32)
    else:
        raise ValueError(f"kind must be 'image', 'label' or 'float', not {kind!r}")
    image = nib.Nifti1Image(data, np.asarray(affine, dtype=np.float64))
    image.header.set_xyzt_units("mm")
    image.set_qform(image.affine, code=1)
    image.set_sform(image.affine, code=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, path)
    return path


def _aligned(other: Volume, image: Volume) -> Volume:
    """Check that a label or mask volume lies on the image's grid."""
    if other.array.shape != image.array.shape:
        raise DataError(
            f"shape {other.array.shape} does not match the image's {image.array.shape} "
            f"({image.path})",
            other.path,
            "labels must be on the image's voxel grid; resample them first",
        )
    if not np.allclose(other.affine, image.affine, rtol=0, atol=_AFFINE_ATOL_MM):
        diff = float(np.abs(other.affine - image.affine).max())
        raise DataError(
            f"header geometry (affine) differs from the image's by up to {diff:.3g} mm "
            f"({image.path})",
            other.path,
            "image and labels must share one voxel-to-world mapping",
        )
    return other


def _label_mask(labels: Volume, value: int, field: str) -> np.ndarray:
    mask = labels.array == value
    if not mask.any():
        present = np.unique(labels.array)
        shown = ", ".join(str(int(v)) for v in present[:30])
        more = " ..." if present.size > 30 else ""
        raise DataError(
            f"{field}={value} does not occur in the label map (values present: {shown}{more})",
            labels.path,
            "LiTS/MSD liver is 1, BTCV 6, TotalSegmentator 5",
        )
    return mask


def _default_id(path: Path) -> str:
    name = path.name
    for suffix in NIFTI_SUFFIXES[::-1]:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    if name.lower() in GENERIC_STEMS and path.parent.name:
        return path.parent.name
    return name
