"""Loading a MONAI bundle's parts: the inference config checked and parsed with MONAI's
ConfigParser, the weights found, verified and loaded (see models.bundle for the whole)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robustbench_liver.errors import ModelError
from robustbench_liver.models.bundle_card import pipeline_names
from robustbench_liver.models.bundle_config import (
    IO_PREFIX,
    LOADERS,
    checked_config,
    read_config_file,
    target_path,
)
from robustbench_liver.models.checksum import file_digest, sha256_of

WEIGHT_NAMES = ("models/model.pt", "models/model.ts")
LISTINGS = ("large_files.yml", "large_files.yaml", "large_files.json")
"""Where a bundle lists its downloadable files (with their hashes)."""


def build_parts(
    raw: Mapping[str, Any],
    metadata: Mapping[str, Any],
    config_path: Path,
    bundle: Path,
    weights: Path,
    digest: str | None,
    locator: Any,
    device: Any,
) -> dict[str, Any]:
    """Network (weights loaded), preprocessing, inferer and postprocessing of the bundle."""
    from monai.bundle import ConfigParser
    from monai.inferers import SimpleInferer

    where = str(config_path)
    config = dict(raw)
    image_key = _image_key(config.get("preprocessing"), where, locator)
    post = config.get("postprocessing")
    inverts = False
    if isinstance(post, Mapping) and isinstance(post.get("transforms"), list):
        steps = [s for s in post["transforms"] if not _writer(s, locator)]
        config["postprocessing"] = {**post, "transforms": steps}
        inverts = any(_target(s, locator).endswith(".Invertd") for s in steps)
    if "bundle_root" in config:
        config["bundle_root"] = str(bundle)
    if "device" in config:
        config["device"] = device
    scripted = weights.suffix == ".ts"
    if not scripted and "network_def" not in config:
        raise ModelError(f"{where}: no `network_def` to load {weights.name} into")
    roots = ["preprocessing", *(k for k in ("inferer", "postprocessing") if k in config)]
    roots += [] if scripted else ["network_def"]
    parser = ConfigParser(checked_config({**config, "_meta_": metadata}, roots, where, locator))
    parsed = {key: _parse(parser, key, where) for key in roots}
    name = bundle.name
    if scripted:
        network = _torchscript(weights, digest, name, device)
    else:
        network = _network(parsed["network_def"], weights, digest, name, where)
    inferer = parsed.get("inferer")
    inferer = SimpleInferer() if inferer is None else inferer
    if not callable(inferer):
        raise ModelError(f"{where}: `inferer` is {type(inferer).__name__}, not an inferer")
    return {
        "network": network.to(device).eval(),
        "preprocessing": parsed["preprocessing"],
        "inferer": inferer,
        "postprocessing": parsed.get("postprocessing"),
        "image_key": image_key,
        "inverts": inverts,
        "pipeline": pipeline_names(config, locator),
        "inferer_name": type(inferer).__name__,
    }


def _image_key(section: Any, where: str, locator: Any) -> str:
    """The key the bundle's LoadImaged reads (the one file the adapter writes)."""
    steps = section.get("transforms") if isinstance(section, Mapping) else None
    if not isinstance(steps, list):
        raise ModelError(
            f"{where}: `preprocessing` must be a Compose with a list of `transforms` that "
            "starts from LoadImaged"
        )
    loaders = [s for s in steps if _target(s, locator) in LOADERS]
    if len(loaders) != 1:
        raise ModelError(
            f"{where}: `preprocessing` has {len(loaders)} LoadImaged steps; the adapter "
            "writes each scan to a NIfTI file for exactly one"
        )
    keys = loaders[0].get("keys")
    keys = [keys] if isinstance(keys, str) else keys
    if not isinstance(keys, list) or len(keys) != 1 or not isinstance(keys[0], str):
        raise ModelError(f"{where}: LoadImaged must load one key (the image), got keys {keys!r}")
    return keys[0]


