"""The monai-bundle adapter: a MONAI bundle directory run with its own network, transforms,
inferer and postprocessing, read through MONAI's `ConfigParser`.

    adapter: monai-bundle
    bundle: spleen_ct_segmentation     # the bundle folder, relative to the spec file
    sha256: <64 hex digits>            # of the weights file, checked before it is loaded
    weights: models/model.pt           # optional, in the bundle; default model.pt, else .ts
    config: configs/inference.json     # optional, in the bundle; default inference.{json,yaml}
    remap: {1: 1, 2: 2}                # optional: bundle label -> 0/1/2 (others become 0)
    device: auto                       # auto (CUDA when present), cpu, cuda, cuda:1
    card: {name: my-bundle, ...}       # overrides what the bundle's metadata gives

A bundle folder holds configs/metadata.json, configs/inference.json (or .yaml) and
models/model.pt (a state dict for `network_def`, loaded with weights_only=True) or
models/model.ts (TorchScript, used instead of `network_def`). `from_directory` takes such a
folder without a spec: the weights' sha256 is then computed, checked against the bundle's
large_files.yml when that gives one, and recorded on the card.

The card comes from metadata.json (name and description, version, references as the
citation, data_source as trained_on), the bundle's LICENSE, and the inference config
(spacing, HU window, sliding window); its description lists the pre-processing, the label
mapping and what the bundle did not say. The version gets `+config.<8 hex>`, a digest of
the inference config and the label mapping: a run folder binds rows to the card's version,
so an edited config or remap cannot pass for the same model. A spec's `card:` wins.

How a scan goes through it. The bundle's `preprocessing` starts from a file (LoadImaged),
so the scan is written to a temporary float32 NIfTI (diagonal RAS affine from the spacing,
the suite's own axis order) and the bundle's own loader reads it: its reader and options
(ensure_channel_first, image_only, dtype) and every later transform then see exactly the
metadata they were written for, which an in-memory MetaTensor would only imitate; it costs
one uncompressed write and read per case (measured: 0.5 s and 1.9 s for a 512x512x300
scan), small next to a 3D network on such a scan. The batch goes through
`inferer(inputs, network)` as MONAI's evaluator runs it, is decollated, and passes the
bundle's `postprocessing` with its file writers (SaveImaged and the like) left out. When the
postprocessing does not invert the spatial transforms (Invertd), the adapter applies
Invertd with the bundle's preprocessing itself, so the labels land on the input's grid.
Several channels are read as one per label (argmax); labels become 0/1/2 through the class
names in metadata.json (network_data_format.outputs.pred.channel_def: 'liver' 1, 'liver
tumor' 2, other organs 0) or the spec's `remap`.

Trust: running a bundle config constructs the classes it names and evaluates its
`$`-expressions with Python's eval; that is the bundle format. Before anything is built,
bundle_config.checked_config keeps only the items inference needs and refuses classes
outside MONAI's networks, transforms and inferers, file macros, and expressions that reach
beyond monai, torch and numpy (see its docstring for the exact rules). It is a filter, not a
sandbox: evaluate bundles you would run yourself.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from robustbench_liver.errors import ModelError
from robustbench_liver.inference import choose_device
from robustbench_liver.models.bundle_card import card_fields, input_problems, label_mapping
from robustbench_liver.models.bundle_config import find_config, read_config_file
from robustbench_liver.models.bundle_load import build_parts, checked_digest, find_weights
from robustbench_liver.models.protocol import ModelCard, SegmentationModel, check_input
from robustbench_liver.models.spec import Args, card_of

PRED = "pred"
"""The key MONAI's evaluator gives the network output (CommonKeys.PRED)."""


def is_bundle(path: str | Path) -> bool:
    """Does `path` look like a MONAI bundle folder (configs/metadata.json)?"""
    return (Path(path) / "configs" / "metadata.json").is_file()


