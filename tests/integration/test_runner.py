"""The runner: failures become rows, killed runs resume to the same tables, executors agree."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from robustbench_liver.cli.main import main
from robustbench_liver.errors import RobustBenchError
from robustbench_liver.runs.runner import RunOptions, run
from robustbench_liver.runs.store import RunStore
from robustbench_liver.scenarios import load_scenario

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SCENARIO = textwrap.dedent(
    """\
    name: runtest
    seed: 4
    base_scans:
      - {source: phantom, count: 2, shape: [128, 112, 56], spacing: [3.0, 3.0, 4.0]}
    cases_per_condition: 4
    controls: 0.25
    tumors: {level: medium}
    sweep:
      axes:
        - {name: c, param: tumors.delta_hu, levels: {hypo: [-60, -40], iso: [-5, 5]}}
    """
)


@pytest.fixture
def scenario_file(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))  # spawned workers inherit sys.path
    monkeypatch.setenv("PYTHONPATH", str(FIXTURES))  # separate processes read this
    path = tmp_path / "runtest.yaml"
    path.write_text(SCENARIO)
    return path


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    """Everything but wall-clock time."""
    return table.drop(columns=[c for c in ("seconds",) if c in table]).reset_index(drop=True)


def test_failures_become_rows_and_the_run_goes_on(scenario_file, tmp_path):
    models = [
        "fake_models:Oracle",
        "fake_models:Crashing",
        "fake_models:Garbage",
        "fake_models:WrongShape",
        "fake_models:Sleepy",
    ]
    summary = run(
        [load_scenario(scenario_file)], models, tmp_path / "r", RunOptions(timeout_s=1, limit=2)
    )
    cases = summary.cases
    assert len(cases) == 5 * 3  # --limit 2: one tumor case per condition, c-hypo's control
    status = cases.groupby("model")["status"].agg(lambda s: sorted(set(s)))
    assert status["oracle-ish"] == ["ok"]
    assert status["crashing"] == ["model_error"]
    assert status["garbage"] == ["non_finite"]
    assert status["wrong-shape"] == ["misshapen"]
    assert status["sleepy"] == ["timeout"]
    crash = cases[cases["model"] == "crashing"].iloc[0]
    assert "out of cheese" in crash["error"] and "fake_models.py" in crash["error"]
    assert len(summary.failed) == 12
    manifest = RunStore(tmp_path / "r").read_manifest()
    assert manifest["scenarios"]["runtest"]["hash"] == load_scenario(scenario_file).hash
    assert set(manifest["models"]) == set(cases["model"])
    lesions = summary.lesions
    assert {"radius_mm", "detected", "liver_region", "vessel_distance_mm"} <= set(lesions.columns)


def test_exit_code_and_summary(scenario_file, tmp_path, capsys):
    out = tmp_path / "r"
    code = main(
        [
            "run",
            str(scenario_file),
            "--model",
            "fake_models:Oracle",
            "--model",
            "fake_models:Crashing",
            "--out",
            str(out),
            "--limit",
            "1",
        ]
    )
    text = capsys.readouterr()
    assert code == 3
    assert "6 (model, case) pairs: 0 already done, 6 run, 3 failed" in text.out
    assert "FAILED crashing" in text.err
    assert (
        main(
            [
                "run",
                str(scenario_file),
                "--model",
                "fake_models:Oracle",
                "--out",
                str(out),
                "--limit",
                "1",
            ]
        )
        == 0
    )
    assert "3 already done, 0 run" in capsys.readouterr().out


def test_a_killed_run_resumes_to_the_same_tables(scenario_file, tmp_path):
    reference = tmp_path / "whole"
    run([load_scenario(scenario_file)], ["fake_models:Slow"], reference)
    out = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "robustbench_liver",
        "run",
        str(scenario_file),
        "--model",
        "fake_models:Slow",
        "--out",
        str(out),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = out / "parts"
    deadline = time.monotonic() + 60
    while len(list(parts.rglob("*.cases.parquet"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = len(list(parts.rglob("*.cases.parquet")))
    assert 3 <= finished < 8, "the kill should land mid-run"
    assert not (out / "cases.parquet").exists()
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"{finished} already done" in result.stdout
    whole, _ = RunStore(reference).tables()
    resumed, _ = RunStore(out).tables()
    pd.testing.assert_frame_equal(comparable(whole), comparable(resumed))


def test_another_model_joins_without_recomputing(scenario_file, tmp_path):
    out = tmp_path / "r"
    scenario = load_scenario(scenario_file)
    run([scenario], ["fake_models:Oracle"], out, RunOptions(limit=2))
    before = {p: p.stat().st_mtime_ns for p in (out / "parts").rglob("*.parquet")}
    summary = run(
        [scenario], ["fake_models:Oracle", "fake_models:Crashing"], out, RunOptions(limit=2)
    )
    assert summary.skipped == 3 and summary.done == 3
    for path, mtime in before.items():
        assert path.stat().st_mtime_ns == mtime
    assert set(summary.cases["model"]) == {"oracle-ish", "crashing"}


def test_one_run_folder_holds_one_version_of_a_scenario(scenario_file, tmp_path):
    out = tmp_path / "r"
    run([load_scenario(scenario_file)], ["fake_models:Oracle"], out, RunOptions(limit=1))
    scenario_file.write_text(SCENARIO.replace("seed: 4", "seed: 5"))
    with pytest.raises(RobustBenchError, match="already holds scenario 'runtest'"):
        run([load_scenario(scenario_file)], ["fake_models:Oracle"], out, RunOptions(limit=1))


def test_executors_give_identical_tables(scenario_file, tmp_path):
    scenario = load_scenario(scenario_file)
    tables = {}
    for name, options in {
        "one": RunOptions(workers=1),
        "two": RunOptions(workers=2),
        "dask": RunOptions(workers=2, executor="dask"),
    }.items():
        cases, lesions = (
            run([scenario], ["fake_models:Oracle"], tmp_path / name, options).cases,
            None,
        )
        lesions = RunStore(tmp_path / name).tables()[1]
        tables[name] = (comparable(cases), comparable(lesions))
    for name in ("two", "dask"):
        pd.testing.assert_frame_equal(tables["one"][0], tables[name][0])
        pd.testing.assert_frame_equal(tables["one"][1], tables[name][1])


# a lambda travels by value (the workers cannot import this test module)
MODEL_PROCESSES = lambda: len(__import__("robustbench_liver.runs.roster").runs.roster._PROCESSES)  # noqa: E731


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_real_dask_scheduler_and_two_workers(scenario_file, tmp_path):
    dask = shutil.which("dask", path=os.path.dirname(sys.executable))
    assert dask, "the dask command comes with the [dask] extra"
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(FIXTURES)}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet
    )
    workers = [
        subprocess.Popen(
            [
                dask,
                "worker",
                address,
                "--nthreads",
                "1",
                "--no-dashboard",
                "--local-directory",
                str(tmp_path / f"w{i}"),
            ],
            **quiet,
        )
        for i in range(2)
    ]
    try:
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        out = tmp_path / "cluster"
        code = main(
            [
                "run",
                str(scenario_file),
                "--model",
                "fake_models:Oracle",
                "--out",
                str(out),
                "--executor",
                "dask",
                "--dask-address",
                address,
            ]
        )
        assert code == 0
        with Client(address, timeout=60) as client:  # the cluster outlives the run; the
            held = client.run(MODEL_PROCESSES)  # models it loaded for it do not
        assert set(held.values()) == {0}, held
        local = run(
            [load_scenario(scenario_file)], ["fake_models:Oracle"], tmp_path / "local"
        ).cases
        pd.testing.assert_frame_equal(comparable(RunStore(out).tables()[0]), comparable(local))
    finally:
        for process in [*workers, scheduler]:
            process.terminate()
        for process in [*workers, scheduler]:
            process.wait(timeout=30)


def test_compare_prints_paired_differences(scenario_file, tmp_path, capsys):
    out = tmp_path / "r"
    run(
        [load_scenario(scenario_file)],
        ["fake_models:Oracle", "fake_models:Slow"],
        out,
        RunOptions(limit=2),
    )
    capsys.readouterr()
    assert main(["compare", str(out), "--models", "oracle-ish", "slow", "--resamples", "500"]) == 0
    text = capsys.readouterr().out
    assert "oracle-ish - slow" in text and "c-hypo" in text and "p_adjusted" in text
    assert "note: " in text and "can fall below" in text  # two cases cannot be significant
    assert main(["compare", str(out), "--models", "oracle", "slow"]) == 1
    # every interval or why there is none; metric names checked against the registry
    assert "no CI" in text or "[" in text
    capsys.readouterr()
    assert main(["compare", str(out), "--models", "oracle-ish", "slow", "--metrics", "dcs"]) == 1
    assert "Did you mean 'dsc'" in capsys.readouterr().err


def test_batch_models_get_one_call_per_unit(scenario_file, tmp_path, monkeypatch):
    """With --batch, a model that predicts in batches (an external tool) is called once per
    unit of cases, and a case it fails on fails alone."""
    monkeypatch.setenv("BATCH_MARKERS", str(tmp_path))
    summary = run(
        [load_scenario(scenario_file)], ["fake_models:Batcher"], tmp_path / "b", RunOptions(batch=4)
    )
    cases = summary.cases
    assert len(cases) == 7  # 3 tumor cases per condition, 1 control shared by both
    batches = sorted(p.name for p in tmp_path.glob("batch-*"))
    assert len(batches) == 2  # 7 cases in units of 4
    bad = cases[cases["status"] != "ok"]
    assert list(bad["case_id"]) == ["c-hypo__phantom-1__c000"]
    assert "refused" in bad["error"].iloc[0]
