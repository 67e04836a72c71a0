"""`run` and `evaluate` score a case the same way: one function, one set of defaults."""

from __future__ import annotations

import argparse

import numpy as np

from robustbench_liver.cli import evaluate
from robustbench_liver.metrics import MetricOptions, failed_case
from robustbench_liver.runs.summary import scores
from robustbench_liver.scenarios.schema import MetricOptions as ScenarioMetrics


def test_defaults_are_one_set():
    scoring = MetricOptions()
    scenario = ScenarioMetrics()
    parser = argparse.ArgumentParser()
    evaluate.register(parser.add_subparsers())
    args = parser.parse_args(["evaluate", "--pred", "p", "--gt", "g"])
    assert scoring.min_volume_mm3 == scenario.min_volume_mm3 == args.min_volume_mm3 == 10.0
    assert scoring.nsd_tolerance_mm == scenario.nsd_tolerance_mm == args.nsd_tolerance_mm
    assert scoring.iou_threshold == scenario.iou_threshold == args.iou_threshold
    assert scoring.lesion_rule == scenario.lesion_match == args.lesion_rule


def test_a_failed_case_keeps_its_lesions_as_misses():
    gt = np.zeros((12, 12, 12), dtype=np.uint8)
    gt[1:11, 1:11, 1:11] = 1
    gt[2:4, 2:4, 2:4] = 2
    gt[7:10, 7:10, 7:10] = 2
    extra = {"condition": "c", "base_scan": "s", "replicate": 0, "is_control": False}
    out = failed_case("k", "timeout", "too slow", gt, (1.0, 1.0, 1.0), extra=extra)
    assert out.case["status"] == "timeout" and out.case["has_tumor"] is True
    assert [lesion["detected"] for lesion in out.lesions] == [False, False]
    assert {lesion["status"] for lesion in out.lesions} == {"timeout"}
    import pandas as pd

    cases, lesions = pd.DataFrame([out.case]), pd.DataFrame(out.lesions)
    counted = scores(cases, lesions, by=["condition"], resamples=200).set_index("metric")
    assert counted.loc["dsc", "estimate"] == 0.0
    assert counted.loc["lesion_sensitivity", "estimate"] == 0.0
    assert counted.loc["lesion_sensitivity", "n"] == 2
    scored = scores(cases, lesions, by=["condition"], resamples=200, failures="exclude")
    assert scored.empty or scored["n"].sum() == 0
