"""Every shipped scenario validates and expands into a plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustbench_liver.scenarios import base_scans, load_scenario, make_plan

LIBRARY = Path(__file__).resolve().parents[3] / "scenarios"
FILES = sorted(LIBRARY.glob("*.yaml"))
EXPECTED = {
    "quickstart",
    "size",
    "small_tumors",
    "location",
    "texture",
    "shape",
    "intensity",
    "postprocessing",
    "image_shift",
    "paper",
    "real_scans",
}


def test_the_library_is_complete():
    assert EXPECTED <= {p.stem for p in FILES}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_scenario_validates_and_plans(path, shared_data):
    scenario = load_scenario(path)
    first_line = path.read_text().splitlines()[0]
    assert first_line.startswith("# "), "each scenario opens with the question it answers"
    plan = make_plan(scenario, base_scans(scenario, shared_data))
    per_condition = scenario.spec.cases_per_condition
    assert len(plan.cases) == per_condition * len(scenario.conditions)
    assert scenario.reference in {c.id for c in scenario.conditions}
