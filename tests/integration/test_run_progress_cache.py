"""`run` says its plan before any work, then progress with counts and an ETA (stderr only),
and caches cases in the shared cache (or `--cache DIR`), not in the run folder."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from robustbench_liver.cli.main import main
from robustbench_liver.runs.runner import RunOptions, run
from robustbench_liver.runs.store import RunStore
from robustbench_liver.scenarios import load_scenario

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SCENARIO = textwrap.dedent(
    """\
    name: progresstest
    seed: 5
    base_scans:
      - {source: phantom, count: 1, shape: [96, 80, 40], spacing: [2.0, 2.0, 2.0]}
    cases_per_condition: 2
    controls: 0.5
    tumors: {level: medium}
    sweep:
      axes:
        - {name: c, param: tumors.delta_hu, levels: {hypo: [-60, -40], iso: [-5, 5]}}
    """
)
LOUD = textwrap.dedent(
    """\
    import sys

    from fake_models import Oracle


    class Loud(Oracle):
        def predict(self, image, spacing, liver=None):
            print("MODEL PREDICTS", file=sys.stderr)
            return super().predict(image, spacing, liver)
    """
)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenario.yaml").write_text(SCENARIO)
    (tmp_path / "loud_models.py").write_text(LOUD)
    return tmp_path


def shared_cache() -> Path:
    return Path(os.environ["ROBUSTBENCH_LIVER_CACHE"])  # a tmp folder (tests/conftest.py)


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("??/*.npz")) if folder.exists() else []


def test_plan_comes_first_then_counts_and_eta_on_stderr(folder, capsys):
    code = main(["run", "scenario.yaml", "--model", "loud_models:Loud", "--out", "out"])
    out, err = capsys.readouterr()
    assert code == 0
    lines = err.splitlines()
    plan = next(i for i, line in enumerate(lines) if line.startswith("plan: "))
    assert plan < lines.index("MODEL PREDICTS")  # before any case was predicted
    assert lines[plan] == (
        "plan: 1 scenario, 3 cases x 1 models = 3 (model, case) pairs; 0 already done, "
        "3 to do in 3 units"
    )
    cache_line = lines[plan + 1]
    assert cache_line.startswith(f"cache: {shared_cache().resolve()} (holds 0 cases")
    assert "3 cases to build or reuse, up to 4.6 MB more (1.5 MB a case)" in cache_line
    ticks = [line for line in lines if line.startswith("synthesize, predict, score: ")]
    assert ticks[0].startswith("synthesize, predict, score: 1/3 pairs done, 0 failed, ")
    assert "elapsed, ETA " in ticks[0]
    assert ticks[-1].startswith("synthesize, predict, score: 3/3 pairs done")
    assert ticks[-1].endswith(" elapsed, done")
    assert "plan:" not in out and "ETA" not in out  # stdout keeps the results only


def test_cases_go_to_the_shared_cache_and_a_rerun_says_all_done(folder, capsys):
    assert main(["run", "scenario.yaml", "--model", "fake_models:Oracle", "--out", "out"]) == 0
    assert not (folder / "out" / "cache").exists()  # the run folder stays small
    assert len(entries(shared_cache())) == 3  # the two conditions share one control
    manifest = json.loads((folder / "out" / "manifest.json").read_text())
    assert manifest["cache_dir"] == str(shared_cache().resolve())
    assert RunStore(folder / "out").cache_dir == shared_cache().resolve()
    capsys.readouterr()
    assert main(["run", "scenario.yaml", "--model", "fake_models:Oracle", "--out", "out"]) == 0
    err = capsys.readouterr().err
    assert "3 already done, 0 to do in 0 units" in err
    assert "(holds 3 cases, " in err and "to build" not in err


def test_a_second_run_folder_reuses_the_shared_cases(folder, capsys):
    assert main(["run", "scenario.yaml", "--model", "fake_models:Oracle", "--out", "a"]) == 0
    stamps = {p: p.stat().st_mtime_ns for p in entries(shared_cache())}
    assert main(["run", "scenario.yaml", "--model", "fake_models:Oracle", "--out", "b"]) == 0
    assert sorted(stamps) == entries(shared_cache())  # no new entry: all reused
    a, b = RunStore(folder / "a").collect()[0], RunStore(folder / "b").collect()[0]
    columns = ["case_id", "dsc", "status"]
    assert a[columns].equals(b[columns])


def test_cache_option_keeps_a_run_s_cases_in_its_folder(folder, capsys):
    argv = ["run", "scenario.yaml", "--model", "fake_models:Oracle", "--out", "out"]
    assert main([*argv, "--cache", "out/cache"]) == 0
    assert len(entries(folder / "out" / "cache")) == 3
    assert entries(shared_cache()) == []
    assert json.loads((folder / "out" / "manifest.json").read_text())["cache_dir"] == "cache"
    assert RunStore(folder / "out").cache_dir == folder / "out" / "cache"  # moves with it


def test_the_python_api_keeps_a_run_s_cases_with_it_unless_told(folder):
    scenario = load_scenario(folder / "scenario.yaml")
    run([scenario], ["fake_models:Oracle"], folder / "api", RunOptions())
    assert len(entries(folder / "api" / "cache")) == 3 and entries(shared_cache()) == []
    run([scenario], ["fake_models:Oracle"], folder / "api2", RunOptions(cache_dir="shared"))
    assert len(entries(folder / "shared")) == 3


def test_a_run_folder_of_an_older_version_keeps_its_own_cache(tmp_path):
    store = RunStore(tmp_path)
    store.write_manifest({"format": 1, "options": {"threads_per_worker": 1}})  # no cache_dir
    assert store.cache_dir == tmp_path / "cache"
