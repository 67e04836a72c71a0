"""The run summary's printed cells: estimate with CI, no CI, or n/a."""

from __future__ import annotations

import numpy as np
import pandas as pd

from robustbench_liver.runs.summary import wide


def test_cells_say_when_there_is_no_ci():
    rows = pd.DataFrame(
        {
            "scenario": "s",
            "model": "m",
            "condition": "c",
            "failed": 0,
            "metric": ["dsc", "case_specificity", "nsd"],
            "estimate": [0.912, 1.0, np.nan],
            "ci_low": [0.83, np.nan, np.nan],
            "ci_high": [0.95, np.nan, np.nan],
        }
    )
    table = wide(rows)
    assert table["DSC"].iloc[0] == "0.91 [0.83, 0.95]"
    assert table["specificity"].iloc[0] == "1.00 (no CI)"
    assert table["NSD"].iloc[0] == "n/a"


def test_a_metric_a_group_lacks_reads_n_a():
    rows = pd.DataFrame(
        {
            "scenario": "s",
            "model": "m",
            "condition": ["c1", "c2", "c1"],
            "failed": 0,
            "metric": ["dsc", "dsc", "case_specificity"],
            "estimate": [0.9, 0.8, 1.0],
            "ci_low": [0.8, 0.7, np.nan],
            "ci_high": [0.95, 0.9, np.nan],
        }
    )
    table = wide(rows).set_index("condition")
    assert table.loc["c2", "specificity"] == "n/a"
