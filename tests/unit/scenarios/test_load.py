"""Scenario validation: conditions, references, and every problem reported at once."""

from __future__ import annotations

import textwrap

import pytest

from robustbench_liver.errors import ScenarioError
from robustbench_liver.scenarios import load_scenario, scenario_from_dict

PHANTOM = [{"source": "phantom", "count": 2}]


def load_text(tmp_path, text):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text))
    return load_scenario(path)


def test_single_axis_conditions_and_reference(tmp_path):
    scenario = load_text(
        tmp_path,
        """
        name: contrast
        base_scans: [{source: phantom}]
        sweep:
          axes:
            - name: contrast
              param: tumors.delta_hu
              levels: {hypo: [-60, -40], iso: [-5, 5]}
        reference: {contrast: iso}
        """,
    )
    assert [c.id for c in scenario.conditions] == ["contrast-hypo", "contrast-iso"]
    assert scenario.reference == "contrast-iso"
    assert scenario.condition("contrast-hypo").tumors.delta_hu == (-60.0, -40.0)
    assert len(scenario.hash) == 64


def test_grid_and_zip(tmp_path):
    axes = [
        {"name": "a", "param": "tumors.delta_hu", "levels": {"x": -50, "y": -20, "z": 0}},
        {"name": "b", "param": "image.noise_std_hu", "levels": {"p": 0, "q": 10, "r": 20}},
    ]
    grid = scenario_from_dict({"name": "g", "base_scans": PHANTOM, "sweep": {"axes": axes}})
    assert len(grid.conditions) == 9 and grid.reference == "a-x+b-p"
    zipped = scenario_from_dict(
        {"name": "z", "base_scans": PHANTOM, "sweep": {"combine": "zip", "axes": axes}}
    )
    assert [c.id for c in zipped.conditions] == ["a-x+b-p", "a-y+b-q", "a-z+b-r"]
    assert zipped.condition("a-z+b-r").image.noise_std_hu == 20


def test_zip_needs_equal_lengths():
    axes = [
        {"name": "a", "param": "tumors.delta_hu", "levels": {"x": -50}},
        {"name": "b", "param": "image.noise_std_hu", "levels": {"p": 0, "q": 10}},
    ]
    with pytest.raises(ScenarioError, match="same number of levels"):
        scenario_from_dict(
            {"name": "z", "base_scans": PHANTOM, "sweep": {"combine": "zip", "axes": axes}}
        )


def test_no_sweep_is_one_default_condition():
    scenario = scenario_from_dict(
        {"name": "d", "base_scans": PHANTOM, "tumors": {"level": "small"}}
    )
    assert [c.id for c in scenario.conditions] == ["default"]
    assert scenario.conditions[0].tumors.sizes[0].name == "small"


def test_radius_sugar_makes_one_size_class():
    scenario = scenario_from_dict(
        {
            "name": "s",
            "base_scans": PHANTOM,
            "sweep": {
                "axes": [
                    {
                        "name": "r",
                        "levels": {"r3": {"tumors.radius_mm": [2, 4], "tumors.count": [5, 9]}},
                    }
                ]
            },
        }
    )
    (size,) = scenario.conditions[0].tumors.sizes
    assert size.semi_axes_mm == (2.0, 4.0) and size.count == (5, 9)
    assert size.elastic_sigma_mm == (0.5, 1.0)  # the paper's tiny level for radii this small


def test_level_override_replaces_explicit_sizes():
    sizes = [{"name": "x", "semi_axes_mm": [5, 6], "count": [1, 1], "elastic_sigma_mm": [1, 2]}]
    scenario = scenario_from_dict(
        {
            "name": "s",
            "base_scans": PHANTOM,
            "tumors": {"sizes": sizes},
            "sweep": {"axes": [{"name": "l", "param": "tumors.level", "levels": {"big": "large"}}]},
        }
    )
    assert scenario.conditions[0].tumors.sizes[0].name == "large"


def test_every_problem_is_reported_with_its_line(tmp_path):
    text = """\
    name: bad one
    base_scans:
      - source: phantom
        cuont: 2
    cases_per_condition: 0
    tumors: {level: medum}
    image: {noise_sd: 3}
    sweep:
      axes:
        - name: c
          param: tumors.delta
          levels: {a: 1}
    metrics: {nsd_tol: 2}
    """
    with pytest.raises(ScenarioError) as info:
        load_text(tmp_path, text)
    err = info.value
    found = {field: (line, message) for field, line, message in err.problems}
    assert set(found) == {
        "name",
        "base_scans[0].cuont",
        "cases_per_condition",
        "tumors",
        "image.noise_sd",
        "sweep.axes[0].param",
        "metrics.nsd_tol",
    }
    assert (
        found["base_scans[0].cuont"][0] == 4
        and "Did you mean 'count'" in found["base_scans[0].cuont"][1]
    )
    assert found["tumors"][0] == 6 and "'medium'" in found["tumors"][1]
    assert found["image.noise_sd"][0] == 7 and "noise_std_hu" in found["image.noise_sd"][1]
    assert (
        found["sweep.axes[0].param"][0] == 11
        and "tumors.delta_hu" in found["sweep.axes[0].param"][1]
    )
    assert "s.yaml:13: metrics.nsd_tol" in str(err)
    assert str(err).startswith("7 problem(s)")


def test_bad_level_value_is_located_at_its_level(tmp_path):
    text = """\
    name: s
    base_scans: [{source: phantom}]
    sweep:
      axes:
        - name: c
          param: tumors.delta_hu
          levels:
            ok: [-50, -30]
            backwards: [10, -10]
    """
    with pytest.raises(
        ScenarioError,
        match=r"s\.yaml:9: sweep\.axes\[0\]\.levels\.backwards: condition c=backwards: "
        r"delta_hu: low 10 is above high -10",
    ):
        load_text(tmp_path, text)


def test_reference_must_exist():
    axes = [{"name": "a", "param": "tumors.delta_hu", "levels": {"x": -50, "y": -20}}]
    with pytest.raises(ScenarioError, match="unknown level 'w'"):
        scenario_from_dict(
            {"name": "r", "base_scans": PHANTOM, "sweep": {"axes": axes}, "reference": {"a": "w"}}
        )
    with pytest.raises(ScenarioError, match="unknown axis 'b'"):
        scenario_from_dict(
            {"name": "r", "base_scans": PHANTOM, "sweep": {"axes": axes}, "reference": {"b": "x"}}
        )


def test_unknown_source_and_missing_fields():
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({"name": "x", "base_scans": [{"source": "ftp"}, {"source": "folder"}]})
    text = str(info.value)
    assert "unknown source" in text and "required field 'images' is missing" in text


def test_levels_need_mappings_without_param():
    axes = [{"name": "a", "levels": {"x": 5}}]
    with pytest.raises(ScenarioError, match="each level must map parameter paths"):
        scenario_from_dict({"name": "r", "base_scans": PHANTOM, "sweep": {"axes": axes}})


def test_the_hash_follows_the_content():
    a = scenario_from_dict({"name": "h", "base_scans": PHANTOM})
    b = scenario_from_dict({"name": "h", "base_scans": PHANTOM, "seed": 0})  # the default, written
    c = scenario_from_dict({"name": "h", "base_scans": PHANTOM, "seed": 1})
    assert a.hash == b.hash != c.hash
