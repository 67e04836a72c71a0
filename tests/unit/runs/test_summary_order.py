"""The run summary lists conditions in sweep order, not by name (issue 15.13)."""

from __future__ import annotations

import pandas as pd

from robustbench_liver.runs.summary import wide

SWEEP = ["r1.5-3", "r3-5", "r5-10", "r10-15"]


def long_rows() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"scenario": s, "model": m, "condition": c, "failed": 0, "metric": "dsc",
             "estimate": 0.5, "ci_low": 0.4, "ci_high": 0.6}
            for s in ("size", "contrast")
            for m in ("beta", "alpha")
            for c in (SWEEP if s == "size" else ["iso", "hypo"])
        ]
    )  # fmt: skip


def test_conditions_follow_the_sweep():
    table = wide(long_rows(), {"size": SWEEP, "contrast": ["iso", "hypo"]})
    keys = list(zip(table["scenario"], table["model"], table["condition"], strict=True))
    assert keys == [
        *[("size", m, c) for m in ("alpha", "beta") for c in SWEEP],
        *[("contrast", m, c) for m in ("alpha", "beta") for c in ("iso", "hypo")],
    ]
    assert list(table.index) == list(range(len(table)))


def test_without_an_order_rows_are_sorted_by_name():
    table = wide(long_rows())
    size_alpha = table[(table["scenario"] == "size") & (table["model"] == "alpha")]
    assert list(size_alpha["condition"]) == sorted(SWEEP) == ["r1.5-3", "r10-15", "r3-5", "r5-10"]
    assert list(table["scenario"].unique()) == ["contrast", "size"]


def test_conditions_not_named_go_last_by_name():
    table = wide(long_rows(), {"size": ["r5-10", "r1.5-3"]})
    size_alpha = table[(table["scenario"] == "size") & (table["model"] == "alpha")]
    assert list(size_alpha["condition"]) == ["r5-10", "r1.5-3", "r10-15", "r3-5"]
    assert list(table["scenario"].unique()) == ["size", "contrast"]
