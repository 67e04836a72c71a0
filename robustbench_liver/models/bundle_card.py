"""What a MONAI bundle says about itself (configs/metadata.json, LICENSE, its inference
config), turned into a model card and a label mapping to the suite's 0/1/2."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robustbench_liver.errors import ModelError
from robustbench_liver.models.bundle_config import target_path

TUMOR_WORDS = frozenset(
    "tumor tumour tumors tumours lesion lesions cancer carcinoma hcc metastasis metastases "
    "neoplasm neoplasms mass masses".split()
)
LIVER_WORDS = frozenset({"liver", "hepatic"})
TUMOR_QUALIFIERS = frozenset("primary secondary focal malignant liver hepatic".split())
"""Words that may stand beside a tumor word and still mean a liver tumor."""
VESSEL_WORDS = frozenset("vessel vessels vein veins artery arteries duct ducts portal cava".split())
BACKGROUND_WORDS = frozenset("background bg none unlabeled unlabelled void".split())


def classify(name: str) -> int:
    """The suite label (0 background, 1 liver, 2 tumor) a bundle's class name stands for:
    a tumor word alone or with a liver word is 2 ('liver tumor', 'lesion'; 'kidney tumor'
    is 0), a liver word without a vessel word is 1, anything else 0."""
    words = set(re.findall(r"[a-z]+", name.lower()))
    if words & TUMOR_WORDS:
        return 2 if not words - TUMOR_WORDS - TUMOR_QUALIFIERS else 0
    if words & LIVER_WORDS and not words & VESSEL_WORDS:
        return 1
    return 0


def channel_def(metadata: Mapping[str, Any], where: str) -> dict[int, str] | None:
    """network_data_format.outputs.pred.channel_def as {label: name}; None when absent."""
    fmt = metadata.get("network_data_format")
    if fmt is None:
        return None
    outputs = fmt.get("outputs") if isinstance(fmt, Mapping) else None
    if not isinstance(outputs, Mapping):
        raise ModelError(f"{where}: network_data_format.outputs must be a mapping")
    pred = outputs.get("pred")
    if pred is None and len(outputs) == 1:
        pred = next(iter(outputs.values()))
    if pred is None:
        return None
    if not isinstance(pred, Mapping):
        raise ModelError(f"{where}: network_data_format.outputs.pred must be a mapping")
    channels = pred.get("channel_def")
    if channels is None:
        return None
    if not isinstance(channels, Mapping):
        raise ModelError(f"{where}: channel_def must map labels to names, got {channels!r}")
    out: dict[int, str] = {}
    for key, name in channels.items():
        try:
            out[int(key)] = str(name)
        except (TypeError, ValueError):
            raise ModelError(
                f'{where}: channel_def key {key!r} is not a label number (e.g. "1": "liver")'
            ) from None
    return out


def input_problems(metadata: Mapping[str, Any], where: str) -> list[str]:
    """Refuse an input the suite cannot give (not one channel); notes for the card."""
    fmt = metadata.get("network_data_format")
    inputs = fmt.get("inputs") if isinstance(fmt, Mapping) else None
    image = inputs.get("image") if isinstance(inputs, Mapping) else None
    if not isinstance(image, Mapping):
        return []
    channels = image.get("num_channels", 1)
    if channels != 1:
        raise ModelError(
            f"{where}: the bundle's input has {channels} channels "
            "(network_data_format.inputs.image.num_channels); the suite gives one CT channel"
        )
    modality = str(image.get("modality", "CT"))
    return [] if modality.upper() == "CT" else [f"its input modality is {modality}, not CT"]


def label_mapping(
    metadata: Mapping[str, Any], remap: Mapping[Any, Any] | None, where: str
) -> tuple[dict[int, int], str, bool]:
    """(bundle label -> 0/1/2, a line for the card, strict). `remap` wins over the names in
    metadata.json; strict: an output label that the metadata does not name is an error
    (with `remap`, labels not listed become 0, as in the command adapter)."""
    names = channel_def(metadata, where)
    if remap is not None:
        mapping: dict[int, int] = {}
        for key, value in remap.items():
            try:
                label, suite = int(key), int(value)
            except (TypeError, ValueError):
                raise ModelError(
                    f"{where}: remap must map label numbers to 0, 1 or 2, got {key!r}: {value!r}"
                ) from None
            if suite not in (0, 1, 2) or isinstance(value, bool) or label < 0:
                raise ModelError(f"{where}: remap: {key} -> {value!r}; use 0, 1 or 2")
            if names is not None and label not in names:
                raise ModelError(
                    f"{where}: remap names label {label}, but metadata.json's channel_def "
                    f"has only {sorted(names)}"
                )
            mapping[label] = suite
        if not any(v in (1, 2) for v in mapping.values()):
            raise ModelError(f"{where}: remap maps no label to 1 (liver) or 2 (tumor)")
        line = "labels (remap): " + ", ".join(
            f"{k}{_named(names, k)}->{v}" for k, v in sorted(mapping.items())
        )
        return mapping, line + "; others -> 0" + _no_tumor(mapping), False
    if not names:
        raise ModelError(
            f"{where}: metadata.json has no network_data_format.outputs.pred.channel_def, so "
            "the bundle's labels cannot be mapped to 0/1/2; write a spec with "
            "`remap: {bundle label: 0, 1 or 2}`"
        )
    mapping = {label: classify(name) for label, name in names.items()}
    if not any(v in (1, 2) for v in mapping.values()):
        raise ModelError(
            f"{where}: channel_def {names} names no liver and no liver tumor, so nothing maps "
            "to the suite's 1 (liver) or 2 (tumor); if one of them is, say so in a spec with "
            "`remap: {bundle label: 0, 1 or 2}`"
        )
    kept = [f"{k} {names[k]}->{v}" for k, v in sorted(mapping.items()) if v]
    dropped = [names[k] for k, v in sorted(mapping.items()) if not v and _informative(names[k])]
    line = "labels: " + ", ".join(kept)
    if dropped:
        shown = ", ".join(dropped[:5]) + (
            f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""
        )
        line += f"; {shown} -> 0"
    return mapping, line + _no_tumor(mapping), True


def _no_tumor(mapping: Mapping[int, int]) -> str:
    return "" if 2 in mapping.values() else "; it segments no liver tumor (tumor cases score 0)"


def _informative(name: str) -> bool:
    """True for a class that is not plain background (worth naming when it becomes 0)."""
    words = set(re.findall(r"[a-z]+", name.lower()))
    return bool(words - BACKGROUND_WORDS)


def _named(names: Mapping[int, str] | None, label: int) -> str:
    return f" {names[label]}" if names and label in names else ""


def card_fields(
    metadata: Mapping[str, Any], bundle: Path, config: Mapping[str, Any], locator: Any
) -> tuple[dict[str, Any], list[str]]:
    """ModelCard fields read from the bundle, and the fields it could not fill."""
    fields: dict[str, Any] = {}
    missing: list[str] = []
    if metadata.get("version") is not None:
        fields["version"] = str(metadata["version"])
    else:
        missing.append("version")
    title, text = metadata.get("name"), metadata.get("description")
    fields["description"] = ": ".join(str(s).strip() for s in (title, text) if s)
    if not fields["description"]:
        missing.append("description")
    license_ = _license(metadata, bundle)
    if license_:
        fields["license"] = license_
    else:
        missing.append("license")
    references = metadata.get("references")
    if isinstance(references, str):
        references = [references]
    if references:
        fields["citation"] = "; ".join(str(r) for r in references)
    else:
        missing.append("citation")
    if metadata.get("data_source"):
        fields["trained_on"] = str(metadata["data_source"])
    else:
        missing.append("trained_on")
    fields.update(_pipeline_fields(config, locator, missing))
    return fields, missing


def _license(metadata: Mapping[str, Any], bundle: Path) -> str:
    """metadata.json's license, else the first lines of the bundle's LICENSE file; with
    metadata.json's copyright."""
    text = str(metadata.get("license") or "").strip()
    if not text:
        for name in ("LICENSE", "LICENSE.txt", "LICENSE.md", "docs/LICENSE"):
            if (bundle / name).is_file():
                lines = [
                    ln.strip() for ln in (bundle / name).read_text(errors="replace").split("\n")
                ]
                lines = [ln for ln in lines if ln][:2]
                text = lines[0] if lines else ""
                if len(lines) > 1 and lines[1].lower().startswith("version"):
                    text += ", " + lines[1]
                break
    copyright_ = str(metadata.get("copyright") or "").strip()
    if text and copyright_:
        return f"{text} ({copyright_})"
    return text


