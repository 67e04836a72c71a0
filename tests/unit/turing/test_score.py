"""Scoring with known answers gives known figures and exact intervals."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from scipy import stats

from robustbench_liver.turing.answers import ReaderAnswers, StudyKey
from robustbench_liver.turing.score import (
    clopper_pearson,
    markdown,
    rate,
    score_pooled,
    score_reader,
    score_study,
)


def make_key(truths: str) -> StudyKey:
    """'RRSS...' -> a key with items i0, i1, ... (R real, S synthetic)."""
    truth = {f"i{k}": ("real" if c == "R" else "synthetic") for k, c in enumerate(truths)}
    return StudyKey("study1", truth, tuple(truth), Path("key.json"))


def make_reader(name: str, calls: str, confidence: int = 3) -> ReaderAnswers:
    answers = {
        f"i{k}": ("real" if c == "R" else "synthetic", confidence)
        for k, c in enumerate(calls)
        if c != "-"
    }
    return ReaderAnswers(name, Path(f"{name}.json"), answers, ())


# Clopper-Pearson 95 % from the tables (e.g. Newcombe 1998; the binomial tables of Geigy)
@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(7, 10, 0.3475, 0.9333), (0, 10, 0.0, 0.3085), (10, 10, 0.6915, 1.0), (9, 30, 0.1473, 0.4940)],
)
def test_exact_interval_matches_the_tables(k, n, low, high):
    assert clopper_pearson(k, n) == pytest.approx((low, high), abs=5e-5)


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (3, 7), (12, 20), (29, 30)])
def test_exact_interval_is_scipys_binomtest(k, n):
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.9, method="exact")
    assert clopper_pearson(k, n, 0.9) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_no_trials_no_interval():
    r = rate(0, 0)
    assert math.isnan(r.estimate) and math.isnan(r.low) and math.isnan(r.high)


def test_a_reader_with_known_answers():
    # 4 real, 6 synthetic; the reader calls 2 real right, 5 synthetic right
    key = make_key("RRRRSSSSSS")
    reader = make_reader("A", "RRSSSSSSSR")
    s = score_reader(reader, key)
    assert (s.sensitivity.hits, s.sensitivity.total) == (5, 6)
    assert (s.specificity.hits, s.specificity.total) == (2, 4)
    assert (s.accuracy.hits, s.accuracy.total) == (7, 10)
    assert (s.accuracy.low, s.accuracy.high) == pytest.approx((0.3475, 0.9333), abs=5e-5)
    assert s.sensitivity.estimate == pytest.approx(5 / 6)
    assert s.balanced_accuracy == pytest.approx((5 / 6 + 2 / 4) / 2)


def test_rating_auc_uses_the_confidence():
    key = make_key("RS")
    sure = ReaderAnswers("A", Path("a"), {"i0": ("real", 5), "i1": ("synthetic", 5)}, ())
    assert score_reader(sure, key).auc == 1.0
    wrong = ReaderAnswers("B", Path("b"), {"i0": ("synthetic", 2), "i1": ("real", 1)}, ())
    assert score_reader(wrong, key).auc == 0.0
    tie = ReaderAnswers("C", Path("c"), {"i0": ("real", 3), "i1": ("real", 3)}, ())
    assert score_reader(tie, key).auc == 0.5


def test_pooled_interval_takes_items_not_calls_as_the_unit():
    key = make_key("RRRRRSSSSS")
    a = make_reader("A", "RRRRRSSSSS")  # all right
    copy = make_reader("B", "RRRRRSSSSS")
    alone = score_reader(a, key)
    pooled = score_pooled([a, copy], key)
    # two readers who agree on every item add no information about the items
    assert (pooled.accuracy.low, pooled.accuracy.high) == pytest.approx(
        (alone.accuracy.low, alone.accuracy.high)
    )
    assert pooled.calls == 20 and pooled.items == 10


def test_pooled_counts_are_item_shares():
    key = make_key("RRRRSSSS")
    a = make_reader("A", "RRSSSSRR")  # right on 0, 1, 4, 5
    b = make_reader("B", "RSRSSRSR")  # right on 0, 2, 4, 6
    pooled = score_pooled([a, b], key)
    # item shares right: 1, .5, .5, 0 | 1, .5, .5, 0 -> 4 of 8 items
    assert pooled.accuracy.hits == pytest.approx(4.0) and pooled.accuracy.total == 8
    assert pooled.accuracy.estimate == pytest.approx(8 / 16)
    assert (pooled.accuracy.low, pooled.accuracy.high) == pytest.approx(clopper_pearson(4, 8))
    naive = clopper_pearson(8, 16)  # calls as if independent: narrower, and wrong
    assert pooled.accuracy.high - pooled.accuracy.low > naive[1] - naive[0]
    assert pooled.sensitivity.hits == pytest.approx(2.0) and pooled.sensitivity.total == 4


def test_fractional_counts_get_a_beta_interval_between_the_integers():
    lo2, hi2 = clopper_pearson(2, 8)
    lo3, hi3 = clopper_pearson(3, 8)
    lo, hi = clopper_pearson(2.5, 8)
    assert lo2 < lo < lo3 and hi2 < hi < hi3


@pytest.mark.parametrize(
    ("calls", "phrase"),
    [
        ("RRRRRRRRRRRRRRRRRRRR" + "R" * 30, "whole 95% interval lies below 50%"),
        ("R" * 20 + "S" * 10 + "R" * 20, "too small to tell"),
        ("R" * 20 + "S" * 20 + "R" * 10, "do not pass"),
    ],
)
def test_paper_statement_says_what_the_interval_allows(calls, phrase):
    key = make_key("R" * 20 + "S" * 30)
    score = score_study(key, [make_reader("A", calls)])
    assert phrase in score.statements[0]
    assert score.pooled is None


def test_markdown_and_json_carry_every_reader_and_the_pooled_assumption():
    key = make_key("RRSS")
    score = score_study(key, [make_reader("A", "RRSS"), make_reader("B", "SRSR")])
    text = markdown(score)
    assert "| A |" in text and "| B |" in text and "pooled (2 readers" in text
    assert "items as the unit" in text and "not independent" in text
    data = score.to_dict()
    assert data["pooled"]["assumption"]
    assert data["readers"][0]["sensitivity"]["estimate"] == 1.0
    assert data["interval_method"].startswith("Clopper-Pearson")
