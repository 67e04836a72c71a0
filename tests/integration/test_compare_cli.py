"""`robustbench-liver compare`: two different models, the metrics it compares (named in
--help), lesion sensitivity through each case's share of lesions found, sweep order."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from robustbench_liver.cli.main import main
from robustbench_liver.report import load_run
from robustbench_liver.runs.runner import RunOptions, run
from robustbench_liver.scenarios import load_scenario

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# levels listed out of alphabetical order: the sweep runs iso, hypo, dark
SCENARIO = textwrap.dedent(
    """\
    name: cmptest
    seed: 4
    base_scans:
      - {source: phantom, count: 2, shape: [128, 112, 56], spacing: [3.0, 3.0, 4.0]}
    cases_per_condition: 4
    controls: 0.25
    tumors: {level: medium}
    sweep:
      axes:
        - name: c
          param: tumors.delta_hu
          levels: {iso: [-5, 5], hypo: [-60, -40], dark: [-90, -70]}
    """
)
SWEEP = ["c-iso", "c-hypo", "c-dark"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tumor case per condition for the oracle and a model that always crashes."""
    folder = tmp_path_factory.mktemp("cmp")
    path = folder / "cmptest.yaml"
    path.write_text(SCENARIO)
    out = folder / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(FIXTURES))
        patch.setenv("PYTHONPATH", str(FIXTURES))  # model processes read this
        models = ["fake_models:Oracle", "fake_models:Crashing"]
        run([load_scenario(path)], models, out, RunOptions(limit=2))
    return out


def _compare(run_dir: Path, *extra: str) -> int:
    return main(["compare", str(run_dir), "--resamples", "200", *extra])


def test_same_model_twice_is_a_clear_error(run_dir, capsys):
    assert _compare(run_dir, "--models", "oracle-ish", "oracle-ish") == 1
    captured = capsys.readouterr()
    assert "compare needs two different models" in captured.err
    assert "oracle-ish" not in captured.out  # no table of zero differences


def test_lesion_sensitivity_is_compared_by_case_share(run_dir, capsys):
    code = _compare(
        run_dir, "--models", "oracle-ish", "crashing", "--metrics", "lesion_sensitivity"
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "share of lesions found" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(" cmptest")]
    assert len(rows) == 3 and all(r[2] == "lesion_sensitivity" for r in rows)
    assert [r[1] for r in rows] == SWEEP
    # the crashing model found no lesion: the oracle's whole share is the difference
    lesions = load_run(run_dir).lesions
    oracle = lesions[lesions["model"] == "oracle-ish"]
    shares = oracle.groupby("condition")["detected"].mean()
    assert [r[4] for r in rows] == [f"{shares[c]:.2f}" for c in SWEEP], out
    assert shares["c-dark"] == 1.0


def test_conditions_follow_the_sweep_not_the_alphabet(run_dir, capsys):
    assert _compare(run_dir, "--models", "oracle-ish", "crashing", "--metrics", "dsc", "nsd") == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    rows = [r for r in rows if r and r[0] == "cmptest"]
    assert [r[1] for r in rows] == SWEEP + SWEEP
    assert [r[2] for r in rows] == ["dsc"] * 3 + ["nsd"] * 3


def test_metrics_outside_the_paired_set_are_refused(run_dir, capsys):
    assert _compare(run_dir, "--models", "oracle-ish", "crashing", "--metrics", "hd95_mm") == 1
    err = capsys.readouterr().err
    assert "not compared case by case" in err and "lesion_sensitivity" in err
    assert _compare(run_dir, "--models", "oracle-ish", "crashing", "--metrics", "dcs") == 1
    err = capsys.readouterr().err
    assert "Did you mean 'dsc'" in err and "hd95_mm" not in err


def test_help_lists_the_metrics_and_how_failures_count(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["compare", "--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name in ("dsc", "nsd", "case_sensitivity", "case_specificity", "lesion_sensitivity"):
        assert name in text
    assert "counts as a miss" in text
