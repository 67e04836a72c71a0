"""A digest of result rows that depends on their content only, not on Parquet's bytes, the
row order or the column order: sha256 of one canonical JSON line per row.

What is digested is the result, not the machine: an honest re-run of the same scenario in
another folder, on another computer, gives the same digest. Every column is a result (so
`--verify` stays strict, and a column added later is covered from the start) except the
ENVIRONMENT ones, which describe where and how fast a run went.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np
import pandas as pd

ENVIRONMENT = frozenset(
    {
        "seconds",  # wall-clock time: another machine, another load
        "error",  # free text with local paths, timings and library wording; `status` is kept
    }
)
"""Columns of case and lesion rows left out of `rows_digest`."""


def plain(value: Any) -> Any:
    """A JSON value for a cell: numpy scalars to Python, NaN / NA / NaT to None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    return value


def digested_columns(table: pd.DataFrame) -> list[str]:
    """The columns `rows_digest` covers: all but ENVIRONMENT, sorted."""
    return sorted(str(c) for c in table.columns if c not in ENVIRONMENT)


def rows_digest(table: pd.DataFrame) -> str:
    """sha256 hex of the rows' digested columns as canonical JSON lines (keys sorted, floats
    in repr, which round-trips exactly), the lines sorted: the same results give the same
    digest, whatever the run's folder, machine or speed."""
    columns = digested_columns(table)
    lines = sorted(
        json.dumps(
            {c: plain(v) for c, v in zip(columns, row, strict=True)},
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        for row in table[columns].itertuples(index=False, name=None)
    )
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()
