"""Training data, synthesized on the fly: one fresh synthetic case per iteration, patches
drawn from it. Each iteration's case and patches are a pure function of (seed, iteration),
so a resumed run sees exactly the data an uninterrupted run would have seen.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from robustbench_liver.errors import DataError, SynthesisError
from robustbench_liver.inference import InferenceSettings, prepare_image, prepare_labels
from robustbench_liver.synthesis import generator, synthesize
from robustbench_liver.training.config import VESSEL, ConfigError, RealScan, TrainConfig
from robustbench_liver.training.phase import (
    Tissues,
    draw_targets,
    phantom_tissue_labels,
    tissue_masks,
    toward_non_contrast,
)
from robustbench_liver.types import Scan

_SYNTHESIS_WARNING: type[Warning] = getattr(generator, "SynthesisWarning", UserWarning)
CASE_STREAM = 0xCA5E
SMALLER = {"mix": "medium", "large": "medium", "medium": "small", "small": "tiny", "tiny": None}
"""The level tried next when a scan has no room for the tumors asked for."""
ATTEMPTS_PER_LEVEL = 2
FALLBACK = {"tumor": ("tumor", "liver"), "liver": ("liver",), "any": ()}
"""Where a patch centre is looked for, in order, before "anywhere"."""


class BaseScans:
    """The base scans of a run, loaded on first use and kept (phantoms take ~1.5 s each)."""

    def __init__(self, config: TrainConfig, data_root: str | Path | None):
        self.config = config
        self.data_root = None if data_root is None else Path(data_root)
        self._cache: dict[str, Scan] = {}
        self._tissues: dict[str, Tissues] = {}
        self.keep_tissues = config.data.phase_share > 0
        first, last = config.data.phantom_seeds
        self.phantom_seeds = list(range(first, last))
        self.real = list(config.data.real_scans)
        if self.real and config.data.real_share > 0 and self.data_root is None:
            raise ConfigError(
                "the training config names real_scans: pass --data-root DIR (the folder "
                "their paths are relative to), or set ROBUSTBENCH_LIVER_DATA"
            )

    def phantom(self, seed: int) -> Scan:
        key = f"phantom-{seed}"
        if key not in self._cache:
            from robustbench_liver.sources.phantom import PhantomOptions, generate_phantom

            given = self.config.data.phantom_options
            options: dict[str, Any] = {
                k: tuple(v) if isinstance(v, list) else v for k, v in given.items()
            }
            phantom = generate_phantom(seed, PhantomOptions(**options))
            self._cache[key] = phantom.scan
            if self.keep_tissues:
                self._tissues[phantom.scan.id] = tissue_masks(
                    phantom.labels, phantom_tissue_labels()
                )
        return self._cache[key]

    def real_scan(self, index: int) -> Scan:
        spec = self.real[index]
        key = f"real-{index}"
        if key not in self._cache:
            from robustbench_liver.io import load_scan

            root = self.data_root or Path(".")  # __init__ refuses real scans without a root
            scan = self._cache[key] = load_scan(
                root / spec.image,
                labels=root / spec.labels,
                liver_label=spec.liver_label,
                vessel_labels=spec.vessel_labels,
            )
            if self.keep_tissues:
                self._tissues[scan.id] = self._real_tissues(spec, scan, root)
        return self._cache[key]

    @staticmethod
    def _real_tissues(spec: RealScan, scan: Scan, root: Path) -> dict[str, np.ndarray]:
        if not spec.tissue_labels:
            tissues = {"liver": scan.liver}
            if scan.vessels is not None and scan.vessels.any():
                tissues["blood"] = scan.vessels
            return tissues
        from robustbench_liver.io.volume import read_volume

        return tissue_masks(read_volume(root / spec.labels).array, spec.tissue_labels)

    def tissues(self, scan: Scan) -> Tissues:
        """The scan's tissue masks for the contrast-phase augmentation (after loading it)."""
        return self._tissues.get(scan.id, {})

    def describe(self) -> list[str]:
        """Ids of the base scans a run may draw (for the model card)."""
        names = []
        if self.phantom_seeds:
            first, last = self.phantom_seeds[0], self.phantom_seeds[-1]
            given = self.config.data.phantom_options
            options = "".join(f", {k} {v}" for k, v in sorted(given.items()))
            names.append(f"phantom seeds {first}-{last} ({len(self.phantom_seeds)} scans{options})")
        if self.config.data.real_share > 0:
            names += [spec.image for spec in self.real]
        return names


