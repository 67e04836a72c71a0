"""Shared inference machinery: HU window normalisation, resampling, MONAI sliding windows.

Used by the torch and TorchScript adapters and by training (which must prepare its patches
exactly as inference prepares a scan). Knows nothing about models or their registry: a
network is any callable from a (N, 1, X, Y, Z) tensor to (N, C, X, Y, Z) logits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from robustbench_liver.errors import ModelError

if TYPE_CHECKING:  # torch is imported where it is used: cards and liver boxes need none of it
    import torch

PAPER_HU_WINDOW: tuple[float, float] = (-21.0, 189.0)
"""The training window of Hu et al. (CVPR 2023)."""

Normalize = Literal["zscore", "window", "none"]
Output = Literal["labels", "probability"]
CLASS_LABELS = {"background": 0, "liver": 1, "tumor": 2, "vessel": 0}
"""Label value written for each named network output channel. "vessel" (a vessel outside the
liver, an extra training class that competes with tumor) is written as background."""

Predictor = Callable[["torch.Tensor"], "torch.Tensor"]


@dataclass(frozen=True)
class InferenceSettings:
    """How a scan is turned into network input and the network's output back into a map."""

    hu_window: tuple[float, float] | None = PAPER_HU_WINDOW
    """Clip HU to this window first; None = no clipping."""
    normalize: Normalize = "zscore"
    """zscore: zero mean, unit variance over the (clipped, resampled) volume; window: the
    window mapped linearly to [0, 1]; none: HU as they are."""
    spacing_mm: tuple[float, float, float] | None = None
    """Resample to this voxel size before the network and back after; None = native grid."""
    roi_size: tuple[int, int, int] = (96, 96, 96)
    """Sliding-window patch size in voxels (of the model's grid)."""
    overlap: float = 0.75
    """Sliding-window overlap (the paper: 0.75), Gaussian blending."""
    sw_batch_size: int = 1
    """Windows per network call."""
    classes: tuple[str, ...] = ("background", "liver", "tumor")
    """Meaning of each output channel (background, liver, tumor, vessel); one channel = tumor
    logit."""
    output: Output = "labels"
    """labels: argmax as 0/1/2; probability: the tumor probability in [0, 1]."""
    crop_to_liver: bool = False
    """Run only on the liver's bounding box (plus `crop_margin_mm`) when a mask is given."""
    crop_margin_mm: float = 20.0
    min_tumor_mm3: float = 0.0
    """Label outputs: tumor components (26-connected) smaller than this become liver (1)."""
    tumors_in_liver: bool = False
    """Label outputs: tumor components outside the largest liver-and-tumor component
    become background (a liver tumor lies in the liver)."""
    min_tumor_confidence: float = 0.0
    """Label outputs: tumor components whose peak tumor probability is below this become
    liver (0 = off): a lesion-level confidence threshold."""

    def __post_init__(self) -> None:
        if self.hu_window is not None:
            lo, hi = (float(v) for v in self.hu_window)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ModelError(
                    f"hu_window must be (low, high) with low < high, got {self.hu_window}"
                )
            object.__setattr__(self, "hu_window", (lo, hi))
        if self.normalize not in ("zscore", "window", "none"):
            raise ModelError(f"normalize must be zscore, window or none, got {self.normalize!r}")
        if self.normalize == "window" and self.hu_window is None:
            raise ModelError("normalize: window needs an hu_window")
        if self.spacing_mm is not None:
            spacing = tuple(float(s) for s in self.spacing_mm)
            if len(spacing) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing):
                raise ModelError(f"spacing_mm must be 3 positive numbers, got {self.spacing_mm}")
            object.__setattr__(self, "spacing_mm", spacing)
        roi = tuple(int(r) for r in self.roi_size)
        if len(roi) != 3 or min(roi) < 1:
            raise ModelError(f"roi_size must be 3 positive integers, got {self.roi_size}")
        object.__setattr__(self, "roi_size", roi)
        if not 0.0 <= float(self.overlap) < 1.0:
            raise ModelError(f"overlap must lie in [0, 1), got {self.overlap}")
        if int(self.sw_batch_size) < 1:
            raise ModelError(f"sw_batch_size must be at least 1, got {self.sw_batch_size}")
        classes = tuple(self.classes)
        unknown = [c for c in classes if c not in CLASS_LABELS]
        if unknown or not classes or (len(classes) > 1 and "tumor" not in classes):
            raise ModelError(
                f"classes must name each output channel as background, liver, tumor or vessel "
                f"(with a tumor channel), got {list(classes)}"
            )
        object.__setattr__(self, "classes", classes)
        if self.output not in ("labels", "probability"):
            raise ModelError(f"output must be labels or probability, got {self.output!r}")
        if not (math.isfinite(self.min_tumor_mm3) and self.min_tumor_mm3 >= 0):
            raise ModelError(f"min_tumor_mm3 must be a number >= 0, got {self.min_tumor_mm3}")
        if not 0.0 <= float(self.min_tumor_confidence) <= 1.0:
            raise ModelError(
                f"min_tumor_confidence must lie in [0, 1], got {self.min_tumor_confidence}"
            )


