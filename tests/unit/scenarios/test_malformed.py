"""A corpus of broken scenarios, each with the file, line, field and message it must give."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustbench_liver.errors import ScenarioError
from robustbench_liver.scenarios import base_scans, load_scenario

CORPUS = Path(__file__).parent / "malformed"

# file, line, field (dotted), words the message must hold
EXPECTED = [
    ("01_syntax_error.yaml", 4, "", "not valid YAML"),
    ("02_tab_indentation.yaml", 3, "", "not valid YAML"),
    ("03_unknown_key.yaml", 2, "sed", "Did you mean 'seed'"),
    ("04_wrong_type.yaml", 3, "cases_per_condition", "valid integer"),
    ("05_inverted_range.yaml", 5, "tumors.delta_hu", "low 10 is above high -10"),
    # reported under the field the user wrote, not the size class it becomes
    (
        "06_negative_radius.yaml",
        7,
        "sweep.axes[0].levels.neg.tumors.radius_mm",
        "radius_mm: must lie within [0.5, 200]",
    ),
    ("07_unknown_param.yaml", 6, "sweep.axes[0].param", "Did you mean 'tumors.delta_hu'"),
    ("08_empty_sweep.yaml", 4, "sweep.axes", "no axes"),
    ("09_duplicate_level.yaml", 9, "sweep.axes[0].levels.hypo", "duplicate key"),
    # the cycle is reported where it closes: in the file that extends back
    (
        "10_cycle_b.yaml",
        1,
        "extends",
        "cycle: 10_cycle_b.yaml -> 10_cycle_a.yaml -> 10_cycle_b.yaml",
    ),
    ("lib/deeper/11_extends_escape.yaml", 2, "extends", "leaves the scenario folder"),
    ("13_zero_cases.yaml", 3, "cases_per_condition", "greater than or equal to 1"),
    (
        "14_unknown_source.yaml",
        3,
        "base_scans[0]",
        "unknown source; use one of folder, msd, phantom",
    ),
    ("15_unknown_level.yaml", 3, "tumors", "unknown level 'huge'"),
    ("16_all_controls.yaml", 3, "controls", "less than 1"),
    ("17_bad_reference.yaml", 8, "reference.contrast", "unknown level 'extreme'"),
    ("18_unknown_image_param.yaml", 4, "image.noise", "Did you mean 'noise_std_hu'"),
    ("19_bad_axis_name.yaml", 5, "sweep.axes[0].name", "axis name 'my axis'"),
    ("20_level_not_mapping.yaml", 6, "sweep.axes[0].levels.x", "each level must map"),
    ("21_no_base_scans.yaml", 1, "", "required field 'base_scans' is missing"),
    ("22_bad_bins.yaml", 4, "metrics.radius_bins_mm", "must start at 0"),
    ("23_duplicate_key.yaml", 3, "name", "duplicate key"),
    ("24_zip_mismatch.yaml", 4, "sweep.combine", "same number of levels"),
    ("25_absolute_extends.yaml", 1, "extends", "must be a relative path"),
    ("26_negative_noise.yaml", 3, "image.noise_std_hu", "must be a number in [0.0, 500.0]"),
    ("27_folder_without_mask.yaml", 3, "base_scans[0]", "give `labels`"),
    ("28_negative_count.yaml", 4, "base_scans[0].count", "greater than or equal to 1"),
]


def test_the_corpus_is_large_and_fully_covered():
    files = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.yaml")}
    assert len(EXPECTED) >= 20
    helpers = {"10_cycle_a.yaml", "outside.yaml", "12_missing_folder.yaml"}
    assert files - helpers == {name for name, *_ in EXPECTED}


@pytest.mark.parametrize("name, line, field, words", EXPECTED, ids=[e[0] for e in EXPECTED])
def test_broken_scenario_gives_its_message(name, line, field, words):
    path = CORPUS / name
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    culprit = "10_cycle_a.yaml" if name == "10_cycle_b.yaml" else path.name
    assert err.file is not None and err.file.name == culprit
    matching = [p for p in err.problems if p[0] == field and words in p[2]]
    assert matching, f"no problem with field {field!r} and {words!r} in:\n{err}"
    assert matching[0][1] == line
    assert f"{culprit}:{line}: " in str(err)


def test_missing_base_scan_folder_names_the_source(tmp_path):
    scenario = load_scenario(CORPUS / "12_missing_folder.yaml")
    with pytest.raises(ScenarioError) as info:
        base_scans(scenario, tmp_path)
    assert "base_scans[0]" in str(info.value) and "no image matches 'nowhere/*/ct.nii.gz'" in str(
        info.value
    )
