"""A run folder: manifest, case cache, and results written atomically as work finishes.

    RUNDIR/manifest.json          what was run (scenarios, models, platform, options)
    RUNDIR/parts/<scenario>/<model>/<case>.cases.parquet    one finished (model, case)
    RUNDIR/parts/<scenario>/<model>/<case>.lesions.parquet  its ground-truth lesions
    RUNDIR/cases.parquet, lesions.parquet                   all parts, sorted (derived)
    CACHE/ (shared; RUNDIR/cache in older runs)            synthesized cases by content
    RUNDIR/predictions/<scenario>/<model>/<case>.npz       predicted tumor mask, for reports

The tables are a pure function of the parts, so a killed run that resumes ends with the same
tables as one that never stopped.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.io.atomic import atomic_path, atomic_write_bytes
from robustbench_liver.metrics import bounding_box

FORMAT = 1
SORT = ["scenario", "model", "case_id"]
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


def slug(text: str) -> str:
    """A name as one safe path component (no separators; no leading dot, so never '..')."""
    return _UNSAFE.sub("-", text).lstrip(".").strip("-") or "x"


def atomic_write_parquet(path: Path, table: pd.DataFrame) -> None:
    with atomic_path(path, suffix=".parquet") as tmp:
        table.to_parquet(tmp, index=False)


class RunStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def cache_dir(self) -> Path:
        """Where this run's cases are cached: the folder its manifest names (the CLI's
        default is the cache shared between runs, see `run --cache`; a relative name is
        inside the run folder), else RUNDIR/cache."""
        named = (self.read_manifest() or {}).get("cache_dir")
        return self.root / named if named else self.root / "cache"

    def part(self, scenario: str, model: str, case_id: str, kind: str = "cases") -> Path:
        return self.root / "parts" / slug(scenario) / slug(model) / f"{case_id}.{kind}.parquet"

    def is_done(self, scenario: str, model: str, case_id: str) -> bool:
        return self.part(scenario, model, case_id).exists()

    def write_part(
        self, scenario: str, model: str, case_id: str, case_row: dict, lesions: list[dict]
    ) -> None:
        """Lesions first, the case row last: the case file's presence means 'done'."""
        lesion_table = pd.DataFrame(lesions) if lesions else pd.DataFrame({"case_id": []})
        atomic_write_parquet(self.part(scenario, model, case_id, "lesions"), lesion_table)
        atomic_write_parquet(self.part(scenario, model, case_id), pd.DataFrame([case_row]))

    # --- predicted masks (the report draws them; it never runs a model) ---
    def prediction(self, scenario: str, model: str, case_id: str) -> Path:
        return self.root / "predictions" / slug(scenario) / slug(model) / f"{slug(case_id)}.npz"

    def write_prediction(self, scenario: str, model: str, case_id: str, mask: np.ndarray) -> None:
        """Store a predicted tumor mask: its bounding box only, bit-packed and compressed
        (KBs for a whole CT; packing first makes zlib about 4x faster than on bool bytes)."""
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.ndim != 3:
            raise RobustBenchError(
                f"case {case_id!r}: a stored prediction must be a 3D bool mask, "
                f"got {mask.dtype} with shape {mask.shape}"
            )
        box = bounding_box(mask) or (slice(0, 0),) * 3
        crop = mask[box]
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            bits=np.packbits(crop, axis=None),
            origin=np.array([s.start for s in box], dtype=np.int64),
            crop=np.array(crop.shape, dtype=np.int64),
            shape=np.array(mask.shape, dtype=np.int64),
        )
        atomic_write_bytes(self.prediction(scenario, model, case_id), buffer.getvalue())

    def read_prediction(self, scenario: str, model: str, case_id: str) -> np.ndarray | None:
        """The stored tumor mask at full size; None when the run stored none (older runs)."""
        path = self.prediction(scenario, model, case_id)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                bits, origin, crop, shape = [stored[k] for k in ("bits", "origin", "crop", "shape")]
            box = tuple(slice(int(o), int(o) + int(n)) for o, n in zip(origin, crop, strict=True))
            if len(box) != 3 or any(
                s.start < 0 or s.stop > int(n) for s, n in zip(box, shape, strict=True)
            ):
                raise ValueError(f"box {origin.tolist()}+{crop.tolist()} outside {shape.tolist()}")
            count = int(np.prod(crop))
            if bits.dtype != np.uint8 or bits.size != -(-count // 8):  # unpackbits would pad
                raise ValueError(f"{bits.size} bytes of {bits.dtype} for {count} voxels")
            mask = np.zeros(tuple(int(n) for n in shape), dtype=bool)
            mask[box] = np.unpackbits(bits, count=count).astype(bool).reshape(tuple(crop))
        except (OSError, EOFError, zipfile.BadZipFile, KeyError, ValueError, TypeError) as err:
            raise RobustBenchError(f"{path}: damaged prediction mask ({err})") from None
        return mask

    # --- manifest ---
    def read_manifest(self) -> dict[str, Any] | None:
        if not self.manifest_path.exists():
            return None
        try:
            return json.loads(self.manifest_path.read_text())
        except json.JSONDecodeError as err:
            raise RobustBenchError(f"{self.manifest_path}: damaged manifest ({err})") from None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_bytes(
            self.manifest_path, (json.dumps(manifest, indent=2, default=str) + "\n").encode()
        )

    # --- tables ---
    def collect(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """All parts as two sorted tables; also written to cases.parquet and lesions.parquet."""
        cases = _concat(sorted((self.root / "parts").glob("*/*/*.cases.parquet")))
        lesions = _concat(sorted((self.root / "parts").glob("*/*/*.lesions.parquet")))
        if not cases.empty:
            cases = cases.sort_values(SORT, kind="stable").reset_index(drop=True)
        if not lesions.empty:
            lesions = lesions.sort_values([*SORT, "lesion_id"], kind="stable").reset_index(
                drop=True
            )
        atomic_write_parquet(self.root / "cases.parquet", cases)
        atomic_write_parquet(self.root / "lesions.parquet", lesions)
        return self.tables()  # exactly what is stored, dtypes included

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The consolidated tables of a finished run."""
        path = self.root / "cases.parquet"
        if not path.exists():
            raise RobustBenchError(
                f"{self.root}: no results yet (cases.parquet is missing); run it first"
            )
        return pd.read_parquet(path), pd.read_parquet(self.root / "lesions.parquet")


def _concat(paths: list[Path]) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for p in paths]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
