"""Lazy handles on base scans: cheap to list, pickle and hash; `load()` does the I/O."""

from __future__ import annotations

import functools
import glob
import hashlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robustbench_liver.errors import DataError
from robustbench_liver.io.scan import GENERIC_STEMS
from robustbench_liver.types import Scan

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_ID = 64
"""Longest scan id: it is part of every case's file names (with the condition id, they stay
well under the 255 bytes a file name may have); longer ones are cut and given a hash."""
CHANNEL_SUFFIX = "_0000"
"""nnU-Net's channel suffix on image names (imagesTr/<case>_0000.nii.gz, labelsTr/<case>.nii.gz)."""


@dataclass(frozen=True)
class ScanRef:
    """A base scan to be loaded: the built-in phantom for a seed, or files on disk."""

    id: str
    kind: str
    """'phantom' or 'file'."""
    args: tuple[tuple[str, Any], ...]
    """Keyword arguments of the loader, as sorted pairs (hashable)."""

    def load(self) -> Scan:
        """The Scan (memoised per process: a worker loads each base scan once; threads that
        want it at once wait for one load instead of each making a copy)."""
        with _loading(self):
            return _load(self)

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, **{k: _plain(v) for k, v in self.args}}

    def image_digest(self) -> str:
        """`image_digest` of the loaded scan (memoised per process, like the scan)."""
        return _image_digest(self)


IMAGE_DIGEST_VERSION = 1
SPACING_DECIMALS = 2
"""Spacing is hashed rounded to 0.01 mm: copies of one scan disagree in the last digits
(NIfTI keeps float32 zooms, DICOM decimal strings, a converter may round), not in the second."""


def image_digest(scan: Scan) -> str:
    """sha256 hex of a base scan's image content: what "the same scan" means to a model card's
    `trained_on_scans` and to the leakage check of a run.

    Hashed: a version tag, the shape, the spacing rounded to 0.01 mm, and the image as
    little-endian float32 HU in the scan's RAS-canonical axes (what every loader returns).
    Not hashed: file path, name, format (NIfTI or DICOM, int16 or int32 storage), origin and
    the label masks, so one image gives one digest whatever labels a scenario reads with it.
    A phantom's digest is that of its generated image.

    Not `Scan.digest`: that one also hashes the liver and vessel masks and the exact float
    spacing, as a case-cache key must (the masks steer the synthesis); changing it would
    rebuild every cached case, so the two live side by side.
    """
    return volume_digest(scan.image, scan.spacing)


def volume_digest(image: np.ndarray, spacing: tuple[float, float, float]) -> str:
    """`image_digest` of an image in RAS-canonical axes (as `io.read_volume` returns it) and
    its spacing in mm: for images without a liver mask to make a Scan of."""
    # +0.0 turns -0.0 into 0.0: equal HU, equal bytes
    array = (np.asarray(image, dtype=np.float32) + np.float32(0.0)).astype("<f4")
    head = {
        "digest": f"robustbench-liver/image/v{IMAGE_DIGEST_VERSION}",
        "shape": [int(n) for n in array.shape],
        "spacing_mm": [f"{float(s):.{SPACING_DECIMALS}f}" for s in spacing],
    }
    h = hashlib.sha256(json.dumps(head, sort_keys=True).encode())
    h.update(array.tobytes())
    return h.hexdigest()


def image_file_digest(path: str | Path) -> str:
    """`image_digest` of a NIfTI file or DICOM folder, read as `load_scan` reads it (no
    labels needed, nothing kept in memory)."""
    from robustbench_liver.io.volume import read_volume

    volume = read_volume(path)
    return volume_digest(volume.array, volume.spacing)


@functools.lru_cache(maxsize=1024)
def _image_digest(ref: ScanRef) -> str:
    return image_digest(ref.load())


