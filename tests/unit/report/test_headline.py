"""The small-tumor headline on hand-made lesion rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robustbench_liver.report.headline import (
    bin_index,
    bin_label,
    detection_by_size,
    headline_bin,
    small_tumor_headline,
)

EDGES = (0.0, 5.0, 10.0, 15.0, 20.0)
MIDDLE = {0: 3.0, 1: 7.0, 2: 12.0, 3: 17.0, 4: 30.0}


def lesions(found: dict[int, tuple[int, int]], model: str = "m", scans: int = 4) -> pd.DataFrame:
    """`found[bin] = (detected, total)`, spread round-robin over `scans` base scans."""
    rows = []
    for b, (hit, total) in found.items():
        for k in range(total):
            rows.append(
                {
                    "model": model,
                    "base_scan": f"s{k % scans}",
                    "radius_mm": MIDDLE[b],
                    "detected": k < hit,
                }
            )
    return pd.DataFrame(rows)


def one(table: pd.DataFrame, **kwargs):
    (h,) = small_tumor_headline(table, EDGES, resamples=400, **kwargs)
    return h


def test_bins_are_half_open_and_the_last_is_open_ended():
    assert bin_index(np.array([0, 4.99, 5, 9.9, 10, 19.99, 20, 80]), EDGES).tolist() == [
        0, 0, 1, 1, 2, 3, 4, 4,
    ]  # fmt: skip
    assert bin_label(1, EDGES) == "5–10 mm" and bin_label(4, EDGES) == "≥ 20 mm"


def test_headline_is_the_smallest_bin_from_which_sensitivity_stays_at_80_percent():
    h = one(lesions({0: (1, 8), 1: (8, 8), 2: (8, 8), 3: (8, 8), 4: (8, 8)}))
    assert h.reached and h.bin == 1 and h.radius_mm == 5.0 and h.label == "5–10 mm"
    assert not h.censored
    assert h.sensitivity == 1.0 and h.lesions == 8


def test_a_dip_above_the_smallest_bin_moves_the_headline_up():
    # 0-5 mm at 100 % by luck, 5-10 mm at 50 %: the model does not detect from 0 mm on
    h = one(lesions({0: (4, 4), 1: (4, 8), 2: (8, 8), 3: (8, 8), 4: (8, 8)}))
    assert h.bin == 2 and h.label == "10–15 mm"


def test_exactly_80_percent_counts_and_empty_bins_are_skipped():
    h = one(lesions({0: (0, 8), 1: (4, 5), 3: (8, 8), 4: (8, 8)}))  # no 10-15 mm lesions
    assert h.bin == 1 and h.sensitivity == pytest.approx(0.8)
    h = one(lesions({0: (0, 8), 1: (3, 4), 3: (8, 8), 4: (8, 8)}))
    assert h.bin == 3  # 10-15 mm holds no lesion: the next observed bin


def test_not_reached_and_censored():
    h = one(lesions({0: (8, 8), 1: (8, 8), 4: (2, 8)}))
    assert not h.reached and h.bin is None and h.label == "not reached" and h.radius_mm is None
    h = one(lesions({1: (8, 8), 2: (8, 8)}))  # nothing below 5 mm was measured
    assert h.reached and h.bin == 1 and h.censored


def test_ci_brackets_the_headline_and_is_a_point_when_every_scan_agrees():
    steady = one(lesions({0: (0, 8), 1: (8, 8), 2: (8, 8)}))
    assert steady.radius_ci_low_mm == steady.radius_ci_high_mm == 5.0
    assert steady.radius_ci_label == "5 mm"
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "model": "m",
            "base_scan": [f"s{i % 6}" for i in range(300)],
            "radius_mm": rng.uniform(0, 30, 300),
        }
    )
    table["detected"] = rng.random(300) < np.clip(table["radius_mm"] / 10, 0, 1)
    h = one(table)
    assert h.radius_ci_low_mm is not None and h.radius_mm is not None
    assert h.radius_ci_low_mm <= h.radius_mm
    assert h.radius_ci_high_mm is None or h.radius_mm <= h.radius_ci_high_mm


def test_headline_is_seeded_and_independent_of_other_models():
    a = lesions({0: (3, 8), 1: (6, 8), 2: (7, 8), 3: (8, 8)}, "a")
    b = lesions({0: (8, 8), 1: (8, 8)}, "b")
    alone = small_tumor_headline(a, EDGES, resamples=400, seed=5)
    together = small_tumor_headline(pd.concat([a, b]), EDGES, resamples=400, seed=5)
    assert alone[0] == together[0]
    assert [h.model for h in together] == ["a", "b"]
    assert small_tumor_headline(a, EDGES, resamples=400, seed=5) == alone


def test_headline_bin_vectorised():
    s = np.array([[0.1, 0.9, 0.7, 0.9], [0.9, 0.9, 0.9, 0.9], [0.1, 0.2, 0.3, 0.4]])
    observed = np.array([[True, True, False, True]] * 3)
    assert headline_bin(s, observed).tolist() == [1, 0, 4]


def test_detection_by_size_counts_every_bin(rows):
    _, table = rows
    out = detection_by_size(table, EDGES, resamples=300)
    assert len(out) == 2 * len(EDGES)
    for (model, b), part in out.groupby(["model", "bin"]):
        mine = table[(table.model == model) & (bin_index(table.radius_mm, EDGES) == b)]
        row = part.iloc[0]
        assert row["lesions"] == len(mine) and row["detected"] == mine["detected"].sum()
        if len(mine):
            assert row["estimate"] == pytest.approx(mine["detected"].mean())
        else:
            assert np.isnan(row["estimate"])
    assert detection_by_size(table.iloc[0:0], EDGES).empty
