"""YAML model specs: `adapter:` plus its arguments, read with yaml.safe_load only.

    adapter: torch            # torch | torchscript | command | nnunet | monai-bundle
    card: {name: my-unet, version: "1", license: MIT, ...}   # ModelCard fields
    ...                       # the adapter's own arguments (see each adapter)

Paths inside a spec are relative to the spec file. Unknown keys are errors that name the
file, the key and the closest known key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from robustbench_liver.errors import ModelError, did_you_mean
from robustbench_liver.models.protocol import ModelCard

SPEC_SUFFIXES = (".yaml", ".yml")


def read_spec(path: str | Path) -> dict[str, Any]:
    """The spec file as a mapping (yaml.safe_load: no tags, no code)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ModelError(f"cannot read model spec {path}: {err.strerror or err}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        raise ModelError(f"{path}{at}: not valid YAML ({getattr(err, 'problem', err)})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: a model spec must be a mapping with an `adapter:` key")
    return data


_SPEC_KEYS = ("adapter", "card")  # every spec has these; the rest belongs to the adapter


class Args:
    """The adapter's arguments of one spec (all keys but `adapter` and `card`), taken key by
    key; `done()` refuses any left over."""

    def __init__(self, data: Mapping[str, Any], path: Path, adapter: str):
        self.data = {k: v for k, v in data.items() if k not in _SPEC_KEYS}
        self.path = path
        self.adapter = adapter
        self.known: set[str] = set()

    def take(
        self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, what: str = ""
    ) -> Any:
        """The value of `key` (of type `kind`), or `default`; missing without a default is an
        error saying what the key is for."""
        self.known.add(key)
        if key not in self.data:
            if default is ...:
                raise ModelError(
                    f"{self.path}: the {self.adapter} adapter needs `{key}:`"
                    + (f" ({what})" if what else "")
                )
            return default
        value = self.data.pop(key)
        if value is None and default is None:
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
            names = "/".join(k.__name__ for k in _kinds(kind))
            raise ModelError(f"{self.path}: `{key}` must be {names}, got {value!r}")
        return value

    def path_of(self, key: str, what: str = "") -> Path:
        """A path argument, resolved relative to the spec file."""
        value = self.take(key, str, what=what)
        return resolve(self.path, value)

    def done(self) -> None:
        for key in self.data:
            raise ModelError(
                f"{self.path}: {self.adapter} adapter: "
                + did_you_mean(str(key), self.known | set(_SPEC_KEYS), "key")
            )


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def resolve(spec_path: Path, value: str) -> Path:
    """`value` as a path: absolute as given, relative to the spec file's folder otherwise."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (spec_path.parent / path).resolve()


def card_of(data: Any, spec_path: Path, adapter: str, **fixed: Any) -> ModelCard:
    """The spec's `card:` mapping as a ModelCard (name defaults to the file's stem);
    `fixed` fields (weights path, sha256) come from the adapter arguments."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ModelError(f"{spec_path}: `card` must be a mapping of model card fields")
    values = {"name": _stem(spec_path), **data, "adapter": adapter}
    for key, value in fixed.items():
        if key in data and data[key] != value:
            raise ModelError(
                f"{spec_path}: card.{key} ({data[key]!r}) disagrees with the adapter's {key} "
                f"({value!r}); give it once, outside `card:`"
            )
        values[key] = value
    return ModelCard.from_dict(values, where=str(spec_path))


def _stem(path: Path) -> str:
    name = path.name
    for suffix in SPEC_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name
