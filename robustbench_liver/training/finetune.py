"""Fine-tuning: a run that starts from an exported model (its spec and pinned weights)
instead of a random network, and inherits the base scans that model was trained on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from robustbench_liver.errors import ModelError
from robustbench_liver.models.checksum import sha256_of
from robustbench_liver.models.protocol import ModelCard
from robustbench_liver.models.spec import read_spec
from robustbench_liver.training.config import ConfigError, InitWeights


@dataclass(frozen=True)
class Parent:
    """The model a run starts from."""

    spec: str
    state: dict[str, Any]
    card: ModelCard
    sha256: str

    def describe(self) -> str:
        return (
            f", fine-tuned from {self.card.name} version {self.card.version} "
            f"(weights sha256 {self.sha256})"
        )


def load_parent(init: InitWeights | None) -> Parent | None:
    """The parent's state dict and card, after checking its weights against the pin; None
    for a run that starts from a random network."""
    if init is None:
        return None
    where = f"init_from.spec: {init.spec}"
    try:
        data = read_spec(init.spec)
        card = ModelCard.from_dict({**dict(data.get("card") or {}), "adapter": "torch"})
    except ModelError as err:
        raise ConfigError(f"{where}: {err}") from None
    checkpoint = data.get("checkpoint")
    if not isinstance(checkpoint, str):
        raise ConfigError(
            f"{where}: not a torch model spec with a `checkpoint:` (train writes one)"
        )
    path = Path(init.spec).parent / checkpoint
    try:
        digest = sha256_of(path)
    except OSError as err:
        raise ConfigError(
            f"{where}: cannot read its weights {path}: {err.strerror or err}"
        ) from None
    if digest != init.sha256:
        raise ConfigError(
            f"{where}: its weights {path} have sha256 {digest}, the config pins {init.sha256}; "
            "use the model the config names"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ConfigError(f"{where}: {path} holds no state dict")
    return Parent(init.spec, state, card, digest)


def start_from(net: torch.nn.Module, parent: Parent) -> None:
    """Load the parent's weights into `net`, or say why they do not fit."""
    try:
        net.load_state_dict(parent.state)
    except RuntimeError as err:  # another network's weights
        raise ConfigError(
            f"init_from.spec: {parent.spec}: its weights do not fit the configured network: "
            f"{str(err).splitlines()[0]}"
        ) from None


__all__ = ["Parent", "load_parent", "start_from"]
