"""Real tumors to show: scans with tumor labels, their lesions and where each is widest."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import ndimage

from robustbench_liver.errors import DataError
from robustbench_liver.io import read_volume
from robustbench_liver.turing.errors import TuringError

NIFTI = (".nii.gz", ".nii")
CHANNEL_SUFFIX = "_0000"
_AFFINE_ATOL_MM = 1e-2
_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)  # lesions are 26-connected (DESIGN.md §6)


@dataclass(frozen=True, eq=False)
class LabelledScan:
    """A CT with its label map on one grid, axes (x, y, z) in RAS."""

    id: str
    image: np.ndarray
    """HU, float32."""
    labels: np.ndarray
    spacing: tuple[float, float, float]
    path: Path
    """The image file (for the key; never shown to readers)."""


@dataclass(frozen=True)
class Lesion:
    """One 26-connected lesion and the axial slice through its largest cross-section."""

    number: int
    """1 for the largest lesion of its scan, 2 for the next, ..."""
    volume_mm3: float
    radius_mm: float
    """Radius of the sphere of the same volume."""
    slice: int
    """z index of the largest axial cross-section."""
    center_vox: tuple[float, float]
    """In-plane centroid of that cross-section, in voxels (x, y)."""
    diameter_mm: float
    """Diameter of the circle of that cross-section's area."""

    def center_mm(self, spacing: tuple[float, float, float]) -> tuple[float, float]:
        return (self.center_vox[0] * spacing[0], self.center_vox[1] * spacing[1])


def read_labelled(image: str | Path, labels: str | Path, id: str | None = None) -> LabelledScan:
    """A CT (NIfTI or DICOM folder) and its label map, checked to share one grid."""
    ct = read_volume(image)
    lab = read_volume(labels)
    if lab.array.shape != ct.array.shape:
        raise DataError(
            f"label map shape {lab.array.shape} differs from the CT's {ct.array.shape} ({image})",
            labels,
            "labels must lie on the CT's voxel grid",
        )
    if not np.allclose(lab.affine, ct.affine, rtol=0, atol=_AFFINE_ATOL_MM):
        raise DataError(
            f"label map geometry (affine) differs from the CT's ({image})",
            labels,
            "image and labels must share one voxel-to-world mapping",
        )
    return LabelledScan(
        id=id or _stem(Path(image)),
        image=np.asarray(ct.array, dtype=np.float32),
        labels=np.asarray(lab.array),
        spacing=ct.spacing,
        path=Path(image),
    )


def msd_pairs(folder: str | Path) -> list[tuple[Path, Path]]:
    """(image, labels) pairs of an MSD / nnU-Net folder: imagesTr/<case>[_0000].nii.gz with
    labelsTr/<case>.nii.gz."""
    root = Path(folder)
    images_dir, labels_dir = root / "imagesTr", root / "labelsTr"
    if not (images_dir.is_dir() and labels_dir.is_dir()):
        raise TuringError(
            "not an MSD / nnU-Net dataset folder (no imagesTr/ and labelsTr/)",
            root,
            "or pass one CT and its labels with --real-scan IMAGE LABELS",
        )
    pairs = []
    for image in sorted(images_dir.iterdir()):
        if image.name.startswith(".") or not image.name.endswith(NIFTI):
            continue
        case = _stem(image)
        labels = next(
            (labels_dir / f"{case}{s}" for s in NIFTI if (labels_dir / f"{case}{s}").exists()), None
        )
        if labels is None:
            raise TuringError(f"no labels for {image.name} in labelsTr/", root)
        pairs.append((image, labels))
    if not pairs:
        raise TuringError("imagesTr/ holds no NIfTI images", root)
    return pairs


def _stem(path: Path) -> str:
    name = path.name
    for suffix in NIFTI:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    name = name.removesuffix(CHANNEL_SUFFIX)
    return path.parent.name if name.lower() in {"ct", "image", "img", "imaging"} else name


def find_lesions(mask: np.ndarray, spacing: tuple[float, float, float]) -> list[Lesion]:
    """The 26-connected lesions of a tumor mask, largest first."""
    components, count = ndimage.label(mask, structure=_CONNECTIVITY)
    if count == 0:
        return []
    boxes = ndimage.find_objects(components)
    lesions = [_measure(components[box] == i + 1, box, spacing) for i, box in enumerate(boxes)]
    lesions.sort(key=lambda lesion: -lesion.volume_mm3)
    return [replace(lesion, number=n + 1) for n, lesion in enumerate(lesions)]


def lesion_in_box(mask: np.ndarray, spacing: tuple[float, float, float], box) -> Lesion | None:
    """The lesion of `mask` with most voxels inside `box` (a tuple of slices), or None."""
    components, _ = ndimage.label(mask, structure=_CONNECTIVITY)
    inside = components[box]
    if not inside.any():
        return None
    ids = np.bincount(inside.ravel())
    ids[0] = 0
    which = int(ids.argmax())
    region = ndimage.find_objects((components == which).astype(np.int32))[0]
    return _measure(components[region] == which, region, spacing, number=which)


def _measure(part: np.ndarray, box, spacing: tuple[float, float, float], number: int = 0) -> Lesion:
    voxel = float(np.prod(spacing))
    volume = float(part.sum()) * voxel
    areas = part.sum(axis=(0, 1))
    k = int(areas.argmax())
    xs, ys = np.nonzero(part[:, :, k])
    area_mm2 = float(areas[k]) * spacing[0] * spacing[1]
    return Lesion(
        number=number,
        volume_mm3=volume,
        radius_mm=(3.0 * volume / (4.0 * math.pi)) ** (1.0 / 3.0),
        slice=int(box[2].start + k),
        center_vox=(float(box[0].start + xs.mean()), float(box[1].start + ys.mean())),
        diameter_mm=2.0 * math.sqrt(area_mm2 / math.pi),
    )
