"""Run folders that cannot lie (issue 14, item 2): model names map to distinct safe folders,
a run folder binds to its data, failed rows can be retried, and `leaderboard --verify`
checks the part files as well as the tables."""

from __future__ import annotations

import shutil
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robustbench_liver.cli.main import main
from robustbench_liver.errors import RobustBenchError
from robustbench_liver.metrics import ToleranceBelowSpacingWarning
from robustbench_liver.runs.runner import RunOptions, run
from robustbench_liver.runs.store import RunStore
from robustbench_liver.scenarios import load_scenario

SCENARIO = textwrap.dedent(
    """\
    name: folders
    seed: 3
    base_scans:
      - {source: phantom, count: 1, shape: [96, 80, 40], spacing: [3.0, 3.0, 4.0]}
    cases_per_condition: 2
    controls: 0.5
    tumors: {level: medium}
    statistics: {resamples: 200}
    """
)
FILE_SCENARIO = textwrap.dedent(
    """\
    name: onfiles
    seed: 3
    base_scans:
      - {source: folder, images: '*/ct.nii.gz', liver: '{dir}/liver.nii.gz'}
    cases_per_condition: 1
    tumors: {level: medium}
    """
)
MODELS = textwrap.dedent(
    '''\
    """Models named as the tests need (module written by tests/adversarial/test_run_folders.py)."""
    import os
    from dataclasses import dataclass
    from pathlib import Path

    import numpy as np


    @dataclass(frozen=True)
    class Card:
        name: str
        version: str = "1"
        needs_liver: bool = True

        def to_dict(self):
            return {"name": self.name, "version": self.version, "needs_liver": True}


    class Named:
        """Liver as liver, the darkest tenth of it as tumor; `shift` tells two models apart."""

        def __init__(self, name, shift=0):
            self.card = Card(name)
            self.shift = shift

        def predict(self, image, spacing, liver=None):
            out = np.zeros(image.shape, dtype=np.uint8)
            out[liver] = 1
            out[liver & (image < np.percentile(image[liver], 10 + self.shift))] = 2
            return out


    class Flaky(Named):
        """Fails while the file named by $RUN_FOLDERS_FLAKY exists."""

        def predict(self, image, spacing, liver=None):
            if Path(os.environ.get("RUN_FOLDERS_FLAKY", "/nonexistent")).exists():
                raise RuntimeError("flaky today")
            return super().predict(image, spacing, liver)


    NAMES = {NAMES}


    def __getattr__(attr):
        if attr.startswith("named_"):
            index = int(attr.removeprefix("named_"))
            return lambda: Named(NAMES[index], shift=index)
        raise AttributeError(attr)


    def flaky():
        return Flaky("flaky")


    def steady():
        return Named("steady")
    '''
)
COLLIDING = [
    ("team/unet", "team-unet"),  # slug alike
    (".", ".."),  # both were 'x'
    ("..", "x"),
    ("a b", "a-b"),
    ("../../evil", "evil"),
    ("unet:v1", "unet-v1"),
]
NAMES = sorted({n for pair in COLLIDING for n in pair} | {"UNet", "unet"})


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The scenario file, a case cache shared by the module's runs, and the models module."""
    root = tmp_path_factory.mktemp("run-folders")
    (root / "folders.yaml").write_text(SCENARIO)
    (root / "run_folders_models.py").write_text(MODELS.replace("{NAMES}", repr(NAMES)))
    mp = pytest.MonkeyPatch()
    mp.syspath_prepend(str(root))
    yield root
    mp.undo()


