"""Train segmentation models on synthetic tumors only (the paper's claim, made runnable).

`load_config(path)` reads a training YAML file; `train(config, out)` trains on tumors
synthesized on the fly, checkpoints, resumes after a kill, and exports a model spec that
`robustbench_liver.models.get_model` loads.
"""

from __future__ import annotations

from robustbench_liver.training.config import (
    ConfigError,
    DataSection,
    ModelSection,
    RealScan,
    TrainConfig,
    config_from_dict,
    load_config,
)
from robustbench_liver.training.loop import TrainResult, learning_rate, train

__all__ = [
    "ConfigError",
    "DataSection",
    "ModelSection",
    "RealScan",
    "TrainConfig",
    "TrainResult",
    "config_from_dict",
    "learning_rate",
    "load_config",
    "train",
]
