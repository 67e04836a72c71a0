"""Plans: stable ids and seeds, counts, controls, independence from order."""

from __future__ import annotations

import random

import pytest

from robustbench_liver.errors import ScenarioError
from robustbench_liver.scenarios import base_scans, make_plan, scenario_from_dict
from robustbench_liver.sources.refs import phantom_refs

AXES = [{"name": "c", "param": "tumors.delta_hu", "levels": {"hypo": [-60, -40], "iso": [-5, 5]}}]


def scenario(**extra):
    data = {
        "name": "p",
        "seed": 7,
        "base_scans": [{"source": "phantom", "count": 3}],
        "sweep": {"axes": AXES},
    }
    return scenario_from_dict({**data, **extra})


def test_counts_controls_and_round_robin():
    s = scenario(cases_per_condition=8, controls=0.25)
    plan = make_plan(s, base_scans(s, None))
    assert len(plan.cases) == 16
    hypo = [c for c in plan.cases if c.condition == "c-hypo"]
    assert sum(c.is_control for c in hypo) == 2
    tumor_scans = [c.scan.id for c in hypo if not c.is_control]
    assert tumor_scans == ["phantom-0", "phantom-1", "phantom-2"] * 2
    assert [c.replicate for c in hypo if not c.is_control] == [0, 0, 0, 1, 1, 1]
    ids = [c.case_id for c in plan.cases]
    assert len(set(ids)) == len(ids)
    assert "c-hypo__phantom-1__t000" in ids and "c-iso__phantom-0__c000" in ids


def test_seeds_do_not_depend_on_scan_order():
    s = scenario(cases_per_condition=6)
    scans = base_scans(s, None)
    shuffled = scans[:]
    random.Random(1).shuffle(shuffled)
    seeds = {c.case_id: c.entropy(7, 1) for c in make_plan(s, scans).cases}
    for c in make_plan(s, shuffled).cases:
        if c.case_id in seeds:  # round-robin assigns replicates per scan position
            assert c.entropy(7, 1) == seeds[c.case_id]


def test_conditions_share_tumor_seeds_but_not_controls():
    s = scenario(cases_per_condition=4, controls=0.5)
    plan = make_plan(s, base_scans(s, None))
    by_id = {c.case_id: c for c in plan.cases}
    hypo, iso = by_id["c-hypo__phantom-0__t000"], by_id["c-iso__phantom-0__t000"]
    assert hypo.entropy(7, 1) == iso.entropy(7, 1)  # common random numbers
    control = by_id["c-hypo__phantom-0__c000"]
    assert control.entropy(7, 1) != hypo.entropy(7, 1)


def test_limited_keeps_every_condition():
    s = scenario(cases_per_condition=6)
    plan = make_plan(s, base_scans(s, None)).limited(2)
    assert [c.condition for c in plan.cases] == ["c-hypo", "c-hypo", "c-iso", "c-iso"]


def test_file_sources_need_a_data_root():
    s = scenario_from_dict(
        {
            "name": "f",
            "base_scans": [
                {"source": "folder", "images": "*/ct.nii.gz", "labels": "{dir}/labels.nii.gz"}
            ],
        }
    )
    with pytest.raises(ScenarioError, match="--data-root"):
        base_scans(s, None)


def test_folder_source_on_the_real_scans(shared_data):
    s = scenario_from_dict(
        {
            "name": "f",
            "base_scans": [
                {
                    "source": "folder",
                    "images": "*/ct.nii.gz",
                    "labels": "{dir}/labels.nii.gz",
                    "liver_label": 5,
                },
                {"source": "phantom"},
            ],
        }
    )
    refs = base_scans(s, shared_data)
    assert [r.id for r in refs] == ["totalseg-full", "totalseg-small", "phantom-0"]
    assert refs[1].load().liver.sum() == 38_634


def test_duplicate_scan_ids_are_refused():
    s = scenario_from_dict(
        {"name": "d", "base_scans": [{"source": "phantom"}, {"source": "phantom"}]}
    )
    with pytest.raises(ScenarioError, match="appears twice"):
        base_scans(s, None)
    assert len(phantom_refs(2, first_seed=5)) == 2
