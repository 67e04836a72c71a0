"""`liver_from:` end to end on a real scan whose label map is withheld: a small command-line
tool (tests/fixtures/liver_tool.py, through the command adapter) finds the liver in the CT,
`run` scores cases built on it, the mask is made once (a second command reads the cache),
and a mask that looks wrong is refused with the scan named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tests" / "fixtures" / "liver_tool.py"
CLI = [sys.executable, "-m", "robustbench_liver"]


def scenario_with_tool(folder: Path, mode: str = "liver") -> Path:
    """scenario.yaml and models/liver-tool.yaml beside it; the tool counts its runs."""
    (folder / "models").mkdir(parents=True)
    argv = ["{python}", str(TOOL), "-i", "{input_dir}", "-o", "{output_dir}"]
    argv += ["--count", str(folder / "runs.txt"), "--mode", mode]
    spec = {"adapter": "command", "argv": argv, "card": {"name": f"liver-{mode}", "version": "1"}}
    (folder / "models" / "liver-tool.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    scenario = {
        "name": "liver-from-model",
        "seed": 3,
        "base_scans": [
            {
                "source": "folder",
                "images": "totalseg-small/ct.nii.gz",  # its labels.nii.gz is not named
                "liver_from": {"model": "models/liver-tool.yaml", "label": 1},
            }
        ],
        "tumors": {"level": "medium"},
        "tumor_cases": 2,
        "control_cases": 1,
    }
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    return path


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_run_scores_cases_on_a_models_liver_made_once(tmp_path, shared_data):
    scenario = scenario_with_tool(tmp_path)
    done = cli(
        "run", str(scenario), "--model", "hu-threshold", "--out", "run",
        "--data-root", str(shared_data), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    cases = pd.read_parquet(tmp_path / "run" / "cases.parquet")
    assert len(cases) == 3 and set(cases["status"]) == {"ok"}
    assert cases["dsc"].notna().sum() == 2  # the two tumor cases are scored
    runs = (tmp_path / "runs.txt").read_text().splitlines()
    assert runs == ["['totalseg-small_0000.nii.gz']"]  # the CT alone: no label map handed over

    # synth builds the same cases afresh (its own output folder): the mask comes from the cache
    done = cli("synth", str(scenario), "--out", "ts", "--data-root", str(shared_data), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "runs.txt").read_text().splitlines()) == 1
    # the cases' liver is the tool's, found in the image, not the withheld label map
    label = next((tmp_path / "ts" / "labelsTs").glob("*__c000.nii.gz"))
    liver = np.asarray(nib.load(label).dataobj) >= 1
    truth = np.asarray(nib.load(shared_data / "totalseg-small" / "labels.nii.gz").dataobj) == 5
    dsc = 2 * (liver & truth).sum() / (liver.sum() + truth.sum())
    assert 0.8 < dsc < 0.95, dsc  # measured 0.88: close to the labelled liver, not a copy


def test_a_wrong_mask_is_refused_with_the_scan_named(tmp_path, shared_data):
    scenario = scenario_with_tool(tmp_path, mode="body")
    done = cli("synth", str(scenario), "--out", "ts", "--data-root", str(shared_data), cwd=tmp_path)
    assert done.returncode != 0
    assert "scan totalseg-small: the liver mask from model 'liver-body' looks wrong" in done.stderr
    assert "(the scan cuts the liver), outside 0.05-3.5 l" in done.stderr
    # a second try refuses the cached output without running the tool again
    cli("synth", str(scenario), "--out", "ts", "--data-root", str(shared_data), cwd=tmp_path)
    assert len((tmp_path / "runs.txt").read_text().splitlines()) == 1
