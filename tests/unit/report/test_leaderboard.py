"""Leaderboards: schema-checked on write and read, separated by scenario version, verifiable."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from robustbench_liver.errors import DataError, RobustBenchError
from robustbench_liver.report.digest import rows_digest
from robustbench_liver.report.leaderboard import (
    build_leaderboard,
    read_leaderboard,
    verify,
    verify_or_raise,
    write_leaderboard,
)
from robustbench_liver.report.schema import problems, validate
from robustbench_liver.runs.summary import scores


def test_board_holds_scores_profiles_hashes_cards_and_digests(run_folder):
    doc = build_leaderboard([run_folder])
    assert doc["schema"] == "robustbench-liver/leaderboard" and doc["schema_version"] == 3
    (board,) = doc["boards"]
    assert board["scenario"] == "handmade" and len(board["hash"]) == 64
    assert board["metric_profiles"]["nsd"] == "nsd@2mm/surfel"
    assert board["statistics"] == {"resamples": 200, "confidence": 0.95, "seed": 0,
                                   "cluster": "base_scan"}  # fmt: skip
    entries = {e["model"]: e for e in board["entries"]}
    assert set(entries) == {"alpha", "beta"}
    beta = entries["beta"]
    assert beta["card"] == {"name": "beta", "version": "1"} and beta["failed"] == 1
    cases = pd.read_parquet(run_folder / "cases.parquet")
    lesions = pd.read_parquet(run_folder / "lesions.parquet")
    mine = cases[cases.model == "beta"]
    assert beta["rows"]["cases_sha256"] == rows_digest(mine)
    expected = scores(mine, lesions[lesions.model == "beta"], by=("model",), resamples=200)
    for _, r in expected.iterrows():
        assert beta["scores"][r["metric"]]["estimate"] == r["estimate"]
        low = beta["scores"][r["metric"]]["ci_low"]
        assert low == r["ci_low"] or (low is None and np.isnan(r["ci_low"]))
    assert set(beta["conditions"]) == {"c-hypo", "c-iso"}
    worst = min(beta["conditions"].items(), key=lambda kv: kv[1]["dsc"]["estimate"])
    assert beta["worst_condition"]["condition"] == worst[0]
    assert beta["small_tumor"]["label"]
    dsc = [e["scores"]["dsc"]["estimate"] for e in board["entries"]]
    assert dsc == sorted(dsc, reverse=True)


def test_write_and_read_round_trip(run_folder, tmp_path):
    doc = build_leaderboard([run_folder])
    files = write_leaderboard(doc, tmp_path / "lb")
    assert [f.name for f in files] == ["leaderboard.json", "leaderboard.md", "leaderboard.html"]
    assert read_leaderboard(tmp_path / "lb") == doc
    assert verify(read_leaderboard(tmp_path / "lb" / "leaderboard.json"), [run_folder]) == []
    page = (tmp_path / "lb" / "leaderboard.html").read_text()
    assert 'data-table="board"' in page and "alpha" in page and "beta" in page
    again = tmp_path / "again"
    write_leaderboard(build_leaderboard([run_folder]), again)
    for name in ("leaderboard.json", "leaderboard.md", "leaderboard.html"):
        assert (again / name).read_bytes() == (tmp_path / "lb" / name).read_bytes()


def test_tampered_scores_are_named(run_folder):
    doc = build_leaderboard([run_folder])
    bad = copy.deepcopy(doc)
    entry = bad["boards"][0]["entries"][0]
    entry["scores"]["dsc"]["estimate"] += 0.01
    entry["conditions"]["c-iso"]["nsd"]["ci_high"] = 0.123
    found = verify(bad, [run_folder])
    assert len(found) == 2
    assert f"{entry['model']} / scores / dsc / estimate: leaderboard says" in found[0] + found[1]
    with pytest.raises(RobustBenchError, match="conditions / c-iso / nsd / ci_high"):
        verify_or_raise(bad, [run_folder])


def test_changed_rows_break_the_digest(run_folder):
    doc = build_leaderboard([run_folder])
    cases = pd.read_parquet(run_folder / "cases.parquet")
    cases.loc[cases.index[0], "dsc"] = 0.0
    cases.to_parquet(run_folder / "cases.parquet", index=False)
    found = verify(doc, [run_folder])
    assert "are not the ones this leaderboard was built from" in found[0]


def test_missing_and_extra_models_are_mismatches(run_folder, make_run):
    doc = build_leaderboard([run_folder])
    only_alpha = make_run("alpha-only", models=("alpha",))
    assert any("beta: only in the leaderboard" in p for p in verify(doc, [only_alpha]))


def test_different_scenario_versions_get_separate_boards(make_run):
    v1 = make_run("v1")
    v2 = make_run("v2", seed=1, version=2)
    doc = build_leaderboard([v1, v2])
    assert [(b["scenario"], b["version"]) for b in doc["boards"]] == [
        ("handmade", 1), ("handmade", 2)
    ]  # fmt: skip
    assert doc["boards"][0]["hash"] != doc["boards"][1]["hash"]
    assert all("not comparable" in b["notes"][0] for b in doc["boards"])
    assert verify(doc, [v1, v2]) == []


def test_same_model_and_scenario_in_two_runs_is_refused(make_run):
    a, b = make_run("a"), make_run("b", seed=2)
    with pytest.raises(DataError, match="is in two run folders"):
        build_leaderboard([a, b])


def test_schema_lists_every_problem_with_its_place(run_folder, tmp_path):
    doc = build_leaderboard([run_folder])
    bad = copy.deepcopy(doc)
    bad["boards"][0]["entries"][0]["scores"]["dsc"]["estimate"] = "0.5"  # a number as a string
    bad["boards"][0]["surprise"] = 1
    found = problems(bad)
    assert len(found) == 2
    assert any("boards/0/entries/0/scores/dsc/estimate" in p for p in found)
    (tmp_path / "leaderboard.json").write_text(json.dumps(bad))
    with pytest.raises(DataError, match="2 problem") as err:
        read_leaderboard(tmp_path)
    assert "leaderboard.json" in str(err.value)
    with pytest.raises(DataError, match="schema version 7"):
        validate({**doc, "schema_version": 7})
    with pytest.raises(DataError, match="no leaderboard here"):
        read_leaderboard(tmp_path / "nothing")


def test_digest_ignores_row_and_column_order_but_not_values(rows):
    cases, _ = rows
    digest = rows_digest(cases)
    shuffled = cases.sample(frac=1.0, random_state=1)[list(reversed(cases.columns))]
    assert rows_digest(shuffled) == digest
    changed = cases.copy()
    changed.loc[changed.index[3], "nsd"] = np.nextafter(changed.loc[changed.index[3], "nsd"], 2)
    assert rows_digest(changed) != digest
