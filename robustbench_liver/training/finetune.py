"""Fine-tuning: a run that starts from an exported model (its spec and pinned weights)
instead of a random network, and inherits the base scans that model was trained on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def start_from(net: torch.nn.Module, parent: Parent, classes: Sequence[str]) -> None:
    """Load the parent's weights into `net`, or say why they do not fit. A network that
    adds classes after the parent's (`classes` starts with the parent card's) gets them
    widened: each new class starts as a copy of background."""
    state = parent.state
    known = parent.card.classes
    if len(classes) > len(known) and tuple(classes[: len(known)]) == known:
        state = widened(net, state, len(known), len(classes))
    try:
        net.load_state_dict(state)
    except RuntimeError as err:  # another network's weights
        raise ConfigError(
            f"init_from.spec: {parent.spec}: its weights do not fit the configured network: "
            f"{str(err).splitlines()[0]}"
        ) from None


@torch.no_grad()
def widened(
    net: torch.nn.Module, state: Mapping[str, torch.Tensor], old: int, new: int
) -> dict[str, torch.Tensor]:
    """`state` of a network with `old` output classes, for `net` with `new`: along each
    class dimension the new channels copy channel 0 (background) where they are outputs and
    are zero where they are inputs, so the widened network gives the parent's logits for the
    old classes and background's for the new ones. Tensors that differ in any other way are
    left as they are (loading them then fails and says so)."""
    target = net.state_dict()
    out_dim = {  # a transposed convolution's weight is (in, out, ...): outputs on axis 1
        f"{name}.weight": 1
        for name, module in net.named_modules()
        if isinstance(module, torch.nn.modules.conv._ConvTransposeNd)
    }
    result = dict(state)
    for key, value in state.items():
        want = target.get(key)
        if want is None or want.shape == value.shape or want.ndim != value.ndim:
            continue
        pairs = list(zip(value.shape, want.shape, strict=True))
        if any(a != b and (a, b) != (old, new) for a, b in pairs):
            continue
        grown = torch.zeros_like(want)
        grown[tuple(slice(0, n) for n in value.shape)] = value
        axis = out_dim.get(key, 0)
        if pairs[axis] == (old, new):
            added = grown.narrow(axis, old, new - old)
            added.copy_(grown.narrow(axis, 0, 1).expand_as(added))
        result[key] = grown
    return result


__all__ = ["Parent", "load_parent", "start_from", "widened"]
