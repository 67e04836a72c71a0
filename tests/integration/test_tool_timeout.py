"""`run --timeout` on a command tool: the adapter ends the tool just before the runner would
kill the model's process, so the row is a timeout that keeps what the tool said."""

from __future__ import annotations

import textwrap

import pytest

from robustbench_liver.metrics import ToleranceBelowSpacingWarning
from robustbench_liver.runs.runner import RunOptions, run
from robustbench_liver.scenarios import load_scenario

pytestmark = pytest.mark.filterwarnings("ignore", category=ToleranceBelowSpacingWarning)

SCENARIO = """\
name: slowtool
seed: 1
base_scans:
  - {source: phantom, count: 1, shape: [48, 40, 24], spacing: [3.0, 3.0, 4.0]}
cases_per_condition: 1
controls: 0.0
tumors: {level: medium}
"""
TOOL = textwrap.dedent(
    """\
    import sys
    import time

    print("loading the weights of fold 0", file=sys.stderr)
    time.sleep(120)
    """
)
SPEC = """\
adapter: command
argv: ["{python}", "slow_tool.py", "{input_dir}", "{output_dir}"]
card: {name: slow-tool}
"""


def test_the_runner_timeout_keeps_the_tool_stderr(tmp_path):
    (tmp_path / "scenario.yaml").write_text(SCENARIO)
    (tmp_path / "slow_tool.py").write_text(TOOL)
    (tmp_path / "slow.yaml").write_text(SPEC)
    scenario = load_scenario(tmp_path / "scenario.yaml")
    options = RunOptions(timeout_s=4.0)
    summary = run([scenario], [str(tmp_path / "slow.yaml")], tmp_path / "r", options)
    (row,) = summary.cases.to_dict("records")
    assert row["status"] == "timeout", row["error"]
    assert "loading the weights of fold 0" in row["error"]
    assert "case 'default__phantom-0__t000'" in row["error"]
