"""YAML reading: lines for every field, duplicate keys, `extends:` merging and its limits."""

from __future__ import annotations

import pytest

from robustbench_liver.errors import ScenarioError
from robustbench_liver.scenarios.yaml_source import dotted, read_yaml


def write(folder, name, text):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_lines_are_recorded_for_nested_fields(tmp_path):
    path = write(
        tmp_path, "s.yaml", "name: a\nsweep:\n  axes:\n    - name: x\n      levels: {a: 1}\n"
    )
    located = read_yaml(path)
    assert located.where(("sweep", "axes", 0, "name")) == (path.resolve(), 4)
    assert located.where(("sweep", "axes", 0, "levels", "a")) == (path.resolve(), 5)
    assert located.where(("sweep", "nothing", "here"))[1] == 2  # nearest written ancestor


def test_duplicate_keys_are_refused(tmp_path):
    path = write(tmp_path, "s.yaml", "name: a\nseed: 1\nseed: 2\n")
    with pytest.raises(ScenarioError, match=r"s\.yaml:3: seed: duplicate key"):
        read_yaml(path)


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "s.yaml", "name: a\nbase_scans: [\n  oops: : x\n")
    with pytest.raises(ScenarioError, match=r"s\.yaml:\d+: not valid YAML"):
        read_yaml(path)


@pytest.mark.parametrize("text, message", [("", "empty"), ("- a\n- b\n", "mapping")])
def test_empty_or_list_files(tmp_path, text, message):
    with pytest.raises(ScenarioError, match=message):
        read_yaml(write(tmp_path, "s.yaml", text))


def test_extends_merges_deeply_and_keeps_the_lines_of_each_file(tmp_path):
    base = write(
        tmp_path,
        "base.yaml",
        "name: base\nseed: 1\nmetrics:\n  nsd_tolerance_mm: 2\n  min_volume_mm3: 5\n",
    )
    child = write(
        tmp_path, "child.yaml", "extends: base.yaml\nname: child\nmetrics:\n  min_volume_mm3: 9\n"
    )
    located = read_yaml(child)
    assert located.data == {
        "name": "child",
        "seed": 1,
        "metrics": {"nsd_tolerance_mm": 2, "min_volume_mm3": 9},
    }
    assert located.where(("metrics", "min_volume_mm3")) == (child.resolve(), 4)
    assert located.where(("metrics", "nsd_tolerance_mm")) == (base.resolve(), 4)
    assert located.where(("seed",)) == (base.resolve(), 2)
    assert located.files == (child.resolve(), base.resolve())


def test_extends_replaces_lists_whole(tmp_path):
    write(tmp_path, "base.yaml", "name: b\nbase_scans: [{source: phantom, count: 3}]\n")
    child = write(tmp_path, "c.yaml", "extends: base.yaml\nbase_scans: [{source: phantom}]\n")
    assert read_yaml(child).data["base_scans"] == [{"source": "phantom"}]


def test_extends_cycle(tmp_path):
    write(tmp_path, "a.yaml", "extends: b.yaml\nname: a\n")
    b = write(tmp_path, "b.yaml", "extends: a.yaml\nname: b\n")
    with pytest.raises(ScenarioError, match=r"cycle: b\.yaml -> a\.yaml -> b\.yaml"):
        read_yaml(b)


def test_extends_cannot_leave_the_root(tmp_path):
    write(tmp_path, "outside.yaml", "name: o\n")
    inner = write(tmp_path, "lib/s.yaml", "extends: ../outside.yaml\nname: s\n")
    with pytest.raises(ScenarioError, match="leaves the scenario folder"):
        read_yaml(inner)
    # allowed when the root is the parent folder
    assert read_yaml(inner, root=tmp_path).data["name"] == "s"


def test_extends_must_be_relative_and_existing(tmp_path):
    absolute = write(tmp_path, "abs.yaml", f"extends: {tmp_path / 'x.yaml'}\nname: s\n")
    with pytest.raises(ScenarioError, match="relative path"):
        read_yaml(absolute)
    missing = write(tmp_path, "m.yaml", "extends: nowhere.yaml\nname: s\n")
    with pytest.raises(ScenarioError, match="file not found"):
        read_yaml(missing)


def test_dotted_paths():
    assert dotted(("sweep", "axes", 0, "levels", "r5")) == "sweep.axes[0].levels.r5"
    assert dotted(()) == ""
