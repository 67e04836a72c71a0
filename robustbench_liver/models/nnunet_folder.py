"""An nnU-Net v2 trained-model folder read as plain JSON (no nnunetv2 import): which
configuration, folds and checkpoints to use, how its labels map to the suite's 0/1/2, and the
model card fields that follow from its dataset.json and plans.json.

A trained-model folder is what `nnUNetv2_train` writes and `nnUNetv2_predict` reads:
`$nnUNet_results/DatasetXXX_Name/<Trainer>__<Plans>__<configuration>/`, holding
dataset.json, plans.json and fold_<N>/checkpoint_final.pth (or checkpoint_best.pth).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_liver.errors import ModelError, did_you_mean

SUITE_CLASSES = ("background", "liver", "tumor")
_TUMOR_WORDS = {
    "tumor",
    "tumors",
    "tumour",
    "tumours",
    "lesion",
    "lesions",
    "cancer",
    "carcinoma",
    "hcc",
    "metastasis",
    "metastases",
    "neoplasm",
}
_LIVER_WORDS = {"liver", "hepar", "parenchyma"}


@dataclass(frozen=True)
class TrainedFolder:
    """The parts of a trained-model folder the adapter uses."""

    path: Path
    dataset: dict[str, Any]
    """dataset.json."""
    plans: dict[str, Any]
    """plans.json."""
    configuration: str
    folds: tuple[int | str, ...]
    checkpoints: tuple[Path, ...]
    """One checkpoint file per fold, in the order of `folds`."""

    @property
    def config(self) -> dict[str, Any]:
        """plans.json's entry of the configuration."""
        return dict(self.plans["configurations"][self.configuration])

    @property
    def trainer_plans(self) -> tuple[str | None, str | None]:
        """(trainer, plans) as the folder name `<Trainer>__<Plans>__<configuration>` says."""
        parts = self.path.name.split("__")
        return (parts[0], parts[1]) if len(parts) == 3 else (None, None)


def read_folder(
    path: Path,
    configuration: str | None,
    folds: Sequence[int | str] | None,
    checkpoint: str,
    where: str,
) -> TrainedFolder:
    """Check the folder and pick configuration, folds and checkpoint files; every problem is a
    ModelError that names the file and says what to give instead."""
    if not path.is_dir():
        raise ModelError(
            f"{where}: nnU-Net model folder {path} not found (give `folder:` relative to the "
            "spec file: the <Trainer>__<Plans>__<configuration> folder under nnUNet_results)"
        )
    dataset = _json(path / "dataset.json", path, where)
    plans = _json(path / "plans.json", path, where)
    configs = plans.get("configurations")
    if not isinstance(configs, dict) or not configs:
        raise ModelError(f"{where}: {path / 'plans.json'} has no `configurations`")
    if configuration is None:
        parts = path.name.split("__")
        configuration = parts[-1] if len(parts) == 3 and parts[-1] in configs else None
        if configuration is None:
            raise ModelError(
                f"{where}: which configuration of {path / 'plans.json'}? Add `configuration:` "
                f"to the spec (one of: {', '.join(configs)})"
            )
    elif configuration not in configs:
        raise ModelError(
            f"{where}: {path / 'plans.json'} has no configuration {configuration!r}; "
            + did_you_mean(configuration, configs, "configuration")
        )
    present = _folds_present(path, checkpoint)
    if folds is None:
        if not present:
            found = sorted(p.name for p in path.glob("fold_*/*.pth"))
            raise ModelError(
                f"{where}: no fold_<N>/{checkpoint} in {path}"
                + (f" (found {', '.join(found[:6])}: set `checkpoint:`)" if found else "")
            )
        folds = present
    chosen: list[int | str] = []
    files: list[Path] = []
    for fold in folds:
        if isinstance(fold, bool) or not (isinstance(fold, int) or fold == "all"):
            raise ModelError(f"{where}: folds must be integers (or 'all'), got {fold!r}")
        file = path / f"fold_{fold}" / checkpoint
        if not file.is_file():
            others = sorted(p.name for p in (path / f"fold_{fold}").glob("*.pth"))
            hint = (
                f"fold_{fold} holds {', '.join(others)}: set `checkpoint:`"
                if others
                else f"folds with {checkpoint}: {list(present) or 'none'}"
            )
            raise ModelError(f"{where}: fold {fold}: {file} not found ({hint})")
        chosen.append(fold)
        files.append(file)
    if not chosen:
        raise ModelError(f"{where}: `folds:` is empty; name at least one fold")
    return TrainedFolder(path, dataset, plans, configuration, tuple(chosen), tuple(files))


