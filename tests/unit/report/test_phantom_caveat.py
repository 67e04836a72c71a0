"""Reports and leaderboards of runs on the built-in phantom say, near the headline, that
phantom scores rank models on the phantom, not on patients (and which share is phantom when
real scans are mixed in); with --calibration, each model's measured gap is shown beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robustbench_liver.cli.main import main
from robustbench_liver.errors import DataError
from robustbench_liver.report import ReportOptions, build_report, write_report
from robustbench_liver.report.calibration import gap_text, read_calibration
from robustbench_liver.report.document import Heading, Note, Table
from robustbench_liver.report.leaderboard import (
    build_leaderboard,
    read_leaderboard,
    verify,
    write_leaderboard,
)

from .conftest import make_rows, write_run

FAST = ReportOptions(montages=False, resamples=200)
CAVEAT = "rank models on the phantom's synthetic tumors, not on patients"


def with_kinds(root: Path, kinds: dict[str, str]) -> Path:
    """Make the manifest say which base scans are files (the rest stay phantoms)."""
    path = root / "manifest.json"
    manifest = json.loads(path.read_text())
    for entry in manifest["scenarios"].values():
        for scan in entry["base_scans"]:
            if scan["id"] in kinds:
                scan["kind"] = kinds[scan["id"]]
                scan.pop("seed", None)
                scan["image_path"] = f"/data/{scan['id']}/ct.nii.gz"
    path.write_text(json.dumps(manifest))
    return root


def run(tmp_path: Path, name: str, files: int = 0) -> Path:
    cases, lesions = make_rows()
    root = write_run(tmp_path / name, cases, lesions)
    return with_kinds(root, {f"phantom-{i}": "file" for i in range(files)})


def calibration(path: Path, gaps: dict[str, tuple[str, float]] | None = None) -> Path:
    """A calibration.json as `fidelity --model` writes it (model -> (version, local DSC gap))."""
    gaps = gaps or {"alpha": ("1", 0.12), "beta": ("2", -0.05)}

    def score(value: float) -> dict:
        return {"estimate": value, "ci_low": None, "ci_high": None, "ci_method": "no CI",
                "n": 4, "n_clusters": 1}  # fmt: skip

    models = {}
    for name, (version, gap) in gaps.items():
        metrics = {
            "local_dsc": {
                "real": score(0.5),
                "synthetic": score(0.5 + gap),
                "gap": {
                    "estimate": gap,
                    "ci_low": gap - 0.05,
                    "ci_high": gap + 0.05,
                    "ci_method": "t, cluster",
                    "n_pairs": 12,
                    "n_clusters": 4,
                    "p_value": 0.1,
                    "p_adjusted": 0.2,
                },
            },
            "dsc": {
                "real": score(0.6),
                "synthetic": score(0.6),
                "gap": {
                    "estimate": 0.0,
                    "ci_low": None,
                    "ci_high": None,
                    "ci_method": "no CI: 1 real scan, needs at least 2",
                    "n_pairs": 3,
                    "n_clusters": 1,
                    "p_value": 1.0,
                    "p_adjusted": 1.0,
                },
            },
        }
        models[name] = {"version": version, "sha256": None, "spec": name, "card": {},
                        "metrics": metrics}  # fmt: skip
    document = {
        "format": "robustbench-liver/calibration",
        "format_version": 1,
        "real_data": "lits-tiny",
        "tumor_model": "scenario quickstart, condition size-medium",
        "clusters": {"per_lesion": "real lesion", "case_dsc": "real scan"},
        "models": models,
    }
    path.write_text(json.dumps(document))
    return path


def note_of(doc) -> Note | None:
    return next((b for b in doc.blocks if isinstance(b, Note)), None)


def test_a_phantom_run_says_so_before_its_headline(shared_run, tmp_path):
    doc = build_report(shared_run, FAST)
    note = note_of(doc)
    assert note is not None and CAVEAT in note.text
    assert "every base scan (4) is the built-in procedural phantom" in note.text.lower()
    headline = next(i for i, b in enumerate(doc.blocks) if isinstance(b, Heading))
    assert doc.blocks.index(note) < headline  # above the first heading: the headline
    write_report(doc, tmp_path / "out")
    markdown = (tmp_path / "out" / "report.md").read_text()
    html = (tmp_path / "out" / "report.html").read_text()
    assert "> **Phantom scores, not patient scores.**" in markdown
    assert markdown.index("Phantom scores") < markdown.index("## Small-tumor headline")
    assert '<div class="note" role="note"><strong>Phantom scores' in html
    assert CAVEAT.replace("'", "&#x27;") in html


def test_a_run_on_real_scans_has_no_phantom_caveat(tmp_path):
    doc = build_report(run(tmp_path, "real", files=4), FAST)
    assert note_of(doc) is None
    write_report(doc, tmp_path / "out")
    markdown = (tmp_path / "out" / "report.md").read_text()
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Phantom scores" not in markdown and CAVEAT not in markdown
    assert 'class="note"' not in html


def test_a_mixed_run_says_which_share_is_phantom(tmp_path):
    note = note_of(build_report(run(tmp_path, "mixed", files=1), FAST))
    assert note is not None
    assert "3 of 4 base scans (75% of the cases) are the built-in procedural phantom" in note.text
    assert "mix phantom and real-scan cases" in note.text


def test_an_older_manifest_without_scan_kinds_falls_back_to_the_sources(tmp_path):
    root = run(tmp_path, "old")
    manifest = json.loads((root / "manifest.json").read_text())
    for entry in manifest["scenarios"].values():
        del entry["base_scans"]
    (root / "manifest.json").write_text(json.dumps(manifest))
    note = note_of(build_report(root, FAST))
    assert note is not None and CAVEAT in note.text


def test_with_a_calibration_the_report_shows_each_models_gap(shared_run, tmp_path):
    cal = read_calibration(calibration(tmp_path / "calibration.json"))
    doc = build_report(shared_run, ReportOptions(montages=False, resamples=200, calibration=cal))
    assert "shown beside it" in note_of(doc).text
    headline = next(b for b in doc.blocks if isinstance(b, Table) and b.name == "headline")
    gaps = {row[1].text: row[-1].text for row in headline.rows}
    assert gaps["alpha"] == "+0.12 [+0.07, +0.17]"
    assert gaps["beta"] == "-0.05 [-0.10, +0.00] (other model version)"
    table = next(b for b in doc.blocks if isinstance(b, Table) and b.name == "calibration")
    rows = {row[0].text: [c.text for c in row] for row in table.rows}
    assert rows["alpha"][2] == "+0.00 (no CI: 1 real scan, needs at least 2)"
    assert rows["alpha"][3] == "n/a"  # lesion sensitivity not in this file
    assert rows["beta"][-1].startswith("measured on another version of the model (version 2")
    assert rows["alpha"][-1] == "same model"


def test_the_report_command_takes_a_calibration(shared_run, tmp_path, capsys):
    path = calibration(tmp_path / "calibration.json")
    out = tmp_path / "page"
    args = ["report", str(shared_run), "--out", str(out), "--no-montages", "--resamples", "200"]
    assert main([*args, "--calibration", str(path)]) == 0
    text = (out / "report.md").read_text()
    assert "calibrated gap, local DSC" in text and "+0.12 [+0.07, +0.17]" in text
    assert main([*args, "--calibration", str(tmp_path / "missing.json")]) == 1
    assert "no calibration file here" in capsys.readouterr().err


def test_calibration_files_are_checked(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(DataError, match="not a calibration file"):
        read_calibration(path)
    path.write_text(json.dumps({"format": "robustbench-liver/calibration", "format_version": 9}))
    with pytest.raises(DataError, match="format version 9"):
        read_calibration(path)
    assert gap_text(None) == "n/a"
    assert gap_text({"estimate": 0.1, "ci_method": "no CI: 2 real lesions, needs at least 12"}) == (
        "+0.10 (no CI: 2 real lesions, needs at least 12)"
    )


def test_leaderboards_say_so_in_json_and_pages(shared_run, tmp_path):
    doc = build_leaderboard([shared_run])
    (board,) = doc["boards"]
    assert board["phantom"] == {"phantom_base_scans": 4, "base_scans": 4, "phantom_cases": 24,
                                "cases": 24, "phantom_share": 1.0}  # fmt: skip
    assert CAVEAT in board["caveat"]
    assert all(e["calibration"] is None for e in board["entries"])
    write_leaderboard(doc, tmp_path / "lb")
    markdown = (tmp_path / "lb" / "leaderboard.md").read_text()
    html = (tmp_path / "lb" / "leaderboard.html").read_text()
    assert markdown.index("Phantom scores, not patient scores.") < markdown.index("| model |")
    assert '<div class="note" role="note">' in html
    assert verify(read_leaderboard(tmp_path / "lb"), [shared_run]) == []


def test_a_real_scan_board_has_no_caveat(tmp_path):
    root = run(tmp_path, "real", files=4)
    (board,) = build_leaderboard([root])["boards"]
    assert board["caveat"] is None and board["phantom"]["phantom_share"] == 0.0
    write_leaderboard(build_leaderboard([root]), tmp_path / "lb")
    assert "Phantom scores" not in (tmp_path / "lb" / "leaderboard.md").read_text()


def test_a_calibrated_board_shows_gaps_and_verifies_only_with_its_file(shared_run, tmp_path):
    path = calibration(tmp_path / "calibration.json")
    cal = read_calibration(path)
    doc = build_leaderboard([shared_run], calibration=cal)
    entries = {e["model"]: e for e in doc["boards"][0]["entries"]}
    alpha, beta = entries["alpha"]["calibration"], entries["beta"]["calibration"]
    assert alpha["gaps"]["local_dsc"]["estimate"] == 0.12 and alpha["same_model"]
    assert alpha["file_sha256"] == cal.sha256 and alpha["real_data"] == "lits-tiny"
    assert not beta["same_model"] and "version 2 calibrated, 1 here" in beta["note"]
    write_leaderboard(doc, tmp_path / "lb")
    page = (tmp_path / "lb" / "leaderboard.md").read_text()
    assert "calibrated gap, local DSC (synthetic − real)" in page
    assert "+0.12 [+0.07, +0.17]" in page and "shown beside it" in page
    stated = read_leaderboard(tmp_path / "lb")
    assert verify(stated, [shared_run], cal) == []
    (problem,) = verify(stated, [shared_run])
    assert "pass that file with --calibration" in problem
    other = read_calibration(calibration(tmp_path / "other.json", {"alpha": ("1", 0.3)}))
    found = verify(stated, [shared_run], other)
    assert any("not from other.json" in p for p in found)
    assert any("estimate" in p and "0.12" in p for p in found)


def test_the_leaderboard_command_verifies_with_the_calibration(shared_run, tmp_path, capsys):
    path = str(calibration(tmp_path / "calibration.json"))
    out = str(tmp_path / "lb")
    assert main(["leaderboard", str(shared_run), "--out", out, "--calibration", path]) == 0
    assert main(["leaderboard", str(shared_run), "--out", out, "--verify"]) == 1
    assert "--calibration" in capsys.readouterr().err
    verified = ["leaderboard", str(shared_run), "--out", out, "--verify", "--calibration", path]
    assert main(verified) == 0
