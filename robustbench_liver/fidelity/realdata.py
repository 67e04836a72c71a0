"""Where the real tumors come from: a folder (MSD / nnU-Net, LiTS, or ct + labels folders),
or a scenario whose base scans are read from label maps. Each scan is loaded as a Scan whose
liver is the liver label alone (tumor-free: the base the synthetic tumors are painted into),
plus the mask of its tumor label."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustbench_liver.errors import DataError
from robustbench_liver.io import load_scan, read_volume
from robustbench_liver.sources.refs import ScanRef, file_refs
from robustbench_liver.types import Scan

LAYOUTS = (
    "MSD / nnU-Net: imagesTr/*.nii.gz with labelsTr/<case>.nii.gz (or imagesTs, labelsTs)",
    "LiTS: volume-<n>.nii[.gz] with segmentation-<n>.nii[.gz]",
    "one case: ct.nii.gz with labels.nii.gz in the folder, or in each of its subfolders",
)
DEFAULT_LIVER_LABEL = 1
"""LiTS / MSD Task03: 1 liver, 2 tumor."""


@dataclass(frozen=True)
class LabelledScan:
    """A scan to load, with the label map holding its tumors."""

    id: str
    image: Path
    labels: Path
    liver_label: int
    vessel_labels: tuple[int, ...] = ()


@dataclass(frozen=True)
class RealData:
    name: str
    """What the report calls the real data: the folder's name, or 'scenario <name>'."""
    scans: tuple[LabelledScan, ...]


def find_scans(
    path: str | Path,
    data_root: str | Path | None = None,
    liver_label: int | None = None,
) -> RealData:
    """The labelled scans of a folder or a scenario file (`data_root`: its file sources'
    root). `liver_label` overrides the source's own (default 1, as in LiTS / MSD)."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() in (".yaml", ".yml"):
        return _from_scenario(path, data_root, liver_label)
    if not path.is_dir():
        raise DataError(
            "not a folder of labelled scans or a scenario file",
            path,
            "pass a folder (" + "; ".join(LAYOUTS) + ") or a scenario .yaml",
        )
    refs = _folder_refs(path)
    scans = tuple(_labelled(ref, liver_label, path) for ref in refs)
    return RealData(name=path.resolve().name, scans=scans)


def load_labelled(
    item: LabelledScan, tumor_label: int, keep_warnings: bool = True
) -> tuple[Scan, np.ndarray]:
    """The scan (liver = the liver label only) and its tumor mask (bool)."""
    if tumor_label == item.liver_label:
        raise DataError(
            f"the tumor label and the liver label are both {tumor_label}",
            item.labels,
            "pass --tumor-label and --liver-label with different values",
        )
    scan = load_scan(
        item.image,
        item.labels,
        liver_label=item.liver_label,
        vessel_labels=item.vessel_labels,
        id=item.id,
    )
    labels = read_volume(item.labels).array
    return scan, np.asarray(labels == tumor_label)


def label_values(item: LabelledScan) -> list[int]:
    """The values present in a scan's label map (for error messages)."""
    return [int(v) for v in np.unique(read_volume(item.labels).array)]


def _labelled(ref: ScanRef, liver_label: int | None, where: Path) -> LabelledScan:
    args = dict(ref.args)
    if "labels" not in args:
        raise DataError(
            f"base scan {ref.id!r} has a liver mask but no label map: its tumors are unknown",
            where,
            "fidelity reads real tumors from a label map (`labels:` in the scenario)",
        )
    own = args.get("liver_label")
    return LabelledScan(
        id=ref.id,
        image=Path(args["image_path"]),
        labels=Path(args["labels"]),
        liver_label=int(liver_label if liver_label is not None else own or DEFAULT_LIVER_LABEL),
        vessel_labels=tuple(int(v) for v in args.get("vessel_labels", ())),
    )


def _from_scenario(path: Path, data_root: str | Path | None, liver_label: int | None) -> RealData:
    from robustbench_liver.scenarios import base_scans, load_scenario

    scenario = load_scenario(path)
    refs = base_scans(scenario, data_root)
    phantoms = [r.id for r in refs if r.kind != "file"]
    if phantoms:
        raise DataError(
            f"scenario {scenario.name!r} reads phantom scans ({', '.join(phantoms[:3])}), "
            "which hold no real tumors",
            path,
            "point --real at a scenario whose base scans are files with tumor labels, or at "
            "a folder",
        )
    scans = tuple(_labelled(ref, liver_label, path) for ref in refs)
    return RealData(name=f"scenario {scenario.name}", scans=scans)


def _folder_refs(root: Path) -> list[ScanRef]:
    for split in ("Tr", "Ts"):
        if (root / f"images{split}").is_dir() and (root / f"labels{split}").is_dir():
            return file_refs(root, f"images{split}/*.nii*", labels=f"labels{split}/{{case}}.nii.gz")
    lits = sorted(glob.glob("volume-*.nii*", root_dir=root))
    if lits:
        return [_lits_ref(root, name) for name in lits]
    for suffix in (".nii.gz", ".nii"):
        if (root / f"ct{suffix}").is_file():  # one case: named after its folder
            args = {
                "image_path": str(root / f"ct{suffix}"),
                "labels": str(root / f"labels{suffix}"),
            }
            return [ScanRef(id=root.resolve().name, kind="file", args=tuple(sorted(args.items())))]
        if glob.glob(f"*/ct{suffix}", root_dir=root):
            return file_refs(root, f"*/ct{suffix}", labels=f"{{dir}}/labels{suffix}")
    raise DataError(
        "no labelled scans found in this folder",
        root,
        "expected one of: " + "; ".join(LAYOUTS),
    )


def _lits_ref(root: Path, name: str) -> ScanRef:
    number = name.removeprefix("volume-").split(".")[0]
    found = sorted(glob.glob(f"segmentation-{number}.nii*", root_dir=root))
    if not found:
        raise DataError(f"{name} has no segmentation-{number}.nii[.gz] beside it", root)
    args = {"image_path": str(root / name), "labels": str(root / found[0])}
    return ScanRef(id=f"volume-{number}", kind="file", args=tuple(sorted(args.items())))
