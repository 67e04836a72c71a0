"""The torch adapter: a MONAI network from an allow-list, a verified checkpoint, and the
shared inference pipeline (window, resampling, sliding window, back to the input grid).

Spec (YAML, paths relative to the spec file):

    adapter: torch
    network: UNet                      # a name from NETWORKS (monai.networks.nets)
    network_args: {spatial_dims: 3, in_channels: 1, out_channels: 3,
                   channels: [16, 32, 64, 128], strides: [2, 2, 2], num_res_units: 2}
    checkpoint: model.pt               # a state dict, loaded with weights_only=True
    sha256: <64 hex digits>            # checked before loading
    checkpoint_key: state_dict         # optional: where the state dict sits in the file
    device: auto                       # auto (CUDA when present), cpu, cuda, cuda:1
    card: {name: my-unet, spacing_mm: [2.5, 2.5, 2.5], overlap: 0.75, ...}
"""

from __future__ import annotations

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

NETWORKS = (
    "AttentionUnet",
    "BasicUNet",
    "BasicUNetPlusPlus",
    "DynUNet",
    "HighResNet",
    "SegResNet",
    "SegResNetDS",
    "SwinUNETR",
    "UNETR",
    "UNet",
    "VNet",
)
"""The monai.networks.nets classes a spec may name (no other import, no eval)."""


def build_network(name: str, kwargs: Mapping[str, Any], where: str = "model") -> torch.nn.Module:
    """A MONAI network by allow-listed class name. Built inside `fork_rng`, so its random
    initialisation leaves the global torch RNG exactly as it was."""
    from robustbench_liver.errors import did_you_mean

    if name not in NETWORKS:
        raise ModelError(f"{where}: " + did_you_mean(name, NETWORKS, "network"))
    import monai.networks.nets as nets

    cls = getattr(nets, name)
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    try:
        with torch.random.fork_rng(devices=[]):
            return cls(**args)
    except (TypeError, ValueError, AssertionError) as err:
        raise ModelError(f"{where}: cannot build {name}({_show(args)}): {err}") from None


def load_state_dict(
    path: Path, sha256: str | None, model: str, key: str | None = None
) -> dict[str, torch.Tensor]:
    """The state dict in a checkpoint, after its sha256 is verified; weights_only=True."""
    verify_weights(path, sha256, model)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle and zip errors of many kinds
        raise ModelError(
            f"model {model!r}: cannot load {path} with weights_only=True "
            f"({type(err).__name__}: {str(err)[:300]}). Save plain state dicts "
            "(torch.save(net.state_dict(), path))"
        ) from None
    if key is not None:
        if not isinstance(data, dict) or key not in data:
            raise ModelError(f"model {model!r}: {path} has no entry {key!r} (checkpoint_key)")
        data = data[key]
    elif isinstance(data, dict) and not all(isinstance(v, torch.Tensor) for v in data.values()):
        for guess in ("state_dict", "model", "network", "net"):
            if isinstance(data.get(guess), dict):
                data = data[guess]
                break
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ModelError(
            f"model {model!r}: {path} holds no state dict of tensors; name where it is "
            "with `checkpoint_key:`"
        )
    return data


class TorchModel(SegmentationModel):
    """An in-process torch network run through the shared inference pipeline."""

    def __init__(self, card: ModelCard, network: torch.nn.Module, device: str = "auto"):
        self.card = card
        self.settings = card.inference_settings()
        self.device = choose_device(device)
        self.network = network.to(self.device).eval()

    def predict(
        self,
        image_hu: np.ndarray,
        spacing: tuple[float, float, float],
        liver: np.ndarray | None = None,
    ) -> np.ndarray:
        image, sp, mask = check_input(self.card, image_hu, spacing, liver)
        return segment(self.network, image, sp, self.settings, self.device, mask)

    @classmethod
    def from_checkpoint(
        cls,
        card: ModelCard,
        network: str,
        network_args: Mapping[str, Any],
        checkpoint_key: str | None = None,
        device: str = "auto",
    ) -> TorchModel:
        """Build the network, verify and load `card.weights`, ready to predict."""
        where = f"model {card.name!r}"
        if card.weights is None:
            raise ModelError(f"{where}: the card names no weights file")
        net = build_network(network, network_args, where)
        state = load_state_dict(Path(card.weights), card.sha256, card.name, checkpoint_key)
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as err:
            first = str(err).strip().splitlines()
            raise ModelError(
                f"{where}: {card.weights} does not fit {network}({_show(network_args)}): "
                f"{' '.join(first[:3])[:400]}. Check network_args against the checkpoint"
            ) from None
        return cls(card, net, device)


def from_spec(data: Mapping[str, Any], path: Path) -> TorchModel:
    """A TorchModel from a parsed spec file (see the module docstring)."""
    args = Args(data, path, "torch")
    network = args.take("network", str, what=f"a MONAI network name: {', '.join(NETWORKS)}")
    network_args = args.take("network_args", dict, {})
    checkpoint = args.path_of("checkpoint", what="the weights file")
    sha256 = args.take("sha256", str, None)
    key = args.take("checkpoint_key", str, None)
    device = args.take("device", str, "auto")
    args.done()
    card = card_of(data.get("card"), path, "torch", weights=str(checkpoint), sha256=sha256)
    return TorchModel.from_checkpoint(card, network, network_args, key, device)


def _show(kwargs: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


__all__ = ["NETWORKS", "TorchModel", "build_network", "from_spec", "load_state_dict"]