def _run(setup: Path, models: list[str], out: Path, **options) -> object:
    scenario = load_scenario(options.pop("scenario", setup / "folders.yaml"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ToleranceBelowSpacingWarning)  # 4 mm slices, on purpose
        cache = str(setup / "cache")
        return run([scenario], models, out, RunOptions(cache_dir=cache, **options))


def _spec(name: str) -> str:
    return f"run_folders_models:named_{NAMES.index(name)}"


# --- model names -> folders ---


@pytest.mark.parametrize("pair", COLLIDING, ids=lambda p: " vs ".join(p))
def test_names_that_slug_alike_keep_their_own_rows(setup, tmp_path, pair):
    out = tmp_path / "run"
    summary = _run(setup, [_spec(n) for n in pair], out)
    cases = summary.cases
    assert sorted(set(cases["model"])) == sorted(pair)
    assert (cases.groupby("model").size() == 2).all()  # cases_per_condition
    first, second = (cases[cases["model"] == n].sort_values("case_id") for n in pair)
    assert not np.array_equal(first["dsc"].to_numpy(), second["dsc"].to_numpy())
    files = [p for p in out.rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to(out.resolve()) for p in files)
    folders = RunStore(out).read_manifest()["folders"]["models"]
    assert set(folders) == set(pair) and len({f.casefold() for f in folders.values()}) == 2
    for name, folder in folders.items():
        rows = pd.concat(
            pd.read_parquet(p) for p in (out / "parts" / "folders" / folder).glob("*.cases.parquet")
        )
        assert set(rows["model"]) == {name}


def test_names_alike_but_for_case_are_refused(setup, tmp_path):
    """Distinct on Linux, one folder on macOS or Windows: refused before any work."""
    with pytest.raises(RobustBenchError, match="case-insensitive") as err:
        _run(setup, [_spec("UNet"), _spec("unet")], tmp_path / "run")
    assert "'UNet'" in str(err.value) and "'unet'" in str(err.value)
    assert not (tmp_path / "run" / "parts").exists()


# --- a run folder binds to its data ---


def _data_root(folder: Path, seed: int, liver_from: int | None = None) -> Path:
    from robustbench_liver.io import save_nifti
    from robustbench_liver.sources.phantom import make_phantom

    options = {"shape": (96, 80, 40), "spacing": (3.0, 3.0, 4.0)}
    scan = make_phantom(seed, **options)
    liver = make_phantom(liver_from, **options).liver if liver_from is not None else scan.liver
    save_nifti(folder / "scan" / "ct.nii.gz", scan.image, scan.affine)
    save_nifti(folder / "scan" / "liver.nii.gz", liver.astype(np.uint8), scan.affine, kind="label")
    return folder


@pytest.fixture(scope="module")
def file_run(setup, tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    (root / "onfiles.yaml").write_text(FILE_SCENARIO)
    data = _data_root(root / "a", seed=0)
    out = root / "run"
    _run(setup, ["run_folders_models:steady"], out, scenario=root / "onfiles.yaml", data_root=data)
    return root, out


@pytest.mark.parametrize(
    "change", ["another image", "another liver mask", "the same files moved"], ids=str
)
def test_rerun_on_other_data_is_refused(setup, file_run, tmp_path, change):
    root, original = file_run
    out = tmp_path / "run"
    shutil.copytree(original, out)
    if change == "the same files moved":
        data = shutil.copytree(root / "a", tmp_path / "moved")
    else:
        data = _data_root(tmp_path / "b", seed=0, liver_from=1)
        if change == "another image":
            data = _data_root(tmp_path / "b", seed=1, liver_from=0)
    models = ["run_folders_models:steady"]
    again = {"scenario": root / "onfiles.yaml", "data_root": str(data)}
    if change == "the same files moved":
        summary = _run(setup, models, out, **again)
        assert summary.skipped == summary.total > 0 and summary.done == 0
        return
    before = {p: p.read_bytes() for p in out.rglob("*.parquet")}
    with pytest.raises(RobustBenchError) as err:
        _run(setup, models, out, **again)
    text = str(err.value)
    assert "base scan 'scan'" in text and "--out" in text
    assert ("image" if change == "another image" else "liver") in text
    assert {p: p.read_bytes() for p in out.rglob("*.parquet")} == before


# --- run --retry-failed ---


def test_retry_failed_reruns_failed_rows_only(setup, tmp_path, monkeypatch, capsys):
    marker = tmp_path / "fail-now"
    marker.touch()
    monkeypatch.setenv("RUN_FOLDERS_FLAKY", str(marker))
    out = tmp_path / "run"
    argv = ["run", str(setup / "folders.yaml"), "--model", "run_folders_models:flaky"]
    argv += ["--model", "run_folders_models:steady", "--out", str(out)]
    argv += ["--cache", str(setup / "cache")]
    assert main(argv) == 3
    steady = {p: p.stat().st_mtime_ns for p in (out / "parts").rglob("steady/*.parquet")}
    marker.unlink()
    assert main(argv) == 3  # resuming alone keeps the failed rows
    capsys.readouterr()
    assert main([*argv, "--retry-failed"]) == 0
    text = capsys.readouterr().out
    assert "2 failed rows retried (model_error: 2)" in text and "2 already done, 2 run" in text
    cases = RunStore(out).tables()[0]
    assert len(cases) == 4 and set(cases["status"]) == {"ok"}
    assert {p: p.stat().st_mtime_ns for p in steady} == steady  # finished rows untouched


# --- leaderboard --verify reads the parts ---


@pytest.fixture(scope="module")
def board(setup, tmp_path_factory):
    root = tmp_path_factory.mktemp("board")
    out = root / "run"
    _run(setup, ["run_folders_models:steady"], out)
    assert main(["leaderboard", str(out), "--out", str(root / "board")]) == 0
    assert main(["leaderboard", str(out), "--out", str(root / "board"), "--verify"]) == 0
    return out, root / "board"


def _edit_cases_part(part: Path) -> None:
    row = pd.read_parquet(part)
    row["dsc"] = 0.5 if row["dsc"].iloc[0] != 0.5 else 0.25
    row.to_parquet(part, index=False)


def _edit_lesions_part(part: Path) -> None:
    rows = pd.read_parquet(part.with_name(part.name.replace(".cases.", ".lesions.")))
    rows["detected"] = ~rows["detected"].astype(bool)
    rows.to_parquet(part.with_name(part.name.replace(".cases.", ".lesions.")), index=False)


@pytest.mark.parametrize(
    "edit",
    [_edit_cases_part, _edit_lesions_part, Path.unlink],
    ids=["a score in a case part", "a lesion part", "a part deleted"],
)
def test_verify_names_an_edited_part(board, tmp_path, capsys, edit):
    original, leaderboard = board
    out = tmp_path / "run"
    shutil.copytree(original, out)
    part = next(
        p
        for p in sorted((out / "parts").rglob("*.cases.parquet"))
        if len(pd.read_parquet(p.with_name(p.name.replace(".cases.", ".lesions."))))
    )
    edit(part)
    capsys.readouterr()
    assert main(["leaderboard", str(out), "--out", str(leaderboard), "--verify"]) == 1
    err = capsys.readouterr().err
    named = part if edit is not _edit_lesions_part else part.name.replace(".cases.", ".lesions.")
    assert Path(named).name in err


def test_a_pair_left_without_a_row_fails_the_run(setup, tmp_path, monkeypatch):
    """Whatever loses a row (a worker killed mid-write, a name clash), the run says so."""
    import robustbench_liver.runs.runner as runner

    monkeypatch.setattr(runner, "executor", lambda *args: lambda units: iter(()))
    summary = _run(setup, [_spec("x")], tmp_path / "run")
    assert [f["status"] for f in summary.failed] == ["no_row", "no_row"]
    assert "no row was written" in summary.failed[0]["error"]


def test_a_run_folder_of_another_generator_version_is_refused(setup, tmp_path, monkeypatch):
    """Same scenario, same seeds, but a newer tumor generator makes other cases: resuming
    would mix rows of both, so it is refused (and old folders count as version 1)."""
    from robustbench_liver.runs import binding

    out = tmp_path / "run"
    _run(setup, ["run_folders_models:steady"], out, limit=1)
    assert RunStore(out).read_manifest()["scenarios"]["folders"]["generators"] == (
        binding.generators()
    )
    monkeypatch.setattr(binding, "generators", lambda: {"tumors": "99", "phantom": "1"})
    with pytest.raises(RobustBenchError, match="made by generators") as err:
        _run(setup, ["run_folders_models:steady"], out, limit=1)
    assert "'99'" in str(err.value) and "--out" in str(err.value)
