"""A digest of result rows that depends on their content only, not on Parquet's bytes, the
row order or the column order: sha256 of one canonical JSON line per row."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np
import pandas as pd


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


def rows_digest(table: pd.DataFrame) -> str:
    """sha256 hex of the rows as canonical JSON lines (keys sorted, floats in repr, which
    round-trips exactly), the lines sorted: the same rows give the same digest."""
    columns = sorted(table.columns)
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
