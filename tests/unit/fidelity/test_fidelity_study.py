"""The whole study on synthetic 'real' sets, where the right answer is known: tumors made
with the tumor model's own settings cannot be told apart (AUC near 0.5), tumors made with
clearly other settings always can (AUC near 1)."""

from __future__ import annotations

import pytest

from robustbench_liver.fidelity import TumorModel, run_study
from robustbench_liver.synthesis import SizeClass, TumorConfig

from .conftest import fake_real_set

MODEL = TumorConfig(sizes=(SizeClass("m", (10, 16), (3, 3), (2, 4)),), delta_hu=(-60.0, -60.0))


@pytest.fixture(scope="module")
def real_set():
    return fake_real_set(MODEL)


def study(real, config, name="model"):
    return run_study(
        real,
        TumorModel(name, config),
        "fake-real",
        per_lesion=3,
        seed=1,
        resamples=300,
        classifier_resamples=100,
        repeats=3,
    )


def test_the_same_settings_cannot_be_told_apart(real_set):
    result = study(real_set, MODEL)
    c = result.classifier
    assert c.n_real == 12 and c.n_synthetic == 36
    assert 0.3 <= c.auc <= 0.7
    assert c.ci_low <= 0.5 <= c.ci_high
    assert result.cluster_unit == "real scan"  # four scans: lesions of a scan go together
    radius = result.distances.set_index("feature").loc["radius_mm"]
    assert abs(radius.smd) < 0.5  # the synthetic tumors are size-matched


def test_hyper_vs_hypo_attenuating_are_always_told_apart(real_set):
    result = study(real_set, MODEL.with_(delta_hu=(60.0, 60.0)))
    assert result.classifier.auc > 0.95
    assert result.classifier.ci_low > 0.8
    contrast = result.distances.set_index("feature").loc["contrast_hu"]
    assert contrast.real_median == pytest.approx(-60.0, abs=10.0)
    assert contrast.synthetic_median == pytest.approx(60.0, abs=10.0)
    assert contrast.smd_low > 0


def test_rows_name_the_real_data_and_the_tumor_model(real_set):
    result = study(real_set[:1], MODEL, name="level m")
    table = result.table
    assert set(table["real_data"]) == {"fake-real"}
    assert set(table["tumor_model"]) == {"level m"}
    assert set(table["set"]) == {"real", "synthetic"}
    synthetic = table[table["set"] == "synthetic"]
    assert synthetic["match"].isin(table.loc[table["set"] == "real", "match"]).all()
    # three real lesions from one scan: no AUC, and the report says why
    assert "cannot be estimated" in result.classifier.note


@pytest.mark.slow
def test_texture_off_vs_strong_is_told_apart(real_set):
    flat = fake_real_set(MODEL.with_(texture=False, keep_scan_noise=False))
    strong = MODEL.with_(texture_sigma_factor=(4.0, 4.0), texture_scale_mm=(8.0, 10.0))
    assert study(flat, strong).classifier.auc > 0.9