def _json(file: Path, folder: Path, where: str) -> dict[str, Any]:
    if not file.is_file():
        inner = sorted(p.name for p in folder.iterdir() if (p / file.name).is_file())[:4]
        hint = (
            f"; the trained-model folders are one level down: {', '.join(inner)}"
            if inner
            else " (a trained-model folder holds dataset.json, plans.json and fold_<N>/)"
        )
        raise ModelError(f"{where}: {file} not found{hint}")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelError(f"{where}: cannot read {file}: {err}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{where}: {file} is not a JSON object")
    return data


def _folds_present(path: Path, checkpoint: str) -> tuple[int | str, ...]:
    """Folds with the checkpoint, as nnU-Net's auto-detection finds them (fold_all aside)."""
    folds = []
    for sub in path.glob("fold_*"):
        name = sub.name[len("fold_") :]
        if name.isdigit() and (sub / checkpoint).is_file():
            folds.append(int(name))
    return tuple(sorted(folds))


@dataclass(frozen=True)
class LabelMap:
    """nnU-Net's output values and what each one is to the suite."""

    names: dict[int, str]
    """Output value -> the dataset.json label name it stands for."""
    suite: tuple[str, ...]
    """Suite class (background, liver, tumor) of output values 0, 1, 2, ... (the LUT)."""
    note: str
    """How it was mapped, for the card."""

    def lut(self) -> list[int]:
        """Output value -> 0/1/2."""
        return [SUITE_CLASSES.index(c) for c in self.suite]


def map_labels(dataset: Mapping[str, Any], remap: Mapping[Any, Any] | None, where: str) -> LabelMap:
    """Map dataset.json's labels to background/liver/tumor: by name (liver, tumor, lesion,
    cancer, liver_tumor, ...; other organs become background), or by `remap`."""
    outputs = output_values(dataset, where)
    if remap is not None:
        classes = _remapped(outputs, remap, where)
        how = "by the spec's remap"
    else:
        classes = {value: _class_of(name) for value, name in outputs.items()}
        how = "by name"
    if "tumor" not in classes.values():
        shown = ", ".join(f"{n!r}: {v}" for v, n in sorted(outputs.items()))
        raise ModelError(
            f"{where}: cannot map the labels of dataset.json ({shown}) to the suite's "
            "background/liver/tumor: no label is a liver tumor"
            + (" in `remap:`" if remap is not None else " by its name")
            + ". Say which is which in the spec, e.g. `remap: {NAME: tumor, OTHER: liver}` "
            "(labels not listed become background)"
        )
    size = max(outputs) + 1
    suite = tuple(classes.get(v, "background") for v in range(size))
    parts = [f"{outputs[v]}→{classes[v]}" for v in sorted(outputs) if v != 0]
    note = f"labels {how}: " + ", ".join(parts)
    if "liver" not in classes.values():
        note += " (no liver label: the suite sees no liver in its predictions)"
    return LabelMap(outputs, suite, note)


def output_values(dataset: Mapping[str, Any], where: str) -> dict[int, str]:
    """Output value -> label name: a label's own value, or for region-based models (a label
    is a list of values) the value `regions_class_order` gives its region."""
    labels = dataset.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise ModelError(f"{where}: dataset.json has no `labels` mapping")
    regions = any(isinstance(v, list) and len(v) > 1 for v in labels.values())
    out: dict[int, str] = {}
    order = dataset.get("regions_class_order")
    if regions and not isinstance(order, list):
        raise ModelError(f"{where}: dataset.json has region labels but no regions_class_order")
    index = 0
    for name, value in labels.items():
        if name == "ignore":
            continue
        values = value if isinstance(value, list) else [value]
        try:
            ints = [int(v) for v in values]
        except (TypeError, ValueError):
            raise ModelError(
                f"{where}: dataset.json label {name!r}: {value!r} is no label value"
            ) from None
        if ints == [0] or set(ints) == {0}:
            out[0] = str(name)
            continue
        if regions:
            if index >= len(order):  # type: ignore[arg-type]
                raise ModelError(f"{where}: dataset.json: regions_class_order is too short")
            out[int(order[index])] = str(name)  # type: ignore[index]
            index += 1
        else:
            out[ints[0]] = str(name)
    out.setdefault(0, "background")
    return out


