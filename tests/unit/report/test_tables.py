"""The report's numbers are the statistics functions' numbers, on the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robustbench_liver.report.tables import (
    CONDITION_PAIRING,
    PAIRED_LESION,
    condition_tests,
    failed_cases,
    failures,
    fmt_ci,
    fmt_p,
    lookup,
    model_tests,
)
from robustbench_liver.runs.summary import paired_rows, scores, summarize
from robustbench_liver.stats import adjust_pvalues, compare_conditions, compare_models

KEYS = ["model", "condition", "metric"]


def test_scores_equal_the_runs_summary(rows):
    cases, lesions = rows
    ours = scores(cases, lesions, resamples=500, seed=3).sort_values(KEYS)
    theirs = summarize(cases, lesions, resamples=500, seed=3).sort_values(KEYS)
    assert len(ours) == len(theirs) >= 2 * 2 * 5
    for column in ("estimate", "ci_low", "ci_high", "n"):
        np.testing.assert_array_equal(ours[column].to_numpy(), theirs[column].to_numpy())


def test_scores_follow_the_ci_level(rows):
    cases, lesions = rows
    wide = scores(cases, lesions, resamples=500, confidence=0.99)
    narrow = scores(cases, lesions, resamples=500, confidence=0.80)
    width = lambda t: (t["ci_high"] - t["ci_low"]).fillna(0).to_numpy()  # noqa: E731
    assert (width(wide) >= width(narrow) - 1e-12).all() and (width(wide) > width(narrow)).any()


def test_failed_cases_are_counted_and_left_out(rows):
    cases, lesions = rows
    counts = failures(cases)
    beta_iso = lookup(counts, model="beta", condition="c-iso")
    assert beta_iso is not None and beta_iso["cases"] == 12 and beta_iso["failed"] == 1
    assert counts["failed"].sum() == 1
    listed = failed_cases(cases)
    assert listed[["model", "case_id", "status"]].values.tolist() == [
        ["beta", "c-iso__phantom-3__t001", "model_error"]
    ]
    # by default the failed tumor case is a miss (DSC 0); scored-only leaves it out
    counted = lookup(scores(cases, lesions, resamples=200), model="beta", condition="c-iso",
                     metric="dsc")  # fmt: skip
    scored = lookup(scores(cases, lesions, resamples=200, failures="exclude"), model="beta",
                    condition="c-iso", metric="dsc")  # fmt: skip
    ok = cases[(cases.model == "beta") & (cases.condition == "c-iso") & (cases.status == "ok")]
    assert scored["n"] == ok["dsc"].notna().sum() == 7
    assert scored["estimate"] == pytest.approx(ok["dsc"].mean())
    assert counted["n"] == 8
    assert counted["estimate"] == pytest.approx(ok["dsc"].sum() / 8)


def test_condition_tests_are_compare_conditions_with_controls_kept_apart(rows):
    cases, _ = rows
    ours = condition_tests(cases, "c-hypo", resamples=400, seed=1)
    ok = paired_rows(cases)
    theirs = compare_conditions(
        ok,
        ["dsc", "nsd", "case_sensitivity", "case_specificity", PAIRED_LESION],
        reference="c-hypo",
        pair_on=CONDITION_PAIRING,
        n_resamples=400,
        seed=1,
    )
    assert len(ours) == len(theirs) == 2 * 5
    np.testing.assert_array_equal(ours["p_adjusted"], theirs["p_adjusted"])
    np.testing.assert_array_equal(ours["difference"], theirs["difference"])
    # Holm across every comparison of the scenario: all models and metrics together
    np.testing.assert_array_equal(ours["p_adjusted"], adjust_pvalues(ours["p_value"], "holm"))
    assert set(ours["metric"]) == {"dsc", "nsd", "case_sensitivity", "case_specificity",
                                   "lesion_sensitivity"}  # fmt: skip
    assert (ours["a"] == "c-iso").all() and (ours["b"] == "c-hypo").all()


def test_condition_tests_lesion_rate_is_the_share_found_per_case(rows):
    cases, _ = rows
    ok = paired_rows(cases)
    tumor = ok[~ok["is_control"]]
    np.testing.assert_allclose(
        tumor[PAIRED_LESION], tumor["n_lesions_detected"] / tumor["n_lesions"]
    )
    assert ok.loc[ok["is_control"], PAIRED_LESION].isna().all()


def test_condition_tests_need_two_conditions_and_the_reference(rows):
    cases, _ = rows
    assert condition_tests(cases[cases.condition == "c-hypo"], "c-hypo").empty
    assert condition_tests(cases, "no-such-condition").empty
    bh = condition_tests(cases, "c-hypo", resamples=200, correction="bh")
    assert (bh["adjust_method"] == "bh").all()


def test_model_tests_pair_every_two_models(rows):
    cases, _ = rows
    ours = model_tests(cases, resamples=300)
    theirs = compare_models(
        paired_rows(cases), ["dsc", "nsd"], pairs=[("alpha", "beta")], n_resamples=300
    )
    pd.testing.assert_frame_equal(ours, theirs)
    assert model_tests(cases[cases.model == "alpha"]).empty


def test_formatting():
    assert fmt_ci(0.5912, 0.23, 0.771) == "0.59 [0.23, 0.77]"
    assert fmt_ci(np.nan, 0.1, 0.2) == "n/a"
    assert fmt_ci(0.5, np.nan, np.nan) == "0.50 (no CI)"
    note = "no CI: 2 base scans, needs at least 3"
    assert fmt_ci(0.5, np.nan, np.nan, note) == f"0.50 ({note})"
    assert fmt_p(0.0004) == "<0.001"
    assert fmt_p(0.01234) == "0.012"
    assert fmt_p(None) == "n/a"
