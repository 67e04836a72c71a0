"""The rows each registry metric is a mean over, failures counted or left out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robustbench_liver.metrics.registry import BY_NAME, HEADLINE, METRICS
from robustbench_liver.runs.summary import metric_tables, scores


def rows() -> tuple[pd.DataFrame, pd.DataFrame]:
    base = {"model": "m", "condition": "c", "replicate": 0}
    cases = pd.DataFrame(
        [
            {**base, "case_id": "a", "base_scan": "s0", "is_control": False, "status": "ok",
             "dsc": 0.8, "nsd": 0.7, "case_sensitivity": 1.0, "case_specificity": np.nan,
             "n_predicted_lesions": 3, "n_false_positive_lesions": 1, "has_tumor": True},
            {**base, "case_id": "b", "base_scan": "s1", "is_control": True, "status": "ok",
             "dsc": np.nan, "nsd": np.nan, "case_sensitivity": np.nan, "case_specificity": 0.0,
             "n_predicted_lesions": 2, "n_false_positive_lesions": 2, "has_tumor": False},
            {**base, "case_id": "c", "base_scan": "s2", "is_control": False,
             "status": "timeout", "dsc": np.nan, "nsd": np.nan, "case_sensitivity": np.nan,
             "case_specificity": np.nan},
            {**base, "case_id": "d", "base_scan": "s3", "is_control": True,
             "status": "model_error", "dsc": np.nan, "nsd": np.nan,
             "case_sensitivity": np.nan, "case_specificity": np.nan},
            {**base, "case_id": "e", "base_scan": "s4", "is_control": False,
             "status": "synthesis_error", "dsc": np.nan},
        ]
    )  # fmt: skip
    lesions = pd.DataFrame(
        [
            {**base, "case_id": "a", "base_scan": "s0", "detected": True, "status": "ok"},
            {**base, "case_id": "a", "base_scan": "s0", "detected": False, "status": "ok"},
            {**base, "case_id": "c", "base_scan": "s2", "detected": False, "status": "timeout"},
        ]
    )
    return cases, lesions


def test_failures_count_as_misses_and_false_positives():
    cases, lesions = rows()
    tables = metric_tables(cases, lesions)
    c = tables["cases"].set_index("case_id")
    assert "e" not in c.index  # the bench's own failure is nobody's score
    assert c.loc["c", "dsc"] == 0.0 and c.loc["c", "case_sensitivity"] == 0.0
    assert c.loc["d", "case_specificity"] == 0.0 and np.isnan(c.loc["d", "dsc"])
    assert c.loc["a", "fp_per_case"] == 1.0 and np.isnan(c.loc["c", "fp_per_case"])
    assert np.isnan(c.loc["b", "fp_per_case"])  # a control's false positives: specificity
    assert tables["lesions"]["lesion_sensitivity"].tolist() == [1.0, 0.0, 0.0]
    # precision over the predicted lesions of scored tumor cases: 2 of 3 touch a real one
    assert tables["components"]["lesion_precision"].tolist() == [1.0, 1.0, 0.0]


def test_scored_only_leaves_failures_out():
    cases, lesions = rows()
    tables = metric_tables(cases, lesions, failures="exclude")
    assert set(tables["cases"]["case_id"]) == {"a", "b"}
    assert tables["lesions"]["lesion_sensitivity"].tolist() == [1.0, 0.0]


def test_scores_follow_the_registry():
    cases, lesions = rows()
    out = scores(cases, lesions, resamples=200).set_index("metric")
    assert list(out.index) == [m for m in HEADLINE if m in out.index]
    assert out.loc["dsc", "estimate"] == pytest.approx(0.4)
    assert out.loc["lesion_precision", "estimate"] == pytest.approx(2 / 3)
    assert out.loc["fp_per_case", "estimate"] == pytest.approx(1.0)
    assert (out["failures"] == "count").all()


def test_every_metric_is_fully_described():
    for metric in METRICS:
        assert metric.kind in ("continuous", "proportion")
        assert metric.better in ("higher", "lower")
        assert metric.bounds[0] < metric.bounds[1]
        assert BY_NAME[metric.name] is metric