def _class_of(name: str) -> str:
    words = set(re.findall(r"[a-z]+", name.lower()))
    if words & _TUMOR_WORDS and words <= _TUMOR_WORDS | _LIVER_WORDS:
        return "tumor"
    if words and words <= _LIVER_WORDS:
        return "liver"
    return "background"  # background itself, and other organs or structures


def _remapped(outputs: dict[int, str], remap: Mapping[Any, Any], where: str) -> dict[int, str]:
    by_name = {name: value for value, name in outputs.items()}
    classes = {value: "background" for value in outputs}
    for key, target in remap.items():
        if isinstance(key, str) and key in by_name:
            value = by_name[key]
        elif isinstance(key, int) and not isinstance(key, bool) and key in outputs:
            value = key
        else:
            raise ModelError(
                f"{where}: remap: {key!r} is no label of dataset.json; "
                + did_you_mean(str(key), [*by_name, *map(str, outputs)], "label")
            )
        if isinstance(target, int) and not isinstance(target, bool) and 0 <= target <= 2:
            target = SUITE_CLASSES[target]
        if target not in SUITE_CLASSES:
            raise ModelError(
                f"{where}: remap: {key!r}: {target!r} must be background, liver or tumor (0/1/2)"
            )
        classes[value] = target
    return classes


def to_xyz(values: Sequence[Any], plans: Mapping[str, Any]) -> tuple[Any, ...]:
    """A per-axis value of plans.json (nnU-Net's transposed (z, y, x) order) in the suite's
    (x, y, z) order: undo transpose_forward, then reverse (nnU-Net reads arrays as
    SimpleITK does, axes reversed)."""
    forward = list(plans.get("transpose_forward", [0, 1, 2]))
    original = [None] * len(values)
    for i, axis in enumerate(forward):
        original[axis] = values[i]
    return tuple(reversed(original))


def card_fields(folder: TrainedFolder, labels: LabelMap, tile_step_size: float) -> dict[str, Any]:
    """Card fields that follow from the folder; the rest (license, citation, ...) are the
    spec's `card:` to give."""
    config = folder.config
    spacing = config.get("spacing")
    patch = config.get("patch_size")
    fields: dict[str, Any] = {"classes": labels.suite, "overlap": round(1.0 - tile_step_size, 6)}
    if isinstance(spacing, list) and len(spacing) == 3:
        fields["spacing_mm"] = tuple(float(s) for s in to_xyz(spacing, folder.plans))
    if isinstance(patch, list) and len(patch) == 3:
        fields["roi_size"] = tuple(int(p) for p in to_xyz(patch, folder.plans))
    name = folder.plans.get("dataset_name") or folder.dataset.get("name") or folder.path.parent.name
    count = folder.dataset.get("numTraining")
    fields["trained_on"] = f"nnU-Net dataset {name}" + (
        f" ({count} training cases)" if isinstance(count, int) else ""
    )
    return fields


def describe(folder: TrainedFolder, labels: LabelMap, trainer: str, mirroring: str) -> str:
    """One paragraph for the card: what runs, on what input, with which labels."""
    trainer_dir, plans_name = folder.trainer_plans
    channels = folder.dataset.get("channel_names") or folder.dataset.get("modality") or {}
    config = folder.config
    norm = ", ".join(config.get("normalization_schemes") or []) or "unknown"
    props = (folder.plans.get("foreground_intensity_properties_per_channel") or {}).get("0", {})
    if "CTNormalization" in norm and {"percentile_00_5", "percentile_99_5"} <= set(props):
        norm += (
            f" (HU clipped to [{props['percentile_00_5']:g}, {props['percentile_99_5']:g}], "
            f"then minus {props.get('mean', 0):.1f}, over {props.get('std', 1):.1f})"
        )
    folds = ", ".join(str(f) for f in folder.folds)
    return (
        f"nnU-Net v2 {trainer}__{plans_name or folder.plans.get('plans_name', '?')}__"
        f"{folder.configuration}, fold(s) {folds}, {folder.checkpoints[0].name}; "
        f"channels {dict(channels)}; normalization {norm}; test-time mirroring {mirroring}; "
        f"{labels.note}"
        + ("" if trainer_dir in (None, trainer) else f" (folder says trainer {trainer_dir})")
    )
