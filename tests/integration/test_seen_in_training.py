"""A model evaluated on a base scan its card lists as training data: exactly those cases are
marked, the manifest records it, the run warns once and the report says so."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pytest

from robustbench_liver.cli.main import main
from robustbench_liver.runs.runner import RunOptions, SeenInTrainingWarning, run
from robustbench_liver.runs.store import RunStore
from robustbench_liver.scenarios import load_scenario

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SCENARIO = textwrap.dedent(
    """\
    name: leaktest
    seed: 4
    base_scans:
      - {source: phantom, count: 2, shape: [128, 112, 56], spacing: [3.0, 3.0, 4.0]}
    cases_per_condition: 4
    controls: 0.5
    tumors: {level: medium}
    statistics: {resamples: 200}
    """
)


@pytest.fixture(scope="module")
def leak_run(tmp_path_factory):
    """One run of the leaky model and of a model without trained_on_scans (module-wide: the
    tests below read it)."""
    mp = pytest.MonkeyPatch()
    mp.syspath_prepend(str(FIXTURES))
    mp.setenv("PYTHONPATH", str(FIXTURES))
    tmp = tmp_path_factory.mktemp("leak")
    scenario = tmp / "leaktest.yaml"
    scenario.write_text(SCENARIO)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = run(
            [load_scenario(scenario)],
            ["leaky_models:Leaky", "fake_models:Oracle", "leaky_models:LeakyCrashing"],
            tmp / "run",
            RunOptions(),
        )
    yield summary, tmp / "run", [w for w in caught if w.category is SeenInTrainingWarning]
    mp.undo()


def test_exactly_the_cases_on_the_listed_scan_are_marked(leak_run):
    from leaky_models import TRAINED_ON

    summary, _, _ = leak_run
    cases, lesions = summary.cases, summary.lesions
    assert len(cases) == 12
    assert set(cases.loc[cases["model"] != "leaky-crashing", "status"]) == {"ok"}
    leaky = cases["model"].isin(["leaky", "leaky-crashing"])
    expected = leaky & (cases["base_scan"] == TRAINED_ON)
    assert expected.sum() == 4  # per leaky model, one tumor case and one control on phantom-1
    assert cases["seen_in_training"].dtype == bool
    assert (cases["seen_in_training"] == expected).all()
    assert len(lesions) > 0 and lesions["seen_in_training"].any()
    lesion_expected = lesions["model"].isin(["leaky", "leaky-crashing"]) & (
        lesions["base_scan"] == TRAINED_ON
    )
    assert (lesions["seen_in_training"] == lesion_expected).all()


def test_manifest_records_the_marked_cases(leak_run):
    from leaky_models import TRAINED_ON

    summary, run_dir, _ = leak_run
    entry = RunStore(run_dir).read_manifest()["scenarios"]["leaktest"]
    cases = summary.cases
    marked = sorted(cases.loc[cases["seen_in_training"], "case_id"].unique())
    assert len(marked) == 2
    expected = {TRAINED_ON: marked}
    assert entry["seen_in_training"] == {"leaky": expected, "leaky-crashing": expected}
    assert entry["base_scan_digests"] == {}  # phantoms: named by seed and options


def test_manifest_records_the_digests_of_file_scans(shared_data, tmp_path, monkeypatch):
    from robustbench_liver.sources.refs import image_file_digest

    monkeypatch.syspath_prepend(str(FIXTURES))
    scenario = tmp_path / "files.yaml"
    scenario.write_text(
        textwrap.dedent(
            """\
            name: files
            base_scans:
              - {source: folder, images: totalseg-full/ct.nii.gz, labels: "{dir}/labels.nii.gz",
                 liver_label: 5}
            cases_per_condition: 1
            tumors: {level: medium}
            """
        )
    )
    options = RunOptions(data_root=str(shared_data))
    summary = run([load_scenario(scenario)], ["fake_models:Oracle"], tmp_path / "run", options)
    assert not summary.cases["seen_in_training"].any()
    entry = RunStore(tmp_path / "run").read_manifest()["scenarios"]["files"]
    expected = image_file_digest(shared_data / "totalseg-full" / "ct.nii.gz")
    assert entry["base_scan_digests"] == {"totalseg-full": expected}


def test_one_warning_line_names_the_model_and_the_scan(leak_run):
    _, _, caught = leak_run
    assert len(caught) == 1
    text = str(caught[0].message)
    assert "\n" not in text and "'leaky' on phantom-1 (2 cases)" in text
    assert "'leaky-crashing' on phantom-1 (2 cases)" in text
    assert "phantom-0" not in text and "oracle" not in text


def test_report_notes_the_models_and_scans(leak_run, tmp_path):
    _, run_dir, _ = leak_run
    out = tmp_path / "report"
    assert main(["report", str(run_dir), "--out", str(out), "--no-montages"]) == 0
    text = (out / "report.md").read_text()
    assert "WARNING, seen in training: leaky on phantom-1 (2 cases); leaky-crashing on" in text
    failed = [line for line in text.splitlines() if "no prediction today" in line]
    assert len(failed) == 4  # every case of leaky-crashing failed; two are on phantom-1
    assert sum("(seen in training)" in line for line in failed) == 2
    assert all("phantom-1" in line for line in failed if "(seen in training)" in line)
    assert "WARNING, seen in training" in (out / "report.html").read_text()


def test_unet_synth_is_marked_on_its_training_phantom_only(tmp_path):
    """The shipped card's digests against the phantom it was trained on (seed 100, default
    options) and one it never saw (seed 0, what the shipped scenarios use)."""
    scenario = tmp_path / "unet.yaml"
    scenario.write_text(
        textwrap.dedent(
            """\
            name: unetleak
            seed: 1
            base_scans:
              - {source: phantom, count: 1, first_seed: 100}
              - {source: phantom, count: 1, first_seed: 0}
            cases_per_condition: 2
            controls: 0.0
            tumors: {level: medium}
            """
        )
    )
    with pytest.warns(SeenInTrainingWarning, match=r"'unet-synth' on phantom-100 \(1 cases\)"):
        summary = run([load_scenario(scenario)], ["unet-synth"], tmp_path / "run", RunOptions())
    cases = summary.cases.set_index("base_scan")
    assert set(cases["status"]) == {"ok"}
    assert cases.loc["phantom-100", "seen_in_training"]
    assert not cases.loc["phantom-0", "seen_in_training"]
