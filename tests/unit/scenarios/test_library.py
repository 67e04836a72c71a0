"""Every shipped scenario validates and expands into a plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustbench_liver.scenarios import base_scans, load_scenario, make_plan
from robustbench_liver.scenarios.design import controls_needed, design
from robustbench_liver.scenarios.plan import control_holders

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
    tumors, controls = scenario.spec.case_counts
    image_settings = len(set(control_holders(scenario).values()))
    assert len(plan.cases) == tumors * len(scenario.conditions) + controls * image_settings
    assert scenario.reference in {c.id for c in scenario.conditions}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_declared_phantom_gets_a_case(path, shared_data):
    scenario = load_scenario(path)
    plan = make_plan(scenario, base_scans(scenario, shared_data))
    phantoms = {s.id for s in plan.scans if s.kind == "phantom"}  # file sources: skipped
    assert phantoms <= {c.scan.id for c in plan.cases}


STUDIES = [p for p in FILES if p.stem not in ("quickstart", "real_scans")]
"""Scenarios meant as studies: the quickstart is a smoke test, real_scans has one scan."""


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_studies_have_enough_controls_and_base_scans(path):
    scenario = load_scenario(path)
    d = design(make_plan(scenario, base_scans(scenario, None)), models=2)
    held = [r for r in d.conditions if r.controls_in == r.condition]
    assert held and all(r.specificity.halfwidth <= 0.15 for r in held)
    assert all(r.controls >= controls_needed() for r in held)
    assert all(r.smallest_p <= 0.05 for r in d.conditions if r.comparisons), "p floor"
    assert not d.unused_scans
