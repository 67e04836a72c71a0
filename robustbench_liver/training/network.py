"""The network of a training run, initialised from a seeded torch.Generator (never the
global RNG: it is built inside fork_rng, then every parameter is drawn again)."""

from __future__ import annotations

import math

import torch
from torch import nn

from robustbench_liver.models.torch import build_network
from robustbench_liver.training.config import TrainConfig

INIT_STREAM = 0x1417


def make_network(config: TrainConfig) -> nn.Module:
    """The configured MONAI network with a deterministic initialisation from the seed."""
    net = build_network(config.model.network, config.model.network_args, "training config")
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + INIT_STREAM)
    init_parameters(net, generator)
    return net


@torch.no_grad()
def init_parameters(net: nn.Module, generator: torch.Generator) -> None:
    """torch's default initialisation (Kaiming-uniform weights, fan-in-bounded biases,
    PReLU 0.25, norms 1/0), drawn from `generator`."""
    for module in net.modules():
        weight = getattr(module, "weight", None)
        for name, param in module.named_parameters(recurse=False):
            if isinstance(module, nn.PReLU):
                param.fill_(0.25)
            elif name == "weight" and param.ndim >= 2:
                nn.init.kaiming_uniform_(param, a=math.sqrt(5), generator=generator)
            elif name == "bias" and isinstance(weight, torch.Tensor) and weight.ndim >= 2:
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(weight)
                bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                param.uniform_(-bound, bound, generator=generator)
            elif name == "weight":
                param.fill_(1.0)
            else:
                param.zero_()


__all__ = ["init_parameters", "make_network"]
