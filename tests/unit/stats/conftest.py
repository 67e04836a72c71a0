"""Clustered tables for the statistics tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def clustered_table(
    rng: np.random.Generator,
    *,
    models: int = 2,
    conditions: int = 2,
    base_scans: int = 8,
    replicates: int = 4,
    effect: float = 0.0,
) -> pd.DataFrame:
    """model × condition × base scan × replicate rows with a DSC-like `dsc` column.

    Each base scan shifts all its cases (the correlation the cluster bootstrap is for);
    model k adds `effect * k`.
    """
    rows = []
    scan_effect = rng.normal(0.0, 0.06, base_scans)
    for m in range(models):
        for c in range(conditions):
            for b in range(base_scans):
                for r in range(replicates):
                    value = 0.7 + scan_effect[b] + effect * m + rng.normal(0.0, 0.08)
                    rows.append((f"m{m}", f"c{c}", f"s{b:02d}", r, f"c{c}-s{b:02d}-r{r}", value))
    columns = ["model", "condition", "base_scan", "replicate", "case_id", "dsc"]
    return pd.DataFrame(rows, columns=columns)


@pytest.fixture
def table() -> pd.DataFrame:
    return clustered_table(np.random.default_rng(3))


@pytest.fixture
def make_table():
    return clustered_table
