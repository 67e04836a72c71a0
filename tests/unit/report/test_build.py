"""A whole report from a hand-made run folder (montages are covered by the integration test)."""

from __future__ import annotations

import json
import re

import pytest

from robustbench_liver.errors import DataError
from robustbench_liver.report import ReportOptions, RunData, build_report, load_run, write_report
from robustbench_liver.report.document import Table
from robustbench_liver.report.tables import LABELS, METRICS, fmt_ci, lookup
from robustbench_liver.runs.summary import scores

FAST = ReportOptions(montages=False, resamples=200)


@pytest.fixture(scope="module")
def doc(shared_run):
    return build_report(shared_run, FAST)


def table(doc, name: str) -> Table:
    return next(b for b in doc.blocks if isinstance(b, Table) and b.name == name)


def test_score_cells_are_the_statistics(doc, shared_run):
    data = load_run(shared_run)
    expected = scores(data.cases, data.lesions, resamples=200)
    shown = table(doc, "scores")
    assert len(shown.rows) == 4
    for row in shown.rows:
        condition, model = row[0].text, row[1].text
        for k, metric in enumerate(METRICS):
            r = lookup(expected, model=model, condition=condition, metric=metric)
            cell = row[4 + k]
            if r is None:  # a metric these rows cannot give
                assert cell.text == "n/a"
                continue
            # failures count; the scored-only estimate may follow in parentheses
            assert cell.text.startswith(
                fmt_ci(r["estimate"], r["ci_low"], r["ci_high"], r["ci_method"])
            )
            assert cell.sort == r["estimate"]  # full precision behind the rounded text
    assert [c for c in shown.columns[4:]] == [LABELS[m] for m in METRICS]


def test_report_holds_every_part(doc, tmp_path):
    names = {b.name for b in doc.blocks if isinstance(b, Table)}
    assert {"headline", "scores", "changes", "by-size", "conditions", "profiles"} <= names
    assert {"models", "failure-counts"} <= names
    figures = [f.name for f in doc.figures()]
    assert figures == [
        "handmade-metrics.png",
        "handmade-heatmap.png",
        "handmade-radius.png",
        "handmade-forest.png",
    ]
    written = write_report(doc, tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    page = (tmp_path / "out" / "report.html").read_text()
    assert all(p.exists() for p in written)
    for text in (
        "nsd@2mm/surfel",
        "lesion/26c/overlap",
        "c-hypo (reference)",
        "RuntimeError: boom",
    ):
        assert text in md and text in page
    assert len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', page)) == 4
    assert "(figures/handmade-forest.png)" in md


def test_report_bytes_repeat(run_folder, tmp_path):
    for out in ("a", "b"):
        write_report(build_report(run_folder, FAST), tmp_path / out)
    for name in ("report.md", "report.html", "figures/handmade-metrics.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_stale_figures_are_removed(doc, tmp_path):
    (tmp_path / "out" / "figures").mkdir(parents=True)
    (tmp_path / "out" / "figures" / "old.png").write_bytes(b"x")
    write_report(doc, tmp_path / "out")
    assert not (tmp_path / "out" / "figures" / "old.png").exists()


def test_headline_row_per_model(doc):
    shown = table(doc, "headline")
    assert [r[1].text for r in shown.rows] == ["alpha", "beta"]
    assert all(r[0].text == "handmade" for r in shown.rows)


def test_unreadable_run_folders_say_what_to_do(tmp_path, run_folder):
    with pytest.raises(DataError, match="no such run folder"):
        load_run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"manifest\.json is missing") as err:
        load_run(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(err.value)
    (run_folder / "cases.parquet").unlink()
    with pytest.raises(DataError, match=r"cases\.parquet is missing.*resumes"):
        load_run(run_folder)
    (run_folder / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match=r"manifest\.json is damaged"):
        load_run(run_folder)


def test_manifest_without_the_scenario_is_an_error(run_folder):
    manifest = json.loads((run_folder / "manifest.json").read_text())
    manifest["scenarios"] = {}
    (run_folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"no entry in manifest\.json"):
        build_report(run_folder, FAST)


def test_one_condition_and_no_lesions_still_make_a_report(shared_run):
    data = load_run(shared_run)
    only = data.cases[data.cases["condition"] == "c-hypo"]
    one = RunData(data.root, data.manifest, only, data.lesions.iloc[0:0])
    doc = build_report(one, FAST)
    assert table(doc, "changes").rows == ()
    assert table(doc, "by-size").rows == ()
    assert [r[2].text for r in table(doc, "headline").rows] == ["n/a (no scored lesions)"] * 2
    assert [f.name for f in doc.figures()] == [
        "handmade-metrics.png",
        "handmade-heatmap.png",
        "handmade-forest.png",
    ]


def test_too_few_base_scans_for_significance_is_said(doc):
    # 4 base scans, exact sign-flip: p >= 2/16 before Holm multiplies it by the tests
    caption = table(doc, "changes").caption
    assert "at most 4 base scans" in caption and "can reach significance" in caption
