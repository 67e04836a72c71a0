"""Local worker threads: each takes model processes of its own (the first those the runner
checked), and an interrupted run writes no row for the pairs it was in the middle of. The
bench's own failures end no run: a unit that fails becomes failed rows (bench_error)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pandas as pd
import pytest

from robustbench_liver.metrics import ToleranceBelowSpacingWarning
from robustbench_liver.runs import executors, work
from robustbench_liver.runs.runner import RunOptions, run
from robustbench_liver.runs.store import RunStore
from robustbench_liver.runs.work import BENCH_ERROR
from robustbench_liver.scenarios import load_scenario

pytestmark = pytest.mark.filterwarnings("ignore", category=ToleranceBelowSpacingWarning)

SCENARIO = textwrap.dedent(
    """\
    name: benchfail
    seed: 1
    base_scans:
      - {source: phantom, count: 1, shape: [64, 56, 32], spacing: [3.0, 3.0, 4.0]}
    cases_per_condition: 2
    controls: 0.0
    tumors: {level: medium}
    """
)
MODEL = textwrap.dedent(
    """\
    import os
    import time

    import numpy as np


    class Card:
        name = "plain"


    class Plain:
        card = Card()

        def predict(self, image, spacing, liver=None):
            marks = os.environ.get("PLAIN_MARKS")
            if marks:  # which process answered, and a pause to be interrupted in
                with open(marks, "a") as out:
                    out.write(f"{os.getpid()} ")
                time.sleep(float(os.environ.get("PLAIN_SLEEP", "0")))
            return np.zeros(image.shape, dtype=np.uint8)


    def make():
        return Plain()
    """
)


@pytest.fixture
def scenario(tmp_path, monkeypatch):
    (tmp_path / "scenario.yaml").write_text(SCENARIO)
    (tmp_path / "plain_model.py").write_text(MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    return load_scenario(tmp_path / "scenario.yaml")


def test_a_unit_that_fails_inline_becomes_failed_rows(scenario, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(work, "cached_case", broken)  # inline: runs in this process
    summary = run([scenario], ["plain_model:make"], tmp_path / "r")
    cases: pd.DataFrame = summary.cases
    assert list(cases["status"]) == [BENCH_ERROR, BENCH_ERROR]
    assert list(cases["model"]) == ["plain", "plain"]  # the card's name, known from the check
    assert "the bench failed on this unit: RuntimeError: the disk is on fire" in cases["error"][0]


def test_two_threads_use_two_model_processes_and_the_checked_one_among_them(
    scenario, tmp_path, monkeypatch
):
    marks = tmp_path / "marks"
    monkeypatch.setenv("PLAIN_MARKS", str(marks))
    monkeypatch.setenv("PLAIN_SLEEP", "0.3")  # both threads are busy at once
    preloaded = []
    real = executors.take_slot

    def watch(slot):
        preloaded.append(slot)
        real(slot)

    monkeypatch.setattr(executors, "take_slot", watch)
    summary = run([scenario], ["plain_model:make"], tmp_path / "r", RunOptions(workers=2, batch=1))
    assert summary.done == 2 and not summary.failed
    pids = set(marks.read_text().split())
    assert len(pids) == 2  # one model process per thread, each loaded once
    assert threading.get_ident() in preloaded  # a thread took the runner's checked process


def test_a_local_dask_cluster_uses_the_checked_model_processes(scenario, tmp_path, monkeypatch):
    """Without an address, Dask's workers are threads of the runner: they take the model
    processes the runner checked (one per worker), start no others, and leave none behind."""
    pytest.importorskip("distributed")
    from robustbench_liver.runs import roster

    marks = tmp_path / "marks"
    monkeypatch.setenv("PLAIN_MARKS", str(marks))
    monkeypatch.setenv("PLAIN_SLEEP", "0.3")
    started = []
    real = roster.ModelProcess.start

    def watch(process):
        started.append(process)
        return real(process)

    monkeypatch.setattr(roster.ModelProcess, "start", watch)
    options = RunOptions(workers=2, batch=1, executor="dask")
    summary = run([scenario], ["plain_model:make"], tmp_path / "r", options)
    assert summary.done == 2 and not summary.failed
    assert len(set(marks.read_text().split())) == 2  # both workers predicted
    assert len({id(p) for p in started}) == 2  # the checked one and its spare, no more
    assert not roster._PROCESSES  # all ended with the run


def test_an_interrupted_run_writes_no_row_for_the_pairs_in_flight(scenario, tmp_path):
    """Ctrl-C while both threads wait for a prediction: the models' processes are ended, and
    that must not come back as 'exited' rows, which a resume would take as done."""
    marks = tmp_path / "marks"
    env = {**os.environ, "PLAIN_MARKS": str(marks), "PLAIN_SLEEP": "30"}
    command = [sys.executable, "-m", "robustbench_liver", "run", "scenario.yaml"]
    command += ["--model", "plain_model:make", "--out", "r", "--workers", "2"]
    run_ = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        # a shell's background job starts with Ctrl-C ignored, and a child inherits that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while not (marks.exists() and len(marks.read_text().split()) == 2):
            assert run_.poll() is None and time.monotonic() < deadline, "no prediction started"
            time.sleep(0.05)
        run_.send_signal(signal.SIGINT)
        _, err = run_.communicate(timeout=60)
    finally:
        if run_.poll() is None:
            run_.kill()
    assert run_.returncode != 0, err
    cases, _ = RunStore(tmp_path / "r").collect()
    assert len(cases) == 0, cases[["case_id", "status", "error"]]


def test_dask_tasks_group_the_units_of_a_scan():
    """One task per set of base scans: a Dask worker builds each scan it gets once, and two
    workers never build the same one."""
    from types import SimpleNamespace

    def unit(*scans):
        return SimpleNamespace(cases=[SimpleNamespace(scan=SimpleNamespace(id=s)) for s in scans])

    units = [unit("a"), unit("b"), unit("a"), unit("c"), unit("b", "a"), unit("b")]
    groups = executors.by_scan(units)
    assert groups == [[units[0], units[2]], [units[1], units[5]], [units[3]], [units[4]]]