def _pipeline_fields(config: Mapping[str, Any], locator: Any, missing: list[str]) -> dict[str, Any]:
    """spacing_mm, hu_window, normalize, roi_size and overlap where the inference config
    gives them as plain values (a card summary: the bundle's transforms are what runs)."""
    out: dict[str, Any] = {"hu_window": None, "normalize": "none", "spacing_mm": None}
    steps = _transforms(config.get("preprocessing"))
    names = pipeline_names(config, locator)
    for step, name in zip(steps, names, strict=True):
        if name == "Spacingd":
            pixdim = _numbers(step.get("pixdim"), 3)
            out["spacing_mm"] = pixdim
            if pixdim is None:
                missing.append("spacing_mm")
        elif name == "ScaleIntensityRanged":
            window = _numbers([step.get("a_min"), step.get("a_max")], 2)
            target = _numbers([step.get("b_min"), step.get("b_max")], 2)
            if window is None or window[0] >= window[1]:
                missing.append("hu_window")
            else:
                out["hu_window"] = window
                out["normalize"] = "window" if target == (0.0, 1.0) else "none"
        elif name == "NormalizeIntensityd":
            out["normalize"] = "zscore"
    inferer = config.get("inferer")
    kind = (
        target_path(str(inferer.get("_target_", "")), locator)
        if isinstance(inferer, Mapping)
        else ""
    )
    roi = _numbers(inferer.get("roi_size"), 3) if isinstance(inferer, Mapping) else None
    if kind.endswith("SlidingWindowInferer") and roi is not None and min(roi) >= 1:
        out["roi_size"] = tuple(int(v) for v in roi)
        overlap = inferer.get("overlap", 0.25)  # type: ignore[union-attr]  # MONAI's default
        if isinstance(overlap, int | float) and not isinstance(overlap, bool):
            out["overlap"] = float(overlap)
    else:
        missing.append("roi_size and overlap (no sliding window with a plain roi_size)")
    return out


def pipeline_names(config: Mapping[str, Any], locator: Any) -> list[str]:
    """The short class names of the preprocessing transforms, in order."""
    steps = _transforms(config.get("preprocessing"))
    return [target_path(str(s["_target_"]), locator).rsplit(".", 1)[-1] for s in steps]


def _transforms(section: Any) -> list[Mapping[str, Any]]:
    """The transforms of a Compose section (dicts with a `_target_`)."""
    if not isinstance(section, Mapping):
        return []
    steps = section.get("transforms")
    if not isinstance(steps, list):
        return []
    return [s for s in steps if isinstance(s, Mapping) and isinstance(s.get("_target_"), str)]


def _numbers(value: Any, n: int) -> tuple[float, ...] | None:
    """`value` as n plain numbers, or None (a reference, an expression, the wrong count)."""
    if not isinstance(value, list | tuple) or len(value) != n:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    return tuple(float(v) for v in value)


__all__ = ["card_fields", "channel_def", "classify", "input_problems", "label_mapping"]
