"""The nnunet adapter: an nnU-Net v2 trained-model folder, run in process by nnU-Net's own
predictor (preprocessing, sliding window with its Gaussian blending and test-time mirroring,
resampling back), on CUDA when present, else on the CPU. Needs the optional extra:
`pip install 'robustbench-liver[nnunet]' -c constraints/nnunet.txt`.

Spec (YAML, paths relative to the spec file):

    adapter: nnunet
    folder: nnUNet_results/Dataset501_Liver/nnUNetTrainer__nnUNetPlans__3d_fullres
    configuration: 3d_fullres        # default: from the folder name
    folds: [0]                       # default: every fold_<N> holding the checkpoint
    checkpoint: checkpoint_final.pth # the default
    sha256: {0: <64 hex digits>}     # per fold, checked before loading (or one string)
    device: auto                     # auto (CUDA when present), cpu, cuda, cuda:1
    tile_step_size: 0.5              # nnU-Net's default (the card's overlap is 1 - this)
    mirroring: true                  # test-time mirroring on the axes it was trained with
    remap: {Liver: liver, Lesion: tumor}   # when label names say nothing (default: by name)
    card: {name: my-nnunet, version: "1", license: CC-BY-4.0, citation: ...}

The card fills itself from dataset.json and plans.json: label mapping, spacing, patch size,
channels, trainer, folds, normalization; what they cannot say (license, citation, version)
is the spec's `card:` to give. nnU-Net normalizes its input itself, so a card's hu_window and
normalize do not apply. No nnUNet_raw / nnUNet_preprocessed / nnUNet_results is needed.

Input order: the suite's arrays are (x, y, z); nnU-Net reads images as SimpleITK does, with
the axes reversed, so each case is given as (z, y, x) with its spacing reversed, exactly as
`nnUNetv2_predict` would read the suite's own NIfTI files (the command adapter's path).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from robustbench_liver.errors import ModelError
from robustbench_liver.models.nnunet_folder import (
    LabelMap,
    TrainedFolder,
    card_fields,
    describe,
    map_labels,
    read_folder,
)
from robustbench_liver.models.nnunet_load import (
    INSTALL,
    build_network,
    check_digests,
    load_checkpoint,
    nnunet_api,
    same_training,
    takes_liver_mask,
)
from robustbench_liver.models.protocol import ModelCard, SegmentationModel, check_input
from robustbench_liver.models.spec import Args, card_of

_NORMALIZES = "nnU-Net normalizes its input itself (plans.json)"
_NOT_APPLYING = {
    "hu_window": _NORMALIZES,
    "normalize": _NORMALIZES,
    "min_tumor_confidence": "the nnU-Net adapter reads labels, not probabilities "
    "(min_tumor_mm3 and tumors_in_liver apply)",
}
"""Card fields the adapter cannot act on, and why: refused in a spec's `card:`."""
UNFILLED = ("version", "license", "citation")
"""Card fields an nnU-Net folder does not hold: the card says when the spec left them out."""


class NnUNetModel(SegmentationModel):
    """An nnU-Net v2 trained-model folder as a model (see the module docstring). A batch goes
    case by case through the one loaded predictor (SegmentationModel.predict_batch): nnU-Net's
    multi-case API spawns worker pools, and the runner already gives the model a process."""

    def __init__(
        self,
        card: ModelCard,
        folder: TrainedFolder,
        labels: LabelMap,
        checkpoints: list[dict[str, Any]],
        device: str = "auto",
        tile_step_size: float = 0.5,
        mirroring: bool = True,
    ):
        from robustbench_liver.inference import choose_device

        api = nnunet_api()
        self.card = card
        self.folder = folder
        self.lut = np.asarray(labels.lut(), dtype=np.uint8)
        self.device = choose_device(device)
        where = f"model {card.name!r}"
        first = checkpoints[0]
        self.trainer = str(first.get("trainer_name", "nnUNetTrainer"))
        plans = api["plans_manager"](folder.plans)
        config = plans.get_configuration(folder.configuration)
        network = build_network(api, self.trainer, plans, config, folder, where)
        weights = [c["network_weights"] for c in checkpoints]
        try:
            network.load_state_dict(weights[0])
        except RuntimeError as err:
            first_line = str(err).strip().splitlines()[0][:300]
            raise ModelError(
                f"{where}: {folder.checkpoints[0]} does not fit the network plans.json "
                f"describes for {folder.configuration} ({first_line})"
            ) from None
        with contextlib.redirect_stdout(io.StringIO()):  # it prints about CPU devices
            self.predictor = api["predictor"](
                tile_step_size=tile_step_size,
                use_mirroring=mirroring,
                perform_everything_on_device=self.device.type == "cuda",
                device=self.device,
                verbose=False,
                allow_tqdm=False,
            )
        axes = first.get("inference_allowed_mirroring_axes")
        self.predictor.manual_initialization(
            network,
            plans,
            config,
            weights,
            folder.dataset,
            self.trainer,
            None if axes is None else tuple(axes),
        )
        self.plans, self.config = plans, config
        self.to_segmentation = api["to_segmentation"]

    def predict(
        self,
        image_hu: np.ndarray,
        spacing: tuple[float, float, float],
        liver: np.ndarray | None = None,
    ) -> np.ndarray:
        import torch

        from robustbench_liver.inference import postprocess_labels

        image, sp, mask = check_input(self.card, image_hu, spacing, liver)
        extra = [mask.astype(np.float32)] if self.card.needs_liver and mask is not None else []
        channels = [image, *extra]  # a mask given to a 1-channel model is left out
        data = np.stack([c.transpose(2, 1, 0) for c in channels])  # (c, z, y, x)
        properties: dict[str, Any] = {"spacing": [sp[2], sp[1], sp[0]]}
        preprocessor = self.config.preprocessor_class(verbose=False)
        data, _, properties = preprocessor.run_case_npy(
            data, None, properties, self.plans, self.config, self.folder.dataset
        )
        logits = self.predictor.predict_logits_from_preprocessed_data(torch.from_numpy(data))
        threads = torch.get_num_threads()  # as the runner set it (nnU-Net's default is 8)
        segmentation = self.to_segmentation(
            logits.cpu(),
            self.plans,
            self.config,
            self.predictor.label_manager,
            properties,
            return_probabilities=False,
            num_threads_torch=threads,
        )
        values = np.asarray(segmentation).transpose(2, 1, 0)
        if values.shape != image.shape or values.max(initial=0) >= len(self.lut):
            raise ModelError(
                f"model {self.card.name!r}: nnU-Net returned shape {values.shape} with values "
                f"up to {values.max(initial=0)} for an input of shape {image.shape}"
            )
        card = self.card
        return postprocess_labels(self.lut[values], sp, card.min_tumor_mm3, card.tumors_in_liver)


