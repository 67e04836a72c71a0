"""What a segmentation model is to the suite: `predict` on one scan, and a model card."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from robustbench_liver.errors import ModelError, did_you_mean
from robustbench_liver.inference import PAPER_HU_WINDOW, InferenceSettings
from robustbench_liver.types import NETWORK_ADAPTERS, NETWORK_FIELDS, card_for_display

ADAPTERS = ("torch", "torchscript", "command", "python", "nnunet", "monai-bundle")
OUTPUTS = ("labels", "probability")


@dataclass(frozen=True)
class ModelCard:
    """Who a model is and what it expects: shown by `robustbench-liver models`, stored with
    every run."""

    name: str
    """Registered name (or the spec file's `name`)."""
    version: str = "0"
    """Changes whenever the weights or the pre/post-processing change."""
    description: str = ""
    adapter: str = "python"
    """torch, torchscript, command, nnunet, monai-bundle, or python (a model written in Python)."""
    hu_window: tuple[float, float] | None = PAPER_HU_WINDOW
    """HU window the input is clipped to; None = raw HU."""
    normalize: str = "zscore"
    """After the window: zscore (zero mean, unit variance), window (to [0, 1]) or none."""
    spacing_mm: tuple[float, float, float] | None = None
    """Voxel size the model works at (input is resampled to it and back); None = any."""
    needs_liver: bool = False
    """True when `predict` needs the liver mask (e.g. a detector that looks only inside it)."""
    output: str = "labels"
    """labels: a 0/1/2 label map (uint8); probability: tumor probability in [0, 1]."""
    classes: tuple[str, ...] = ("background", "liver", "tumor")
    """Meaning of the network's output channels (network adapters)."""
    roi_size: tuple[int, int, int] = (96, 96, 96)
    """Sliding-window patch size on the model's grid (network adapters)."""
    overlap: float = 0.75
    """Sliding-window overlap, Gaussian blending (network adapters)."""
    min_tumor_mm3: float = 0.0
    """Post-processing of label outputs: smaller tumor components become liver (0 = off)."""
    tumors_in_liver: bool = False
    """Post-processing of label outputs: tumor components outside the largest
    liver-and-tumor component become background (network adapters)."""
    min_tumor_confidence: float = 0.0
    """Post-processing of label outputs: tumor components whose peak tumor probability is
    below this become liver (network adapters; 0 = off)."""
    weights: str | None = None
    """Path of the weights file (network adapters)."""
    sha256: str | None = None
    """sha256 of the weights file, checked before it is loaded."""
    license: str = "unknown"
    citation: str = ""
    trained_on: str = ""
    """What the model was trained on, for people; for unet-synth, which base scans it saw."""
    trained_on_scans: tuple[str, ...] = ()
    """The base scans it was trained on, as `sources.refs.image_digest` values (sha256 hex of
    the image content, whatever the file's path or format): a run marks every case built on
    one of them `seen_in_training`."""

    def __post_init__(self) -> None:
        where = f"model card {self.name!r}"
        if not self.name or not isinstance(self.name, str):
            raise ModelError(f"{where}: name must be a non-empty string")
        if self.adapter not in ADAPTERS:
            raise ModelError(f"{where}: " + did_you_mean(str(self.adapter), ADAPTERS, "adapter"))
        if self.output not in OUTPUTS:
            raise ModelError(f"{where}: " + did_you_mean(str(self.output), OUTPUTS, "output"))
        if self.sha256 is not None:
            digest = str(self.sha256).lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ModelError(f"{where}: sha256 must be 64 hex digits, got {self.sha256!r}")
            object.__setattr__(self, "sha256", digest)
        set_ = object.__setattr__
        set_(self, "version", str(self.version))
        set_(self, "classes", tuple(self.classes))
        set_(self, "trained_on_scans", _digests(self.trained_on_scans, where))
        set_(self, "roi_size", tuple(int(v) for v in self.roi_size))
        if self.hu_window is not None:
            set_(self, "hu_window", tuple(float(v) for v in self.hu_window))
        if self.spacing_mm is not None:
            set_(self, "spacing_mm", tuple(float(v) for v in self.spacing_mm))
        for name in ("overlap", "min_tumor_mm3", "min_tumor_confidence"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ModelError(f"{where}: {name} must be a number, got {value!r}")
        if not isinstance(self.tumors_in_liver, bool):
            raise ModelError(f"{where}: tumors_in_liver must be true or false")
        try:
            self.inference_settings()
        except ModelError as err:
            raise ModelError(f"{where}: {err}") from None

    def inference_settings(self) -> InferenceSettings:
        """The pre- and post-processing the network adapters run."""
        return InferenceSettings(
            hu_window=self.hu_window,
            normalize=self.normalize,  # type: ignore[arg-type]
            spacing_mm=self.spacing_mm,
            roi_size=self.roi_size,
            overlap=float(self.overlap),
            min_tumor_mm3=float(self.min_tumor_mm3),
            tumors_in_liver=bool(self.tumors_in_liver),
            min_tumor_confidence=float(self.min_tumor_confidence),
            classes=self.classes,
            output=self.output,  # type: ignore[arg-type]
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (lists for tuples)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "model card") -> ModelCard:
        """Build from plain data; an unknown field is an error naming the closest known one."""
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ModelError(f"{where}: " + did_you_mean(str(key), known, "card field"))
        try:
            return cls(**data)
        except TypeError as err:
            raise ModelError(f"{where}: {err}") from None


def _digests(value: Any, where: str) -> tuple[str, ...]:
    """`trained_on_scans` as lower-case sha256 hex strings (YAML gives a list)."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ModelError(f"{where}: trained_on_scans must be a list of sha256 digests")
    out = []
    for item in value:
        digest = str(item).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ModelError(
                f"{where}: trained_on_scans: {item!r} is not a sha256 digest (64 hex digits); "
                "compute one with `python -m robustbench_liver.training.digests`"
            )
        out.append(digest)
    return tuple(out)


class BatchItem(NamedTuple):
    """One case of a `predict_batch` call."""

    case_id: str
    image_hu: np.ndarray
    spacing: tuple[float, float, float]
    liver: np.ndarray | None = None


@runtime_checkable
class SegmentationModel(Protocol):
    """A liver-tumor segmentation model. Subclass it to inherit `predict_batch`'s loop."""

    card: ModelCard

    def predict(
        self,
        image_hu: np.ndarray,
        spacing: tuple[float, float, float],
        liver: np.ndarray | None = None,
    ) -> np.ndarray:
        """Segment one scan: `image_hu` float32 HU with axes (x, y, z), `spacing` in mm,
        `liver` a bool mask of the same shape (given when the card says `needs_liver`).

        Returns an array of the input's shape: a uint8 label map (0 background, 1 liver,
        2 tumor) or a float tumor probability in [0, 1], as the card's `output` says.
        """
        ...

    def predict_batch(self, items: Iterable[BatchItem]) -> dict[str, np.ndarray | Exception]:
        """Segment many cases; a case that fails maps to its exception, the rest go on.
        Adapters that run faster in batches (the command adapter) override this."""
        results: dict[str, np.ndarray | Exception] = {}
        for item in items:
            try:
                results[item.case_id] = self.predict(item.image_hu, item.spacing, item.liver)
            except Exception as err:  # one case's failure must not end the batch
                results[item.case_id] = err
        return results


def check_input(
    card: ModelCard, image_hu: np.ndarray, spacing: tuple[float, float, float], liver: Any
) -> tuple[np.ndarray, tuple[float, float, float], np.ndarray | None]:
    """Validate `predict`'s arguments against the card; ModelErrors that say what to pass."""
    image = np.asarray(image_hu)
    where = f"model {card.name!r}"
    if image.ndim != 3:
        raise ModelError(f"{where}: image must be 3D (x, y, z), got shape {image.shape}")
    try:
        sp = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        raise ModelError(f"{where}: spacing must be 3 numbers in mm, got {spacing!r}") from None
    if len(sp) != 3 or not all(math.isfinite(s) and s > 0 for s in sp):
        raise ModelError(f"{where}: spacing must be 3 positive numbers in mm, got {spacing!r}")
    mask = None
    if liver is not None:
        mask = np.asarray(liver)
        if mask.shape != image.shape:
            raise ModelError(
                f"{where}: liver mask shape {mask.shape} differs from the image's {image.shape}"
            )
        mask = mask.astype(bool, copy=False)
    elif card.needs_liver:
        raise ModelError(
            f"{where} needs the liver mask (its card says needs_liver): pass liver=<bool mask>"
        )
    return image.astype(np.float32, copy=False), (sp[0], sp[1], sp[2]), mask


__all__ = [
    "ADAPTERS",
    "NETWORK_ADAPTERS",
    "NETWORK_FIELDS",
    "OUTPUTS",
    "BatchItem",
    "ModelCard",
    "SegmentationModel",
    "card_for_display",
    "check_input",
]
