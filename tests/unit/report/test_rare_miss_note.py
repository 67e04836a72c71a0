"""The score table says where DSC intervals rest on too few base scans for rare misses."""

from __future__ import annotations

import pandas as pd

from robustbench_liver.report.sections import RARE_MISS_SCANS, rare_miss_note


def table(n: int, clusters: int, low: float = 0.7) -> pd.DataFrame:
    return pd.DataFrame({"metric": ["dsc"], "n": [n], "n_clusters": [clusters], "ci_low": [low]})


def test_one_case_per_scan_on_few_scans_gets_the_note():
    assert "72–85 %" in rare_miss_note(table(12, 12))


def test_many_scans_or_several_cases_per_scan_do_not():
    assert rare_miss_note(table(RARE_MISS_SCANS, RARE_MISS_SCANS)) == ""
    assert rare_miss_note(table(48, 12)) == ""
    assert rare_miss_note(table(12, 12, low=float("nan"))) == ""  # no interval printed
