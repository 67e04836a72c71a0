"""`robustbench-liver leaderboard` on real (tiny) runs: JSON valid, pages written, --verify
passes on the truth and names a tampered score, scenario versions kept apart."""

from __future__ import annotations

import json
import textwrap
import warnings
from pathlib import Path

import pytest

from robustbench_liver.cli.main import main
from robustbench_liver.metrics import ToleranceBelowSpacingWarning
from robustbench_liver.report.leaderboard import read_leaderboard
from robustbench_liver.runs.runner import RunOptions, run
from robustbench_liver.runs.store import RunStore
from robustbench_liver.runs.summary import scores
from robustbench_liver.scenarios import load_scenario

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SCENARIO = textwrap.dedent(
    """\
    name: boardtest
    version: {version}
    seed: 9
    base_scans:
      - {{source: phantom, count: 2, shape: [128, 112, 56], spacing: [3.0, 3.0, 4.0]}}
    cases_per_condition: {cases}
    tumors: {{level: medium}}
    sweep:
      axes:
        - {{name: contrast, param: tumors.delta_hu, levels: {{hypo: [-60, -40], iso: [-15, -5]}}}}
    statistics: {{resamples: 500}}
    """
)


def make_run(root: Path, name: str, version: int, cases: int, models: list[str]) -> Path:
    path = root / f"{name}.yaml"
    path.write_text(SCENARIO.format(version=version, cases=cases))
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore", ToleranceBelowSpacingWarning)  # 4 mm slices, on purpose
        mp.syspath_prepend(str(FIXTURES))
        run([load_scenario(path)], models, root / name, RunOptions())
    return root / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("board-runs")
    v1 = make_run(root, "v1", 1, 3, ["fake_models:Oracle", "fake_models:Crashing"])
    v2 = make_run(root, "v2", 2, 2, ["fake_models:Oracle"])
    return v1, v2


@pytest.fixture(scope="module")
def board(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("board")
    assert main(["leaderboard", *map(str, runs), "--out", str(out)]) == 0
    return out


def test_files_written_and_valid(board):
    document = read_leaderboard(board)  # validates against the schema on read
    assert {p.name for p in board.iterdir()} == {
        "leaderboard.json",
        "leaderboard.md",
        "leaderboard.html",
    }
    page = (board / "leaderboard.html").read_text()
    assert "oracle-ish" in page and "crashing" in page
    assert 'class="sortable"' in page and "http://" not in page and "https://" not in page
    assert document["package_version"]


def test_versions_are_separate_boards(board, runs):
    document = read_leaderboard(board)
    boards = [(b["scenario"], b["version"]) for b in document["boards"]]
    assert boards == [("boardtest", 1), ("boardtest", 2)]
    hashes = [json.loads((r / "manifest.json").read_text())["scenarios"]["boardtest"]["hash"]
              for r in runs]  # fmt: skip
    assert [b["hash"] for b in document["boards"]] == hashes
    md = (board / "leaderboard.md").read_text()
    assert md.count("## boardtest — version") == 2 and "not comparable" in md


def test_scores_are_the_statistics_of_the_rows(board, runs):
    document = read_leaderboard(board)
    cases, lesions = RunStore(runs[0]).tables()
    mine = cases[cases["model"] == "oracle-ish"]
    expected = scores(mine, lesions[lesions["model"] == "oracle-ish"], by=("model",),
                      resamples=500).set_index("metric")  # fmt: skip
    entry = next(e for e in document["boards"][0]["entries"] if e["model"] == "oracle-ish")
    for metric in ("dsc", "case_sensitivity"):
        assert entry["scores"][metric]["estimate"] == expected.loc[metric, "estimate"]
        assert entry["scores"][metric]["ci_method"] == expected.loc[metric, "ci_method"]
    # two base scans: DSC gets its t interval, a proportion no interval (and says why)
    assert entry["scores"]["dsc"]["ci_low"] == expected.loc["dsc", "ci_low"]
    assert entry["scores"]["case_sensitivity"]["ci_low"] is None
    assert entry["scores"]["case_sensitivity"]["ci_method"].startswith("no CI: 2 base scans")
    crashing = next(e for e in document["boards"][0]["entries"] if e["model"] == "crashing")
    # every case failed: a miss each, so DSC 0 and nothing found, not an empty entry
    assert crashing["failed"] == crashing["cases"] >= 5
    assert crashing["scores"]["dsc"]["estimate"] == 0.0
    assert crashing["scores"]["dsc"]["scored_only"] is None
    assert crashing["scores"]["lesion_sensitivity"]["estimate"] == 0.0


def test_verify_passes_then_names_a_tampered_score(board, runs, tmp_path, capsys):
    assert main(["leaderboard", *map(str, runs), "--out", str(board), "--verify"]) == 0
    assert "all 3 entries match" in capsys.readouterr().out
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    document = json.loads((board / "leaderboard.json").read_text())
    entry = document["boards"][0]["entries"][0]
    entry["conditions"]["contrast-iso"]["dsc"]["estimate"] = 0.999
    (tampered / "leaderboard.json").write_text(json.dumps(document))
    assert main(["leaderboard", *map(str, runs), "--out", str(tampered), "--verify"]) == 1
    err = capsys.readouterr().err
    assert "1 mismatch" in err
    assert (
        f"boardtest v1 ({document['boards'][0]['hash'][:12]}) / entries / {entry['model']} / "
        "conditions / contrast-iso / dsc / estimate: leaderboard says 0.999" in err
    )


def test_verify_without_the_runs_of_a_board_fails(board, runs, capsys):
    assert main(["leaderboard", str(runs[0]), "--out", str(board), "--verify"]) == 1
    assert "boardtest v2" in capsys.readouterr().err


def test_a_hand_edited_file_breaks_the_schema(board, runs, tmp_path, capsys):
    document = json.loads((board / "leaderboard.json").read_text())
    document["boards"][0]["entries"][0]["cases"] = "six"
    (tmp_path / "leaderboard.json").write_text(json.dumps(document))
    assert main(["leaderboard", str(runs[0]), "--out", str(tmp_path), "--verify"]) == 1
    err = capsys.readouterr().err
    assert "not a valid leaderboard" in err and "boards/0/entries/0/cases" in err


def test_the_same_run_twice_is_refused(runs, tmp_path, capsys):
    assert main(["leaderboard", str(runs[0]), str(runs[0]), "--out", str(tmp_path)]) == 1
    assert "is in two run folders" in capsys.readouterr().err
