"""`robustbench-liver leaderboard` on real (tiny) runs of one scenario: other --limit, other
boards (or a refusal); an honest re-run elsewhere verifies, an edited score does not."""

from __future__ import annotations

import json
import shutil
import textwrap
import warnings
from pathlib import Path

import pandas as pd
import pytest

from robustbench_liver.cli.main import main
from robustbench_liver.metrics import ToleranceBelowSpacingWarning
from robustbench_liver.report.leaderboard import read_leaderboard
from robustbench_liver.runs.runner import RunOptions, run
from robustbench_liver.runs.store import RunStore
from robustbench_liver.scenarios import load_scenario

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SCENARIO = textwrap.dedent(
    """\
    name: casesets
    seed: 9
    base_scans:
      - {source: phantom, count: 2, shape: [128, 112, 56], spacing: [3.0, 3.0, 4.0]}
    cases_per_condition: 3
    tumors: {level: medium}
    sweep:
      axes:
        - {name: contrast, param: tumors.delta_hu, levels: {hypo: [-60, -40], iso: [-15, -5]}}
    statistics: {resamples: 200}
    """
)


def make_run(scenario: Path, out: Path, limit: int | None) -> Path:
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore", ToleranceBelowSpacingWarning)  # 4 mm slices, on purpose
        mp.syspath_prepend(str(FIXTURES))
        run([load_scenario(scenario)], ["fake_models:Oracle"], out, RunOptions(limit=limit))
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """lim3 and lim2 side by side; lim3 again in another folder, with its own case cache."""
    root = tmp_path_factory.mktemp("casesets")
    scenario = root / "casesets.yaml"
    scenario.write_text(SCENARIO)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    return {
        "lim3": make_run(scenario, root / "lim3", 3),
        "lim2": make_run(scenario, root / "lim2", 2),
        "again": make_run(scenario, elsewhere / "lim3-again", 3),
    }


@pytest.fixture(scope="module")
def board(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("board")
    assert main(["leaderboard", str(runs["lim3"]), "--out", str(out)]) == 0
    return out


def test_different_limits_get_separate_boards_with_a_note(runs, tmp_path, capsys):
    assert main(["leaderboard", str(runs["lim3"]), str(runs["lim2"]), "--out", str(tmp_path)]) == 0
    assert "casesets v1 (6 cases), casesets v1 (4 cases)" in capsys.readouterr().out
    boards = read_leaderboard(tmp_path)["boards"]
    assert [b["case_set"]["cases"] for b in boards] == [6, 4]
    assert [b["case_set"]["base_scans"] for b in boards] == [2, 2]
    assert boards[0]["case_set"]["sha256"] != boards[1]["case_set"]["sha256"]
    full = boards[0]["case_set"]["sha256"][:12]
    note = boards[1]["notes"][0]
    assert "This board: run lim2 (--limit 2), 4 cases" in note
    assert f"4 of the 6 cases of case set {full} (run lim3 (--limit 3))" in note
    md = (tmp_path / "leaderboard.md").read_text()
    assert "| cases | controls | base scans | failed |" in md
    assert md.count("## casesets — version 1") == 2 and "4 of the 6 cases" in md


def test_one_board_is_refused_when_asked(runs, tmp_path, capsys):
    argv = ["leaderboard", str(runs["lim3"]), str(runs["lim2"]), "--out", str(tmp_path)]
    assert main([*argv, "--same-cases"]) == 1
    err = capsys.readouterr().err
    assert "was run on 2 different case sets" in err and "4 of the 6 cases" in err
    assert not (tmp_path / "leaderboard.json").exists()


def test_verify_passes_on_an_honest_rerun_elsewhere(board, runs, capsys):
    here, there = RunStore(runs["lim3"]).tables()[0], RunStore(runs["again"]).tables()[0]
    key = ["model", "case_id"]
    here, there = here.sort_values(key).reset_index(drop=True), there.sort_values(key)
    assert not (here["seconds"].to_numpy() == there["seconds"].to_numpy()).all()
    assert main(["leaderboard", str(runs["again"]), "--out", str(board), "--verify"]) == 0
    assert "all 1 entries match" in capsys.readouterr().out


def test_verify_fails_when_a_score_in_a_part_is_edited(board, runs, tmp_path, capsys):
    copy = tmp_path / "lim3-edited"
    shutil.copytree(runs["again"], copy, ignore=shutil.ignore_patterns("cache"))
    part = sorted((copy / "parts").glob("*/*/*.cases.parquet"))[0]
    row = pd.read_parquet(part)
    row["dsc"] = 0.5 if row["dsc"].iloc[0] != 0.5 else 0.25
    row.to_parquet(part, index=False)
    RunStore(copy).collect()  # as a resumed run rebuilds the tables from the parts
    assert main(["leaderboard", str(copy), "--out", str(board), "--verify"]) == 1
    err = capsys.readouterr().err
    assert "digest mismatch" in err and "/ dsc / estimate: leaderboard says" in err


def test_verify_against_another_case_set_fails(board, runs, capsys):
    assert main(["leaderboard", str(runs["lim2"]), "--out", str(board), "--verify"]) == 1
    err = capsys.readouterr().err
    assert "the board was built from 6 cases" in err and "the run folders hold 4 cases" in err


def test_manifest_limit_is_on_the_entry_not_in_the_comparison(board, runs):
    (board_doc,) = read_leaderboard(board)["boards"]
    assert [e["limit"] for e in board_doc["entries"]] == [3]
    manifest = json.loads((runs["lim2"] / "manifest.json").read_text())
    assert manifest["scenarios"]["casesets"]["limit"] == 2
