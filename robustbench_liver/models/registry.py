"""Find models by name: the decorator registry, third-party entry points, and spec files.

    @register_model("my-model")
    def make() -> SegmentationModel: ...

A third-party package registers the same kind of factory in its pyproject:

    [project.entry-points."robustbench_liver.models"]
    my-model = "my_package.models:make"

`get_model(name_or_path)` takes a registered name, a YAML spec file (see models.spec) or a
MONAI bundle folder (models.bundle).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from robustbench_liver.errors import ModelError, did_you_mean
from robustbench_liver.models.protocol import ModelCard, SegmentationModel
from robustbench_liver.models.spec import SPEC_SUFFIXES, read_spec

ENTRY_POINT_GROUP = "robustbench_liver.models"
BUILTIN_MODULES = ("robustbench_liver.models.baselines",)
SPEC_ADAPTERS = {
    "torch": "robustbench_liver.models.torch",
    "torchscript": "robustbench_liver.models.torchscript",
    "command": "robustbench_liver.models.command",
    "nnunet": "robustbench_liver.models.nnunet",
    "monai-bundle": "robustbench_liver.models.bundle",
}
"""Adapter name -> the module whose `from_spec(data, path)` builds it (a fixed table)."""

Factory = Callable[[], Any]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_FACTORIES: dict[str, Factory] = {}
_builtins_loaded = False


def register_model(name: str) -> Callable[[Factory], Factory]:
    """Register a factory (no arguments, returns a model) under `name`."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ModelError(f"model name {name!r}: use letters, digits and - _ . + (e.g. 'my-unet')")

    def decorate(factory: Factory) -> Factory:
        known = _FACTORIES.get(name)
        if known is not None and _qualname(known) != _qualname(factory):
            raise ModelError(
                f"model name {name!r} is already registered by {_qualname(known)}; "
                f"{_qualname(factory)} needs another name"
            )
        _FACTORIES[name] = factory
        return factory

    return decorate


def list_models() -> list[str]:
    """Every registered name: built-ins, decorator registrations and entry points."""
    _load_builtins()
    return sorted(set(_FACTORIES) | set(_entry_points()))


def get_model(name_or_path: str | Path) -> SegmentationModel:
    """A model by registered name, from a YAML spec file, or a MONAI bundle folder."""
    text = str(name_or_path)
    is_file_path = isinstance(name_or_path, Path) and not name_or_path.is_dir()
    if is_file_path or text.lower().endswith(SPEC_SUFFIXES):
        return load_spec(text)
    _load_builtins()
    if text in _FACTORIES:
        return _checked(_call(_FACTORIES[text], text), f"factory {_qualname(_FACTORIES[text])}")
    points = _entry_points()
    if text in points:
        point = points[text]
        where = f"entry point {point.name} = {point.value!r} (group {ENTRY_POINT_GROUP})"
        try:
            factory = point.load()
        except Exception as err:  # a broken third-party package: say which one
            raise ModelError(
                f"model {text!r}: cannot load {where}: {type(err).__name__}: {err}. "
                "Is the package that provides it installed and importable?"
            ) from None
        return _checked(_call(factory, text), where)
    if Path(text).is_dir():  # a MONAI bundle: configs/metadata.json, configs/inference.*
        from robustbench_liver.models import bundle

        if bundle.is_bundle(text):
            return _checked(bundle.from_directory(text), text)
        raise ModelError(
            f"{text} is a folder, not a model: a MONAI bundle folder holds configs/metadata.json "
            "(or pass a model spec file, .yaml)"
        )
    if Path(text).is_file():  # a spec file without the .yaml suffix
        return load_spec(text)
    raise ModelError(
        did_you_mean(text, list_models(), "model")
        + " Pass a registered name, or a model spec file (.yaml)."
    )


def load_spec(path: str | Path) -> SegmentationModel:
    """Build the model a YAML spec file describes."""
    path = Path(path)
    data = read_spec(path)
    adapter = data.get("adapter")
    if adapter not in SPEC_ADAPTERS:
        shown = repr(adapter) if adapter is not None else "missing"
        raise ModelError(
            f"{path}: `adapter:` is {shown}; "
            + did_you_mean(str(adapter), SPEC_ADAPTERS, "adapter", listing=False)
            + f" Use one of: {', '.join(SPEC_ADAPTERS)}."
        )
    module = importlib.import_module(SPEC_ADAPTERS[adapter])
    return _checked(module.from_spec(data, path), str(path))


def cards() -> list[tuple[str, ModelCard | ModelError]]:
    """(name, card) of every registered model; a model that cannot be built gives its error."""
    out: list[tuple[str, ModelCard | ModelError]] = []
    for name in list_models():
        try:
            out.append((name, get_model(name).card))
        except ModelError as err:
            out.append((name, err))
    return out


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return {point.name: point for point in points}


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        for module in BUILTIN_MODULES:
            importlib.import_module(module)


def _call(factory: Any, name: str) -> Any:
    if not callable(factory):
        return factory  # an entry point may name a ready model object
    try:
        return factory()
    except ModelError:
        raise
    except Exception as err:
        raise ModelError(
            f"model {name!r}: its factory {_qualname(factory)} failed: {type(err).__name__}: {err}"
        ) from err


def _checked(model: Any, source: str) -> SegmentationModel:
    card = getattr(model, "card", None)
    if not isinstance(card, ModelCard) or not callable(getattr(model, "predict", None)):
        raise ModelError(
            f"{source} gave {type(model).__name__}, not a model: it needs a `card` "
            "(robustbench_liver.models.ModelCard) and a `predict(image_hu, spacing, liver=None)`"
        )
    return model


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


__all__ = [
    "ENTRY_POINT_GROUP",
    "SPEC_ADAPTERS",
    "cards",
    "get_model",
    "list_models",
    "load_spec",
    "register_model",
]
