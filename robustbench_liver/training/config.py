"""TrainConfig: everything a training run depends on, read from YAML (safe_load only).

Unknown keys, wrong types and impossible values are errors naming the file and the field.
Two runs with equal configs (and data) give the same weights; the config's hash guards a
resumed run against a changed file.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from robustbench_liver.errors import DataError, ModelError, did_you_mean
from robustbench_liver.synthesis import LEVELS, TumorConfig, TumorConfigError
from robustbench_liver.training.phase import NON_CONTRAST_HU

VESSEL = "vessel"
TRAINED_CLASSES = ("background", "liver", "tumor", VESSEL)
"""The output channels a run can train, in this order; "vessel" (optional) is a vessel of the
base scan's vessel mask outside the liver: an explicit class, so that the network learns what
unenhanced veins look like instead of only what they are not."""

DEFAULT_NETWORK_ARGS: dict[str, Any] = {
    "spatial_dims": 3,
    "in_channels": 1,
    "out_channels": 3,
    "channels": [16, 32, 64, 128],
    "strides": [2, 2, 2],
    "num_res_units": 2,
}


_LATER_FIELDS: tuple[tuple[str, str, Any], ...] = (
    ("data", "phantom_options", {}),
    ("model", "min_tumor_mm3", 0.0),
    ("model", "tumors_in_liver", False),
    ("model", "min_tumor_confidence", 0.0),
    ("data", "phase_share", 0.0),
    ("data", "phase_degree", [0.0, 1.0]),
    ("data", "non_contrast_hu", {k: list(v) for k, v in NON_CONTRAST_HU.items()}),
    ("", "init_from", None),
    ("data", "spatial_share", 0.0),
    ("data", "rotation_deg", [15.0, 8.0]),
    ("data", "zoom", [0.85, 1.2]),
    ("model", "classes", list(TRAINED_CLASSES[:3])),
)
"""Fields added after the first release, left out of the digest while at their default."""


class ConfigError(ModelError):
    """A training config that cannot be used; the message names file and field."""


@dataclass(frozen=True)
class RealScan:
    """A real healthy-liver base scan, relative to the data root."""

    image: str
    """NIfTI file or DICOM folder, relative to --data-root."""
    labels: str
    """Label map relative to --data-root."""
    liver_label: int | None = None
    """None: recognised from the label map's values, said aloud (io.scan)."""
    vessel_labels: tuple[int, ...] = ()
    tissue_labels: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Label values per tissue for the contrast-phase augmentation (`phase.NON_CONTRAST_HU`
    names them; TotalSegmentator's are `phase.TOTALSEG_TISSUES`); empty: the liver from
    `liver_label` and blood from `vessel_labels`."""


@dataclass(frozen=True)
class ModelSection:
    """The network and the card of the model the run produces."""

    name: str = "unet-synth"
    version: str = "1"
    description: str = "MONAI 3D U-Net (background, liver, tumor) trained only on synthetic tumors"
    network: str = "UNet"
    network_args: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_NETWORK_ARGS))
    classes: tuple[str, ...] = TRAINED_CLASSES[:3]
    """The network's output channels: background, liver, tumor and optionally vessel (then
    network_args.out_channels is 4; the card writes vessel as background)."""
    spacing_mm: tuple[float, float, float] = (2.5, 2.5, 2.5)
    hu_window: tuple[float, float] = (-21.0, 189.0)
    normalize: str = "zscore"
    roi_size: tuple[int, int, int] = (96, 96, 96)
    """Sliding-window size written into the card (inference)."""
    overlap: float = 0.5
    """Sliding-window overlap written into the card (inference)."""
    min_tumor_mm3: float = 0.0
    """Post-processing written into the card (inference): smaller tumor components -> liver."""
    tumors_in_liver: bool = False
    """Post-processing written into the card (inference): tumor components outside the
    largest liver-and-tumor component -> background."""
    min_tumor_confidence: float = 0.0
    """Post-processing written into the card (inference): tumor components whose peak
    tumor probability is below this -> liver."""
    license: str = "Apache-2.0"
    citation: str = (
        "Hu et al., Label-Free Liver Tumor Segmentation, CVPR 2023 (training recipe); "
        "robustbench-liver (weights)"
    )
    export_name: str = "model"
    """Stem of the exported files: <export_name>.pt and <export_name>.yaml."""


@dataclass(frozen=True)
class DataSection:
    """Base scans, the tumor mixture synthesized on the fly, patches and augmentation."""

    phantom_seeds: tuple[int, int] = (100, 124)
    """Phantom base scans: seeds first..last-1 (the shipped scenarios use 0-3)."""
    phantom_options: dict[str, Any] = field(default_factory=dict)
    """PhantomOptions for the phantoms (shape, spacing, ...); empty = the default phantom."""
    real_scans: tuple[RealScan, ...] = ()
    real_share: float = 0.0
    """Share of cases drawn on a real base scan (when there are any)."""
    levels: dict[str, float] = field(
        default_factory=lambda: {"tiny": 1.0, "small": 2.0, "medium": 2.0, "large": 1.0, "mix": 1.0}
    )
    """Tumor levels and their relative weights."""
    tumor_overrides: dict[str, Any] = field(default_factory=lambda: {"min_inside": 0.8})
    """TumorConfig fields set on every level (every step stays on unless switched off here)."""
    control_share: float = 0.1
    """Share of tumor-free cases."""
    patch_size: tuple[int, int, int] = (64, 64, 64)
    patch_centres: dict[str, float] = field(
        default_factory=lambda: {"tumor": 0.5, "liver": 0.3, "any": 0.2}
    )
    """Where patch centres are drawn: on a tumor voxel, a liver voxel, anywhere."""
    hu_scale: tuple[float, float] = (0.95, 1.05)
    """Augmentation: HU multiplied by U(low, high) before the window."""
    hu_shift: tuple[float, float] = (-10.0, 10.0)
    """Augmentation: HU shifted by U(low, high)."""
    phase_share: float = 0.0
    """Augmentation: share of cases moved toward non-contrast CT (`phase`), before tumors
    are synthesized."""
    phase_degree: tuple[float, float] = (0.0, 1.0)
    """How far such a case moves: U(low, high), 0 = as scanned, 1 = fully non-contrast."""
    non_contrast_hu: dict[str, tuple[float, float]] = field(
        default_factory=lambda: dict(NON_CONTRAST_HU)
    )
    """Unenhanced HU range per tissue (liver, blood, spleen, kidney, pancreas)."""
    spatial_share: float = 0.0
    """Augmentation: share of patches rotated and zoomed about their centre (`spatial`)."""
    rotation_deg: tuple[float, float] = (15.0, 8.0)
    """Largest rotation of such a patch: about the body axis, then about each other axis."""
    zoom: tuple[float, float] = (0.85, 1.2)
    """Its zoom factor: U(low, high), the same along every axis."""


@dataclass(frozen=True)
class InitWeights:
    """The model a run starts from: the spec `train` exported for it, its weights pinned by
    their sha256 (so the files may move, but the weights not change)."""

    spec: str
    """Path of the model's spec YAML (absolute, or relative to the working directory)."""
    sha256: str
    """sha256 of the weights the spec names."""


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    iterations: int = 4000
    batch_size: int = 2
    """Patches per iteration (all from one freshly synthesized case)."""
    learning_rate: float = 2e-3
    weight_decay: float = 1e-5
    warmup: int = 100
    """Linear warm-up iterations, then cosine decay to zero."""
    checkpoint_every: int = 100
    threads: int | None = None
    """torch threads; None leaves torch's setting alone."""
    init_from: InitWeights | None = None
    """Start from these weights instead of a random network (fine-tuning)."""
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))

    @property
    def digest(self) -> str:
        """sha256 of the canonical config (what a resumed run must match); the thread
        count is left out: it changes the speed, not the run."""
        data = self.to_dict()
        data.pop("threads")
        for scan in data["data"]["real_scans"]:
            if not scan["tissue_labels"]:  # added later; old runs keep resuming
                scan.pop("tissue_labels")
        for section, name, default in _LATER_FIELDS:  # old runs keep resuming
            where = data[section] if section else data
            if where.get(name) == default:
                where.pop(name)
        text = json.dumps(data, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def tumor_config(self, level: str) -> TumorConfig:
        return TumorConfig.level(level, **self.data.tumor_overrides)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a training config YAML file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read training config {path}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    return config_from_dict(data or {}, str(path))


def config_from_dict(data: Any, where: str = "training config") -> TrainConfig:
    """Build and validate a TrainConfig from plain data."""
    top = _section(data, TrainConfig, where, "")
    model = _section(top.pop("model", {}), ModelSection, where, "model.")
    dat = _section(top.pop("data", {}), DataSection, where, "data.")
    init = top.pop("init_from", None)
    if init is not None:
        try:
            top["init_from"] = InitWeights(**_section(init, InitWeights, where, "init_from."))
        except TypeError:
            raise ConfigError(f"{where}: init_from needs spec and sha256") from None
    try:
        real = tuple(
            RealScan(
                **_tissues(
                    _tuples(
                        _section(r, RealScan, where, f"data.real_scans[{i}]."), ("vessel_labels",)
                    ),
                    "tissue_labels",
                )
            )
            for i, r in enumerate(dat.pop("real_scans", []) or [])
        )
        cfg = TrainConfig(
            **top,
            model=ModelSection(
                **_tuples(model, ("spacing_mm", "hu_window", "roi_size", "classes"))
            ),
            data=DataSection(
                real_scans=real,
                **_tissues(
                    _tuples(
                        dat,
                        (
                            "phantom_seeds",
                            "patch_size",
                            "hu_scale",
                            "hu_shift",
                            "phase_degree",
                            "rotation_deg",
                            "zoom",
                        ),
                    ),
                    "non_contrast_hu",
                ),
            ),
        )
    except TypeError as err:
        raise ConfigError(f"{where}: {err}") from None
    _validate(cfg, where)
    return cfg


def _section(data: Any, cls: type, where: str, prefix: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'the file'} must be a mapping")
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            section = f"{prefix.rstrip('.')}: " if prefix else ""
            raise ConfigError(f"{where}: {section}" + did_you_mean(str(key), known, "field"))
    return dict(data)


def _tuples(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: tuple(v) if k in names and isinstance(v, list) else v for k, v in data.items()}


def _tissues(data: dict[str, Any], name: str) -> dict[str, Any]:
    """Lists under the mapping `name` become tuples (tissue -> values)."""
    value = data.get(name)
    if isinstance(value, Mapping):
        data[name] = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
    return data


def _validate(cfg: TrainConfig, where: str) -> None:
    def fail(name: str, message: str) -> None:
        raise ConfigError(f"{where}: {name}: {message}")

    def number(name: str, value: Any, low: float, high: float) -> None:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or not low <= value <= high:
            fail(name, f"must be a number in [{low:g}, {high:g}], got {value!r}")

    for name in ("seed", "iterations", "batch_size", "warmup", "checkpoint_every"):
        value = getattr(cfg, name)
        low = 0 if name in ("seed", "warmup") else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            fail(name, f"must be an integer >= {low}, got {value!r}")
    number("learning_rate", cfg.learning_rate, 1e-7, 1.0)
    number("weight_decay", cfg.weight_decay, 0.0, 1.0)
    number("model.overlap", cfg.model.overlap, 0.0, 0.99)
    number("model.min_tumor_mm3", cfg.model.min_tumor_mm3, 0.0, 1e7)
    number("model.min_tumor_confidence", cfg.model.min_tumor_confidence, 0.0, 1.0)
    if not isinstance(cfg.model.tumors_in_liver, bool):
        fail("model.tumors_in_liver", f"must be true or false, got {cfg.model.tumors_in_liver!r}")
    init = cfg.init_from
    if init is not None and not (
        isinstance(init.spec, str)
        and isinstance(init.sha256, str)
        and re.fullmatch(r"[0-9a-f]{64}", init.sha256)
    ):
        fail("init_from", "needs spec (a path) and sha256 (64 lower-case hex digits)")
    if cfg.threads is not None and (not isinstance(cfg.threads, int) or cfg.threads < 1):
        fail("threads", f"must be a positive integer or null, got {cfg.threads!r}")
    m, d = cfg.model, cfg.data
    if len(m.spacing_mm) != 3 or any(not (0.3 <= float(s) <= 10) for s in m.spacing_mm):
        fail("model.spacing_mm", f"must be 3 values in 0.3-10 mm, got {m.spacing_mm}")
    if not isinstance(m.network_args, dict):
        fail("model.network_args", "must be a mapping of the network's arguments")
    if m.classes not in (TRAINED_CLASSES[:3], TRAINED_CLASSES):
        fail(
            "model.classes",
            f"must be {list(TRAINED_CLASSES[:3])} or {list(TRAINED_CLASSES)}, "
            f"got {list(m.classes) if isinstance(m.classes, tuple) else m.classes!r}",
        )
    channels = m.network_args.get("out_channels")
    if channels != len(m.classes):
        fail(
            "model.network_args.out_channels",
            f"is {channels!r}, but model.classes names {len(m.classes)} channels; make them agree",
        )
    first, last = d.phantom_seeds
    if not (isinstance(first, int) and isinstance(last, int) and 0 <= first <= last):
        fail("data.phantom_seeds", f"must be [first, last) integers, got {d.phantom_seeds}")
    if last == first and not d.real_scans:
        fail("data", "no base scans: give phantom_seeds [first, last) or real_scans")
    number("data.real_share", d.real_share, 0.0, 1.0)
    number("data.control_share", d.control_share, 0.0, 1.0)
    if d.real_share > 0 and not d.real_scans:
        fail("data.real_share", "is above 0 but there are no real_scans")
    if d.real_share < 1 and last == first:
        fail("data.real_share", "must be 1 when there are no phantom seeds")
    if not d.levels or any(k not in LEVELS for k in d.levels):
        bad = next((k for k in d.levels if k not in LEVELS), "")
        fail("data.levels", did_you_mean(bad, LEVELS, "level") if bad else "give at least one")
    for key, weights in (("levels", d.levels), ("patch_centres", d.patch_centres)):
        for name, w in weights.items():
            number(f"data.{key}.{name}", w, 0.0, 1e6)
        if sum(weights.values()) <= 0:
            fail(f"data.{key}", "weights must not all be zero")
    for name in d.patch_centres:
        if name not in ("tumor", "liver", "any"):
            fail("data.patch_centres", did_you_mean(name, ("tumor", "liver", "any"), "centre"))
    if len(d.patch_size) != 3 or any(not isinstance(p, int) or p < 8 for p in d.patch_size):
        fail("data.patch_size", f"must be 3 integers >= 8, got {d.patch_size}")
    for name in ("hu_scale", "hu_shift", "phase_degree", "zoom"):
        lo, hi = getattr(d, name)
        if not lo <= hi:
            fail(f"data.{name}", f"low above high: {getattr(d, name)}")
    number("data.phase_share", d.phase_share, 0.0, 1.0)
    number("data.spatial_share", d.spatial_share, 0.0, 1.0)
    for bound in d.zoom:
        number("data.zoom", bound, 0.5, 2.0)
    if len(d.rotation_deg) != 2:
        fail(
            "data.rotation_deg",
            f"must be [about the body axis, about the others], got {d.rotation_deg}",
        )
    for angle in d.rotation_deg:
        number("data.rotation_deg", angle, 0.0, 180.0)
    for bound in d.phase_degree:
        number("data.phase_degree", bound, 0.0, 1.0)
    _validate_tissues(d, fail)
    try:
        from robustbench_liver.sources.phantom import PhantomOptions

        PhantomOptions(**_tuples(dict(d.phantom_options), ("shape", "spacing")))
    except (TypeError, DataError) as err:
        fail("data.phantom_options", str(err))
    try:
        for level in d.levels:
            cfg.tumor_config(level)
    except (TumorConfigError, TypeError) as err:
        fail("data.tumor_overrides", str(err))


def _validate_tissues(d: DataSection, fail: Any) -> None:
    names = tuple(NON_CONTRAST_HU)
    if not isinstance(d.non_contrast_hu, Mapping):
        fail("data.non_contrast_hu", "must map tissues to [low, high] HU")
    for tissue, bounds in d.non_contrast_hu.items():
        if tissue not in names:
            fail("data.non_contrast_hu", did_you_mean(str(tissue), names, "tissue"))
        ok = isinstance(bounds, tuple) and len(bounds) == 2
        if not ok or not all(isinstance(b, int | float) for b in bounds) or bounds[0] > bounds[1]:
            fail(f"data.non_contrast_hu.{tissue}", f"must be [low, high] HU, got {bounds!r}")
    for i, scan in enumerate(d.real_scans):
        field_ = f"data.real_scans[{i}].tissue_labels"
        if not isinstance(scan.tissue_labels, Mapping):
            fail(field_, "must map tissues to lists of label values")
        for tissue, values in scan.tissue_labels.items():
            if tissue not in names:
                fail(field_, did_you_mean(str(tissue), names, "tissue"))
            if not isinstance(values, tuple) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in values
            ):
                fail(f"{field_}.{tissue}", f"must be a list of integer labels, got {values!r}")


__all__ = [
    "TRAINED_CLASSES",
    "VESSEL",
    "ConfigError",
    "DataSection",
    "ModelSection",
    "RealScan",
    "TrainConfig",
    "config_from_dict",
    "load_config",
]
