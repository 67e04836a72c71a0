"""Your own model in a run: a 'module:factory' beside you, a factory that is no model or
raises, and a command-adapter tool (case-id file names, the stderr tail in the rows)."""

from __future__ import annotations

import importlib.util
import os
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from robustbench_liver.cli.main import main
from robustbench_liver.metrics import ToleranceBelowSpacingWarning
from robustbench_liver.runs import work
from robustbench_liver.runs.runner import RunOptions, run
from robustbench_liver.scenarios import load_scenario

pytestmark = pytest.mark.filterwarnings("ignore", category=ToleranceBelowSpacingWarning)

SCENARIO = textwrap.dedent(
    """\
    name: ownmodels
    seed: 4
    base_scans:
      - {source: phantom, count: 1, shape: [96, 80, 40], spacing: [3.0, 3.0, 4.0]}
    cases_per_condition: 2
    controls: 0.0
    tumors: {level: medium}
    sweep:
      axes:
        - {name: c, param: tumors.delta_hu, levels: {hypo: [-60, -40], iso: [-5, 5]}}
    """
)

DARK = textwrap.dedent(
    """\
    import numpy as np


    class Card:
        name = "dark-{tag}"
        version = "1"
        needs_liver = True


    class Dark:
        card = Card()

        def predict(self, image, spacing, liver=None):
            out = np.zeros(image.shape, dtype=np.uint8)
            out[liver] = 1
            out[liver & (image < np.median(image[liver]) - 30)] = 2
            return out


    def make():
        return Dark()


    def forgot_return():
        Dark()


    def broken():
        weights = None
        raise RuntimeError("no weights in " + str(weights))
    """
)


@pytest.fixture
def own_folder(tmp_path, monkeypatch, request):
    """A user's folder holding mymodels_<tag>/dark.py and a scenario, as the working folder;
    nothing on PYTHONPATH or sys.path points at it."""
    tag = request.node.name.replace("test_", "")[:20].replace("-", "_")
    package = f"mymodels_{tag}"
    folder = tmp_path / "user"
    (folder / package).mkdir(parents=True)
    (folder / package / "__init__.py").write_text("")
    (folder / package / "dark.py").write_text(DARK.replace("{tag}", tag))
    (folder / "scenario.yaml").write_text(SCENARIO)
    monkeypatch.chdir(folder)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])
    assert importlib.util.find_spec(package) is None  # not importable before the run
    work._load_model.cache_clear()
    yield folder, package
    work._load_model.cache_clear()
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


@pytest.mark.parametrize("workers", [1, 2])
def test_a_factory_beside_you_needs_no_pythonpath(own_folder, workers, capsys):
    folder, package = own_folder
    spec = f"{package}.dark:make"
    options = ["--out", "out", "--workers", str(workers), "--limit", "1"]
    code = main(["run", "scenario.yaml", "--model", spec, *options])
    text = capsys.readouterr()
    assert code == 0, text.err
    assert "2 (model, case) pairs: 0 already done, 2 run, 0 failed" in text.out
    assert len(files_under(folder / "out" / "parts")) >= 2


def test_a_factory_that_returns_no_model_is_refused_before_synthesis(
    own_folder, capsys, monkeypatch
):
    folder, package = own_folder
    monkeypatch.syspath_prepend(str(folder))  # found either way: this is about the check
    spec = f"{package}.dark:forgot_return"
    code = main(["run", "scenario.yaml", "--model", spec, "--out", "out"])
    err = capsys.readouterr().err
    assert code == 1
    assert spec in err and "None" in err and "forget to `return`" in err
    assert "predict(image_hu, spacing, liver=None)" in err and "card" in err
    assert files_under(folder / "out") == []  # no manifest, no cache, no case files
    cache = Path(os.environ["ROBUSTBENCH_LIVER_CACHE"])
    assert files_under(cache) == []


def test_a_factory_that_raises_says_where_without_a_traceback(own_folder, capsys, monkeypatch):
    folder, package = own_folder
    monkeypatch.syspath_prepend(str(folder))
    spec = f"{package}.dark:broken"
    code = main(["run", "scenario.yaml", "--model", spec, "--out", "out"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    line = DARK.splitlines().index('    raise RuntimeError("no weights in " + str(weights))') + 1
    assert f"model factory {spec!r} failed: RuntimeError: no weights in None" in err
    assert f"(at {package}/dark.py:{line}, in broken)" in err
    assert files_under(folder / "out") == []


def test_an_unknown_factory_name_suggests_the_close_one(own_folder, capsys, monkeypatch):
    folder, package = own_folder
    monkeypatch.syspath_prepend(str(folder))
    assert main(["run", "scenario.yaml", "--model", f"{package}.dark:mkae", "--out", "o"]) == 1
    assert "Did you mean 'make'?" in capsys.readouterr().err


# A command-adapter tool: writes a label map per input, logs the input file names, and
# with --fail says why at length.
TOOL = textwrap.dedent(
    """\
    import argparse, sys
    from pathlib import Path
    import nibabel as nib
    import numpy as np

    parser = argparse.ArgumentParser()
    parser.add_argument("-i", type=Path)
    parser.add_argument("-o", type=Path)
    parser.add_argument("--log", type=Path)
    parser.add_argument("--fail", action="store_true")
    args = parser.parse_args()
    if args.fail:
        for i in range(40):
            print(f"progress line {i:02d} " + "blah " * 30, file=sys.stderr)
        print("RuntimeError: the tool cannot read int16 volumes of this size", file=sys.stderr)
        sys.exit(2)
    with open(args.log, "a") as log:
        for path in sorted(args.i.glob("*.nii.gz")):
            log.write(path.name + "\\n")
            image = nib.load(path)
            out = np.zeros(image.shape, dtype=np.uint8)
            name = path.name.replace("_0000.nii.gz", ".nii.gz")
            nib.save(nib.Nifti1Image(out, image.affine), args.o / name)
    """
)


def test_command_tool_sees_case_ids_and_failures_keep_the_stderr_tail(tmp_path):
    tools = tmp_path / "tools"
    (tools / "bin").mkdir(parents=True)
    (tools / "bin" / "tool.py").write_text(TOOL)
    argv = ["{python}", "{spec_dir}/bin/tool.py", "-i", "{input_dir}", "-o", "{output_dir}"]
    argv += ["--log", "{spec_dir}/seen.txt"]
    for name, extra in (("recorder", []), ("failing", ["--fail"])):
        spec = {"adapter": "command", "argv": argv + extra, "card": {"name": name}}
        (tools / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    work._load_model.cache_clear()
    summary = run(
        [load_scenario(scenario)],
        [str(tools / "recorder.yaml"), str(tools / "failing.yaml")],
        tmp_path / "out",
        RunOptions(limit=1),  # --batch 1: one case per call
    )
    work._load_model.cache_clear()
    cases = summary.cases.set_index("model")
    assert list(cases.loc["recorder", "status"]) == ["ok", "ok"]
    seen = (tools / "seen.txt").read_text().split()
    assert sorted(seen) == sorted(f"{c}_0000.nii.gz" for c in cases.loc["recorder", "case_id"])
    for error in cases.loc["failing", "error"]:
        assert "exited with status 2 (stderr: RuntimeError: the tool cannot read" in error
        assert error.rstrip().endswith("the tool cannot read int16 volumes of this size")
        assert "progress line 39 " in error
        assert "{input_dir}" not in error and "/bin/tool.py -i /" in error