def from_spec(data: Mapping[str, Any], path: Path) -> NnUNetModel:
    """An NnUNetModel from a parsed spec file (see the module docstring)."""
    args = Args(data, path, "nnunet")
    where = str(path)
    root = args.path_of("folder", what="the nnU-Net trained-model folder")
    configuration = args.take("configuration", str, None)
    folds = args.take("folds", (list, int), None)
    checkpoint = args.take("checkpoint", str, "checkpoint_final.pth")
    sha256 = args.take("sha256", (str, dict), None)
    device = args.take("device", str, "auto")
    step = args.take("tile_step_size", (int, float), 0.5)
    mirroring = args.take("mirroring", bool, True)
    remap = args.take("remap", dict, None)
    args.done()
    if not 0 < float(step) <= 1:
        raise ModelError(f"{where}: tile_step_size must lie in (0, 1], got {step}")
    given = data.get("card") or {}
    if not isinstance(given, Mapping):
        raise ModelError(f"{where}: `card` must be a mapping of model card fields")
    for key, why in _NOT_APPLYING.items():
        if key in given:
            raise ModelError(f"{where}: card.{key}: {why}; remove it")
    folder = read_folder(
        root, configuration, [folds] if isinstance(folds, int) else folds, checkpoint, where
    )
    labels = map_labels(folder.dataset, remap, where)
    needs_liver = takes_liver_mask(folder, where)
    digests = check_digests(sha256, folder, where)
    name = str(given.get("name") or path.stem)
    checkpoints = [load_checkpoint(f, name) for f in folder.checkpoints]
    same_training(folder, checkpoints, where)
    card = card_of(
        {k: v for k, v in given.items() if k != "description"},
        path,
        "nnunet",
        **_filled(folder, labels, checkpoints, digests, float(step), mirroring, needs_liver, given),
    )
    return NnUNetModel(card, folder, labels, checkpoints, device, float(step), mirroring)


def _filled(
    folder: TrainedFolder,
    labels: LabelMap,
    checkpoints: list[dict[str, Any]],
    digests: list[str],
    step: float,
    mirroring: bool,
    needs_liver: bool,
    given: Mapping[str, Any],
) -> dict[str, Any]:
    """The card fields the folder decides (a spec's `card:` may not contradict them), and the
    description: the spec's own, then what runs and what the card could not fill."""
    fields = card_fields(folder, labels, step)
    single = len(folder.checkpoints) == 1
    fields.update(
        output="labels",
        needs_liver=needs_liver,
        weights=str(folder.checkpoints[0] if single else folder.path),
        sha256=digests[0] if single else None,
    )
    if "trained_on" in given:
        fields.pop("trained_on")  # the spec may say more than dataset.json does
    trainer = str(checkpoints[0].get("trainer_name", "nnUNetTrainer"))
    axes = checkpoints[0].get("inference_allowed_mirroring_axes")
    mirrored = f"on axes {tuple(axes)} (z, y, x)" if mirroring and axes else "off"
    auto = describe(folder, labels, trainer, mirrored)
    missing = [k for k in UNFILLED if k not in given]
    if missing:
        auto += f"; not in the folder, not given: {', '.join(missing)} (add under `card:`)"
    own = str(given.get("description", "")).strip()
    fields["description"] = f"{own} ({auto})" if own else auto
    return fields


__all__ = ["INSTALL", "NnUNetModel", "from_spec", "load_checkpoint", "nnunet_api"]
