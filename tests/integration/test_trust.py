"""Scores that cannot be gamed: failing on the hard cases costs as much as missing them, and
flooding the liver with tumor does not buy a place on the leaderboard or the headline."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pandas as pd
import pytest

from robustbench_liver.metrics import ToleranceBelowSpacingWarning
from robustbench_liver.report.leaderboard import build_leaderboard
from robustbench_liver.runs.runner import RunOptions, run
from robustbench_liver.scenarios import load_scenario

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SCENARIO = textwrap.dedent(
    """\
    name: trust
    seed: 4
    base_scans:
      - {{source: phantom, count: 4, shape: [128, 112, 56], spacing: [3.0, 3.0, 4.0]}}
    cases_per_condition: {cases}
    controls: {controls}
    tumors: {{level: medium}}
    statistics: {{resamples: 500}}
    """
)


def make_run(root: Path, models: list[str], cases: int, controls: float) -> Path:
    path = root / "trust.yaml"
    path.write_text(SCENARIO.format(cases=cases, controls=controls))
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore", ToleranceBelowSpacingWarning)  # 4 mm slices, on purpose
        mp.syspath_prepend(str(FIXTURES))
        # batches: the models see case ids (predict_batch), so they can single out cases
        run([load_scenario(path)], models, root / "run", RunOptions(batch=4))
    return root / "run"


def entries(run_dir: Path) -> list[dict]:
    (board,) = build_leaderboard([run_dir], resamples=500)["boards"]
    return board["entries"]


def test_failing_on_hard_cases_ranks_below_answering_them_with_nothing(tmp_path):
    folder = make_run(tmp_path, ["trust_models:Raiser", "trust_models:Blanker"], 12, 0)
    ranked = entries(folder)
    assert [e["model"] for e in ranked] == ["blanker", "raiser"]
    raiser, blanker = ranked[1], ranked[0]
    assert raiser["failed"] == 3 and blanker["failed"] == 0
    # counted as misses, the failures cost what the empty answers cost ...
    assert raiser["scores"]["dsc"]["estimate"] == pytest.approx(
        blanker["scores"]["dsc"]["estimate"]
    )
    for name in ("case_sensitivity", "lesion_sensitivity"):
        assert raiser["scores"][name]["estimate"] == pytest.approx(
            blanker["scores"][name]["estimate"]
        )
    # ... while left out (the old way) they would have ranked the raiser first
    assert raiser["scores"]["dsc"]["scored_only"] > blanker["scores"]["dsc"]["estimate"] + 0.05


def test_flooding_the_liver_ranks_below_the_baselines(tmp_path):
    models = ["hu-threshold", "unet-synth", "trust_models:Flood"]
    folder = make_run(tmp_path, models, 8, 0.25)
    ranked = entries(folder)
    assert ranked[-1]["model"] == "flood"
    flood = ranked[-1]
    assert flood["scores"]["lesion_sensitivity"]["estimate"] >= 0.95  # it touches everything
    assert flood["scores"]["fp_per_case"]["estimate"] > 100
    assert flood["scores"]["lesion_precision"]["estimate"] < 0.05
    assert flood["small_tumor"]["reached"] is False
    assert "not reached" in flood["small_tumor"]["label"]
    for baseline in ranked[:-1]:
        assert baseline["scores"]["dsc"]["estimate"] > flood["scores"]["dsc"]["estimate"]
        assert baseline["small_tumor"]["fp_per_case"] < flood["small_tumor"]["fp_per_case"]


def test_a_case_the_bench_cannot_build_is_nobodys_failure(tmp_path, monkeypatch):
    from robustbench_liver.errors import RobustBenchError
    from robustbench_liver.runs import work
    from robustbench_liver.runs.summary import model_failures

    real = work.cached_case

    def flaky(scenario, spec, cache):
        if spec.case_id.endswith("phantom-0__t000"):
            raise RobustBenchError("no place for a 40 mm tumor")
        return real(scenario, spec, cache)

    monkeypatch.setattr(work, "cached_case", flaky)  # the inline executor runs in-process
    folder = make_run(tmp_path, ["fake_models:Oracle"], 4, 0)
    cases = pd.read_parquet(folder / "cases.parquet")
    bad = cases[cases["status"] == "synthesis_error"]
    assert len(bad) == 1 and set(cases["model"]) == {"oracle-ish"}  # the card's name
    assert not model_failures(cases).any()
    (entry,) = entries(folder)
    assert entry["failed"] == 0 and entry["scores"]["dsc"]["n"] == len(cases) - 1
