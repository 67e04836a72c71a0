"""A run folder: manifest, case cache, and results written atomically as work finishes.

    RUNDIR/manifest.json          what was run (scenarios, models, platform, options)
    RUNDIR/parts/<scenario>/<model>/<case>.cases.parquet    one finished (model, case)
    RUNDIR/parts/<scenario>/<model>/<case>.lesions.parquet  its ground-truth lesions
    RUNDIR/cases.parquet, lesions.parquet                   all parts, sorted (derived)
    RUNDIR/cache/                                          synthesized cases by content

The tables are a pure function of the parts, so a killed run that resumes ends with the same
tables as one that never stopped.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from robustbench_liver.errors import RobustBenchError

FORMAT = 1
SORT = ["scenario", "model", "case_id"]
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


def slug(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-") or "x"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_parquet(path: Path, table: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".parquet")
    os.close(fd)
    try:
        table.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class RunStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

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
