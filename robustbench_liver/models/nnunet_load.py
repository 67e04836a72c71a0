"""Loading an nnU-Net v2 model the way its own predictor does, with the suite's checks:
nnunetv2 imported on demand (with the install hint), checkpoints verified by sha256 and
loaded with weights_only=True, the network built by the trainer class that trained it."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
from pathlib import Path
from typing import Any

import numpy as np

from robustbench_liver.errors import ModelError
from robustbench_liver.models.checksum import sha256_of
from robustbench_liver.models.nnunet_folder import TrainedFolder

INSTALL = "pip install 'robustbench-liver[nnunet]' -c constraints/nnunet.txt"


def nnunet_api() -> dict[str, Any]:
    """The parts of nnunetv2 the adapter uses; a ModelError that says how to install it.
    Its import chatter (older releases print about unset nnUNet_* paths) is swallowed."""
    names = {
        "predictor": ("nnunetv2.inference.predict_from_raw_data", "nnUNetPredictor"),
        "to_segmentation": (
            "nnunetv2.inference.export_prediction",
            "convert_predicted_logits_to_segmentation_with_correct_shape",
        ),
        "plans_manager": ("nnunetv2.utilities.plans_handling.plans_handler", "PlansManager"),
        "input_channels": (
            "nnunetv2.utilities.label_handling.label_handling",
            "determine_num_input_channels",
        ),
        "find_trainer": ("nnunetv2.utilities.find_objects", "recursive_find_trainer_class_by_name"),
    }
    api: dict[str, Any] = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for key, (module, attr) in names.items():
            try:
                api[key] = getattr(importlib.import_module(module), attr)
            except ImportError as err:
                raise ModelError(
                    f"the nnunet adapter needs nnunetv2 (>= 2.5), which cannot be imported "
                    f"({err}). Install it with: {INSTALL}"
                ) from None
            except AttributeError:
                raise ModelError(
                    f"the installed nnunetv2 has no {module}.{attr}; the nnunet adapter needs "
                    f"nnunetv2 >= 2.5: {INSTALL}"
                ) from None
    return api


def load_checkpoint(path: Path, model: str) -> dict[str, Any]:
    """An nnU-Net checkpoint with weights_only=True: plain data, tensors, and numpy scalars
    (its training log holds them), nothing that can run code."""
    import torch

    core = getattr(np, "_core", None) or np.core
    dtypes = [v for v in vars(np.dtypes).values() if isinstance(v, type)]
    try:
        with torch.serialization.safe_globals([core.multiarray.scalar, np.dtype, *dtypes]):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle and zip errors of many kinds
        raise ModelError(
            f"model {model!r}: cannot load {path} with weights_only=True "
            f"({type(err).__name__}: {str(err).strip().splitlines()[0][:300]})"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("network_weights"), dict):
        raise ModelError(
            f"model {model!r}: {path} is not an nnU-Net checkpoint (no network_weights)"
        )
    return data


def build_network(
    api: dict[str, Any],
    trainer: str,
    plans: Any,
    config: Any,
    folder: TrainedFolder,
    where: str,
) -> Any:
    """The network as the trainer that made the checkpoint builds it (nnU-Net's own way)."""
    cls = trainer_class(api, trainer, where)
    channels = api["input_channels"](plans, config, folder.dataset)
    outputs = plans.get_label_manager(folder.dataset).num_segmentation_heads
    build = cls.build_network_architecture
    if "plans_manager" in inspect.signature(build).parameters:
        return build(plans, config, channels, outputs, enable_deep_supervision=False)
    return build(  # the signature of nnunetv2 < 2.6
        config.network_arch_class_name,
        config.network_arch_init_kwargs,
        config.network_arch_init_kwargs_req_import,
        channels,
        outputs,
        enable_deep_supervision=False,
    )


def trainer_class(api: dict[str, Any], trainer: str, where: str) -> Any:
    """nnU-Net's trainer class of that name. nnU-Net finds any other than nnUNetTrainer by
    importing its trainer modules one by one, so a broken optional dependency of one of them
    (a torchvision built for another torch) fails the search: say so."""
    if trainer == "nnUNetTrainer":
        module = "nnunetv2.training.nnUNetTrainer.nnUNetTrainer"
        return getattr(importlib.import_module(module), trainer)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return api["find_trainer"](trainer)
    except Exception as err:  # nnU-Net raises RuntimeError, or whatever an import raised
        text = str(err).strip().splitlines()[0][:240] if str(err).strip() else ""
        if "Could not find requested nnunet trainer" in text:
            raise ModelError(
                f"{where}: the checkpoints were trained with {trainer}, which nnunetv2 does "
                "not have. Install the package that defines it, or set nnUNet_extTrainer to "
                "the folder of its .py file before running"
            ) from None
        hint = (
            " (torchvision does not fit the installed torch: install the torchvision "
            "release built for it)"
            if "torchvision" in text
            else ""
        )
        raise ModelError(
            f"{where}: looking for trainer {trainer}, nnunetv2 imports its trainer modules, "
            f"and one failed: {type(err).__name__}: {text}{hint}"
        ) from None


def takes_liver_mask(folder: TrainedFolder, where: str) -> bool:
    """Whether the model takes the liver mask as its second channel; other inputs than one
    CT (and a liver mask) cannot be given by the suite."""
    names = folder.dataset.get("channel_names") or folder.dataset.get("modality") or {}
    values = [str(v) for _, v in sorted(names.items(), key=lambda kv: int(kv[0]))]
    if len(values) == 1:
        return False
    if len(values) == 2 and any(w in values[1].lower() for w in ("liver", "mask")):
        return True
    raise ModelError(
        f"{where}: dataset.json's channel_names {dict(names)}: the model wants "
        f"{len(values)} input channels; the suite gives one CT (and, as a second channel, "
        "a liver mask named like 'liver' or 'mask')"
    )


def check_digests(value: Any, folder: TrainedFolder, where: str) -> list[str]:
    """Check every fold's checkpoint against the spec's sha256 before anything is loaded;
    refuse unverified ones, with the exact line to add. Returns the digests, fold by fold."""
    if isinstance(value, str) and len(folder.folds) == 1:
        value = {folder.folds[0]: value}
    if value is not None and not isinstance(value, dict):
        raise ModelError(f"{where}: sha256 must map each fold to a digest, e.g. {{0: <hex>}}")
    given = {str(k): str(v).lower() for k, v in (value or {}).items()}
    missing: dict[str, str] = {}
    digests = []
    for fold, file in zip(folder.folds, folder.checkpoints, strict=True):
        actual = sha256_of(file)
        digests.append(actual)
        expected = given.get(str(fold))
        if expected is None:
            missing[str(fold)] = actual
        elif expected != actual:
            raise ModelError(
                f"{where}: {file} has sha256 {actual}, the spec expects {expected}. The file "
                "changed or is not the one the spec describes: restore it, or update sha256 "
                "if you replaced it on purpose"
            )
    if missing:
        line = ", ".join(f"{k}: {v}" for k, v in missing.items())
        raise ModelError(
            f"{where}: no sha256 for fold(s) {', '.join(missing)}; unverified weights are not "
            f"loaded. If you trust these files, add to the spec: `sha256: {{{line}}}`"
        )
    return digests


def same_training(folder: TrainedFolder, checkpoints: list[dict[str, Any]], where: str) -> None:
    """Every fold's checkpoint from the same trainer and configuration as the spec says."""
    for fold, file, ckpt in zip(folder.folds, folder.checkpoints, checkpoints, strict=True):
        trained = (ckpt.get("init_args") or {}).get("configuration", folder.configuration)
        if trained != folder.configuration:
            raise ModelError(
                f"{where}: fold {fold}: {file} was trained as configuration {trained!r}, the "
                f"spec says {folder.configuration!r}"
            )
        if ckpt.get("trainer_name") != checkpoints[0].get("trainer_name"):
            raise ModelError(
                f"{where}: fold {fold} was trained with {ckpt.get('trainer_name')}, fold "
                f"{folder.folds[0]} with {checkpoints[0].get('trainer_name')}: one model, "
                "one trainer"
            )


__all__ = [
    "INSTALL",
    "build_network",
    "check_digests",
    "load_checkpoint",
    "nnunet_api",
    "same_training",
    "takes_liver_mask",
    "trainer_class",
]
