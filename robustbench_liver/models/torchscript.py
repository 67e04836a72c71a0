"""The TorchScript adapter: a scripted or traced network in one file, sha256-verified before
it is loaded, run through the same pipeline as the torch adapter.

Spec (YAML, paths relative to the spec file):

    adapter: torchscript
    file: model.ts                     # torch.jit.save output
    sha256: <64 hex digits>
    device: auto
    card: {name: my-scripted-unet, spacing_mm: [1.5, 1.5, 2.5], ...}
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robustbench_liver.errors import ModelError
from robustbench_liver.inference import choose_device, segment
from robustbench_liver.models.checksum import verify_weights
from robustbench_liver.models.protocol import ModelCard, SegmentationModel, check_input
from robustbench_liver.models.spec import Args, card_of


class TorchScriptModel(SegmentationModel):
    """A TorchScript network: (N, 1, X, Y, Z) normalised input -> (N, C, X, Y, Z) logits."""

    def __init__(self, card: ModelCard, device: str = "auto"):
        if card.weights is None:
            raise ModelError(f"model {card.name!r}: the card names no TorchScript file")
        self.card = card
        self.settings = card.inference_settings()
        self.device = choose_device(device)
        path = verify_weights(card.weights, card.sha256, card.name)
        try:
            with warnings.catch_warnings():  # deprecated in recent torch, still widely shipped
                warnings.simplefilter("ignore", DeprecationWarning)
                self.network = torch.jit.load(str(path), map_location=self.device).eval()
        except Exception as err:  # torch raises RuntimeError and friends for bad archives
            raise ModelError(
                f"model {card.name!r}: {path} is not a loadable TorchScript file "
                f"({type(err).__name__}: {str(err).strip().splitlines()[0][:300]}). "
                "Write it with torch.jit.save(torch.jit.script(net), path)"
            ) from None

    def predict(
        self,
        image_hu: np.ndarray,
        spacing: tuple[float, float, float],
        liver: np.ndarray | None = None,
    ) -> np.ndarray:
        image, sp, mask = check_input(self.card, image_hu, spacing, liver)
        return segment(self.network, image, sp, self.settings, self.device, mask)


def from_spec(data: Mapping[str, Any], path: Path) -> TorchScriptModel:
    """A TorchScriptModel from a parsed spec file (see the module docstring)."""
    args = Args(data, path, "torchscript")
    file = args.path_of("file", what="the TorchScript file (torch.jit.save)")
    sha256 = args.take("sha256", str, None)
    device = args.take("device", str, "auto")
    args.done()
    card = card_of(data.get("card"), path, "torchscript", weights=str(file), sha256=sha256)
    return TorchScriptModel(card, device)


__all__ = ["TorchScriptModel", "from_spec"]