def _target(step: Any, locator: Any) -> str:
    if not isinstance(step, Mapping) or not isinstance(step.get("_target_"), str):
        return ""
    return target_path(step["_target_"], locator)


def _writer(step: Any, locator: Any) -> bool:
    """A file writer in the postprocessing (SaveImaged and friends), left out."""
    return _target(step, locator).startswith(IO_PREFIX)


def _parse(parser: Any, key: str, where: str) -> Any:
    """Build one section with MONAI's parser; its failure names the section and the cause."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # MONAI's deprecation notes
            return parser.get_parsed_content(key)
    except Exception as err:
        cause: BaseException = err
        while cause.__cause__ is not None:
            cause = cause.__cause__
        first = " ".join(str(cause).strip().splitlines()[:3])[:400]
        raise ModelError(
            f"{where}: building `{key}` failed: {type(cause).__name__}: {first}"
        ) from None


def _network(net: Any, weights: Path, digest: str | None, name: str, where: str) -> Any:
    """`network_def` with the bundle's state dict loaded (weights_only=True)."""
    import torch

    from robustbench_liver.models.torch import load_state_dict

    if not isinstance(net, torch.nn.Module):
        raise ModelError(f"{where}: `network_def` builds {type(net).__name__}, not a network")
    state = load_state_dict(weights, digest, name)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = " ".join(str(err).strip().splitlines()[:3])[:400]
        raise ModelError(
            f"bundle {name!r}: {weights} does not fit its network_def: {first}"
        ) from None
    return net


def _torchscript(weights: Path, digest: str | None, name: str, device: Any) -> Any:
    import torch

    from robustbench_liver.models.checksum import verify_weights

    verify_weights(weights, digest, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(weights), map_location=device)
    except Exception as err:  # torch raises RuntimeError and friends for bad archives
        raise ModelError(
            f"bundle {name!r}: {weights} is not a loadable TorchScript file "
            f"({type(err).__name__}: {str(err).strip().splitlines()[0][:300]})"
        ) from None


def find_weights(bundle: Path, given: str | None) -> Path:
    """The weights file: `given` (relative to the bundle) or models/model.pt, model.ts."""
    if given is not None:
        path = (bundle / given).resolve()
        if not path.is_file():
            raise ModelError(f"bundle {bundle}: weights file {given} not found")
        if path.suffix not in (".pt", ".pth", ".ts"):
            raise ModelError(
                f"bundle {bundle}: weights {given}: use a state dict (.pt) or TorchScript (.ts)"
            )
        return path
    for name in WEIGHT_NAMES:
        if (bundle / name).is_file():
            return bundle / name
    hint = ""
    for listing in LISTINGS:
        if (bundle / listing).is_file():
            hint = (
                f"; its {listing} says where to download them (this suite never downloads: "
                "fetch them yourself, e.g. `python -m monai.bundle download`)"
            )
    raise ModelError(f"bundle {bundle}: no weights (models/model.pt or models/model.ts){hint}")


def checked_digest(bundle: Path, weights: Path) -> str:
    """The weights' sha256, after the hash large_files.yml records for them (if any)."""
    digest = sha256_of(weights)
    for listing in LISTINGS:
        path = bundle / listing
        if not path.is_file():
            continue
        entries = read_config_file(path).get("large_files")
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, Mapping) or not entry.get("hash_val"):
                continue
            if (bundle / str(entry.get("path", ""))).resolve() != weights.resolve():
                continue
            kind = str(entry.get("hash_type") or "md5").lower()
            if kind not in ("md5", "sha1", "sha256", "sha512"):
                continue
            actual = file_digest(weights, kind)
            if actual != str(entry["hash_val"]).lower():
                raise ModelError(
                    f"bundle {bundle}: {weights.name} has {kind} {actual}, {listing} expects "
                    f"{entry['hash_val']}: the file is not the one the bundle lists"
                )
    return digest


__all__ = ["WEIGHT_NAMES", "build_parts", "checked_digest", "find_weights"]
