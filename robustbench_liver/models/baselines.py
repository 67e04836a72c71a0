"""The built-in baselines: a classical HU-threshold detector and unet-synth.

hu-threshold needs the liver mask and no training: the kind of unsupervised baseline the
paper compares against. unet-synth is a MONAI 3D U-Net trained only on synthetic tumors;
its weights ship in models/weights/ and are described by a torch-adapter spec there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from robustbench_liver.errors import ModelError
from robustbench_liver.inference import liver_box
from robustbench_liver.models.protocol import ModelCard, SegmentationModel, check_input
from robustbench_liver.models.registry import load_spec, register_model

WEIGHTS = Path(__file__).resolve().parent / "weights"
UNET_SYNTH_SPEC = WEIGHTS / "unet_synth.yaml"
_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)  # 26-connected components


@dataclass(frozen=True)
class ThresholdParams:
    """Parameters of the hu-threshold detector (HU and mm, not voxels)."""

    smoothing_mm: float = 1.5
    """sigma of the Gaussian smoothing, normalised inside the liver (so the dark fat
    outside the liver does not leak into its rim)."""
    k_seed: float = 3.0
    """Seeds: smoothed HU below the parenchyma median minus k_seed robust SDs."""
    k_grow: float = 2.0
    """Seeds grow (hysteresis) through voxels below the median minus k_grow robust SDs."""
    opening_voxels: int = 1
    """Binary opening of the seeds (iterations of the 6-connected structure)."""
    min_volume_mm3: float = 100.0
    """Seed components smaller than this are dropped (about a 2.9 mm radius sphere)."""

    def card_text(self) -> str:
        return (
            f"Gaussian smoothing {self.smoothing_mm} mm inside the liver; seeds below the "
            f"parenchyma median - {self.k_seed} x 1.4826 MAD; opening {self.opening_voxels} "
            f"voxel; seed components >= {self.min_volume_mm3:g} mm3; grown through voxels "
            f"below median - {self.k_grow} x 1.4826 MAD (hysteresis, 26-connected)"
        )


class HuThreshold(SegmentationModel):
    """Hypo-attenuating regions of the liver, found with robust statistics. Deterministic."""

    def __init__(self, params: ThresholdParams | None = None):
        self.params = params or ThresholdParams()
        self.card = ModelCard(
            name="hu-threshold",
            version="1",
            description="classical unsupervised detector: hypo-attenuating regions in the liver",
            adapter="python",
            hu_window=None,
            normalize="none",
            needs_liver=True,
            output="labels",
            license="Apache-2.0",
            citation="robustbench-liver baseline (after the thresholding baselines of Hu et "
            "al., CVPR 2023)",
            trained_on=f"nothing (no training). {self.params.card_text()}",
        )

    def predict(
        self,
        image_hu: np.ndarray,
        spacing: tuple[float, float, float],
        liver: np.ndarray | None = None,
    ) -> np.ndarray:
        image, sp, mask = check_input(self.card, image_hu, spacing, liver)
        out = np.zeros(image.shape, dtype=np.uint8)
        box = liver_box(mask, sp, 3.0 * self.params.smoothing_mm) if mask is not None else None
        if mask is None or box is None:  # no liver, nothing to look in
            return out
        out[mask] = 1
        tumor = self.detect(image[box], mask[box], sp)
        out[box][tumor] = 2
        return out

    def detect(
        self, image: np.ndarray, liver: np.ndarray, spacing: tuple[float, ...]
    ) -> np.ndarray:
        """The tumor mask inside `liver`."""
        p = self.params
        sigma = [p.smoothing_mm / s for s in spacing]
        weight = ndimage.gaussian_filter(liver.astype(np.float32), sigma)
        inside = np.where(liver, image, np.float32(0)).astype(np.float32)
        smooth = ndimage.gaussian_filter(inside, sigma) / np.maximum(weight, np.float32(1e-3))
        values = smooth[liver]
        median = float(np.median(values))
        sd = 1.4826 * float(np.median(np.abs(values - median)))
        if sd <= 0:
            return np.zeros(liver.shape, dtype=bool)
        seeds = liver & (smooth < median - p.k_seed * sd)
        if p.opening_voxels:
            seeds = ndimage.binary_opening(seeds, iterations=p.opening_voxels)
        labels, n = ndimage.label(seeds, structure=_CONNECTIVITY)
        if n == 0:
            return seeds
        volumes = ndimage.sum_labels(seeds, labels, np.arange(1, n + 1)) * float(np.prod(spacing))
        seeds = np.isin(labels, 1 + np.flatnonzero(volumes >= p.min_volume_mm3))
        region, _ = ndimage.label(liver & (smooth < median - p.k_grow * sd), _CONNECTIVITY)
        kept = np.unique(region[seeds])
        return np.isin(region, kept[kept > 0])


@register_model("hu-threshold")
def hu_threshold() -> HuThreshold:
    return HuThreshold()


@register_model("unet-synth")
def unet_synth() -> SegmentationModel:
    """The shipped U-Net; its spec names the weights and their sha256 (checked on load)."""
    if not UNET_SYNTH_SPEC.is_file():
        raise ModelError(
            f"model 'unet-synth': its shipped spec {UNET_SYNTH_SPEC} is missing from this "
            "installation; reinstall robustbench-liver (the wheel must include "
            "robustbench_liver/models/weights/*)"
        )
    return load_spec(UNET_SYNTH_SPEC)


__all__ = ["UNET_SYNTH_SPEC", "HuThreshold", "ThresholdParams", "hu_threshold", "unet_synth"]