@dataclass(frozen=True)
class TrainingCase:
    """One synthetic case on the model's grid: normalised image and class indices (0/1/2,
    and 3 for a vessel outside the liver when the run trains that class)."""

    image: torch.Tensor
    label: torch.Tensor
    info: dict[str, Any]


def training_case(
    config: TrainConfig, scans: BaseScans, settings: InferenceSettings, iteration: int
) -> TrainingCase:
    """The case of `iteration`: base scan, tumor level and every draw come from
    SeedSequence([seed, CASE_STREAM, iteration])."""
    d = config.data
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, CASE_STREAM, iteration]))
    use_real = bool(scans.real) and float(rng.random()) < d.real_share
    if use_real:
        index = int(rng.integers(len(scans.real)))
        scan = scans.real_scan(index)
    else:
        scan = scans.phantom(scans.phantom_seeds[int(rng.integers(len(scans.phantom_seeds)))])
    control = float(rng.random()) < d.control_share
    names = list(d.levels)
    weights = np.asarray([d.levels[n] for n in names], dtype=np.float64)
    level: str | None = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    tumor_seed = int(rng.integers(0, 2**63))
    scale = float(rng.uniform(*d.hu_scale))
    shift = float(rng.uniform(*d.hu_shift))
    degree = 0.0
    if d.phase_share > 0 and float(rng.random()) < d.phase_share:  # draws after the old ones
        degree = float(rng.uniform(*d.phase_degree))
        targets = draw_targets(rng, d.non_contrast_hu)
        moved = toward_non_contrast(scan.image, scans.tissues(scan), degree, targets)
        scan = replace(scan, image=moved)
    image, label, used = _synthesize(config, scan, None if control else level, tumor_seed)
    image = image * np.float32(scale) + np.float32(shift)
    x = prepare_image(image, scan.spacing, settings)
    y = prepare_labels(label, scan.spacing, settings)
    if VESSEL in config.model.classes and scan.vessels is not None:
        vessels = prepare_labels(scan.vessels.astype(np.uint8), scan.spacing, settings)
        y[(vessels == 1) & (y == 0)] = config.model.classes.index(VESSEL)
    info = {
        "scan": scan.id,
        "level": used,
        "hu_scale": scale,
        "hu_shift": shift,
        "non_contrast": degree,
    }
    return TrainingCase(x, y, info)


def _synthesize(
    config: TrainConfig, scan: Scan, level: str | None, seed: int
) -> tuple[np.ndarray, np.ndarray, str]:
    """Tumors of `level` on `scan`, falling back to smaller levels when there is no room;
    a tumor-free control when `level` is None or nothing fits."""
    rng = np.random.default_rng(seed)
    while level is not None:
        for _ in range(ATTEMPTS_PER_LEVEL):
            try:
                with warnings.catch_warnings():  # e.g. overlapping tumors: fine for training
                    warnings.simplefilter("ignore", _SYNTHESIS_WARNING)
                    case = synthesize(scan, config.tumor_config(level), rng)
            except SynthesisError:
                continue
            return np.asarray(case.image), np.asarray(case.label), level
        level = SMALLER[level]
    return np.asarray(scan.image), scan.liver.astype(np.uint8), "control"


