"""Load healthy-liver base scans (image + liver mask) and write NIfTI files."""

from __future__ import annotations

import math
import warnings
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

TOTALSEG_LIVER = 5
LITS_LIVER = 1
# More label values than LiTS/MSD (2), BTCV (13) or AMOS (15) define: a TotalSegmentator map.
_TOTALSEG_MIN_MAX_VALUE = 16
LIVER_VOLUME_L = (0.6, 3.5)
"""An adult liver's plausible volume (litres); outside it, `load_scan` warns."""
LIVER_VOLUME_ABSURD_L = (0.1, 6.0)
"""Outside this no liver lies: `load_scan` stops (below it only on whole-liver coverage)."""
LIVER_MEAN_HU = (-20.0, 250.0)
"""Plausible mean attenuation of liver (HU), fatty to contrast-enhanced; outside it, a warning."""
WHOLE_LIVER_MIN_EXTENT_MM = 100.0
"""A grid shorter than this along an axis cannot hold a whole liver."""


class LiverMaskWarning(UserWarning):
    """The liver label was recognised from the label map's layout, or the liver looks wrong."""


def load_scan(
    image_path: str | Path,
    labels: str | Path | None = None,
    liver_label: int | None = None,
    vessel_labels: Sequence[int] = (),
    liver: str | Path | None = None,
    id: str | None = None,
) -> Scan:
    """Load a base scan from a NIfTI file or DICOM folder and its liver mask.

    Args:
        image_path: CT in HU (.nii, .nii.gz, or a folder with one DICOM series).
        labels: a label map; the liver is the voxels equal to `liver_label`
            (LiTS / MSD: 1, BTCV: 6, TotalSegmentator: 5). Without `liver_label` it is
            recognised from the map's values (`recognise_liver_label`) with a warning, or the
            load stops and asks for it.
        vessel_labels: label values of vessels in `labels` (TotalSegmentator: 64, 63).
        liver: a separate binary liver mask; used instead of `labels` for the liver.
        id: the scan's name; by default the file stem (its folder's name for "ct.nii.gz").

    The liver is then checked for plausibility (`check_liver`): a warning when it looks
    wrong, a DataError when it cannot be a liver.
    """
    image = read_volume(image_path)
    name = id or _default_id(image.path)
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
        if liver_label is None:
            liver_label = recognise_liver_label(label_map, name)
        elif liver_label != TOTALSEG_LIVER and _looks_totalseg(_values(label_map)):
            warnings.warn(
                f"scan {name}: liver_label={liver_label} in a label map that looks like "
                f"TotalSegmentator's (values up to {int(label_map.array.max())}), whose liver is "
                f"{TOTALSEG_LIVER} and whose 1 is the spleen; pass liver_label: "
                f"{TOTALSEG_LIVER} (--liver-label {TOTALSEG_LIVER}) if that is what you meant",
                LiverMaskWarning,
                stacklevel=2,
            )
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
    check_liver(liver_mask, image.array, image.spacing, name, liver_source)
    return Scan(
        image=image.array.astype(np.float32, copy=False),
        spacing=image.spacing,
        liver=liver_mask,
        affine=image.affine,
        id=name,
        vessels=vessels,
        provenance={
            "image": str(image.path),
            "labels": None if labels is None else str(labels),
            "liver": None if liver is None else str(liver),
            "liver_label": None if liver is not None or liver_label is None else int(liver_label),
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


def recognise_liver_label(labels: Volume, name: str) -> int:
    """The liver's value in a label map given without `liver_label`, from its layout.

    Binary (0/1): 1, silently. Values up to 16 or more with 5 among them: TotalSegmentator
    (v1 and v2 "total"), liver 5, with a warning. Only 0, 1, 2: LiTS/MSD (1 liver, 2 tumor),
    liver 1, with a warning. Anything else (BTCV, AMOS, ...) is a DataError asking for it.
    """
    values = _values(labels)
    if values <= {0, 1}:
        return LITS_LIVER
    rule = None
    if _looks_totalseg(values):
        label, rule = TOTALSEG_LIVER, "TotalSegmentator layout: 5 present, values up to "
        rule += f"{max(values)}"
    elif values <= {0, 1, 2}:
        label, rule = LITS_LIVER, "LiTS/MSD layout: values 0, 1, 2"
    if rule is None:
        shown = ", ".join(str(v) for v in sorted(values)[:30])
        raise DataError(
            f"scan {name}: which value is the liver? the label map holds {shown}"
            f"{' ...' if len(values) > 30 else ''} and matches no known layout",
            labels.path,
            "pass `liver_label:` in the scenario (--liver-label to preview/synth, liver_label= "
            "to load_scan): LiTS/MSD 1, BTCV 6, TotalSegmentator 5",
        )
    warnings.warn(
        f"scan {name}: no liver_label given; liver = {label} ({rule}); "
        "pass liver_label to say so and silence this",
        LiverMaskWarning,
        stacklevel=3,
    )
    return label


def check_liver(
    mask: np.ndarray,
    image: np.ndarray,
    spacing: Sequence[float],
    name: str,
    path: str | Path | None = None,
) -> None:
    """Warn when a liver mask looks implausible; stop when it cannot be a liver.

    Warned: volume outside `LIVER_VOLUME_L` or mean HU outside `LIVER_MEAN_HU`. Stopped
    (DataError): volume outside `LIVER_VOLUME_ABSURD_L`. A scan may cover part of the liver
    only (a crop, a few slices): when the mask touches a face of the grid (the first or last
    slice, or an in-plane border), or the grid spans less than `WHOLE_LIVER_MIN_EXTENT_MM`
    along an axis, too small a volume says nothing and only too large a one is checked.
    """
    volume_l = float(mask.sum()) * math.prod(float(s) for s in spacing) / 1e6
    mean_hu = float(np.asarray(image)[mask].mean())
    partial = _partial_coverage(mask, spacing)
    found = f"{volume_l:.2f} l{' (partial coverage)' if partial else ''}, mean {mean_hu:.0f} HU"
    ask = (
        "is that the liver? pass `liver_label:` in the scenario (--liver-label to "
        "preview/synth), or `liver:` a binary liver mask"
    )
    low, high = LIVER_VOLUME_ABSURD_L
    if volume_l > high or (volume_l < low and not partial):
        raise DataError(f"scan {name}: the liver mask is {found}: no liver is that size", path, ask)
    problems = []
    if volume_l > LIVER_VOLUME_L[1] or (volume_l < LIVER_VOLUME_L[0] and not partial):
        problems.append("volume outside {:g}-{:g} l".format(*LIVER_VOLUME_L))
    if not LIVER_MEAN_HU[0] <= mean_hu <= LIVER_MEAN_HU[1]:
        problems.append("mean HU outside {:g}..{:g}".format(*LIVER_MEAN_HU))
    if problems:
        warnings.warn(
            f"scan {name}: the liver looks implausible ({'; '.join(problems)}): {found}; {ask}"
            + (f" ({path})" if path is not None else ""),
            LiverMaskWarning,
            stacklevel=3,
        )


def _partial_coverage(mask: np.ndarray, spacing: Sequence[float]) -> bool:
    """Whether the grid may cut the liver: too short to hold one, or the mask touches a face."""
    if any(
        n * float(s) < WHOLE_LIVER_MIN_EXTENT_MM for n, s in zip(mask.shape, spacing, strict=True)
    ):
        return True
    return any(
        mask.take(0, axis=axis).any() or mask.take(-1, axis=axis).any() for axis in range(mask.ndim)
    )


def _values(labels: Volume) -> set[int]:
    return {int(v) for v in np.unique(labels.array)}


def _looks_totalseg(values: set[int]) -> bool:
    return TOTALSEG_LIVER in values and max(values) >= _TOTALSEG_MIN_MAX_VALUE


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
