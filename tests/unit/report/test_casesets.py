"""Leaderboards compare like with like: one case set per board, rows seen in training left
out by default, digests of results (not timings or paths), no local paths published."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest

from robustbench_liver.errors import DataError
from robustbench_liver.report.casesets import case_set, difference
from robustbench_liver.report.digest import rows_digest
from robustbench_liver.report.leaderboard import build_leaderboard, verify
from robustbench_liver.report.paths import portable

from .conftest import make_rows, spec, write_run


def _limited(cases: pd.DataFrame, lesions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows a run with --limit 1 would have made: replicate 0 only (16 of 24 cases)."""
    return cases[cases["replicate"] == 0], lesions[lesions["replicate"] == 0]


def _set_limit(root, limit: int) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["scenarios"]["handmade"]["limit"] = limit
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_case_set_counts_identity_not_results(rows):
    cases, _ = rows
    alpha = cases[cases["model"] == "alpha"]
    found = case_set(alpha)
    assert (found.cases, found.tumor_cases, found.controls, len(found.base_scans)) == (24, 16, 8, 4)
    assert case_set(cases[cases["model"] == "beta"]).sha256 == found.sha256  # beta failed one
    scored = alpha.assign(dsc=0.0, seconds=9.9, status="model_error")
    assert case_set(scored).sha256 == found.sha256
    assert case_set(alpha.iloc[1:]).sha256 != found.sha256
    flipped = alpha.copy()
    flipped.loc[flipped.index[0], "is_control"] = not flipped.loc[flipped.index[0], "is_control"]
    assert case_set(flipped).sha256 != found.sha256


def test_difference_in_words(rows):
    cases, _ = rows
    alpha = cases[cases["model"] == "alpha"]
    full, few = case_set(alpha), case_set(alpha[alpha["replicate"] == 0])
    assert difference(few, full, "the big one") == "16 of the 24 cases of the big one"
    assert difference(full, few).startswith(f"all 16 cases of case set {few.sha256[:12]} and 8")
    moved = case_set(alpha.assign(base_scan=alpha["base_scan"].str.replace("phantom", "ct")))
    assert "base scans only here: ct-0, ct-1, ct-2, ct-3, only there: phantom-0" in difference(
        moved, full
    )
    other_images = case_set(alpha.assign(base_scan_digest="f" * 64))
    assert "other images under the same names" in difference(other_images, full)


def test_a_limited_run_gets_its_own_board_with_a_note(tmp_path):
    full = write_run(tmp_path / "full", *make_rows())
    few = write_run(tmp_path / "lim1", *_limited(*make_rows()))
    _set_limit(few, 1)
    doc = build_leaderboard([full, few])
    assert [b["case_set"]["cases"] for b in doc["boards"]] == [24, 16]
    big, small = doc["boards"]
    assert {e["model"] for e in small["entries"]} == {"alpha", "beta"}  # both, apart
    assert all(e["case_set"]["sha256"] == small["case_set"]["sha256"] for e in small["entries"])
    assert [e["limit"] for e in small["entries"]] == [1, 1]
    note = small["notes"][0]
    assert "This board: run lim1 (--limit 1), 16 cases (8 with tumor, 8 controls)" in note
    assert f"16 of the 24 cases of case set {big['case_set']['sha256'][:12]} (run full)" in note
    assert "all 16 cases of case set" in big["notes"][0]
    assert "(run lim1 (--limit 1))" in big["notes"][0]
    assert verify(doc, [full, few]) == []
    with pytest.raises(DataError, match="2 different case sets") as err:
        build_leaderboard([full, few], same_cases=True)
    assert "16 of the 24 cases" in str(err.value) and "run lim1 (--limit 1)" in str(err.value)


def test_verify_names_a_board_whose_case_set_changed(tmp_path):
    full = write_run(tmp_path / "full", *make_rows())
    doc = build_leaderboard([full])
    write_run(tmp_path / "full", *_limited(*make_rows()))  # rows of fewer cases
    found = verify(doc, [full])
    assert any(
        "alpha: the board was built from 24 cases" in m and "the run folders hold 16 cases" in m
        for m in found
    )


def test_digest_covers_results_not_timings_or_error_texts(rows):
    cases, _ = rows
    cases = cases.assign(seconds=1.0)
    digest = rows_digest(cases)
    elsewhere = cases.assign(seconds=cases["seconds"] * 3)
    elsewhere["error"] = elsewhere["error"].str.replace("boom", "boom at /home/me/run/x.py")
    assert rows_digest(elsewhere) == digest
    for column, value in (("dsc", 0.123), ("status", "timeout"), ("case_sensitivity", 0.5)):
        changed = cases.copy()
        changed.loc[changed.index[0], column] = value
        assert rows_digest(changed) != digest, column


def test_verify_passes_when_only_timings_and_errors_differ(run_folder):
    doc = build_leaderboard([run_folder])
    cases = pd.read_parquet(run_folder / "cases.parquet")
    cases["seconds"] = 12.5
    cases["error"] = cases["error"].where(cases["error"].isna(), "RuntimeError at /tmp/x/y.py")
    cases.to_parquet(run_folder / "cases.parquet", index=False)
    assert verify(doc, [run_folder]) == []
    cases.loc[cases.index[0], "nsd"] = 0.01
    cases.to_parquet(run_folder / "cases.parquet", index=False)
    assert any("digest mismatch" in m for m in verify(doc, [run_folder]))


