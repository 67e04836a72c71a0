"""Tiny untrained networks saved in tmp, spec files for them, and small synthetic volumes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from robustbench_liver.models.checksum import sha256_of
from robustbench_liver.models.torch import build_network

TINY_UNET = {
    "spatial_dims": 3,
    "in_channels": 1,
    "out_channels": 3,
    "channels": [4, 8],
    "strides": [2],
    "num_res_units": 0,
}


def write_spec(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def tiny_unet_args() -> dict:
    return dict(TINY_UNET)


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    net = build_network("UNet", TINY_UNET)
    path = tmp_path / "weights" / "tiny.pt"
    path.parent.mkdir()
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture
def tiny_spec(tmp_path, tiny_checkpoint) -> Path:
    """A torch-adapter spec with a relative checkpoint path and its sha256."""
    return write_spec(
        tmp_path / "tiny.yaml",
        {
            "adapter": "torch",
            "network": "UNet",
            "network_args": TINY_UNET,
            "checkpoint": "weights/tiny.pt",
            "sha256": sha256_of(tiny_checkpoint),
            "device": "cpu",
            "card": {
                "name": "tiny-unet",
                "version": "0.1",
                "spacing_mm": [3.0, 3.0, 3.0],
                "roi_size": [16, 16, 16],
                "overlap": 0.25,
                "license": "MIT",
            },
        },
    )


@pytest.fixture
def small_volume() -> tuple[np.ndarray, tuple[float, float, float], np.ndarray]:
    """A 40x36x14 HU volume at 1.5x1.5x2.5 mm: a bright 'liver' ball with a dark spot."""
    shape = (40, 36, 14)
    spacing = (1.5, 1.5, 2.5)
    grid = np.indices(shape).astype(np.float32)
    centre = np.asarray([20, 18, 7], dtype=np.float32)[:, None, None, None]
    dist = np.sqrt((((grid - centre) * np.asarray(spacing)[:, None, None, None]) ** 2).sum(0))
    liver = dist < 20.0
    rng = np.random.default_rng(0)
    image = np.where(liver, 100.0, -100.0).astype(np.float32)
    image += rng.normal(0, 5, shape).astype(np.float32)
    image[dist < 6.0] = 40.0
    return image, spacing, liver