_LOCKS: dict[ScanRef, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def _loading(ref: ScanRef) -> threading.Lock:
    """One lock per scan: threads that want the same scan wait for one load; other scans
    load side by side."""
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(ref, threading.Lock())


@functools.lru_cache(maxsize=8)
def _load(ref: ScanRef) -> Scan:
    kwargs = dict(ref.args)
    if ref.kind == "phantom":
        from robustbench_liver.sources.phantom import make_phantom

        return make_phantom(**kwargs)
    if "liver_from" in kwargs:  # no label map: a model finds the liver (cached)
        from robustbench_liver.sources.liver_from import load_scan_with_model

        return load_scan_with_model(id=ref.id, **kwargs)
    from robustbench_liver.io import load_scan

    return load_scan(id=ref.id, **kwargs)


def phantom_refs(count: int, first_seed: int = 0, **options: Any) -> list[ScanRef]:
    opts = tuple(
        sorted(
            (k, tuple(v) if isinstance(v, list) else v) for k, v in options.items() if v is not None
        )
    )
    return [
        ScanRef(id=f"phantom-{seed}", kind="phantom", args=(("seed", seed), *opts))
        for seed in range(first_seed, first_seed + count)
    ]


def within(root: Path, relative: str, what: str) -> Path:
    """`root / relative`, refusing absolute paths and anything that leaves `root`, also
    through a symlink (symlinks that stay inside `root` are followed)."""
    if not relative or Path(relative).is_absolute() or ".." in Path(relative).parts:
        raise DataError(f"{what} {relative!r} must be a relative path inside the data root", root)
    path = root / relative
    target = path.resolve()
    if not target.is_relative_to(root.resolve()):
        raise DataError(
            f"{what} {relative!r} is a symlink to {target}, outside the data root",
            root,
            "scenario paths stay inside --data-root: pass the folder that holds the data "
            "as the root, or move the data (or a symlink to it) inside a root that holds it",
        )
    return path


def file_refs(
    root: Path,
    images: str,
    labels: str | None = None,
    liver: str | None = None,
    liver_label: int | None = None,
    vessel_labels: tuple[int, ...] = (),
    limit: int | None = None,
    liver_from: Any = None,
) -> list[ScanRef]:
    """Scans matching the glob `images` under `root`, each with its label map or liver mask
    from a template ('{dir}' the image's folder, '{stem}' its name without extension,
    '{name}' its file name, '{case}' the stem without nnU-Net's '_0000'; all relative to
    `root`).

    The glob ('**' for any depth) follows symlinks and skips hidden names (macOS '._*'
    copies); a match whose real path lies outside `root` is an error, not silently dropped.
    Without `liver_label` the loader recognises it from the label map (`load_scan`).
    `liver_from` (a `sources.liver_from.LiverFrom`) has a model make the liver mask instead.
    """
    if not root.is_dir():
        raise DataError("data root is not a folder", root, "pass --data-root DIR")
    root = root.resolve()  # workers may run in another folder
    if Path(images).is_absolute() or ".." in Path(images).parts:
        raise DataError(f"image pattern {images!r} must be relative, inside the data root", root)
    matches = sorted(root / m for m in glob.glob(images, root_dir=root, recursive=True))
    if not matches:
        raise DataError(f"no image matches {images!r}", root, "check the pattern and the data root")
    for image in matches:
        within(root, str(image.relative_to(root)), "image")
    refs = []
    for image in matches[:limit]:
        fields = _placeholders(root, image)
        args: dict[str, Any] = {"image_path": str(image)}
        if liver_label is not None:
            args["liver_label"] = liver_label
        if labels is not None:
            args["labels"] = str(within(root, labels.format(**fields), "labels"))
        if liver is not None:
            args["liver"] = str(within(root, liver.format(**fields), "liver"))
        if vessel_labels:
            args["vessel_labels"] = tuple(vessel_labels)
        if liver_from is not None:
            args["liver_from"] = liver_from
        refs.append(
            ScanRef(id=_scan_id(root, image), kind="file", args=tuple(sorted(args.items())))
        )
    ids = [r.id for r in refs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise DataError(f"two scans would share the id {duplicates[0]!r}", root, "rename a folder")
    return refs


def _placeholders(root: Path, image: Path) -> dict[str, str]:
    name = image.name
    stem = name.removesuffix(".gz").removesuffix(".nii") if not image.is_dir() else name
    parent = image.parent.relative_to(root)
    return {
        "dir": str(parent) if str(parent) != "." else ".",
        "stem": stem,
        "name": name,
        "case": stem.removesuffix(CHANNEL_SUFFIX),
    }


def _scan_id(root: Path, image: Path) -> str:
    """File stem (without nnU-Net's '_0000'), or the folder's name for generic stems
    (ct.nii.gz, dicom/)."""
    stem = image.name.removesuffix(".gz").removesuffix(".nii").removesuffix(CHANNEL_SUFFIX)
    if stem.lower() in GENERIC_STEMS and image.parent != root:
        stem = str(image.parent.relative_to(root))
    name = _UNSAFE.sub("-", stem).strip("-") or "scan"
    if len(name) <= MAX_ID:
        return name
    tag = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_ID - 9].rstrip('-.')}-{tag}"


def _plain(value: Any) -> Any:
    if callable(getattr(value, "to_dict", None)):  # liver_from
        return value.to_dict()
    return list(value) if isinstance(value, tuple) else value