def choose_device(preference: str = "auto") -> torch.device:
    """CUDA when available (for "auto"), else CPU; an explicit name is taken as given."""
    import torch

    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(preference)
    except RuntimeError as err:
        raise ModelError(f"unknown device {preference!r} ({err}); use auto, cpu or cuda") from None


def model_grid_shape(
    shape: Sequence[int], spacing: Sequence[float], target: Sequence[float] | None
) -> tuple[int, int, int]:
    """The grid size that covers the same field of view at the `target` voxel size."""
    if target is None:
        return (int(shape[0]), int(shape[1]), int(shape[2]))
    return tuple(  # type: ignore[return-value]
        max(1, round(n * s / t)) for n, s, t in zip(shape, spacing, target, strict=True)
    )


def resample(volume: torch.Tensor, size: Sequence[int], mode: str = "trilinear") -> torch.Tensor:
    """Resample a (X, Y, Z) or (C, X, Y, Z) tensor to `size` (trilinear or nearest)."""
    import torch.nn.functional as F

    size = tuple(int(n) for n in size)
    if tuple(volume.shape[-3:]) == size:
        return volume
    batched = volume.reshape(1, -1, *volume.shape[-3:])
    if mode == "nearest":
        out = F.interpolate(batched, size=size, mode="nearest-exact")
    else:
        out = F.interpolate(batched, size=size, mode="trilinear", align_corners=False)
    return out.reshape(*volume.shape[:-3], *size)


def normalize_hu(
    image: torch.Tensor, window: tuple[float, float] | None, mode: Normalize
) -> torch.Tensor:
    """Clip to the HU window, then zero mean and unit variance (or map the window to [0, 1])."""
    x = image.float()
    if window is not None:
        x = x.clamp(window[0], window[1])
    if mode == "zscore":
        std = x.std()
        x = (x - x.mean()) / (std if float(std) > 1e-6 else 1.0)
    elif mode == "window" and window is not None:
        x = (x - window[0]) / (window[1] - window[0])
    return x


def prepare_image(
    image_hu: np.ndarray, spacing: Sequence[float], settings: InferenceSettings
) -> torch.Tensor:
    """HU volume (X, Y, Z) -> normalised float tensor on the model's grid (training uses
    this too, so patches look exactly as they do at inference)."""
    import torch

    x = torch.from_numpy(_writable(np.ascontiguousarray(image_hu, dtype=np.float32)))
    x = resample(x, model_grid_shape(x.shape, spacing, settings.spacing_mm))
    return normalize_hu(x, settings.hu_window, settings.normalize)


def prepare_labels(
    label: np.ndarray, spacing: Sequence[float], settings: InferenceSettings
) -> torch.Tensor:
    """A 0/1/2 label map on the model's grid (nearest neighbour), as int64."""
    import torch

    y = torch.from_numpy(_writable(np.ascontiguousarray(label))).to(torch.uint8)
    size = model_grid_shape(y.shape, spacing, settings.spacing_mm)
    return resample(y.float(), size, mode="nearest").round().to(torch.int64)


def _writable(array: np.ndarray) -> np.ndarray:
    """torch refuses to share read-only memory (frozen Scan arrays): copy those."""
    return array if array.flags.writeable else array.copy()


def liver_box(
    liver: np.ndarray, spacing: Sequence[float], margin_mm: float
) -> tuple[slice, slice, slice] | None:
    """Bounding box of the liver mask grown by `margin_mm`; None for an empty mask."""
    if not liver.any():
        return None
    box = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.flatnonzero(liver.any(axis=other))
        pad = math.ceil(margin_mm / float(spacing[axis]))
        box.append(slice(max(0, int(idx[0]) - pad), min(liver.shape[axis], int(idx[-1]) + 1 + pad)))
    return (box[0], box[1], box[2])


