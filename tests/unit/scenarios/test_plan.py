"""Plans: stable ids and seeds, counts, controls, independence from order."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from robustbench_liver.errors import RobustBenchError, ScenarioError
from robustbench_liver.report.tables import condition_tests
from robustbench_liver.scenarios import base_scans, make_plan, scenario_from_dict
from robustbench_liver.scenarios.plan import control_holders, limit_counts
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
    assert len(plan.cases) == 6 + 6 + 2  # the sweep changes tumors only: controls once
    hypo = [c for c in plan.cases if c.condition == "c-hypo"]
    assert sum(c.is_control for c in hypo) == 2
    tumor_scans = [c.scan.id for c in hypo if not c.is_control]
    assert tumor_scans == ["phantom-0", "phantom-1", "phantom-2"] * 2
    assert [c.replicate for c in hypo if not c.is_control] == [0, 0, 0, 1, 1, 1]
    ids = [c.case_id for c in plan.cases]
    assert len(set(ids)) == len(ids)
    assert "c-hypo__phantom-1__t000" in ids and "c-hypo__phantom-0__c000" in ids
    assert not any(c.is_control for c in plan.cases if c.condition == "c-iso")


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


def test_limited_keeps_controls_in_proportion():
    s = scenario(base_scans=[{"source": "phantom", "count": 36}], tumor_cases=12, control_cases=24)
    full = make_plan(s, base_scans(s, None))
    for limit, tumors, controls in ((6, 2, 4), (3, 1, 2), (1, 1, 1), (2, 1, 1), (35, 12, 23)):
        plan = full.limited(limit)
        hypo = [c for c in plan.cases if c.condition == "c-hypo"]
        iso = [c for c in plan.cases if c.condition == "c-iso"]
        assert sum(not c.is_control for c in hypo) == tumors, limit
        assert sum(c.is_control for c in hypo) == controls, limit
        assert [c.case_id for c in iso] == [
            c.case_id.replace("c-hypo", "c-iso") for c in hypo if not c.is_control
        ]
        assert set(plan.cases) <= set(full.cases)  # a subset: ids, seeds, pairing hold
        assert plan.cases == full.limited(limit).cases  # deterministic
    # the first of the round-robin: tumor cases and controls on scans of their own
    assert [c.scan.id for c in full.limited(6).cases if c.condition == "c-hypo"] == [
        "phantom-0",
        "phantom-1",
        "phantom-12",
        "phantom-13",
        "phantom-14",
        "phantom-15",
    ]
    assert full.limited(36).cases == full.cases
    assert limit_counts(5, 4, 0) == (4, 0) and limit_counts(3, 8, 0) == (3, 0)
    with pytest.raises(RobustBenchError, match="at least 1"):
        full.limited(0)


def test_every_declared_scan_gets_a_case():
    # the old round-robin put 12 tumor cases on scans 0-11 and 4 controls on 0-3 again
    s = scenario(base_scans=[{"source": "phantom", "count": 16}], tumor_cases=12, control_cases=4)
    plan = make_plan(s, base_scans(s, None))
    hypo = [c for c in plan.cases if c.condition == "c-hypo"]
    assert {c.scan.id for c in hypo} == {f"phantom-{i}" for i in range(16)}
    controls = [c.case_id for c in hypo if c.is_control]
    assert controls == [f"c-hypo__phantom-{i}__c000" for i in range(12, 16)]


def test_controls_continue_the_round_robin_when_scans_run_out():
    s = scenario(tumor_cases=4, control_cases=3)  # 3 scans
    plan = make_plan(s, base_scans(s, None))
    hypo = [(c.scan.id, c.replicate, c.is_control) for c in plan.cases if c.condition == "c-hypo"]
    assert hypo == [
        ("phantom-0", 0, False), ("phantom-1", 0, False), ("phantom-2", 0, False),
        ("phantom-0", 1, False), ("phantom-1", 0, True), ("phantom-2", 0, True),
        ("phantom-0", 0, True),
    ]  # fmt: skip


def units(plan, condition, is_control):
    return {
        (c.scan.id, c.replicate)
        for c in plan.cases
        if c.condition == condition and c.is_control == is_control
    }


IMAGE_AXIS = {
    "name": "scanner",
    "levels": {"plain": {}, "noisy": {"image.noise_std_hu": 20}},
}


def test_shared_controls_are_planned_once_per_image_setting():
    # tumor-only sweep: one set, held by the reference even when it is not first
    s = scenario(tumor_cases=3, control_cases=2, reference={"c": "iso"})
    plan = make_plan(s, base_scans(s, None))
    assert control_holders(s) == {"c-hypo": "c-iso", "c-iso": "c-iso"}
    assert [c.condition for c in plan.cases if c.is_control] == ["c-iso", "c-iso"]
    # grid of a tumor axis and an image axis: one set per image level
    s = scenario(tumor_cases=3, control_cases=2, sweep={"axes": [*AXES, IMAGE_AXIS]},
                 reference={"c": "iso", "scanner": "noisy"})  # fmt: skip
    plan = make_plan(s, base_scans(s, None))
    holders = control_holders(s)
    assert holders == {
        "c-hypo+scanner-plain": "c-hypo+scanner-plain",
        "c-hypo+scanner-noisy": "c-iso+scanner-noisy",
        "c-iso+scanner-plain": "c-hypo+scanner-plain",
        "c-iso+scanner-noisy": "c-iso+scanner-noisy",
    }
    by_condition = {c.id: sum(x.is_control for x in plan.cases if x.condition == c.id)
                    for c in s.conditions}  # fmt: skip
    assert by_condition == {
        "c-hypo+scanner-plain": 2, "c-hypo+scanner-noisy": 0,
        "c-iso+scanner-plain": 0, "c-iso+scanner-noisy": 2,
    }  # fmt: skip
    assert len(plan.cases) == 4 * 3 + 2 * 2


def test_pairing_units_recur_in_every_condition():
    s = scenario(tumor_cases=5, control_cases=4, sweep={"axes": [*AXES, IMAGE_AXIS]})
    plan = make_plan(s, base_scans(s, None))
    ids = [c.id for c in s.conditions]
    assert all(units(plan, i, False) == units(plan, ids[0], False) for i in ids)
    holders = sorted(set(control_holders(s).values()))
    assert len(holders) == 2
    assert units(plan, holders[0], True) == units(plan, holders[1], True) != set()


def test_the_report_pairs_conditions_with_shared_controls():
    """condition_tests on rows shaped like a run of this plan: tumor metrics pair across
    conditions, specificity only where both conditions hold controls."""
    s = scenario(base_scans=[{"source": "phantom", "count": 8}], tumor_cases=4, control_cases=4,
                 sweep={"axes": [*AXES, IMAGE_AXIS]})  # fmt: skip
    plan = make_plan(s, base_scans(s, None))
    rng = np.random.default_rng(0)
    rows = []
    for c in plan.cases:
        positive = bool(rng.random() < 0.5)
        rows.append({
            "case_id": c.case_id, "scenario": "p", "model": "m", "condition": c.condition,
            "base_scan": c.scan.id, "replicate": c.replicate, "is_control": c.is_control,
            "status": "ok", "dsc": np.nan if c.is_control else rng.random(),
            "nsd": np.nan if c.is_control else rng.random(),
            "case_sensitivity": np.nan if c.is_control else float(positive),
            "case_specificity": float(not positive) if c.is_control else np.nan,
            "n_lesions": 0 if c.is_control else 2,
            "n_lesions_detected": 0 if c.is_control else int(rng.integers(0, 3)),
        })  # fmt: skip
    tests = condition_tests(pd.DataFrame(rows), s.reference, resamples=200)
    specificity = tests[tests["metric"] == "case_specificity"]
    assert s.reference == "c-hypo+scanner-plain"
    assert list(specificity["a"]) == ["c-hypo+scanner-noisy"]  # the other holder
    dsc = tests[tests["metric"] == "dsc"]
    assert sorted(dsc["a"]) == sorted(c.id for c in s.conditions if c.id != s.reference)
    assert (dsc["n_clusters"] == 4).all()


def test_old_and_new_counts():
    assert scenario(cases_per_condition=8, controls=0.25).spec.case_counts == (6, 2)
    assert scenario(tumor_cases=12, control_cases=24).spec.case_counts == (12, 24)
    assert scenario().spec.case_counts == (8, 0)
    # the older spelling wins, as when a file extends one written the newer way
    assert scenario(tumor_cases=12, cases_per_condition=4).spec.case_counts == (4, 0)
    with pytest.raises(ScenarioError, match="leaves no tumor case"):
        scenario(cases_per_condition=1, controls=0.6)


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
                    "images": "totalseg-*/ct.nii.gz",  # lits-tiny holds tumors, liver = 1
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
