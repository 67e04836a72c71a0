"""A spec's batch_size is the run's default unit size (a command tool then starts once per
batch, not once per case), shared out so that no worker waits; --batch overrides it."""

from __future__ import annotations

import textwrap

import pytest

from robustbench_liver.metrics import ToleranceBelowSpacingWarning
from robustbench_liver.runs.isolate import ModelInfo
from robustbench_liver.runs.runner import RunOptions, _unit_size, run
from robustbench_liver.scenarios import load_scenario

pytestmark = pytest.mark.filterwarnings("ignore", category=ToleranceBelowSpacingWarning)

SCENARIO = """\
name: batches
seed: 1
base_scans:
  - {source: phantom, count: 1, shape: [48, 40, 24], spacing: [3.0, 3.0, 4.0]}
cases_per_condition: 6
controls: 0.0
tumors: {level: medium}
"""
MODEL = textwrap.dedent(
    """\
    import os

    import numpy as np


    class Card:
        name = "batched"


    class Batched:
        card = Card()
        batch_size = 3

        def predict(self, image, spacing, liver=None):
            return np.zeros(image.shape, dtype=np.uint8)

        def predict_batch(self, items):
            items = list(items)
            with open(os.environ["BATCH_LOG"], "a") as out:
                out.write(f"{len(items)} ")
            return {item.case_id: self.predict(item.image_hu, item.spacing) for item in items}


    def make():
        return Batched()
    """
)


def info(size: int) -> ModelInfo:
    return ModelInfo(name=f"m{size}", batch=True, batch_size=size)


@pytest.mark.parametrize(
    ("batch", "sizes", "workers", "pending", "expected"),
    [
        (None, [1, 1], 1, 11, 1),  # no model asks: one case per unit
        (None, [16, 1], 1, 40, 16),  # the largest a model asks for
        (None, [16], 2, 11, 6),  # but each worker gets a share
        (4, [16], 2, 11, 4),  # --batch as given
    ],
)
def test_unit_size(batch, sizes, workers, pending, expected):
    options = RunOptions(batch=batch, workers=workers)
    assert _unit_size(options, [info(s) for s in sizes], pending) == expected


def test_a_spec_batch_size_makes_the_calls(tmp_path, monkeypatch):
    (tmp_path / "scenario.yaml").write_text(SCENARIO)
    (tmp_path / "batched_model.py").write_text(MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    log = tmp_path / "log"
    monkeypatch.setenv("BATCH_LOG", str(log))
    scenario = load_scenario(tmp_path / "scenario.yaml")
    summary = run([scenario], ["batched_model:make"], tmp_path / "r")
    assert summary.done == 6 and not summary.failed
    assert log.read_text().split() == ["3", "3"]
