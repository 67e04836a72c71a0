"""`robustbench-liver fidelity` on the one real scan with real tumor labels (lits-tiny)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from robustbench_liver.cli.main import main
from robustbench_liver.fidelity.report import FILES

QUICKSTART = Path(__file__).resolve().parents[2] / "scenarios" / "quickstart.yaml"


def fidelity(real: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "fidelity",
            "--real",
            str(real),
            "--tumors",
            str(QUICKSTART),
            "--per-lesion",
            "4",
            "--seed",
            "0",
            "--resamples",
            "200",
            "--classifier-resamples",
            "50",
            "--out",
            str(out),
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def report(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("fidelity")
    assert fidelity(shared_data / "lits-tiny", out) == 0
    return out


def test_writes_every_file(report):
    for name in FILES:
        assert (report / name).is_file(), name


def test_lesion_rows_name_the_real_data_and_the_tumor_model(report):
    table = pd.read_csv(report / "lesions.csv")
    assert set(table["real_data"]) == {"lits-tiny"}
    assert set(table["tumor_model"]) == {"scenario quickstart, condition size-medium"}
    real = table[table["set"] == "real"]
    # 9 lesions (26-connected), 4 with a diameter of at least two 5.3 mm voxels
    assert sorted(real["match"]) == ["lits-tiny#4", "lits-tiny#6", "lits-tiny#7", "lits-tiny#9"]
    assert (table["set"] == "synthetic").sum() == 16
    assert (real["contrast_hu"] < 0).all()  # the LiTS tumors are hypo-attenuating here
    assert pd.read_parquet(report / "lesions.parquet").shape == table.shape


def test_the_classifier_auc_has_a_ci(report):
    result = json.loads((report / "classifier.json").read_text())
    assert result["n_real"] == 4 and result["n_synthetic"] == 16
    assert 0.0 <= result["ci_low"] <= result["auc"] <= result["ci_high"] <= 1.0
    assert result["cluster_unit"] == "real lesion"  # one scan: lesions are the units


def test_the_report_holds_the_tables_and_the_plot(report):
    text = (report / "fidelity.md").read_text()
    for expected in (
        "Classifier two-sample test",
        "AUC (95% CI)",
        "contrast vs parenchyma",
        "figures/fidelity-features.png",
        "too small",
        "lits-tiny",
    ):
        assert expected in text
    page = (report / "fidelity.html").read_text()
    assert 'data-table="distances"' in page and "data:image/png;base64," in page
    distances = pd.read_csv(report / "distances.csv")
    assert {"contrast_hu", "edge_rise_mm", "sphericity"} <= set(distances["feature"])


def test_too_few_real_lesions_get_no_auc(shared_data, tmp_path, capsys):
    assert fidelity(shared_data / "lits-tiny", tmp_path, "--min-diameter-voxels", "3") == 0
    out = capsys.readouterr().out
    assert "2 real" in out and "cannot be estimated" in out
    assert json.loads((tmp_path / "classifier.json").read_text())["auc"] is None


def test_a_wrong_tumor_label_is_a_clear_error(shared_data, tmp_path, capsys):
    assert fidelity(shared_data / "lits-tiny", tmp_path, "--tumor-label", "7") == 1
    err = capsys.readouterr().err
    assert "tumor label 7" in err and "[0, 1, 2]" in err


def test_synthetic_tumors_can_go_into_healthy_base_scans(shared_data, tmp_path):
    base = QUICKSTART.parent / "real_scans.yaml"  # totalseg-full, a healthy liver
    args = ["--base", str(base), "--data-root", str(shared_data), "--min-diameter-voxels", "3"]
    assert fidelity(shared_data / "lits-tiny", tmp_path, *args) == 0
    table = pd.read_csv(tmp_path / "lesions.csv")
    assert set(table.loc[table["set"] == "synthetic", "scan"]) == {"totalseg-full"}
    assert set(table.loc[table["set"] == "real", "scan"]) == {"lits-tiny"}
    assert "healthy base scans" in (tmp_path / "fidelity.md").read_text()
