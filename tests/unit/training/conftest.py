"""A tiny training config: coarse phantoms, a 2-level U-Net, 16^3 patches."""

from __future__ import annotations

import pytest

from robustbench_liver.training import config_from_dict

TINY = {
    "seed": 5,
    "iterations": 4,
    "batch_size": 2,
    "warmup": 1,
    "checkpoint_every": 2,
    "threads": 1,
    "model": {
        "network_args": {
            "spatial_dims": 3,
            "in_channels": 1,
            "out_channels": 3,
            "channels": [4, 8],
            "strides": [2],
            "num_res_units": 0,
        },
        "spacing_mm": [6.0, 6.0, 6.0],
        "roi_size": [16, 16, 16],
        "export_name": "tiny",
    },
    "data": {
        "phantom_seeds": [100, 102],
        "phantom_options": {"shape": [96, 84, 40], "spacing": [4.0, 4.0, 6.0]},
        "tumor_overrides": {"min_inside": 0.7, "vessel_clearance": 0.3},
        "patch_size": [16, 16, 16],
    },
}


@pytest.fixture
def tiny_config_dict() -> dict:
    import copy

    return copy.deepcopy(TINY)


@pytest.fixture
def tiny_config(tiny_config_dict):
    return config_from_dict(tiny_config_dict)