class BundleModel(SegmentationModel):
    """A MONAI bundle as a model; see the module docstring for what runs."""

    def __init__(
        self,
        card: ModelCard,
        parts: Mapping[str, Any],
        mapping: Mapping[int, int],
        strict: bool,
        device: Any,
    ):
        self.card = card
        self.device = device
        self.network = parts["network"]
        self.preprocessing = parts["preprocessing"]
        self.inferer = parts["inferer"]
        self.postprocessing = parts["postprocessing"]
        self.image_key: str = parts["image_key"]
        self.inverts: bool = parts["inverts"]
        self.mapping = dict(mapping)
        self.strict = strict

    def predict(
        self,
        image_hu: np.ndarray,
        spacing: tuple[float, float, float],
        liver: np.ndarray | None = None,
    ) -> np.ndarray:
        import nibabel as nib
        import torch
        from monai.data import decollate_batch, list_data_collate

        image, sp, _ = check_input(self.card, image_hu, spacing, liver)
        with tempfile.TemporaryDirectory(prefix="robustbench-liver-bundle-") as tmp:
            path = Path(tmp) / "case.nii"
            nib.save(nib.Nifti1Image(image, np.diag([*sp, 1.0])), path)
            data = self._step("preprocessing", self.preprocessing, {self.image_key: str(path)})
        batch = list_data_collate([data])
        with torch.no_grad():
            inputs = batch[self.image_key].to(self.device)
            batch[PRED] = self._step("inferer", self.inferer, inputs, self.network)
        item = decollate_batch(batch)[0]
        if self.postprocessing is not None:
            item = self._step("postprocessing", self.postprocessing, item)
        if not self.inverts:
            item = self._invert(item)
        return self._labels(item[PRED], image.shape)

    def _step(self, name: str, call: Any, *args: Any) -> Any:
        """Run one part of the bundle; its failure names the part."""
        try:
            return call(*args)
        except Exception as err:  # MONAI wraps transform errors in RuntimeError chains
            cause: BaseException = err
            while cause.__cause__ is not None:
                cause = cause.__cause__
            text = str(cause).strip().splitlines()
            raise ModelError(
                f"model {self.card.name!r}: the bundle's {name} failed: "
                f"{type(cause).__name__}: {' '.join(text[:3])[:500]}"
            ) from err

    def _invert(self, item: dict[str, Any]) -> dict[str, Any]:
        """Invertd with the bundle's preprocessing, for a bundle whose postprocessing does
        not invert (nearest neighbour for one channel of labels)."""
        from monai.transforms import Invertd

        discrete = getattr(item[PRED], "shape", (1,))[0] == 1
        invert = Invertd(
            keys=PRED,
            transform=self.preprocessing,
            orig_keys=self.image_key,
            nearest_interp=discrete,
        )
        return self._step("inversion (Invertd)", invert, item)

    def _labels(self, pred: Any, shape: tuple[int, ...]) -> np.ndarray:
        """The bundle's output as the suite's uint8 0/1/2 map of the input's shape."""
        where = f"model {self.card.name!r}"
        array = pred.detach().cpu().numpy() if hasattr(pred, "detach") else np.asarray(pred)
        if array.ndim == 4:
            array = array.argmax(axis=0) if array.shape[0] > 1 else array[0]
        if array.shape != tuple(shape):
            raise ModelError(
                f"{where}: the bundle's output has shape {array.shape}, the input {shape}; "
                "its postprocessing must return the prediction on the input's grid"
            )
        if array.dtype.kind == "f":
            if not np.isfinite(array).all() or not np.array_equal(array, np.round(array)):
                raise ModelError(
                    f"{where}: the bundle's output is not a label map (fractional values); "
                    "its postprocessing should end with AsDiscreted(argmax or threshold)"
                )
        values = array.astype(np.int64, copy=False)
        top = max(self.mapping)
        lut = np.zeros(top + 1, dtype=np.uint8)
        for label, suite in self.mapping.items():
            lut[label] = suite
        outside = (values < 0) | (values > top)
        if self.strict:
            unknown = np.unique(values[outside]).tolist()
            counts = np.bincount(values[~outside].ravel(), minlength=top + 1)
            unknown += [v for v in np.flatnonzero(counts).tolist() if v not in self.mapping]
            if unknown:
                raise ModelError(
                    f"{where}: the bundle predicted label(s) {sorted(unknown)}, which "
                    "metadata.json's channel_def does not name; map them with `remap:` in a spec"
                )
        return np.where(outside, 0, lut[np.clip(values, 0, top)]).astype(np.uint8)


def from_spec(data: Mapping[str, Any], path: Path) -> BundleModel:
    """A BundleModel from a parsed spec file (see the module docstring)."""
    args = Args(data, path, "monai-bundle")
    bundle = args.path_of("bundle", what="the MONAI bundle folder (configs/, models/)")
    sha256 = args.take("sha256", str, None)
    weights = args.take("weights", str, None)
    config = args.take("config", str, None)
    remap = args.take("remap", dict, None)
    device = args.take("device", str, "auto")
    args.done()
    return load_bundle(
        bundle, path, data.get("card"), sha256, weights, config, remap, device, spec=True
    )


