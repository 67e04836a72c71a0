"""`robustbench-liver run` prints its summary in the sweep's condition order (issue 15.13)."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

from robustbench_liver.cli.main import main
from robustbench_liver.metrics import ToleranceBelowSpacingWarning

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SCENARIO = textwrap.dedent(
    """\
    name: order
    seed: 2
    base_scans:
      - {source: phantom, count: 1, shape: [96, 96, 40], spacing: [3.0, 3.0, 4.0]}
    cases_per_condition: 2
    controls: 0.5
    tumors: {level: medium}
    sweep:
      axes:
        - {name: c, param: tumors.delta_hu, levels: {iso: [-5, 5], hypo: [-60, -40]}}
    """
)


def test_the_summary_keeps_the_sweep_order(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(FIXTURES))
    scenario = tmp_path / "order.yaml"
    scenario.write_text(SCENARIO)
    argv = ["run", str(scenario), "--model", "fake_models:Oracle", "--out", str(tmp_path / "r")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ToleranceBelowSpacingWarning)  # 4 mm slices
        assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split()[2] for line in lines[1:] if line.split()[:1] == ["order"]]
    assert rows == ["c-iso", "c-hypo"]  # not by name (c-hypo < c-iso)
