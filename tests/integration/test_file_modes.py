"""Files of a run, its report and a synthesized test set get the usual mode, 0666 & ~umask,
so colleagues on a shared disk can read them (issue 15.11: atomic writes used to stay 0600)."""

from __future__ import annotations

import os
import stat
import textwrap
import warnings
from pathlib import Path

import pytest

from robustbench_liver.cli.main import main
from robustbench_liver.metrics import ToleranceBelowSpacingWarning
from robustbench_liver.runs.runner import RunOptions, run
from robustbench_liver.scenarios import load_scenario

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SCENARIO = textwrap.dedent(
    """\
    name: modes
    seed: 3
    base_scans:
      - {source: phantom, count: 1, shape: [96, 96, 40], spacing: [3.0, 3.0, 4.0]}
    cases_per_condition: 2
    controls: 0.5
    tumors: {level: medium}
    sweep:
      axes:
        - {name: c, param: tumors.delta_hu, levels: {hypo: [-60, -40], iso: [-5, 5]}}
    statistics: {resamples: 200}
    """
)


def modes(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode)
        for p in root.rglob("*")
        if p.is_file()
    }


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_run_report_and_synth_files_follow_the_umask(tmp_path, monkeypatch, umask):
    scenario = tmp_path / "modes.yaml"
    scenario.write_text(SCENARIO)
    monkeypatch.syspath_prepend(str(FIXTURES))
    old = os.umask(umask)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ToleranceBelowSpacingWarning)  # 4 mm slices
            run([load_scenario(scenario)], ["fake_models:Oracle"], tmp_path / "run", RunOptions())
        assert main(["report", str(tmp_path / "run"), "--no-montages"]) == 0
        synth = ["synth", str(scenario), "--out", str(tmp_path / "set")]
        assert main([*synth, "--cache", str(tmp_path / "synth-cache")]) == 0
    finally:
        os.umask(old)
    found = {name: modes(tmp_path / name) for name in ("run", "set", "synth-cache")}
    kinds = {Path(n).suffix for files in found.values() for n in files}
    assert {".json", ".parquet", ".npz", ".md", ".html", ".png", ".gz", ".csv"} <= kinds
    assert any(n.startswith("cache/") for n in found["run"])  # the run's case cache
    assert any(n.startswith("predictions/") for n in found["run"])
    assert any(n.startswith("report/") for n in found["run"])
    assert found["synth-cache"]
    wrong = {
        f"{root}/{name}": oct(mode)
        for root, files in found.items()
        for name, mode in files.items()
        if mode != 0o666 & ~umask
    }
    assert not wrong, f"expected {oct(0o666 & ~umask)}"