def sliding_window(
    predictor: Predictor, volume: torch.Tensor, settings: InferenceSettings, device: torch.device
) -> torch.Tensor:
    """Logits (C, X, Y, Z) of a normalised (X, Y, Z) volume, by MONAI's sliding window with
    Gaussian blending (patches on `device`, the stitched result on the CPU)."""
    import torch
    from monai.inferers import sliding_window_inference

    with torch.inference_mode():
        out = sliding_window_inference(
            volume[None, None],
            roi_size=settings.roi_size,
            sw_batch_size=settings.sw_batch_size,
            predictor=lambda patch: predictor(patch.to(device)).float().cpu(),
            overlap=settings.overlap,
            mode="gaussian",
            padding_mode="constant",
            cval=float(volume.min()),  # as training pads: with the darkest value
        )
    return torch.as_tensor(out)[0]


def to_output(
    logits: torch.Tensor, shape: Sequence[int], settings: InferenceSettings
) -> np.ndarray:
    """Logits (C, x, y, z) on the model's grid -> a map of `shape`: uint8 labels via the
    argmax of the upsampled probabilities, or the float32 tumor probability."""
    probs, classes = _probabilities(logits, settings)
    if settings.output == "probability":
        return tumor_probability(probs, classes, shape)
    return labels_and_tumor_probability(probs, classes, shape)[0]


