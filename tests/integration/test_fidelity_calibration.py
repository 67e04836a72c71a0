"""`robustbench-liver fidelity --model` on the one real scan with real tumor labels
(lits-tiny): the calibration runs end to end and writes its table, plot and file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from robustbench_liver.cli.main import main
from robustbench_liver.fidelity.calibration_file import FIGURE, FILES

QUICKSTART = Path(__file__).resolve().parents[2] / "scenarios" / "quickstart.yaml"


def test_calibration_with_hu_threshold_on_real_tumors(shared_data, tmp_path, capsys):
    args = ["fidelity", "--real", str(shared_data / "lits-tiny"), "--tumors", str(QUICKSTART)]
    args += ["--model", "hu-threshold", "--per-lesion", "2", "--seed", "0"]
    args += ["--resamples", "200", "--classifier-resamples", "50", "--out", str(tmp_path)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "calibration, lits-tiny vs scenario quickstart" in printed
    assert "hu-threshold: local DSC" in printed
    for name in (*FILES, f"figures/{FIGURE}"):
        assert (tmp_path / name).is_file(), name
    cases = pd.read_csv(tmp_path / "calibration-cases.csv")
    assert sorted(cases["case_id"]) == ["lits-tiny", "lits-tiny~twin0", "lits-tiny~twin1"]
    assert set(cases["status"]) == {"ok"}
    lesions = pd.read_csv(tmp_path / "calibration-lesions.csv")
    real = lesions[lesions["set"] == "real"]
    # the 4 lesions of at least two 5.3 mm voxels across, each with a twin per twin case
    assert sorted(real["match"]) == ["lits-tiny#4", "lits-tiny#6", "lits-tiny#7", "lits-tiny#9"]
    assert (lesions["set"] == "synthetic").sum() == 8
    document = json.loads((tmp_path / "calibration.json").read_text())
    hu = document["models"]["hu-threshold"]
    assert hu["card"]["name"] == "hu-threshold" and hu["version"] == "1"
    dsc = hu["metrics"]["dsc"]
    assert dsc["gap"]["ci_method"] == "no CI: 1 real scan, needs at least 2"  # trust rules
    assert dsc["real"]["estimate"] == cases.loc[cases["set"] == "real", "dsc"].iloc[0]
    text = (tmp_path / "fidelity.md").read_text()
    assert "## Calibration: models on real and on synthetic tumors" in text
    assert f"figures/{FIGURE}" in text and "| hu-threshold | local DSC |" in text
    assert 'data-table="calibration"' in (tmp_path / "fidelity.html").read_text()
