"""A run folder: manifest, case cache, and results written atomically as work finishes.

    RUNDIR/manifest.json          what was run (scenarios, models, platform, options, data)
    RUNDIR/parts/<scenario>/<model>/<case>.cases.parquet    one finished (model, case)
    RUNDIR/parts/<scenario>/<model>/<case>.lesions.parquet  its ground-truth lesions
    RUNDIR/cases.parquet, lesions.parquet                   all parts, sorted (derived)
    RUNDIR/parts.sha256                                     sha256 of each part and table
    CACHE/ (shared; RUNDIR/cache in older runs)            synthesized cases by content
    RUNDIR/predictions/<scenario>/<model>/<case>.npz       predicted tumor mask, for reports

Folder and file names are `runs.folders.folder_name` of the scenario, model and case names:
distinct names, distinct folders (the manifest's `folders` maps names to them). The tables
are a pure function of the parts, so a killed run that resumes ends with the same tables as
one that never stopped; `audit` says where the parts, their checksums and the tables disagree.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.io.atomic import atomic_path, atomic_write_bytes
from robustbench_liver.metrics import bounding_box
from robustbench_liver.runs import checksums
from robustbench_liver.runs.folders import folder_name, legacy_folder

FORMAT = 2
"""1: folders named by `slug` (two names could share one). 2: by `folders.folder_name`, listed
in the manifest's `folders`; parts.sha256; the base scans' digests bound to the folder."""
SORT = ["scenario", "model", "case_id"]
Pair = tuple[str, str, str]
"""(scenario, model, case id)."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


