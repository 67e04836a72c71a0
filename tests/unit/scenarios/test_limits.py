"""The scenario reader's limits sit where they say (a value under each passes, one over is
refused), and the hints name the fix."""

from __future__ import annotations

import textwrap

import pytest

from robustbench_liver.errors import ScenarioError
from robustbench_liver.scenarios import load_scenario, scenario_from_dict
from robustbench_liver.scenarios.load import (
    MAX_CASES,
    MAX_CONDITIONS,
    _unit_free,
    count_conditions,
)
from robustbench_liver.scenarios.yaml_source import (
    MAX_DEPTH,
    MAX_EXTENDS,
    MAX_VALUES,
    read_yaml,
)

HEAD = "name: s\nbase_scans: [{source: phantom}]\n"


def write(folder, name, text):
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def nested(depth: int) -> str:
    """`description:` holding lists nested so the document is `depth` values deep."""
    inner = depth - 2  # the document mapping and the description's own list
    return HEAD + "description: " + "[" * (inner + 1) + "]" * (inner + 1) + "\n"


def test_nesting_up_to_the_cap_reads_and_one_more_is_refused(tmp_path):
    assert read_yaml(write(tmp_path, "ok.yaml", nested(MAX_DEPTH))).data["name"] == "s"
    with pytest.raises(ScenarioError, match=rf"bad\.yaml:3: values nested more than {MAX_DEPTH}"):
        read_yaml(write(tmp_path, "bad.yaml", nested(MAX_DEPTH + 1)))


def aliases(total: int) -> str:
    """A document of exactly `total` values once its aliases are expanded: HEAD holds 8, the
    anchor's key and value 2, `x` and its list 2, and each alias 1."""
    return HEAD + "a: &a 1\nx: [" + ", ".join(["*a"] * (total - 12)) + "]\n"


def test_alias_expansion_is_counted_up_to_the_cap(tmp_path):
    assert read_yaml(write(tmp_path, "ok.yaml", aliases(MAX_VALUES)))
    with pytest.raises(ScenarioError, match=f"more than {MAX_VALUES:,} values"):
        read_yaml(write(tmp_path, "bad.yaml", aliases(MAX_VALUES + 1)))


def test_an_alias_counts_what_it_points_to(tmp_path):
    # 4 lists of 3,000 values: each alias adds 3,001, so the third alias passes the cap
    body = HEAD + "a: &a [" + ", ".join(["1"] * 3000) + "]\nb: [*a, *a, *a]\n"
    with pytest.raises(ScenarioError, match=r"s\.yaml:4: more than"):
        read_yaml(write(tmp_path, "s.yaml", body))


def test_extends_chains_up_to_the_cap(tmp_path):
    def chain(n: int, folder):
        folder.mkdir()
        for i in range(n):
            text = f"extends: f{i + 1}.yaml\n" if i < n - 1 else HEAD
            (folder / f"f{i}.yaml").write_text(text)
        return folder / "f0.yaml"

    assert read_yaml(chain(MAX_EXTENDS, tmp_path / "ok")).data["name"] == "s"
    with pytest.raises(ScenarioError, match=f"longer than {MAX_EXTENDS}"):
        read_yaml(chain(MAX_EXTENDS + 1, tmp_path / "bad"))


def sweep(axes: int, levels: int) -> str:
    rows = "".join(
        f"    - {{name: a{a}, param: tumors.delta_hu, levels: {{"
        + ", ".join(f"l{k}: [-{k + 20}, -10]" for k in range(levels))
        + "}}\n"
        for a in range(axes)
    )
    return HEAD + "sweep:\n  axes:\n" + rows


def test_the_sweep_cap_is_counted_before_building_and_can_be_raised(tmp_path):
    path = write(tmp_path, "s.yaml", sweep(2, 17))  # 289 conditions
    with pytest.raises(ScenarioError, match=f"makes 289 conditions .* cap of {MAX_CONDITIONS}"):
        load_scenario(path)
    assert len(load_scenario(path, max_conditions=289).conditions) == 289
    assert len(load_scenario(path, max_conditions=None).conditions) == 289


def test_count_conditions_without_building_them():
    axes = [("a", ["x"] * 10)] * 9
    assert count_conditions(axes, "grid") == 10**9
    assert count_conditions(axes, "zip") == 10
    assert count_conditions([], "grid") == 1


def test_scenarios_from_run_folders_are_not_capped():
    """A run made with --max-conditions is reported on without the flag."""
    data = {
        "name": "s",
        "base_scans": [{"source": "phantom"}],
        "tumor_cases": 1,
        "sweep": {
            "axes": [
                {"name": f"a{a}", "param": "tumors.delta_hu",
                 "levels": {f"l{k}": [-20 - k, -10] for k in range(17)}}
                for a in range(2)
            ]
        },
    }  # fmt: skip
    assert len(scenario_from_dict(data).conditions) == 289


def test_too_many_cases_in_all_are_refused(tmp_path):
    n = MAX_CASES // 100_000 + 1  # tumor_cases is at most 100,000 a condition
    path = write(tmp_path, "s.yaml", sweep(1, n) + "tumor_cases: 100000\n")
    with pytest.raises(ScenarioError, match=rf"tumor_cases: {n} conditions x 100,000 cases"):
        load_scenario(path)


def test_names_that_would_be_too_long_for_file_names(tmp_path):
    level = "x" * 65
    path = write(
        tmp_path, "s.yaml", HEAD + f"sweep: {{axes: [{{name: a, levels: {{{level}: {{}}}}}}]}}\n"
    )
    with pytest.raises(ScenarioError, match="is 65 characters; at most 64"):
        load_scenario(path)


@pytest.mark.parametrize(
    "value, plain",
    [
        ("5mm", (5, True)),
        (["5mm", "1cm"], ([5, 10], True)),
        ("0.5 cm", (5, True)),
        ("-60HU", (-60, False)),
        (["1.5mm", 1.5, 2.5], ([1.5, 1.5, 2.5], True)),
        ("five", None),
        (5, None),
        ([1, 2], None),
    ],
)
def test_units_are_read_off_for_the_hint(value, plain):
    assert _unit_free(value) == plain


def test_boolean_and_number_keys_say_to_quote_them(tmp_path):
    body = HEAD + "sweep: {axes: [{name: a, param: tumors.delta_hu, levels: {yes: -5, 3: -9}}]}\n"
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, "s.yaml", body))
    text = str(caught.value)
    assert (
        "YAML reads the unquoted key yes as the boolean true" in text and "quote it: 'yes'" in text
    )
    assert "as the number 3" in text and "quote it: '3'" in text
    assert "valid string" not in text  # the schema's own message about the same keys is left out


def test_a_boolean_value_where_a_name_belongs_gets_the_hint(tmp_path):
    body = HEAD + "metrics: {lesion_match: on}\n"
    with pytest.raises(ScenarioError, match=r"metrics\.lesion_match: .*quote it: 'on'"):
        load_scenario(write(tmp_path, "s.yaml", body))


def test_a_boolean_where_booleans_belong_is_fine(tmp_path):
    body = HEAD + "tumors: {vessels: off, rotate: yes}\n"
    scenario = load_scenario(write(tmp_path, "s.yaml", body))
    assert scenario.conditions[0].tumors.vessels is False