def _seen_rows(seen_lesion_column: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """make_rows with beta's rows on phantom-0 marked seen in training."""
    cases, lesions = make_rows()
    cases["seen_in_training"] = (cases["model"] == "beta") & (cases["base_scan"] == "phantom-0")
    if seen_lesion_column:
        lesions["seen_in_training"] = (lesions["model"] == "beta") & (
            lesions["base_scan"] == "phantom-0"
        )
    return cases, lesions


@pytest.mark.parametrize("seen_lesion_column", [True, False])
def test_rows_seen_in_training_are_left_out_unless_asked(tmp_path, seen_lesion_column):
    cases, lesions = _seen_rows(seen_lesion_column)
    marked = write_run(tmp_path / "marked", cases, lesions)
    doc = build_leaderboard([marked])
    (board,) = doc["boards"]
    assert board["include_seen"] is False
    beta = next(e for e in board["entries"] if e["model"] == "beta")
    assert beta["seen_in_training"] == {"case_rows": 6, "lesion_rows": 16}
    assert beta["case_set"]["cases"] == 24 and beta["cases"] == 18
    assert any("6 case rows marked seen_in_training" in n and "beta: 6 case rows" in n
               for n in board["notes"])  # fmt: skip
    # the same scores as a run that never had those rows
    keep = ~cases["seen_in_training"]
    unseen = write_run(
        tmp_path / "unseen",
        cases[keep].drop(columns="seen_in_training"),
        lesions[~((lesions["model"] == "beta") & (lesions["base_scan"] == "phantom-0"))],
    )
    boards = build_leaderboard([unseen])["boards"]  # beta's 18 cases: a board of its own
    other = next(e for b in boards for e in b["entries"] if e["model"] == "beta")
    assert beta["scores"] == other["scores"] and beta["conditions"] == other["conditions"]
    # --include-seen: the scores of all rows, as when nothing is marked
    kept = build_leaderboard([marked], include_seen=True)
    all_rows = write_run(tmp_path / "plain", *make_rows())
    plain = build_leaderboard([all_rows])
    kept_beta = next(e for e in kept["boards"][0]["entries"] if e["model"] == "beta")
    plain_beta = next(e for e in plain["boards"][0]["entries"] if e["model"] == "beta")
    assert kept_beta["scores"] == plain_beta["scores"] != beta["scores"]
    assert "--include-seen" in " ".join(kept["boards"][0]["notes"])
    assert verify(doc, [marked]) == [] and verify(kept, [marked]) == []
    flipped = copy.deepcopy(doc)
    flipped["boards"][0]["include_seen"] = True
    assert verify(flipped, [marked]) != []


def test_no_local_paths_on_the_board(tmp_path):
    cases, lesions = make_rows()
    root = write_run(tmp_path / "run", cases, lesions)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["models"]["alpha"] = {
        "spec": str(tmp_path / "models" / "alpha.yaml"),
        "card": {"name": "alpha", "version": "1", "weights": str(tmp_path / "w" / "alpha.pt")},
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    doc = build_leaderboard([root])
    alpha = next(e for e in doc["boards"][0]["entries"] if e["model"] == "alpha")
    assert alpha["model_spec"] == "alpha.yaml" and alpha["card"]["weights"] == "alpha.pt"
    assert str(tmp_path) not in json.dumps(doc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/home/me/w/unet.pt", "unet.pt"),
        (
            "RuntimeError: no file (in predict, /tmp/x/m.py:39)",
            "RuntimeError: no file (in predict, m.py:39)",
        ),
        ("cannot read C:\\Users\\me\\w.pt: gone", "cannot read w.pt: gone"),
        ("nsd@2mm/surfel", "nsd@2mm/surfel"),
        ("*/ct.nii.gz", "*/ct.nii.gz"),
        ("{dir}/labels.nii.gz", "{dir}/labels.nii.gz"),
        (
            "see https://example.org/a/b, n/a, 3/4, a / b",
            "see https://example.org/a/b, n/a, 3/4, a / b",
        ),
    ],
)
def test_portable_cuts_absolute_paths_only(text, expected):
    assert portable(text) == expected


def test_portable_follows_containers():
    assert portable({"/a/b": ["/c/d", 1, None, ("/e/f",)]}) == {"b": ["d", 1, None, ("f",)]}


def test_other_versions_note_once_per_version_not_per_case_set(tmp_path):
    v1 = write_run(tmp_path / "v1", *make_rows())
    v1_few = write_run(tmp_path / "v1-few", *_limited(*make_rows(models=("gamma",))))
    v2 = write_run(tmp_path / "v2", *make_rows(), [spec(version=2)])
    doc = build_leaderboard([v1, v1_few, v2])
    assert [(b["version"], b["case_set"]["cases"]) for b in doc["boards"]] == [
        (1, 24), (1, 16), (2, 24)
    ]  # fmt: skip
    assert all("is on this page in 2 versions" in b["notes"][0] for b in doc["boards"])
    assert not any("case sets" in n for n in doc["boards"][2]["notes"])
