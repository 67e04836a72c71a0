"""sha256 of weight files, checked before anything is loaded from them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from robustbench_liver.errors import ModelError


def file_digest(path: str | Path, kind: str = "sha256") -> str:
    """Hex digest of a file's bytes (`kind`: a hashlib name, e.g. md5 for a bundle's list)."""
    h = hashlib.new(kind)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    return file_digest(path)


def verify_weights(path: str | Path, expected: str | None, model: str) -> Path:
    """The weights file, after checking that it exists and that its sha256 is `expected`.

    A missing `expected` is refused too: unverified weights are never loaded.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(
            f"model {model!r}: weights file {path} not found "
            "(paths in a model spec are relative to the spec file)"
        )
    actual = sha256_of(path)
    if expected is None:
        raise ModelError(
            f"model {model!r}: no sha256 given for {path}; unverified weights are not loaded. "
            f"If you trust this file, add `sha256: {actual}` to the model spec"
        )
    if actual != expected.lower():
        raise ModelError(
            f"model {model!r}: {path} has sha256 {actual}, the card expects {expected}. "
            "The file changed or is not the one the card describes: restore it, or update "
            "the card's sha256 if you replaced the weights on purpose"
        )
    return path