def labels_and_tumor_probability(
    probs: torch.Tensor, classes: Sequence[str], shape: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 labels of `shape` (argmax of the upsampled probabilities) and the upsampled
    tumor probability the decision used (no second upsampling)."""
    if len(classes) == 1:
        tumor = resample(probs[0], shape).numpy()
        return (tumor >= 0.5).astype(np.uint8) * np.uint8(2), tumor
    values = np.asarray([CLASS_LABELS[c] for c in classes], dtype=np.uint8)
    index, tumor = _argmax_keeping(probs, shape, list(classes).index("tumor"))
    return values[index], tumor


def _probabilities(
    logits: torch.Tensor, settings: InferenceSettings
) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Per-channel probabilities (sigmoid of one tumor logit, else softmax) and their names."""
    import torch

    if logits.shape[0] != len(settings.classes):
        raise ModelError(
            f"the network gave {logits.shape[0]} output channels, the card names "
            f"{len(settings.classes)} ({', '.join(settings.classes)})",
        )
    if logits.shape[0] == 1:
        return torch.sigmoid(logits), ("tumor",)
    return torch.softmax(logits, dim=0), settings.classes


def tumor_probability(
    probs: torch.Tensor, classes: Sequence[str], shape: Sequence[int]
) -> np.ndarray:
    """The tumor channel of `probs`, upsampled to `shape`, as float32 in [0, 1]."""
    tumor = probs[list(classes).index("tumor")]
    return resample(tumor, shape).clamp(0.0, 1.0).numpy().astype(np.float32)


def upsampled_argmax(probs: torch.Tensor, shape: Sequence[int]) -> np.ndarray:
    """argmax over channels of the upsampled (C, x, y, z) `probs`, as uint8 indices.

    Equal to `resample(probs, shape).argmax(0)` (ties go to the first channel), without the
    full upsampled stack or the argmax over it: each channel is upsampled on its own and
    compared with the best so far: half the memory, and 4-5x faster at one thread
    (tests/benchmarks/test_bench_models.py).
    """
    return _argmax_keeping(probs, shape, None)[0]


def _argmax_keeping(
    probs: torch.Tensor, shape: Sequence[int], keep: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """`upsampled_argmax`, and channel `keep` as upsampled on the way (empty when None)."""
    import torch

    best = resample(probs[0], shape).contiguous()
    kept = best.clone() if keep == 0 else None
    index = torch.zeros(best.shape, dtype=torch.uint8)
    for c in range(1, probs.shape[0]):
        p = resample(probs[c], shape)
        if c == keep:
            kept = p
        better = p > best
        index.masked_fill_(better, c)
        torch.maximum(best, p, out=best)
    return index.numpy(), np.empty(0, np.float32) if kept is None else kept.numpy()


def drop_small_tumors(labels: np.ndarray, spacing: Sequence[float], min_mm3: float) -> np.ndarray:
    """Relabel tumor components (26-connected) smaller than `min_mm3` as liver."""
    from scipy import ndimage

    components, n = ndimage.label(labels == 2, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return labels
    volumes = np.bincount(components.ravel())[1:] * float(np.prod(spacing))
    small = np.flatnonzero(volumes < min_mm3) + 1
    if small.size:
        labels = labels.copy()
        labels[np.isin(components, small)] = 1
    return labels


def drop_unsure_tumors(
    labels: np.ndarray, tumor_prob: np.ndarray, min_confidence: float
) -> np.ndarray:
    """Relabel tumor components (26-connected) whose peak tumor probability is below
    `min_confidence` as liver."""
    from scipy import ndimage

    tumor = labels == 2
    components, n = ndimage.label(tumor, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return labels
    peaks = np.full(n, -1.0)
    np.maximum.at(peaks, components[tumor] - 1, tumor_prob[tumor])  # tumor voxels only: fast
    unsure = np.flatnonzero(peaks < min_confidence) + 1
    if unsure.size:
        labels = labels.copy()
        labels[np.isin(components, unsure)] = 1
    return labels


def keep_tumors_in_liver(labels: np.ndarray) -> np.ndarray:
    """Tumor voxels outside the largest 26-connected component of liver and tumor become
    background; an empty prediction stays as it is."""
    from scipy import ndimage

    components, n = ndimage.label(labels > 0, structure=np.ones((3, 3, 3), dtype=bool))
    if n <= 1:
        return labels
    largest = int(np.argmax(np.bincount(components.ravel())[1:])) + 1
    stray = (labels == 2) & (components != largest)
    if not stray.any():
        return labels
    labels = labels.copy()
    labels[stray] = 0
    return labels


def postprocess_labels(
    labels: np.ndarray, spacing: Sequence[float], min_tumor_mm3: float, tumors_in_liver: bool
) -> np.ndarray:
    """A card's post-processing of a 0/1/2 label map: small tumor components become liver,
    then (when asked) tumor outside the liver becomes background."""
    if min_tumor_mm3 > 0:
        labels = drop_small_tumors(labels, spacing, min_tumor_mm3)
    if tumors_in_liver:
        labels = keep_tumors_in_liver(labels)
    return labels


def segment(
    predictor: Predictor,
    image_hu: np.ndarray,
    spacing: Sequence[float],
    settings: InferenceSettings,
    device: torch.device,
    liver: np.ndarray | None = None,
) -> np.ndarray:
    """The whole pipeline for one scan: optional liver crop, resampling to the model's grid,
    normalisation, sliding window, and back to the input's grid and shape."""
    image = np.asarray(image_hu, dtype=np.float32)
    box = None
    if settings.crop_to_liver and liver is not None:
        box = liver_box(np.asarray(liver, dtype=bool), spacing, settings.crop_margin_mm)
    crop = image[box] if box is not None else image
    volume = prepare_image(crop, spacing, settings)
    logits = sliding_window(predictor, volume, settings, device)
    probs, classes = _probabilities(logits, settings)
    if settings.output == "probability":
        result = tumor_probability(probs, classes, crop.shape)
    else:  # the tumor channel comes with the labels at no cost: the decision upsampled it
        result, tumor = labels_and_tumor_probability(probs, classes, crop.shape)
        if settings.min_tumor_confidence > 0:
            result = drop_unsure_tumors(result, tumor, settings.min_tumor_confidence)
        result = postprocess_labels(
            result, spacing, settings.min_tumor_mm3, settings.tumors_in_liver
        )
    if box is None:
        return result
    full = np.zeros(image.shape, dtype=result.dtype)
    full[box] = result
    return full


__all__ = [
    "CLASS_LABELS",
    "PAPER_HU_WINDOW",
    "InferenceSettings",
    "choose_device",
    "drop_small_tumors",
    "drop_unsure_tumors",
    "keep_tumors_in_liver",
    "labels_and_tumor_probability",
    "liver_box",
    "model_grid_shape",
    "normalize_hu",
    "postprocess_labels",
    "prepare_image",
    "prepare_labels",
    "resample",
    "segment",
    "sliding_window",
    "to_output",
    "tumor_probability",
    "upsampled_argmax",
]
