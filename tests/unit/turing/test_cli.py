"""`robustbench-liver turing score|export` on the command line: results, and errors for people."""

from __future__ import annotations

import json
import shlex

import pytest

from robustbench_liver.cli.main import build_parser, main
from robustbench_liver.turing.answers import KEY_FORMAT
from robustbench_liver.turing.page import ANSWERS_FORMAT


@pytest.fixture
def files(tmp_path):
    items = [{"item": f"it{k}", "truth": "real" if k < 2 else "synthetic"} for k in range(5)]
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"format": KEY_FORMAT, "study_id": "abc", "items": items}))

    def answers(name, study="abc", calls="RRSSS", drop=0):
        doc = {
            "format": ANSWERS_FORMAT,
            "reader": name,
            "study_id": study,
            "answers": [
                {"item": f"it{k}", "call": "real" if c == "R" else "synthetic", "confidence": 4}
                for k, c in enumerate(calls)
            ][drop:],
        }
        path = tmp_path / f"answers-{name}.json"
        path.write_text(json.dumps(doc))
        return path

    return key, answers


def test_score_writes_markdown_and_json(files, tmp_path, capsys):
    key, answers = files
    a, b = answers("A"), answers("B", calls="SRSRR")
    out = tmp_path / "score"
    assert main(["turing", "score", "--key", str(key), str(a), str(b), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Reader A picked out 3 of 3 synthetic tumors" in printed and "Pooled over 2" in printed
    data = json.loads((out / "score.json").read_text())
    assert [r["reader"] for r in data["readers"]] == ["A", "B"]
    assert data["readers"][1]["accuracy"]["hits"] == 2
    assert (out / "score.md").read_text().startswith("# Reader study abc")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda answers: answers("A", study="other"), "for study 'other'"),
        (lambda answers: answers("A", drop=2), "answered 3 of 5"),
    ],
)
def test_score_errors_are_one_line_for_people(files, tmp_path, capsys, make, message):
    key, answers = files
    path = make(answers)
    code = main(["turing", "score", "--key", str(key), str(path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and message in err
    assert not (tmp_path / "o").exists()


def test_allow_missing_scores_the_answered_items(files, tmp_path):
    key, answers = files
    path = answers("A", drop=2)
    argv = ["turing", "score", "--key", str(key), str(path), "--out", str(tmp_path / "o")]
    assert main([*argv, "--allow-missing"]) == 0
    data = json.loads((tmp_path / "o" / "score.json").read_text())
    assert data["readers"][0]["items"] == 3


def test_export_will_not_replace_a_key(files, capsys):
    key, _ = files
    assert main(["turing", "export", "--out", str(key.parent), "--n-real", "0"]) == 1
    assert "already exists" in capsys.readouterr().err


def test_turing_alone_shows_its_verbs(capsys):
    assert main(["turing"]) == 2
    assert "export" in capsys.readouterr().out


@pytest.mark.parametrize(
    "command",
    [
        "turing export --real-dataset data/Task03_Liver --tumors mix --base-scan h/ct.nii.gz "
        "h/labels.nii.gz --base-liver-label 5 --out study/ --seed 812",
        "turing export --real-scan ct.nii.gz labels.nii.gz --fov-mm 80 --window fixed "
        "--window-hu -160 240 --no-match-noise --no-size-match --out s/",
        "turing score --key study/key.json a.json b.json --out study/score --allow-missing",
    ],
)
def test_documented_commands_parse(command):
    args = build_parser().parse_args(shlex.split(command))
    assert callable(args.func)