def slug(text: str) -> str:
    """A name as a readable file-name stem (no separators; no leading dot, so never '..').
    Not one-to-one: run folders name folders with `folders.folder_name`."""
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
        folder = self.root / "parts" / folder_name(scenario) / folder_name(model)
        return folder / f"{folder_name(case_id)}.{kind}.parquet"

    def is_done(self, scenario: str, model: str, case_id: str) -> bool:
        return self.part(scenario, model, case_id).exists()

    def status(self, scenario: str, model: str, case_id: str) -> str | None:
        """The status of a finished pair's row ('ok', 'model_error', ...); None if not done."""
        path = self.part(scenario, model, case_id)
        if not path.exists():
            return None
        try:
            return str(pd.read_parquet(path, columns=["status"])["status"].iloc[0])
        except (OSError, ValueError, KeyError, IndexError) as err:
            raise _damaged(path, err) from None

    def drop(self, pairs: Iterable[Pair]) -> None:
        """Remove the parts (and stored masks) of `pairs`, so that they are run again: their
        checksums first, then the case part (the pair is then not done), then the rest."""
        pairs = list(pairs)
        self.forget(pairs)
        for pair in pairs:
            self.part(*pair).unlink(missing_ok=True)
            self.part(*pair, kind="lesions").unlink(missing_ok=True)
            self.prediction(*pair).unlink(missing_ok=True)

    def forget(self, pairs: Iterable[Pair]) -> None:
        """Drop the checksums of pairs about to be (re)written: their new parts are not edits."""
        recorded = checksums.read(self.root)
        if not recorded:
            return
        gone = {self._rel(self.part(*p, kind=k)) for p in pairs for k in ("cases", "lesions")}
        if gone & recorded.keys():
            checksums.write(self.root, {k: v for k, v in recorded.items() if k not in gone})

    def edited_parts(self) -> list[str]:
        """Part files whose bytes differ from parts.sha256: 'path: ...' lines."""
        recorded = checksums.read(self.root) or {}
        parts = {rel for rel in recorded if rel.startswith("parts/")}
        return checksums.edited(self.root, recorded, parts)

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def write_part(
        self, scenario: str, model: str, case_id: str, case_row: dict, lesions: list[dict]
    ) -> None:
        """Lesions first, the case row last: the case file's presence means 'done'."""
        lesion_table = pd.DataFrame(lesions) if lesions else pd.DataFrame({"case_id": []})
        atomic_write_parquet(self.part(scenario, model, case_id, "lesions"), lesion_table)
        atomic_write_parquet(self.part(scenario, model, case_id), pd.DataFrame([case_row]))

    # --- predicted masks (the report draws them; it never runs a model) ---
    def prediction(self, scenario: str, model: str, case_id: str) -> Path:
        folder = self.root / "predictions" / folder_name(scenario) / folder_name(model)
        return folder / f"{folder_name(case_id)}.npz"

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
            path = self._legacy_prediction(scenario, model, case_id) or path
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

    def _legacy_prediction(self, scenario: str, model: str, case_id: str) -> Path | None:
        """Where a run folder of format 1 stored the mask, when no other model of it shares
        that folder (then whose mask it is cannot be told, and there is none)."""
        manifest = self.read_manifest() or {}
        if manifest.get("folders") is not None:
            return None
        folder = legacy_folder(model)
        if sum(legacy_folder(m) == folder for m in manifest.get("models") or {}) > 1:
            return None
        name = f"{legacy_folder(case_id)}.npz"
        return self.root / "predictions" / legacy_folder(scenario) / folder / name

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
        """All parts as two sorted tables; also written to cases.parquet and lesions.parquet,
        with every file's sha256 in parts.sha256. A lesion part without its case part (a
        pair killed between the two writes, run again later) is left out. A part that
        changed since its checksum was written keeps the recorded checksum, so the edit stays
        visible to `audit` whatever is built on top of it."""
        recorded = checksums.read(self.root) or {}
        digests: dict[str, str] = {}
        frames: dict[str, list[pd.DataFrame]] = {"cases": [], "lesions": []}
        for kind, path in self._part_files():
            data = path.read_bytes()
            rel = self._rel(path)
            digests[rel] = recorded.get(rel, checksums.sha256_bytes(data))
            try:
                frames[kind].append(pd.read_parquet(io.BytesIO(data)))
            except (OSError, ValueError) as err:
                raise _damaged(path, err) from None
        cases, lesions = _concat(frames["cases"]), _concat(frames["lesions"])
        if not cases.empty:
            cases = cases.sort_values(SORT, kind="stable").reset_index(drop=True)
        if not lesions.empty:
            lesions = lesions.sort_values([*SORT, "lesion_id"], kind="stable").reset_index(
                drop=True
            )
        for name, table in (("cases.parquet", cases), ("lesions.parquet", lesions)):
            atomic_write_parquet(self.root / name, table)
            digests[name] = checksums.sha256_file(self.root / name)
        checksums.write(self.root, digests)
        return self.tables()  # exactly what is stored, dtypes included

    def _part_files(self) -> list[tuple[str, Path]]:
        """('cases' | 'lesions', path) of every finished pair, sorted."""
        out: list[tuple[str, Path]] = []
        for path in sorted((self.root / "parts").glob("*/*/*.cases.parquet")):
            out.append(("cases", path))
            lesions = path.with_name(path.name.removesuffix(".cases.parquet") + ".lesions.parquet")
            if lesions.exists():
                out.append(("lesions", lesions))
        return out

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The consolidated tables of a finished run."""
        path = self.root / "cases.parquet"
        if not path.exists():
            raise RobustBenchError(
                f"{self.root}: no results yet (cases.parquet is missing); run it first"
            )
        return pd.read_parquet(path), pd.read_parquet(self.root / "lesions.parquet")

    def audit(self) -> list[str]:
        """Every disagreement between the part files, parts.sha256 and the tables, one
        'path: what' line each (empty when they agree). A folder with neither parts nor
        parts.sha256 (tables written some other way) has nothing to check."""
        recorded = checksums.read(self.root)
        if recorded is None and not (self.root / "parts").is_dir():
            return []
        files = self._part_files()
        problems = []
        if recorded is not None:
            present = {self._rel(path) for _, path in files}
            problems += [
                f"{rel}: listed in {checksums.NAME} but missing (deleted after the run?)"
                for rel in sorted(recorded)
                if not (self.root / rel).exists()
            ]
            problems += checksums.edited(self.root, recorded)
            problems += [
                f"{rel}: not in {checksums.NAME} (written after the tables were built: an "
                "unfinished run? run the same command again)"
                for rel in sorted(present - recorded.keys())
            ]
        return problems + self._compare_tables(files)

    def _compare_tables(self, files: list[tuple[str, Path]]) -> list[str]:
        """Each part against its rows in the tables, by (scenario, model, case id)."""
        try:
            cases, lesions = self.tables()
        except (RobustBenchError, OSError, ValueError) as err:
            return [f"cases.parquet / lesions.parquet: cannot be read ({err})"]
        stored = _rows_by_pair(cases)
        stored_lesions = _rows_by_pair(lesions)
        problems, seen = [], set()
        own: dict[Pair, str] = {}
        for kind, path in files:
            try:
                rows = _rows_by_pair(pd.read_parquet(path))
            except (OSError, ValueError) as err:
                problems.append(f"{self._rel(path)}: cannot be read ({err})")
                continue
            if kind == "cases":
                own.update({pair: self._rel(path) for pair in rows})
            table, name = (stored, "cases") if kind == "cases" else (stored_lesions, "lesions")
            for pair, lines in rows.items():
                seen.add((name, pair))
                if table.get(pair) != lines:
                    problems.append(
                        f"{self._rel(path)}: differs from its rows in {name}.parquet"
                        if pair in table
                        else f"{self._rel(path)}: its rows are not in {name}.parquet"
                    )
        for name, table in (("cases", stored), ("lesions", stored_lesions)):
            for pair in sorted(set(table) - {p for n, p in seen if n == name}):
                if name == "lesions" and pair in own:
                    where = f"{own[pair]} has no lesion part"
                else:
                    where = "no part file holds them"
                problems.append(f"{name}.parquet: rows of {'/'.join(pair)}, but {where}")
        return problems


def _damaged(path: Path, err: BaseException) -> RobustBenchError:
    return RobustBenchError(
        f"{path}: damaged part file ({err}); delete it to have its (model, case) run again"
    )


def _rows_by_pair(table: pd.DataFrame) -> dict[Pair, list[str]]:
    """(scenario, model, case id) -> its rows as sorted canonical JSON lines: a missing
    column reads as a missing value, and a whole number the same as an int or a float."""
    if table.empty or not set(SORT) <= set(table.columns):
        return {}
    out: dict[Pair, list[str]] = {}
    for row in table.to_dict("records"):
        pair = (str(row["scenario"]), str(row["model"]), str(row["case_id"]))
        cells = {str(k): _cell(v) for k, v in row.items()}
        line = json.dumps({k: v for k, v in cells.items() if v is not None}, sort_keys=True)
        out.setdefault(pair, []).append(line)
    return {pair: sorted(lines) for pair, lines in out.items()}


def _cell(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_cell(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    if isinstance(value, list | tuple):
        return [_cell(v) for v in value]
    return str(value)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
