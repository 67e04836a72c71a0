"""The bench's own failures end no run: a unit that fails inline, or whose pool worker dies
again and again, becomes failed rows (bench_error) and the run goes on."""

from __future__ import annotations

import os
import textwrap

import pandas as pd
import pytest

from robustbench_liver.metrics import ToleranceBelowSpacingWarning
from robustbench_liver.runs import executors, work
from robustbench_liver.runs.runner import run
from robustbench_liver.runs.store import RunStore
from robustbench_liver.runs.work import BENCH_ERROR, Unit
from robustbench_liver.scenarios import base_scans, load_scenario, make_plan

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
    import numpy as np


    class Card:
        name = "plain"


    class Plain:
        card = Card()

        def predict(self, image, spacing, liver=None):
            return np.zeros(image.shape, dtype=np.uint8)


    def make():
        return Plain()
    """
)


class WorkerKiller(str):
    """A run folder name that ends any process that unpickles it."""

    def __reduce__(self):
        return (os._exit, (7,))


@pytest.fixture
def scenario(tmp_path, monkeypatch):
    (tmp_path / "scenario.yaml").write_text(SCENARIO)
    (tmp_path / "plain_model.py").write_text(MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    return load_scenario(tmp_path / "scenario.yaml")


def test_a_unit_whose_worker_keeps_dying_becomes_failed_rows(scenario, tmp_path):
    plan = make_plan(scenario, base_scans(scenario, None))
    unit = Unit(
        scenario, plan.cases[:2], ("plain_model:make",), WorkerKiller(tmp_path / "r"), None, 1
    )
    (results,) = list(executors.run_local([unit], workers=2))
    assert [r["status"] for r in results] == [BENCH_ERROR, BENCH_ERROR]
    assert "a worker process died under this unit 3 times" in results[0]["error"]
    cases, _ = RunStore(tmp_path / "r").collect()
    assert set(cases["status"]) == {BENCH_ERROR} and len(cases) == 2


def test_a_unit_that_fails_inline_becomes_failed_rows(scenario, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(work, "cached_case", broken)  # inline: runs in this process
    summary = run([scenario], ["plain_model:make"], tmp_path / "r")
    cases: pd.DataFrame = summary.cases
    assert list(cases["status"]) == [BENCH_ERROR, BENCH_ERROR]
    assert list(cases["model"]) == ["plain", "plain"]  # the card's name, known from the check
    assert "the bench failed on this unit: RuntimeError: the disk is on fire" in cases["error"][0]
