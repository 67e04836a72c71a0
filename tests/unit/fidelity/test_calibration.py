"""The calibration on synthetic 'real' sets, where the answer is known: tumors made with the
tumor model's own settings give gaps whose CIs cover 0; a model that finds only bright
tumors shows a large gap when the 'real' tumors are dark and the synthetic ones bright; a
ranking reversed on purpose is flagged. Models run in their own processes, as in a run."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from robustbench_liver.errors import ModelError
from robustbench_liver.fidelity import TumorModel
from robustbench_liver.fidelity.calibrate import run_calibration
from robustbench_liver.fidelity.calibration_file import calibration_document
from robustbench_liver.fidelity.calibration_stats import summarize

from .conftest import DARK, fake_real_set

HERE = Path(__file__).resolve().parent
BRIGHT = DARK.with_(delta_hu=(60.0, 60.0))
MODELS = ["hu-threshold", "calibration_models:Bright", "calibration_models:Dark"]


@pytest.fixture(scope="module")
def models_on_path():
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(HERE))  # model processes start with this sys.path
        yield


@pytest.fixture(scope="module")
def dark_set():
    return fake_real_set(DARK)


def calibrate(frames, config, models=MODELS, per_lesion=3, seed=1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = run_calibration(
            frames, TumorModel("model", config), "fake-real", models, per_lesion=per_lesion,
            seed=seed,
        )  # fmt: skip
        return cal, summarize(cal, resamples=300, seed=seed)


@pytest.fixture(scope="module")
def same(models_on_path, dark_set):
    return calibrate(dark_set, DARK)


@pytest.fixture(scope="module")
def other(models_on_path, dark_set):
    return calibrate(dark_set, BRIGHT)


def gap(result, model, metric):
    rows = result.gaps[(result.gaps["model"] == model) & (result.gaps["metric"] == metric)]
    assert len(rows) == 1
    return rows.iloc[0]


def pair(result, metric, a, b):
    rows = result.pairs[
        (result.pairs["metric"] == metric) & (result.pairs["a"] == a) & (result.pairs["b"] == b)
    ]
    assert len(rows) == 1
    return rows.iloc[0]


def test_rows_cover_every_model_real_case_and_twin(same):
    cal, result = same
    # 4 scans x (1 real + 3 twins) x 3 models; 12 real lesions, each with 3 twins
    assert len(cal.cases) == 4 * 4 * 3
    real = cal.lesions[cal.lesions["set"] == "real"]
    twins = cal.lesions[cal.lesions["set"] == "synthetic"]
    assert len(real) == 12 * 3 and len(twins) == 12 * 3 * 3
    assert set(twins["match"]) == set(real["match"])  # every twin names its real lesion
    ratio = twins["radius_mm"] / twins["target_radius_mm"]
    assert ratio.between(0.6, 1.5).all()  # size-matched
    assert result.lesion_unit == "real scan"  # four scans: lesions of a scan go together


def test_identical_settings_give_gaps_whose_ci_covers_zero(same):
    _, result = same
    for metric in ("local_dsc", "dsc"):
        g = gap(result, "hu-threshold", metric)
        assert g.ci_low <= 0.0 <= g.ci_high, (metric, g.to_dict())
        # the twins' livers are healed of the real tumors: left in, they cost 0.02-0.04
        assert abs(g.gap) < 0.02
    sensitivity = gap(result, "hu-threshold", "lesion_sensitivity")
    assert sensitivity.gap == 0.0
    assert sensitivity.ci_method == "no CI: 4 real scans, needs at least 12"  # trust rules


def test_a_bright_only_model_shows_a_large_gap_when_real_tumors_are_dark(other):
    _, result = other
    g = gap(result, "bright-only", "local_dsc")
    assert g.gap > 0.5 and g.ci_low > 0.3
    sides = result.sides.set_index(["model", "set", "metric"])["estimate"]
    assert sides["bright-only", "real", "lesion_sensitivity"] == 0.0
    assert sides["bright-only", "synthetic", "lesion_sensitivity"] == 1.0
    # and the model that finds dark tumors loses what the bright one gains
    assert gap(result, "hu-threshold", "local_dsc").ci_high < -0.5


def test_a_reversal_built_on_purpose_is_flagged(same, other):
    for metric in ("local_dsc", "dsc"):
        agree = pair(same[1], metric, "bright-only", "hu-threshold")
        assert agree.verdict == "same order, both CIs exclude 0"
        flipped = pair(other[1], metric, "bright-only", "hu-threshold")
        assert flipped.real_difference < 0 < flipped.synthetic_difference
        assert flipped.verdict == "REVERSED, both CIs exclude 0"
    tau = {
        name: result.kendall.set_index("metric").loc["local_dsc", "tau"]
        for name, (_, result) in (("same", same), ("other", other))
    }
    assert tau == {"same": 1.0, "other": -1.0}


def test_failed_predictions_count_as_misses(models_on_path, dark_set):
    cal, result = calibrate(dark_set[:1], DARK, ["calibration_models:Crashy"], per_lesion=1)
    assert set(cal.cases["status"]) == {"model_error"}
    assert "no tumors today" in cal.cases["error"].iloc[0]
    assert (cal.cases["dsc"] == 0).all()
    assert (cal.lesions["local_dsc"] == 0).all() and (cal.lesions["detected"] == 0).all()
    sides = result.sides.set_index(["set", "metric"])["estimate"]
    assert sides["real", "local_dsc"] == 0.0 and sides["synthetic", "dsc"] == 0.0


def test_a_model_that_cannot_load_is_named(models_on_path, dark_set):
    with pytest.raises(ModelError, match="calibration_models:Missing"):
        calibrate(dark_set[:1], DARK, ["hu-threshold", "calibration_models:Missing"])


def test_the_calibration_file_holds_cards_scores_gaps_and_ranking(same):
    document = calibration_document(*same)
    json.dumps(document, allow_nan=False)  # strict JSON: missing numbers are null
    assert document["format"] == "robustbench-liver/calibration"
    assert set(document["models"]) == {"hu-threshold", "bright-only", "dark-only"}
    hu = document["models"]["hu-threshold"]
    assert hu["version"] == "1" and hu["sha256"] is None and hu["card"]["name"] == "hu-threshold"
    local = hu["metrics"]["local_dsc"]
    assert local["gap"]["estimate"] == pytest.approx(
        local["synthetic"]["estimate"] - local["real"]["estimate"], abs=1e-9
    )
    assert local["gap"]["ci_low"] <= local["gap"]["estimate"] <= local["gap"]["ci_high"]
    assert hu["metrics"]["lesion_sensitivity"]["gap"]["ci_low"] is None
    assert document["counts"] == {"real_scans": 4, "real_lesions": 12, "twin_cases": 12}
    assert {p["verdict"] for p in document["ranking"]["pairs"]} >= {
        "same order, both CIs exclude 0"
    }


def test_reports_read_the_file_the_calibration_writes(same, tmp_path):
    from robustbench_liver.fidelity.calibration_file import FILES, write_calibration
    from robustbench_liver.report.calibration import (
        gap_text,
        model_calibration,
        read_calibration,
    )

    write_calibration(tmp_path, same)
    assert all((tmp_path / name).is_file() for name in FILES)
    read = read_calibration(tmp_path)  # the folder will do
    assert read.real_data == "fake-real" and set(read.models) == {
        "hu-threshold",
        "bright-only",
        "dark-only",
    }
    entry = model_calibration(read, "hu-threshold", {"name": "hu-threshold", "version": "1"})
    assert entry is not None and entry["same_model"]
    local = entry["gaps"]["local_dsc"]
    row = gap(same[1], "hu-threshold", "local_dsc")
    assert local["estimate"] == pytest.approx(row.gap)
    assert gap_text(local).startswith(f"{row.gap:+.2f} [")
    changed = model_calibration(read, "hu-threshold", {"version": "2"})
    assert changed is not None and not changed["same_model"]
