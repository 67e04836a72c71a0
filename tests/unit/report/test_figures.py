"""Plots and montages: valid, deterministic PNGs; the montage shows the right slice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robustbench_liver.report import montage, plots
from robustbench_liver.report.headline import detection_by_size
from robustbench_liver.report.tables import METRICS, model_tests
from robustbench_liver.runs.summary import scores

MAGIC = b"\x89PNG\r\n\x1a\n"


def as_png(make, *args):
    """A plot as the page embeds it."""
    return plots.png(make(*args))


def test_plots_are_png_and_repeatable(rows):
    cases, lesions = rows
    table = scores(cases, lesions, resamples=200)
    models = ["alpha", "beta"]
    conditions = ["c-hypo", "c-iso"]
    made = [
        as_png(
            plots.metric_vs_level, table, conditions, ["hypo", "iso"], "c-hypo", METRICS, models
        ),
        as_png(plots.heatmap, table, "dsc", models, conditions),
        as_png(
            plots.sensitivity_vs_radius,
            detection_by_size(lesions, (0, 5, 10, 15, 20), resamples=200),
            models,
            0.8,
        ),
        as_png(plots.forest, model_tests(cases, resamples=200), ["dsc", "nsd"]),
    ]
    for image in made:
        assert image.startswith(MAGIC) and len(image) > 5000
        assert b"matplotlib" not in image  # no version stamp: same bytes across upgrades
    again = as_png(plots.heatmap, table, "dsc", models, conditions)
    assert again == made[1]


def label_volume() -> np.ndarray:
    label = np.zeros((20, 18, 12), dtype=np.uint8)
    label[2:18, 2:16, 1:11] = 1
    label[4:6, 4:6, 2:4] = 2  # small lesion, z 2-3
    label[9:15, 8:14, 6:9] = 2  # large lesion, widest at z = 7
    label[10:14, 9:13, 9] = 2
    label[8:16, 7:15, 7] = 2
    return label


def test_slice_goes_through_the_largest_lesion():
    assert montage.largest_lesion_slice(label_volume()) == 7
    liver_only = (label_volume() >= 1).astype(np.uint8)
    liver_only[:, :, 5] = 1
    assert montage.largest_lesion_slice(liver_only) in range(1, 11)


def test_best_and_worst_cases_skip_controls_failures_and_break_ties_by_id():
    cases = pd.DataFrame(
        {
            "model": "m",
            "case_id": ["b", "a", "c", "d", "e"],
            "status": ["ok", "ok", "ok", "model_error", "ok"],
            "is_control": [False, False, False, False, True],
            "dsc": [0.9, 0.9, 0.1, 0.0, np.nan],
        }
    )
    picks = montage.pick_cases(cases, "m")
    assert [(w, r["case_id"]) for w, r in picks] == [("best", "a"), ("worst", "c")]
    assert [w for w, _ in montage.pick_cases(cases.iloc[:1], "m")] == ["best"]
    assert montage.pick_cases(cases, "other") == []


def test_montage_draws_truth_and_prediction():
    label = label_volume()
    image = np.where(label == 2, 20.0, np.where(label == 1, 90.0, -100.0)).astype(np.float32)
    prediction = label == 2  # the bool tumor mask, as the run stores it
    panel = montage.make_panel("best", image, label, (1.0, 1.0, 2.0), prediction)
    assert panel.truth.any() and panel.prediction is not None and panel.prediction.any()
    assert panel.aspect == 1.0
    without = montage.make_panel("worst", image, label, (1.0, 1.0, 2.0), None)
    picture = as_png(montage.draw_montage, [[panel, without]], ["model m"])
    assert picture.startswith(MAGIC)
    assert picture == as_png(montage.draw_montage, [[panel, without]], ["model m"])
    with pytest.raises(TypeError, match="bool tumor mask"):  # a label map would outline liver
        montage.make_panel("best", image, label, (1.0, 1.0, 2.0), label)