def from_directory(path: str | Path, device: str = "auto") -> BundleModel:
    """A bundle folder without a spec (`--model DIR`): the card comes from the bundle alone,
    and the weights' sha256 is computed (checked against large_files.yml when it has one)."""
    bundle = Path(path).expanduser().resolve()
    return load_bundle(bundle, bundle, None, None, None, None, None, device, spec=False)


def load_bundle(
    bundle: Path,
    spec_path: Path,
    card_data: Any,
    sha256: str | None,
    weights: str | None,
    config: str | None,
    remap: Mapping[Any, Any] | None,
    device: str,
    spec: bool,
) -> BundleModel:
    """Check, parse and build a bundle (the steps in the module docstring)."""
    import monai  # noqa: F401  (loads MONAI's modules, which the component locator scans)
    from monai.bundle.config_item import ComponentLocator

    where = f"bundle {bundle}"
    if not bundle.is_dir():
        raise ModelError(f"{where}: not a folder (a MONAI bundle holds configs/ and models/)")
    if not is_bundle(bundle):
        raise ModelError(f"{where}: no configs/metadata.json; is this a MONAI bundle folder?")
    meta_path = bundle / "configs" / "metadata.json"
    metadata = read_config_file(meta_path)
    notes = input_problems(metadata, str(meta_path))
    mapping, label_line, strict = label_mapping(metadata, remap, str(meta_path))
    config_path = find_config(bundle, config)
    raw = read_config_file(config_path)
    weights_path = find_weights(bundle, weights)
    if spec or sha256 is not None:
        digest = sha256  # verified by the loader; a spec without one is refused there
    else:
        digest = checked_digest(bundle, weights_path)
    locator = ComponentLocator()
    chosen = choose_device(device)
    parts = build_parts(raw, metadata, config_path, bundle, weights_path, digest, locator, chosen)
    card = _card(metadata, bundle, raw, locator, parts, (label_line, notes), card_data, mapping)
    fixed = {"weights": str(weights_path), "sha256": digest}
    return BundleModel(
        card_of(card, spec_path, "monai-bundle", **fixed), parts, mapping, strict, chosen
    )


def _card(
    metadata: Mapping[str, Any],
    bundle: Path,
    raw: Mapping[str, Any],
    locator: Any,
    parts: Mapping[str, Any],
    lines: tuple[str, list[str]],
    card_data: Any,
    mapping: Mapping[int, int],
) -> Any:
    """The card's fields: the bundle's, overridden by the spec's `card:` (left as given
    when it is no mapping, for card_of to refuse)."""
    if card_data is not None and not isinstance(card_data, Mapping):
        return card_data
    user = dict(card_data or {})
    fields, missing = card_fields(metadata, bundle, raw, locator)
    missing = [m for m in missing if m.split()[0] not in user]
    label_line, notes = lines
    fields["description"] = _description(
        fields.get("description", ""), parts, label_line, notes, missing
    )
    fields["version"] = f"{fields.get('version', '0')}+config.{_digest(raw, mapping)}"
    names = {0: "background", 1: "liver", 2: "tumor"}
    classes = tuple(names[mapping.get(i, 0)] for i in range(max(mapping) + 1))
    if 2 in mapping.values() and len(classes) > 1:
        fields["classes"] = classes  # what each output channel means, in the suite's terms
    return {**fields, **user}


def _digest(raw: Mapping[str, Any], mapping: Mapping[int, int]) -> str:
    """8 hex digits of the inference config and the label mapping: a run folder binds to the
    card's version, so an edited config or remap must not pass for the same model."""
    text = json.dumps(
        {"config": raw, "labels": sorted(mapping.items())}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _description(
    base: str, parts: Mapping[str, Any], labels: str, notes: list[str], missing: list[str]
) -> str:
    """The card's description: the bundle's own, then what the adapter found and lacked."""
    pieces = [base.rstrip(". ") + "." if base else "A MONAI bundle."]
    if parts["pipeline"]:
        pieces.append("Pre-processing: " + " > ".join(parts["pipeline"]) + ".")
    pieces.append(f"Inferer: {parts['inferer_name']}.")
    pieces.append(labels[0].upper() + labels[1:] + ".")
    pieces += [n[0].upper() + n[1:] + "." for n in notes]
    if missing:
        pieces.append("Not in the bundle: " + ", ".join(missing) + ".")
    return " ".join(pieces)


__all__ = ["BundleModel", "from_directory", "from_spec", "is_bundle", "load_bundle"]
