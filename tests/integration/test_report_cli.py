"""`robustbench-liver report` on a real (tiny) run: tables equal the statistics, the page is
self-contained and repeatable, montages show the stored predictions, failures are listed."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
import warnings
from pathlib import Path

import pytest

from robustbench_liver.cli.main import main
from robustbench_liver.metrics import ToleranceBelowSpacingWarning
from robustbench_liver.report.tables import LABELS, METRICS, fmt_ci, fmt_p
from robustbench_liver.runs.runner import RunOptions, run
from robustbench_liver.runs.store import RunStore
from robustbench_liver.runs.summary import PAIRED_LESION, paired_rows, summarize
from robustbench_liver.scenarios import load_scenario
from robustbench_liver.stats import compare_conditions

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SCENARIO = textwrap.dedent(
    """\
    name: reporttest
    description: Two contrasts on two tiny phantoms.
    seed: 4
    base_scans:
      - {source: phantom, count: 2, shape: [128, 112, 56], spacing: [3.0, 3.0, 4.0]}
    cases_per_condition: 4
    controls: 0.25
    tumors: {level: small}
    sweep:
      axes:
        - {name: contrast, param: tumors.delta_hu, levels: {hypo: [-60, -40], iso: [-15, -5]}}
    statistics: {resamples: 1000}
    """
)
# A second model that differs from the oracle: it erodes every predicted tumor, so it loses
# the smallest lesions (numpy and scipy only, like tests/fixtures/fake_models.py).
ERODED = textwrap.dedent(
    """\
    import numpy as np
    from scipy import ndimage
    from fake_models import Card, Oracle

    class Eroded:
        card = Card("eroded")

        def predict(self, image, spacing, liver=None):
            out = Oracle().predict(image, spacing, liver)
            keep = ndimage.binary_erosion(out == 2, iterations=1)
            out[(out == 2) & ~keep] = 1
            return out
    """
)
MODELS = ["fake_models:Oracle", "report_fakes:Eroded", "fake_models:Crashing"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report-run")
    (root / "report_fakes.py").write_text(ERODED)
    (root / "reporttest.yaml").write_text(SCENARIO)
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore", ToleranceBelowSpacingWarning)  # 4 mm slices, on purpose
        mp.syspath_prepend(str(FIXTURES))
        mp.syspath_prepend(str(root))
        run([load_scenario(root / "reporttest.yaml")], MODELS, root / "run", RunOptions())
    return root / "run"


@pytest.fixture(scope="module")
def report(run_dir, tmp_path_factory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(FIXTURES))
        mp.syspath_prepend(str(run_dir.parent))
        assert main(["report", str(run_dir)]) == 0
    return run_dir / "report"


def md_row(md: str, *cells: str) -> list[str]:
    """The cells of the Markdown table row that starts with `cells`."""
    start = "| " + " | ".join(cells) + " |"
    line = next(x for x in md.splitlines() if x.startswith(start))
    return [c.strip() for c in line.strip("|").split(" | ")]


def test_report_files_and_self_contained_page(report):
    page = (report / "report.html").read_text()
    assert (report / "report.md").exists()
    assert sorted(p.name for p in (report / "figures").glob("*.png")) == [
        "reporttest-forest.png",
        "reporttest-heatmap.png",
        "reporttest-metrics.png",
        "reporttest-montage.png",
        "reporttest-radius.png",
    ]
    sources = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", page)
    assert sources and all(s.startswith(("data:", "#")) for s in sources), sources
    assert not re.search(r"https?://", page)
    assert page.count('src="data:image/png;base64,') == 5
    for model in ("oracle-ish", "eroded", "crashing"):
        assert model in page


def test_score_table_equals_the_summary(report, run_dir):
    cases, lesions = RunStore(run_dir).tables()
    summary = summarize(cases, lesions, resamples=1000)
    md = (report / "report.md").read_text()
    for _, r in summary.iterrows():
        row = md_row(md, r["condition"], r["model"])
        # failures counted; the scored-only estimate may follow in parentheses
        expected = fmt_ci(r["estimate"], r["ci_low"], r["ci_high"], r["ci_method"])
        assert row[4 + list(METRICS).index(r["metric"])].startswith(expected)


def test_changes_are_holm_adjusted_condition_comparisons(report, run_dir):
    cases, _ = RunStore(run_dir).tables()
    rows = paired_rows(cases)  # failures counted as misses
    metrics = ["dsc", "nsd", "case_sensitivity", "case_specificity", PAIRED_LESION]
    tests = compare_conditions(
        rows,
        metrics,
        reference="contrast-hypo",
        pair_on=("base_scan", "replicate", "is_control"),
        n_resamples=1000,
        kinds={"case_sensitivity": "proportion", "case_specificity": "proportion"},
    )  # one family: every model and metric of the scenario, Holm-adjusted together
    md = (report / "report.md").read_text()
    section = md[md.index("### Change against") :]
    header = md_row(section, "condition", "model")
    for _, r in tests.iterrows():
        row = md_row(section, "contrast-iso", r["model"])
        name = "lesion_sensitivity" if r["metric"] == PAIRED_LESION else r["metric"]
        k = header.index(f"Δ {LABELS[name]}")
        assert row[k] == fmt_ci(r["difference"], r["ci_low"], r["ci_high"], r["ci_method"])
        assert row[k + 1] == fmt_p(r["p_adjusted"])


def test_failures_are_counted_and_listed(report):
    md = (report / "report.md").read_text()
    failures = md[md.index("### Failures") :]
    cases, failed = md_row(failures, "crashing")[1:]
    assert cases == failed and int(cases) >= 6  # every case of the crashing model failed
    assert "out of cheese" in md
    # its failed tumor cases are misses: no lesion found, so no headline
    assert md_row(md, "reporttest", "crashing")[2] == "not reached"
    scores = md[md.index("### Scores") : md.index("### Change against")]
    assert md_row(scores, "contrast-hypo", "crashing")[4].startswith("0.00")
    # one set of controls for both contrasts (same images), held by the reference
    specificity = 4 + list(METRICS).index("case_specificity")
    assert md_row(scores, "contrast-iso", "oracle-ish")[specificity] == "shared: see contrast-hypo"


def test_montage_has_stored_predictions(report):
    md = (report / "report.md").read_text()
    montage = md[md.index("### Best and worst cases") :]
    assert "(figures/reporttest-montage.png)" in montage
    assert "skipped" not in montage and "re-run" not in montage
    assert "crashing: no scored case with tumor to show." in montage


def test_same_run_same_bytes(report, run_dir, tmp_path):  # the models need not be importable
    assert main(["report", str(run_dir), "--out", str(tmp_path / "again")]) == 0
    for name in ("report.md", "report.html", "figures/reporttest-montage.png"):
        assert (tmp_path / "again" / name).read_bytes() == (report / name).read_bytes()


def test_a_run_without_stored_masks_is_noted(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("report"))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["models"]["eroded"]["spec"] = "no_such_module:Gone"  # never loaded by a report
    (copy / "manifest.json").write_text(json.dumps(manifest))
    shutil.rmtree(copy / "predictions" / "reporttest" / "eroded")  # as from an older version
    assert main(["report", str(copy), "--resamples", "200"]) == 0
    md = (copy / "report" / "report.md").read_text()
    notes = [line for line in md.splitlines() if "re-run to store predictions" in line]
    assert len(notes) == 2 and all(n.startswith("eroded, contrast-") for n in notes), notes
    assert main(["report", str(copy), "--out", str(tmp_path / "n"), "--no-montages"]) == 0
    assert "Best and worst" not in (tmp_path / "n" / "report.md").read_text()


def test_not_a_run_folder(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "manifest.json is missing" in err and str(tmp_path) in err
