"""A content-addressed cache of synthesized cases on disk, shared by runs and workers.

Keys hash everything a case's bytes depend on (generator version, base scan content, tumor
model, image shift, seed; see `cases.content_key`), so runs of different scenarios and run
folders can share one cache. Writes are atomic (temporary file, then rename): concurrent
writers of one key both write the same bytes and the last rename wins; a reader sees a whole
entry or none. Entries may be deleted at any time (`prune`): a missing entry is rebuilt.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robustbench_liver.io.atomic import atomic_path
from robustbench_liver.types import Case, TumorRecord

ENV = "ROBUSTBENCH_LIVER_CACHE"
BYTES_PER_VOXEL = 4 + 1
"""An entry stores the image as float32 and the label as uint8, uncompressed."""
STALE_TMP_S = 24 * 3600
"""A temporary file this old is left by a killed writer, not one still writing."""


def default_root() -> Path:
    """The shared case cache: `$ROBUSTBENCH_LIVER_CACHE`, else ~/.cache/robustbench-liver/cases."""
    env = os.environ.get(ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "robustbench-liver" / "cases"


class CacheWriteWarning(UserWarning):
    """A case could not be stored in the cache (full or read-only disk); it is used anyway."""


@dataclass(frozen=True)
class PruneResult:
    removed: int
    freed_bytes: int
    kept: int
    kept_bytes: int


class CaseCache:
    """Cases stored by content key (see `cases.content_key`): `<root>/<k[:2]>/<k>.npz`.

    Only content is stored (image, label, tumors, geometry); a case's identity (id,
    condition, replicate) comes from the request, so equal controls of different conditions
    are built once. Writes are atomic: a killed process never leaves a half-written entry.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str, **identity: Any) -> Case | None:
        path = self._path(key)
        if not path.exists():
            return None
        try:
            _touch(path)  # prune --max-gb drops the least recently used first
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                return Case(
                    image=data["image"],
                    label=data["label"],
                    tumors=tuple(TumorRecord.from_dict(t) for t in meta["tumors"]),
                    scan_id=meta["scan_id"],
                    spacing=tuple(meta["spacing"]),
                    affine=data["affine"],
                    **identity,
                )
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            path.unlink(missing_ok=True)  # damaged entry: rebuild it
            return None

    def put(self, key: str, case: Case) -> None:
        """Store a case; a cache that cannot be written (disk full, read-only) is skipped
        with a warning: the case is still used."""
        try:
            self._put(key, case)
        except OSError as err:
            warnings.warn(
                f"case cache {self.root}: could not store a case ({err}); going on without it. "
                f"Free space (robustbench-liver cache --prune) or set {ENV} to another folder.",
                CacheWriteWarning,
                stacklevel=2,
            )

    def _put(self, key: str, case: Case) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "scan_id": case.scan_id,
            "spacing": list(case.spacing or ()),
            "tumors": [t.to_dict() for t in case.tumors],
        }
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(
                handle,
                image=case.image,
                label=case.label,
                affine=np.asarray(case.affine if case.affine is not None else np.eye(4)),
                meta=np.asarray(json.dumps(meta)),
            )

    def entries(self) -> list[tuple[Path, float, int]]:
        """(path, last use as mtime, bytes) of every entry, oldest first."""
        found: list[tuple[Path, float, int]] = []
        for path in _files(self.root.glob("??/*.npz")):
            try:
                st = path.stat()
            except FileNotFoundError:  # pruned or replaced meanwhile
                continue
            found.append((path, st.st_mtime, st.st_size))
        return sorted(found, key=lambda e: (e[1], e[0].name))

    def usage(self) -> tuple[int, int]:
        """(entries, bytes)."""
        entries = self.entries()
        return len(entries), sum(size for _, _, size in entries)

    def prune(
        self,
        older_than_days: float | None = None,
        max_bytes: int | None = None,
        now: float | None = None,
    ) -> PruneResult:
        """Delete entries unused for `older_than_days`, then the least recently used ones
        until at most `max_bytes` remain; and temporary files left by killed writers.
        Safe while runs use the cache: they rebuild what is gone."""
        now = time.time() if now is None else now
        for tmp in _files(self.root.glob("??/.tmp-*")):
            try:
                if now - tmp.stat().st_mtime > STALE_TMP_S:
                    tmp.unlink(missing_ok=True)
            except FileNotFoundError:
                continue
        entries = self.entries()
        total = sum(size for _, _, size in entries)
        removed = freed = 0
        for path, mtime, size in entries:  # oldest first
            too_old = older_than_days is not None and now - mtime > older_than_days * 86400
            too_big = max_bytes is not None and total - freed > max_bytes
            if not (too_old or too_big):
                continue
            path.unlink(missing_ok=True)
            removed += 1
            freed += size
        return PruneResult(removed, freed, len(entries) - removed, total - freed)


def estimate_case_bytes(shape: Iterable[int]) -> int:
    """Bytes of one cache entry for a base scan of `shape` (image float32 + label uint8)."""
    return int(np.prod(tuple(shape))) * BYTES_PER_VOXEL


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:  # a read-only shared cache still serves its entries
        pass


def _files(paths: Iterable[Path]) -> list[Path]:
    return [p for p in paths if p.is_file()]
