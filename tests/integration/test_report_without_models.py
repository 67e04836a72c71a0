"""A report reads the run folder and nothing else: with the model's module gone from disk,
sys.path and sys.modules (and loading any model made to fail), `report` still draws the
montages with prediction outlines, from the masks the run stored."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from robustbench_liver.cli.main import main
from robustbench_liver.metrics import ToleranceBelowSpacingWarning
from robustbench_liver.report import load_run
from robustbench_liver.report.cases import CaseSource
from robustbench_liver.report.montage import PRED_COLOR
from robustbench_liver.runs import work
from robustbench_liver.runs.runner import run
from robustbench_liver.runs.store import RunStore
from robustbench_liver.scenarios import load_scenario

SCENARIO = textwrap.dedent(
    """\
    name: offline
    seed: 7
    base_scans:
      - {source: phantom, count: 2, shape: [96, 88, 40], spacing: [3.0, 3.0, 4.0]}
    cases_per_condition: 2
    tumors: {level: medium}
    sweep:
      axes:
        - {name: contrast, param: tumors.delta_hu, levels: {hypo: [-70, -50], iso: [-25, -15]}}
    statistics: {resamples: 200}
    """
)
# A model in a package that exists only while the run runs ('package.module:factory').
MODEL = textwrap.dedent(
    """\
    import numpy as np

    class Card:
        name = "vanishing"
        version = "1"
        needs_liver = True

        def to_dict(self):
            return {"name": self.name, "version": self.version, "needs_liver": True}

    class Darker:
        card = Card()

        def predict(self, image, spacing, liver=None):
            out = np.zeros(image.shape, dtype=np.uint8)
            out[liver] = 1
            out[liver & (image < np.median(image[liver]) - 20)] = 2
            return out

    def make():
        return Darker()
    """
)
PACKAGE = "vanishing_models"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("offline")
    (root / PACKAGE).mkdir()
    (root / PACKAGE / "__init__.py").write_text("")
    (root / PACKAGE / "zoo.py").write_text(MODEL)
    (root / "offline.yaml").write_text(SCENARIO)
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore", ToleranceBelowSpacingWarning)  # 4 mm slices, on purpose
        mp.syspath_prepend(str(root))
        run([load_scenario(root / "offline.yaml")], [f"{PACKAGE}.zoo:make"], root / "run")
    # the model is gone: from disk, from sys.path (the context above), from sys.modules
    shutil.rmtree(root / PACKAGE)
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    work._load_model.cache_clear()  # the runner's memo would hand the model back
    return root / "run"


@pytest.fixture
def no_models(monkeypatch):
    """Loading any model fails the test, whatever path the report takes to it."""

    def refuse(spec: str):
        raise AssertionError(f"the report loaded model {spec!r}")

    monkeypatch.setattr(work, "_load_model", refuse)
    assert importlib.util.find_spec(PACKAGE) is None


def red_pixels(png: Path) -> int:
    """Pixels drawn in the prediction color (outlines; the legend holds a few)."""
    rgb = imread(png)[..., :3]
    target = np.array([int(PRED_COLOR[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(rgb - target).max(axis=-1) < 0.08).sum())


def montage_section(out: Path) -> str:
    md = (out / "report.md").read_text()
    return md[md.index("### Best and worst cases") :]


def test_the_stored_masks_are_the_ones_scored(run_dir):
    data = load_run(run_dir)
    ok = data.cases[data.cases["status"] == "ok"]
    assert len(ok) == len(data.cases) == 4
    source = CaseSource(data)
    for _, row in ok.iterrows():
        mask = RunStore(run_dir).read_prediction(row["scenario"], row["model"], row["case_id"])
        assert mask is not None and mask.dtype == bool
        truth = source.case(row["scenario"], row["case_id"]).label == 2
        total = int(mask.sum()) + int(truth.sum())
        dsc = float("nan") if total == 0 else 2 * int((mask & truth).sum()) / total
        assert dsc == pytest.approx(float(row["dsc"]), abs=1e-9, nan_ok=True)


def test_report_draws_outlines_without_the_model(run_dir, tmp_path, no_models):
    out = tmp_path / "report"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    png = out / "figures" / "offline-montage.png"
    assert png.exists()
    section = montage_section(out)
    assert "(figures/offline-montage.png)" in section
    for missing in ("outline", "re-run", "skipped", "no scored case"):
        assert missing not in section

    # the same run without its stored masks: the report says so, and draws less red
    older = tmp_path / "older-run"
    shutil.copytree(run_dir, older, ignore=shutil.ignore_patterns("report"))
    shutil.rmtree(older / "predictions")
    assert main(["report", str(older), "--out", str(tmp_path / "older")]) == 0
    notes = [line for line in montage_section(tmp_path / "older").splitlines() if "re-run" in line]
    assert notes and all(line.startswith("vanishing, contrast-") for line in notes), notes
    assert all("re-run to store predictions" in line for line in notes)
    assert red_pixels(png) > red_pixels(tmp_path / "older" / "figures" / "offline-montage.png")


def test_a_report_process_never_imports_model_code(run_dir, tmp_path):
    script = textwrap.dedent(
        f"""\
        import sys
        from robustbench_liver.cli.main import main
        code = main(["report", {str(run_dir)!r}, "--out", {str(tmp_path / "r")!r}])
        banned = ("robustbench_liver.runs.work", "robustbench_liver.models", "torch", {PACKAGE!r})
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in banned or m in banned
                        or m.startswith(banned[:2]))
        print(loaded)
        sys.exit(code or bool(loaded))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "r" / "figures" / "offline-montage.png").exists()


def test_report_reads_cases_from_the_cache_the_run_used(tmp_path, monkeypatch):
    """A run with a shared cache outside its folder: the report's montage cases come from
    that cache (named in the manifest), not built again, and nothing lands in RUNDIR/cache."""
    from robustbench_liver.runs.runner import RunOptions
    from robustbench_liver.scenarios import testset

    (tmp_path / "offline.yaml").write_text(SCENARIO)
    shared = tmp_path / "shared-cache"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ToleranceBelowSpacingWarning)
        run(
            [load_scenario(tmp_path / "offline.yaml")],
            ["hu-threshold"],
            tmp_path / "run",
            RunOptions(cache_dir=str(shared)),
        )
    assert any(shared.iterdir()) and not (tmp_path / "run" / "cache").exists()

    def no_building(*args, **kwargs):
        raise AssertionError("the report built a case the run had cached")

    monkeypatch.setattr(testset, "build_case", no_building)
    data = load_run(tmp_path / "run")
    case_id = str(data.cases["case_id"].iloc[0])
    case = CaseSource(data).case(str(data.cases["scenario"].iloc[0]), case_id)
    assert case.case_id == case_id