def sample_patches(
    case: TrainingCase, config: TrainConfig, iteration: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """`batch_size` patches (N, 1, *patch_size) of image and labels, centred on a tumor
    voxel, a liver voxel or anywhere, as `patch_centres` weighs them."""
    d = config.data
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, CASE_STREAM, iteration, 1]))
    patch = np.asarray(d.patch_size)
    x, y = _pad_to(case.image, case.label, patch)
    kinds = list(d.patch_centres)
    weights = np.asarray([d.patch_centres[k] for k in kinds], dtype=np.float64)
    shape = np.asarray(x.shape)
    pools: dict[str, np.ndarray] = {}
    xs, ys = [], []
    for _ in range(config.batch_size):
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        centre = np.asarray([rng.integers(n) for n in shape])  # "any", and the last resort
        for k in FALLBACK[kind]:
            if k not in pools:
                pools[k] = torch.nonzero(y == 2 if k == "tumor" else (y == 1) | (y == 2)).numpy()
            if len(pools[k]):
                centre = pools[k][int(rng.integers(len(pools[k])))]
                break
        start = np.clip(centre - patch // 2, 0, shape - patch)
        if d.spatial_share > 0 and float(rng.random()) < d.spatial_share:
            turn = rotation(rng, d.rotation_deg) / float(rng.uniform(*d.zoom))
            image, label = warp_patch(x, y, start + patch / 2 - 0.5, turn, patch)
        else:
            box = tuple(slice(int(s), int(s + p)) for s, p in zip(start, patch, strict=True))
            image, label = x[box], y[box]
        xs.append(image)
        ys.append(label)
    return torch.stack(xs)[:, None], torch.stack(ys)[:, None]


def rotation(rng: np.random.Generator, max_deg: tuple[float, float]) -> np.ndarray:
    """A random rotation (3 x 3, voxel axes x, y, z): up to max_deg[0] about the body axis
    (z), then up to max_deg[1] about x and about y."""
    from scipy.spatial.transform import Rotation

    limits = np.array([max_deg[0], max_deg[1], max_deg[1]])
    return Rotation.from_euler("zxy", rng.uniform(-1.0, 1.0, 3) * limits, degrees=True).as_matrix()


def warp_patch(
    x: torch.Tensor, y: torch.Tensor, centre: np.ndarray, matrix: np.ndarray, patch: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """A patch read from `x` and `y` through `matrix` (output voxel offsets from the centre
    to input ones): the image trilinear, the labels nearest; outside the volume, the image's
    edge and background."""
    offsets = np.stack(
        np.meshgrid(*(np.arange(p) - (p - 1) / 2 for p in patch), indexing="ij"), -1
    ).reshape(-1, 3)
    where = centre + offsets @ matrix.T  # input voxel coordinates, axes as x's
    size = np.asarray(x.shape, dtype=np.float64)
    unit = 2.0 * where / np.maximum(size - 1, 1) - 1.0  # grid_sample wants [-1, 1] ...
    grid = torch.from_numpy(unit[:, ::-1].copy()).float()  # ... in (W, H, D) order
    grid = grid.reshape(1, *(int(p) for p in patch), 3)
    image = F.grid_sample(
        x[None, None].float(), grid, mode="bilinear", padding_mode="border", align_corners=True
    )
    label = F.grid_sample(
        y[None, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=True
    )
    return image[0, 0].to(x.dtype), label[0, 0].to(y.dtype)  # nearest: whole values


def _pad_to(
    x: torch.Tensor, y: torch.Tensor, patch: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad (at the end) to at least the patch size: the image with its darkest value, as
    the sliding window pads at inference, the labels with background."""
    missing = [max(0, int(p) - n) for p, n in zip(patch, x.shape, strict=True)]
    if not any(missing):
        return x, y
    pad = [v for m in reversed(missing) for v in (0, m)]
    return F.pad(x, pad, value=float(x.min())), F.pad(y, pad, value=0)


def check_scans(scans: BaseScans) -> None:
    """Load the real scans up front, so a wrong path fails before hours of training."""
    for index in range(len(scans.real)):
        try:
            scans.real_scan(index)
        except DataError as err:
            raise ConfigError(f"data.real_scans[{index}]: {err}") from None


__all__ = [
    "BaseScans",
    "TrainingCase",
    "check_scans",
    "rotation",
    "sample_patches",
    "training_case",
    "warp_patch",
]
