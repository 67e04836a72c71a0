"""Liver masks from a model, for base scans that come without labels: the paper's step 0 (a
pre-trained network finds the liver; tumors are then synthesized inside it).

A scenario source says `liver_from: {model: NAME_OR_SPEC, label: 1}`. For each base scan the
model runs once through the suite's model machinery (`models.get_model`: a registered name
or a spec file, e.g. TotalSegmentator through the command adapter); its output is cached by
the scan's image digest and the model's identity (`sources.liver_cache`), so later runs,
scenarios and workers read it instead of running the model. The voxels with the `label`
value(s) are the liver; the mask is then checked, and one that looks wrong is refused with
the scan named: empty, fragmented (its largest piece under `min_largest_share`), a volume
outside `volume_l` (a scan that cuts the liver: only above the upper bound or under
PARTIAL_MIN_L), a median HU outside `median_hu`, or more than `max_body_share` of the body.

No vessel mask comes from the model: synthesis then finds vessels in the image itself
(`vessel_source: auto` is the paper's threshold rule, synthesis.vessels).
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from robustbench_liver.errors import DataError, RobustBenchError
from robustbench_liver.io.scan import WHOLE_LIVER_MIN_EXTENT_MM, LiverMaskWarning
from robustbench_liver.io.volume import Volume, read_volume
from robustbench_liver.sources.liver_cache import LiverMaskCache, mask_key
from robustbench_liver.types import Scan

PARTIAL_MIN_L = 0.05
"""Least liver (litres) a scan that cuts the liver may hold: less is no base for tumors."""
BODY_HU = -500.0
"""Voxels above this are the body (not air), for `max_body_share`."""
SPEC_SUFFIXES = (".yaml", ".yml")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class LiverFrom:
    """A source's `liver_from`, with the model resolved (hashable: it is a ScanRef arg)."""

    model: str
    """A registered model name, or the absolute path of a model spec file."""
    label: tuple[int, ...]
    volume_l: tuple[float, float] = (0.6, 3.5)
    median_hu: tuple[float, float] = (-20.0, 250.0)
    max_body_share: float = 0.5
    min_largest_share: float = 0.8

    @classmethod
    def of(cls, fields: Any, scenario_file: Path | None) -> LiverFrom:
        """From the scenario's `liver_from` (schema.LiverFromModel or its fields), the model
        resolved against the scenario file (`model_reference`)."""
        data = fields.model_dump() if hasattr(fields, "model_dump") else dict(fields)
        label = data["label"]
        return cls(
            model=model_reference(str(data["model"]), scenario_file),
            label=(label,) if isinstance(label, int) else tuple(label),
            volume_l=tuple(data.get("volume_l", cls.volume_l)),
            median_hu=tuple(data.get("median_hu", cls.median_hu)),
            max_body_share=float(data.get("max_body_share", cls.max_body_share)),
            min_largest_share=float(data.get("min_largest_share", cls.min_largest_share)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def model_reference(model: str, scenario_file: Path | None) -> str:
    """A registered name as it is; a spec file (.yaml, or any name with a '/') relative to the
    scenario file, which it may not leave (symlinks followed), as an absolute path."""
    if not (model.lower().endswith(SPEC_SUFFIXES) or "/" in model or "\\" in model):
        return model
    if Path(model).is_absolute() or Path(model).expanduser() != Path(model):
        raise DataError(
            f"liver_from.model {model!r} must be a path relative to the scenario file",
            None,  # the scenario's error names its file
            "put the model spec beside the scenario (its argv may point anywhere)",
        )
    if scenario_file is None:  # a scenario given as data (a report's copy): the working folder
        return str(Path(model).resolve())
    folder = Path(scenario_file).resolve().parent
    target = (folder / model).resolve()
    if not target.is_relative_to(folder):
        raise DataError(
            f"liver_from.model {model!r} leaves the scenario folder {folder}; keep the spec "
            "inside it"
        )
    if not target.is_file():
        raise DataError(
            f"liver_from.model {model!r}: no model spec at {target}",
            None,
            "paths are relative to the scenario file; or give a registered model name",
        )
    return str(target)


def load_scan_with_model(image_path: str | Path, liver_from: LiverFrom, id: str) -> Scan:
    """A base scan whose liver mask a model makes (cached: see the module docstring)."""
    volume = read_volume(image_path)
    image = volume.array.astype(np.float32, copy=False)
    if not np.isfinite(image).all():
        raise DataError(
            "the image has non-finite voxels (NaN or inf)",
            volume.path,
            "replace them (e.g. with -1024 HU) before use",
        )
    labels, where, who = model_output(volume, image, liver_from, id)
    mask = np.isin(labels, liver_from.label)
    liver = checked_liver(mask, image, volume.spacing, liver_from, id, who["name"], where)
    return Scan(
        image=image,
        spacing=volume.spacing,
        liver=liver,
        affine=volume.affine,
        id=id,
        provenance={
            "image": str(volume.path),
            "labels": None,
            "liver": str(where),
            "liver_from": {**liver_from.to_dict(), "card": who},
            "liver_label": None,
            "vessel_labels": [],
        },
    )


def model_output(
    volume: Volume, image: np.ndarray, liver_from: LiverFrom, scan_id: str
) -> tuple[np.ndarray, Path, dict[str, Any]]:
    """The model's 0/1/2 output on the scan (from the cache, or run once and stored), the
    cache file that holds it, and the model's identity."""
    from robustbench_liver.sources.refs import volume_digest

    model, who = _model(liver_from.model)
    cache = LiverMaskCache()
    key = mask_key(volume_digest(image, volume.spacing), who)
    found = cache.get(key, image.shape)
    if found is not None:
        return found, cache.path(key), who
    with cache.lock(key):
        found = cache.get(key, image.shape)  # another worker may have made it meanwhile
        if found is not None:
            return found, cache.path(key), who
        labels = _run(model, who, image, volume.spacing, scan_id, volume.path)
        about = {"scan": scan_id, "image": str(volume.path), "model": who}
        cache.put(key, labels, volume.affine, about)
    return labels, cache.path(key), who


@functools.lru_cache(maxsize=8)
def _model(reference: str) -> tuple[Any, dict[str, Any]]:
    """The model (built once per process) and its identity: card name, version and weights
    sha256, and for a spec file the file's own sha256 (not only the card says what the tool
    outputs: an edited argv or remap must not reuse the old masks)."""
    # the model machinery, imported only when a source asks for a model's liver
    from robustbench_liver.models.checksum import sha256_of
    from robustbench_liver.models.registry import get_model

    model = get_model(reference)
    card = model.card
    where = f"liver_from.model {reference!r} ({card.name})"
    if card.output != "labels":
        raise DataError(
            f"{where} outputs tumor probabilities; a liver mask needs a model with label "
            "output (card output: labels)"
        )
    if card.needs_liver:
        raise DataError(
            f"{where} needs a liver mask itself; liver_from needs a model that finds the liver "
            "in the image alone"
        )
    who = {"name": card.name, "version": card.version, "sha256": card.sha256}
    if Path(reference).is_file():  # a spec: its argv, remap or env change the output too
        who["spec_sha256"] = sha256_of(reference)
    return model, who


def _run(
    model: Any,
    who: dict[str, Any],
    image: np.ndarray,
    spacing: tuple[float, float, float],
    scan_id: str,
    path: Path,
) -> np.ndarray:
    """Run the model on one scan; its failure is a DataError that names scan and model."""
    from robustbench_liver.models.protocol import BatchItem

    case_id = scan_id if _SAFE_ID.match(scan_id) else f"scan-{scan_id}"
    try:
        if callable(getattr(model, "predict_batch", None)):
            result = model.predict_batch([BatchItem(case_id, image, spacing)]).get(case_id)
        else:
            result = model.predict(image, spacing)
        if isinstance(result, Exception):
            raise result
    except RobustBenchError as err:
        raise DataError(
            f"scan {scan_id}: no liver mask, the model {who['name']!r} failed: {err}", path
        ) from None
    output = np.asarray(result)
    if output.shape != image.shape or output.dtype.kind not in "biuf":
        raise DataError(
            f"scan {scan_id}: the liver model {who['name']!r} gave {output.dtype} of shape "
            f"{output.shape}; the scan is {image.shape}",
            path,
        )
    fractional = output.dtype.kind == "f" and not np.array_equal(output, np.round(output))
    if fractional or output.min(initial=0) < 0 or output.max(initial=0) > 2:
        raise DataError(
            f"scan {scan_id}: the liver model {who['name']!r} gave values other than 0/1/2",
            path,
            "a model's output is 0 background, 1 liver, 2 tumor",
        )
    return output.astype(np.uint8)


def checked_liver(
    mask: np.ndarray,
    image: np.ndarray,
    spacing: Sequence[float],
    liver_from: LiverFrom,
    scan_id: str,
    model_name: str = "",
    output: Path | None = None,
) -> np.ndarray:
    """The mask's largest connected piece, after the checks in the module docstring; a
    DataError naming the scan, what looks wrong and where the model's output is otherwise."""

    def refuse(what: str, knob: str) -> DataError:
        shown = f"; its output: {output} (open it over the CT)" if output is not None else ""
        return DataError(
            f"scan {scan_id}: the liver mask from model {model_name or liver_from.model!r} "
            f"looks wrong: {what}",
            None,
            f"check the model and `liver_from.label` ({list(liver_from.label)}), or widen "
            f"`liver_from.{knob}` if this liver really is so{shown}",
        )

    if not mask.any():
        raise refuse(f"the model marked no voxel {list(liver_from.label)}", "label")
    pieces, count = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    kept, dropped = mask, ""
    if count > 1:
        sizes = np.bincount(pieces.ravel())[1:]
        share = float(sizes.max() / sizes.sum())
        if share < liver_from.min_largest_share:
            raise refuse(
                f"fragmented into {count} pieces, the largest holds {share:.0%} of it (at "
                f"least {liver_from.min_largest_share:.0%} expected)",
                "min_largest_share",
            )
        kept = pieces == int(np.argmax(sizes)) + 1
        ml = float(sizes.sum() - sizes.max()) * math.prod(spacing) / 1000.0
        dropped = (
            f"scan {scan_id}: kept the largest piece of the model's liver mask ({share:.1%}); "
            f"dropped {count - 1} smaller piece(s), {ml:.1f} ml"
        )
    volume_l = float(kept.sum()) * math.prod(float(s) for s in spacing) / 1e6
    partial = _cuts_the_liver(kept, spacing)
    low, high = liver_from.volume_l
    floor = PARTIAL_MIN_L if partial else low
    if not floor <= volume_l <= high:
        cut = " (the scan cuts the liver)" if partial else ""
        raise refuse(f"{volume_l:.2f} l{cut}, outside {floor:g}-{high:g} l", "volume_l")
    median = float(np.median(image[kept]))
    if not liver_from.median_hu[0] <= median <= liver_from.median_hu[1]:
        low_hu, high_hu = liver_from.median_hu
        raise refuse(f"median {median:.0f} HU, outside {low_hu:g}..{high_hu:g} HU", "median_hu")
    body = int((image > BODY_HU).sum())
    share = float(kept.sum()) / max(body, 1)
    if share > liver_from.max_body_share:
        raise refuse(
            f"it holds {share:.0%} of the body (voxels above {BODY_HU:g} HU)", "max_body_share"
        )
    if dropped:  # only about a mask that is used
        warnings.warn(dropped, LiverMaskWarning, stacklevel=3)
    return kept


def _cuts_the_liver(mask: np.ndarray, spacing: Sequence[float]) -> bool:
    """Whether the grid may cut the liver: too short to hold one, or the mask touches a face
    (as io.scan judges a label map's liver)."""
    if any(
        n * float(s) < WHOLE_LIVER_MIN_EXTENT_MM for n, s in zip(mask.shape, spacing, strict=True)
    ):
        return True
    return any(
        mask.take(0, axis=axis).any() or mask.take(-1, axis=axis).any() for axis in range(mask.ndim)
    )


__all__ = ["BODY_HU", "PARTIAL_MIN_L", "LiverFrom", "load_scan_with_model", "model_reference"]
