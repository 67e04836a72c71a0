"""A content-addressed cache of synthesized cases on disk (safe to share between workers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from robustbench_liver.io.atomic import atomic_path
from robustbench_liver.types import Case, TumorRecord


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
