"""Issue 15, item 8: every problem at once, library `extends:`, and the parameter reference."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from robustbench_liver.cli.validate import params_text
from robustbench_liver.errors import ScenarioError
from robustbench_liver.scenarios import PARAMS, load_scenario
from robustbench_liver.scenarios.conditions import base_scan_parameters, parameters
from robustbench_liver.scenarios.yaml_source import library_dir

SHIPPED = Path(__file__).parents[3] / "scenarios"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def problems(path: Path) -> dict[str, tuple[int | None, str]]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return {field: (line, message) for field, line, message in info.value.problems}


# --- c. every problem at once, under the field the user wrote ---


def test_problems_of_every_stage_are_reported_together(tmp_path):
    path = write(
        tmp_path,
        "s.yaml",
        """
        name: a
        seed: 1
        seed: 2
        colour: red
        base_scans: [{source: phantom, count: 0}]
        tumors: {level: small, delta_hu: [10, -10], vessel_source: sometimes}
        image: {noise_std_hu: -5, blur: 1}
        sweep:
          axes:
            - name: bad name
              levels: {x: {tumors.delta_hu: [-50, -30]}}
            - name: contrast
              param: tumors.delta_hu
              levels: {hypo: [-60, -40], up: [40, 20]}
            - name: size
              levels:
                neg: {tumors.radius_mm: [-2, 3], tumors.texture_blurr_mm: [1, 2]}
        """,
    )
    found = problems(path)
    expected = {
        "seed": "duplicate key",  # YAML stage
        "colour": "unknown field",  # schema stage
        "base_scans[0].count": "greater than or equal to 1",
        "sweep.axes[0].name": "axis name 'bad name'",
        "tumors.delta_hu": "low 10 is above high -10",  # tumor model: both fields
        "tumors.vessel_source": "unknown value 'sometimes'",
        "image.noise_std_hu": "must be a number in [0.0, 500.0]",  # image: both fields
        "image.blur": "unknown image parameter",
        "sweep.axes[1].levels.up": "low 40 is above high 20",  # levels checked on a bad base
        "sweep.axes[2].levels.neg.tumors.radius_mm": "radius_mm: must lie within [0.5, 200]",
        "sweep.axes[2].levels.neg.tumors.texture_blurr_mm": "Did you mean 'tumors.texture_blur_mm'",
    }
    for field, words in expected.items():
        assert field in found, f"{field} missing from {sorted(found)}"
        assert words in found[field][1], (field, found[field])
    assert found["seed"][0] == 3 and found["sweep.axes[2].levels.neg.tumors.radius_mm"][0] == 17


def test_reference_is_checked_even_when_a_level_is_bad(tmp_path):
    path = write(
        tmp_path,
        "s.yaml",
        """
        name: a
        base_scans: [{source: phantom}]
        sweep:
          axes:
            - name: contrast
              param: tumors.delta_hu
              levels: {hypo: [-60, -40], up: [40, 20]}
        reference: {contrast: extreme}
        """,
    )
    found = problems(path)
    assert "low 40 is above high 20" in found["sweep.axes[0].levels.up"][1]
    assert "unknown level 'extreme'" in found["reference.contrast"][1]


@pytest.mark.parametrize(
    "radius, words", [("[-2, 3]", "must lie within"), ("[5, 3]", "low 5 is above high 3")]
)
def test_a_bad_radius_is_reported_as_radius_mm(tmp_path, radius, words):
    path = write(
        tmp_path,
        "s.yaml",
        f"""
        name: a
        base_scans: [{{source: phantom}}]
        tumors: {{radius_mm: {radius}, count: [1, 2]}}
        """,
    )
    found = problems(path)
    assert list(found) == ["tumors.radius_mm"]
    assert found["tumors.radius_mm"][1].startswith("radius_mm: ") and words in str(found)
    assert "semi_axes_mm" not in str(found)


# --- b. `extends:` naming the shipped library ---


def test_a_copied_scenario_extends_the_shipped_library(tmp_path):
    text = (SHIPPED / "size.yaml").read_text(encoding="utf-8")
    copy = write(tmp_path, "size.yaml", text)
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(copy)
    copy.write_text(text.replace("extends: _defaults.yaml", "extends: robustbench-liver:_defaults"))
    mine = load_scenario(copy)
    shipped = load_scenario(SHIPPED / "size.yaml")
    assert mine.hash == shipped.hash and len(mine.conditions) == 7
    assert library_dir() == SHIPPED.resolve()


def test_library_files_may_extend_each_other(tmp_path):
    path = write(tmp_path, "s.yaml", "extends: robustbench-liver:size.yaml\nname: mine\n")
    assert load_scenario(path).spec.base_scans[0].count == 60  # via size -> _defaults


@pytest.mark.parametrize(
    "ref, words",
    [
        ("robustbench-liver:../pyproject", "no folders"),
        ("robustbench-liver:sub/_defaults", "no folders"),
        ("robustbench-liver:/etc/passwd", "no folders"),
        ("robustbench-liver:sizes", "no sizes.yaml in the shipped library"),
    ],
)
def test_library_references_cannot_leave_the_library(tmp_path, ref, words):
    path = write(tmp_path, "s.yaml", f"extends: '{ref}'\nname: a\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.problems[0][0] == "extends" and words in str(info.value)
    if "sizes" in ref:
        assert "size" in str(info.value) and "_defaults" in str(info.value)  # lists the library


# --- a. the parameter reference ---


def test_parameters_cover_every_path_from_one_source():
    rows = parameters()
    assert {r.path for r in rows} == PARAMS
    regions = next(r for r in rows if r.path == "tumors.regions")
    assert "right-superior" in regions.allowed and "left" in regions.allowed
    delta = next(r for r in rows if r.path == "tumors.delta_hu")
    assert (delta.type, delta.unit, delta.default) == ("[low, high] float", "HU", "[-45.0, -12.0]")
    level = next(r for r in rows if r.path == "tumors.level")
    assert level.allowed == "tiny, small, medium, large, mix"


def test_params_text_shows_types_defaults_and_base_scan_knobs():
    text = params_text()
    for path in PARAMS:
        assert f"  {path}: " in text
    assert "tumors.if_no_place: str; default skip; allowed skip, overlap, error" in text
    knobs = {r.path.split(".", 1)[1]: r for r in base_scan_parameters() if "phantom" in r.path}
    assert set(knobs) == {"count", "first_seed", "shape", "spacing", "noise_std", "liver_volume_ml"}
    assert knobs["first_seed"].allowed == ">= 0" and "apart" in knobs["first_seed"].doc
    assert knobs["spacing"].unit == "mm" and knobs["noise_std"].unit == "HU"
    assert "base_scans[source=phantom].first_seed: int; default 0" in text
