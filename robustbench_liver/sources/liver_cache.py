"""Where liver masks made by a model are kept: one NIfTI label map per (base scan content,
model), so that a model runs once per scan however many runs, scenarios and workers use it.

`<root>/<k[:2]>/<k>.nii.gz` holds the model's output (0/1/2, uint8, on the scan's grid and
affine: open it over the CT in any viewer), `<k>.json` says which scan and model it is for.
The key hashes the scan's image digest (`refs.volume_digest`) and the model's identity (card
name, version and weights sha256; for a spec file also the file's sha256). Writes are atomic;
a lock file per key makes concurrent workers wait for the one that runs the model instead of
running it too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from robustbench_liver.errors import DataError
from robustbench_liver.io.atomic import atomic_path, atomic_write_bytes
from robustbench_liver.io.scan import save_nifti
from robustbench_liver.io.volume import read_volume

ENV = "ROBUSTBENCH_LIVER_CACHE"
"""The suite's cache folder (the case cache's): liver masks go into its `liver-masks/`."""
FOLDER = "liver-masks"
KEY_VERSION = 1


class LiverCacheWarning(UserWarning):
    """A liver mask could not be stored (full or read-only disk); it is used anyway."""


def default_root() -> Path:
    """`$ROBUSTBENCH_LIVER_CACHE/liver-masks`, else ~/.cache/robustbench-liver/liver-masks."""
    env = os.environ.get(ENV)
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "robustbench-liver"
    return base / FOLDER


def mask_key(image_digest: str, model: Mapping[str, Any]) -> str:
    """The cache key of a model's output on a scan: its image digest and the model's
    identity (`liver_from._model`)."""
    payload = {"v": KEY_VERSION, "image": image_digest, "model": dict(model)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class LiverMaskCache:
    """Model outputs by key; see the module docstring."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_root()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.nii.gz"

    def get(self, key: str, shape: tuple[int, ...]) -> np.ndarray | None:
        """The stored output (uint8) of this key, or None; a damaged entry is removed."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            array = np.asarray(read_volume(path).array)
        except (DataError, OSError):
            path.unlink(missing_ok=True)
            return None
        if array.shape != tuple(shape):
            path.unlink(missing_ok=True)
            return None
        return array.astype(np.uint8)

    def put(
        self, key: str, labels: np.ndarray, affine: np.ndarray, about: Mapping[str, Any]
    ) -> None:
        """Store an output (its NIfTI, then a JSON note for people); a cache that cannot be
        written is skipped with a warning: the mask is still used."""
        path = self.path(key)
        try:
            with atomic_path(path, suffix=".nii.gz") as tmp:
                save_nifti(tmp, labels, affine, kind="label")
            note = json.dumps({"key": key, **about}, indent=2, sort_keys=True, default=str)
            atomic_write_bytes(path.with_name(f"{key}.json"), (note + "\n").encode())
        except OSError as err:
            warnings.warn(
                f"liver-mask cache {self.root}: could not store the mask of {about.get('scan')} "
                f"({err}); going on without it, so the model runs again next time. Free space "
                f"or set {ENV} to another folder.",
                LiverCacheWarning,
                stacklevel=2,
            )

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold the key's lock (POSIX): another process computing the same mask waits here.
        Without a writable cache or on a system without flock, no lock is held."""
        try:
            import fcntl
        except ImportError:  # not POSIX: at worst two workers run the model
            yield
            return
        lock_path = self.root / key[:2] / f"{key}.lock"
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock_path, "a")  # held across the yield: no `with`
        except OSError:
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            handle.close()  # closing releases the lock


__all__ = ["ENV", "LiverCacheWarning", "LiverMaskCache", "default_root", "mask_key"]
