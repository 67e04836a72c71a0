"""Building cases: reproducible bytes, shared controls, common random numbers, the cache."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from robustbench_liver.scenarios import base_scans, make_plan, scenario_from_dict
from robustbench_liver.scenarios.cache import CaseCache
from robustbench_liver.scenarios.cases import build_case, content_key

SMALL = {"source": "phantom", "count": 2, "shape": [128, 112, 56], "spacing": [3.0, 3.0, 4.0]}


@pytest.fixture(scope="module")
def plan():
    s = scenario_from_dict(
        {
            "name": "cases",
            "seed": 3,
            "base_scans": [SMALL],
            "cases_per_condition": 4,
            "controls": 0.25,
            "tumors": {"level": "medium"},
            "sweep": {
                "axes": [
                    {
                        "name": "c",
                        "levels": {
                            "hypo": {"tumors.delta_hu": [-60, -40]},
                            "iso": {"tumors.delta_hu": [-5, 5]},
                            "noisy": {"tumors.delta_hu": [-60, -40], "image.noise_std_hu": 30},
                        },
                    }
                ]
            },
        }
    )
    return make_plan(s, base_scans(s, None))


def case(plan, case_id):
    spec = next(c for c in plan.cases if c.case_id == case_id)
    return spec, build_case(plan.scenario, spec, spec.scan.load())


def test_same_spec_same_bytes(plan):
    _, a = case(plan, "c-hypo__phantom-0__t000")
    _, b = case(plan, "c-hypo__phantom-0__t000")
    assert a.image.tobytes() == b.image.tobytes() and a.label.tobytes() == b.label.tobytes()
    assert a.case_id == "c-hypo__phantom-0__t000" and a.condition == "c-hypo"
    assert (a.label == 2).any() and a.tumors


def test_conditions_differ_only_in_what_the_sweep_changes(plan):
    _, hypo = case(plan, "c-hypo__phantom-0__t000")
    _, iso = case(plan, "c-iso__phantom-0__t000")
    assert [t.center_vox for t in hypo.tumors] == [t.center_vox for t in iso.tumors]
    assert [t.semi_axes_mm for t in hypo.tumors] == [t.semi_axes_mm for t in iso.tumors]
    assert all(t.delta_hu < -30 for t in hypo.tumors) and all(
        abs(t.delta_hu) <= 5 for t in iso.tumors
    )


def test_image_shift_changes_the_image_only(plan):
    _, hypo = case(plan, "c-hypo__phantom-0__t000")
    _, noisy = case(plan, "c-noisy__phantom-0__t000")
    np.testing.assert_array_equal(hypo.label, noisy.label)
    extra = (noisy.image - hypo.image)[noisy.image > -900]
    assert 25 < float(extra.std()) < 35


def test_controls_are_tumor_free_and_shared_by_content(plan):
    # hypo and iso differ only in tumors: one set of controls, held by hypo (the first);
    # the noisy image shift gets its own
    holders = {c.condition for c in plan.cases if c.is_control}
    assert holders == {"c-hypo", "c-noisy"}
    spec_h, control_h = case(plan, "c-hypo__phantom-1__c000")
    spec_n, _ = case(plan, "c-noisy__phantom-1__c000")
    assert control_h.is_control and not control_h.tumors and not (control_h.label == 2).any()
    # what iso's control would be, were it planned: the same image, the same content key
    spec_i = dataclasses.replace(spec_h, case_id="c-iso__phantom-1__c000", condition="c-iso")
    control_i = build_case(plan.scenario, spec_i, spec_i.scan.load())
    np.testing.assert_array_equal(control_h.image, control_i.image)
    scan = spec_h.scan.load()
    key = content_key(plan.scenario, spec_h, scan)
    assert key == content_key(plan.scenario, spec_i, scan)
    assert key != content_key(plan.scenario, spec_n, scan)  # other image shift, other content


def test_cache_round_trip_and_repair(tmp_path, plan):
    spec, built = case(plan, "c-hypo__phantom-1__t000")
    cache = CaseCache(tmp_path)
    key = content_key(plan.scenario, spec, spec.scan.load())
    assert cache.get(key) is None
    cache.put(key, built)
    again = cache.get(
        key, case_id=built.case_id, condition=built.condition, replicate=built.replicate
    )
    assert again is not None
    assert again.image.tobytes() == built.image.tobytes() and again.tumors == built.tumors
    assert again.case_id == built.case_id
    path = next(tmp_path.rglob("*.npz"))
    path.write_bytes(b"broken")
    assert cache.get(key) is None and not path.exists()
