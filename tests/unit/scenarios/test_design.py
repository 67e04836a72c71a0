"""Study design before a run: counts per condition, CI half-widths, p-value floors, verdicts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from robustbench_liver.cli.main import main
from robustbench_liver.report.tables import PAIRED_METRICS
from robustbench_liver.runs.summary import PAIRED_LESION
from robustbench_liver.scenarios import base_scans, load_scenario, make_plan, scenario_from_dict
from robustbench_liver.scenarios.design import (
    CONTROL_METRICS,
    TUMOR_METRICS,
    controls_needed,
    design,
    render,
    scans_needed,
)
from robustbench_liver.stats.intervals import MIN_CLUSTERS, proportion_halfwidth

LIBRARY = Path(__file__).resolve().parents[3] / "scenarios"
TUMOR_AXIS = {
    "name": "c",
    "param": "tumors.delta_hu",
    "levels": {"hypo": [-60, -40], "iso": [-5, 5], "hyper": [40, 60]},
}


def plan_of(**extra):
    data = {"name": "d", "seed": 1, "sweep": {"axes": [TUMOR_AXIS]}, **extra}
    s = scenario_from_dict(data)
    return make_plan(s, base_scans(s, None))


def test_hand_made_scenario():
    # 12 phantoms: 6 tumor cases per condition on scans 0-5, 6 controls on scans 6-11
    plan = plan_of(base_scans=[{"source": "phantom", "count": 12}], tumor_cases=6, control_cases=6)
    d = design(plan, models=2)
    assert d.base_scans == 12 and d.unused_scans == ()
    hypo, iso, hyper = d.conditions
    assert (hypo.tumor_cases, hypo.controls, hypo.base_scans) == (6, 6, 12)
    assert (iso.tumor_cases, iso.controls, iso.base_scans, iso.controls_in) == (6, 0, 6, "c-hypo")
    # 2 conditions vs the reference x 4 tumor-case metrics (controls shared: no specificity
    # comparison), x 2 models; Holm: 2 / 2^6 x 16 = 0.5
    assert d.n_tests == 16 and iso.comparisons == 4 and hypo.comparisons == 0
    assert iso.smallest_p == pytest.approx(0.5) and math.isnan(iso.specificity_p)
    assert math.isnan(hypo.smallest_p) and hyper.smallest_p == iso.smallest_p
    # DSC: t(5, 0.975) x 0.15 / sqrt(6) = 2.5706 x 0.15 / 2.4495
    assert iso.dsc.halfwidth == pytest.approx(0.15742, abs=1e-4)
    assert iso.dsc.printed == (6 >= MIN_CLUSTERS["continuous"])
    assert hypo.specificity.halfwidth == pytest.approx(proportion_halfwidth(0.9, 6))
    assert hypo.specificity.printed == (6 >= MIN_CLUSTERS["proportion"])
    assert iso.specificity.n_cases == 0  # its controls are hypo's
    verdicts = "\n".join(d.verdicts)
    assert f"needs at least {controls_needed()} controls" in verdicts
    # 2 / 2^C x 16 <= 0.05 first at C = 10 (2^10 = 1024 >= 640)
    assert "needs at least 10 base scans with tumor cases" in verdicts
    text = render(d)
    assert "c-iso" in text and "in c-hypo" in text and "SD 0.15" in text
    assert "holm over 16 comparisons (8 per model x 2 model(s))" in text


def test_own_controls_are_compared_and_counted():
    image_axis = {"name": "s", "levels": {"plain": {}, "noisy": {"image.noise_std_hu": 20}}}
    plan = plan_of(
        base_scans=[{"source": "phantom", "count": 8}],
        tumor_cases=2,
        control_cases=6,
        sweep={"axes": [image_axis]},
    )
    d = design(plan)
    plain, noisy = d.conditions
    assert noisy.controls == plain.controls == 6 and noisy.controls_in == "s-noisy"
    # 4 tumor-case metrics + specificity = 5 tests; specificity over 6 control scans:
    # 2 / 64 x 5; tumor-case metrics over 2 scans: 2 / 4 x 5 -> 1
    assert d.n_tests == 5 and noisy.comparisons == 5
    assert noisy.specificity_p == pytest.approx(2 / 64 * 5)
    assert noisy.smallest_p == 1.0


def test_needed_counts():
    n = controls_needed()
    assert proportion_halfwidth(0.9, n) <= 0.15 < proportion_halfwidth(0.9, n - 1)
    assert 18 <= n <= 24
    assert scans_needed(1, 10_000, "holm") == 6  # 2 / 2^6 = 0.031
    assert scans_needed(30, 10_000, "holm") == 11  # 2 / 2048 x 30 = 0.029
    assert scans_needed(1000, 10_000, "holm") is None  # 1 / 10001 x 1000 > 0.05


def test_the_metrics_are_the_reports():
    mine = {m if m != "lesion_sensitivity" else PAIRED_LESION for m in TUMOR_METRICS}
    assert mine | set(CONTROL_METRICS) == set(PAIRED_METRICS)


def test_the_shipped_size_scenario_passes(capsys):
    scenario = load_scenario(LIBRARY / "size.yaml")
    d = design(make_plan(scenario, base_scans(scenario, None)))
    assert d.base_scans >= 24 and d.unused_scans == ()
    held = [r for r in d.conditions if r.controls_in == r.condition]
    assert [r.condition for r in held] == [scenario.reference]
    assert held[0].specificity.halfwidth <= 0.15 and held[0].specificity.printed
    assert d.verdicts == ()
    assert main(["validate", "--design", str(LIBRARY / "size.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("size: 60 base scans (60 used), 7 condition(s)")
    assert "verdict: ok" in out


def test_the_quickstart_says_what_it_lacks(capsys):
    assert main(["validate", "--design", str(LIBRARY / "quickstart.yaml")]) == 0
    out = capsys.readouterr().out
    assert "no CI" in out and "verdict: specificity" in out
    assert "with tumor cases in every condition" in out  # how many scans a study needs
    assert main(["validate", "--design", "--models", "0", str(LIBRARY / "size.yaml")]) == 1
    assert "--models must be at least 1" in capsys.readouterr().err
