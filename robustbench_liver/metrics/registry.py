"""Every metric the suite reports, in one table that the run summary, statistics, report,
leaderboard, `compare` and `evaluate` all read (after MetricsReloaded's metric properties).

A metric is a mean over rows of one of three tables built from the result rows
(`runs.summary.metric_tables`): one row per case, per ground-truth lesion, or per predicted
lesion (connected component). Its kind picks its confidence interval (`stats.intervals`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Table = Literal["cases", "lesions", "components"]
Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class Metric:
    """One reported metric."""

    name: str
    """Key in score tables and leaderboards; also its column in its metric table."""
    label: str
    """How tables and plots name it."""
    table: Table
    """Rows it is a mean over: cases, ground-truth lesions, or predicted lesions."""
    profile_column: str
    """Result-row column naming its definition (never mix two profiles in one mean)."""
    kind: Literal["continuous", "proportion"]
    """Picks its interval: proportions get an interval made for proportions."""
    better: Direction
    bounds: tuple[float, float]
    """Its range; intervals are clipped to it."""
    on_failure: float | None
    """What a failed prediction counts as (None: left out)."""
    column: str | None = None
    """The result-row column it is read from, when not its own name (None: derived)."""
    population: Literal["tumor", "control"] = "tumor"
    """Cases it is a mean over (and where a failure counts as `on_failure`). False positives
    and precision are over tumor cases, so that conditions stay comparable when one of them
    holds the shared controls; the controls' false positives are what specificity counts."""
    headline: bool = True
    """Shown in summary tables and on leaderboards."""

    @property
    def higher_is_better(self) -> bool:
        return self.better == "higher"


UNIT = (0.0, 1.0)
METRICS: tuple[Metric, ...] = (
    Metric("dsc", "DSC", "cases", "dsc_profile", "continuous", "higher", UNIT, 0.0, "dsc"),
    Metric("nsd", "NSD", "cases", "nsd_profile", "continuous", "higher", UNIT, 0.0, "nsd"),
    Metric(
        "case_sensitivity", "case sensitivity", "cases", "case_detection_profile",
        "proportion", "higher", UNIT, 0.0, "case_sensitivity",
    ),
    Metric(
        "case_specificity", "specificity", "cases", "case_detection_profile",
        "proportion", "higher", UNIT, 0.0, "case_specificity", population="control",
    ),
    Metric(
        "lesion_sensitivity", "lesion sensitivity", "lesions", "lesion_profile",
        "proportion", "higher", UNIT, 0.0, "detected",
    ),
    Metric(
        "lesion_precision", "lesion precision", "components", "lesion_profile",
        "proportion", "higher", UNIT, None, None,
    ),
    Metric(
        "fp_per_case", "false positives / case", "cases", "lesion_profile",
        "continuous", "lower", (0.0, math.inf), None, "n_false_positive_lesions",
    ),
    Metric(
        "hd95_mm", "HD95 (mm)", "cases", "hd95_profile", "continuous", "lower",
        (0.0, math.inf), None, "hd95_mm", headline=False,
    ),
)  # fmt: skip
BY_NAME = {m.name: m for m in METRICS}
HEADLINE = tuple(m.name for m in METRICS if m.headline)
"""The metrics summary tables and leaderboards show, in this order."""
RANK_BY = "dsc"
"""Leaderboards rank by this metric, failures counted."""

MODEL_FAILURES = frozenset(
    {
        "model_error",
        "timeout",
        "crashed",
        "exited",
        "misshapen",
        "non_finite",
        "invalid_values",
        "invalid_dtype",
        "invalid_prediction",
        "missing",
        "unreadable",
        "misaligned",
    }
)
"""Statuses that are the model's failure: by default they count as a miss (DSC = NSD = 0,
no lesion found) on a tumor case and as a false positive on a control."""
BENCH_FAILURES = frozenset(
    {"synthesis_error", "bad_ground_truth", "extra", "bench_error", "no_row"}
)
"""Statuses that are not the model's doing (no case to predict, the bench itself failed, or a
pair the run asked for ended without a row): left out of every score and listed in the
report."""

FAILURE_POLICIES = ("count", "exclude")
"""count: failures scored as above (the default, and what leaderboards rank by);
exclude: scored cases only."""


def metric(name: str) -> Metric:
    """The metric called `name`; an unknown name says which exist."""
    from robustbench_liver.errors import RobustBenchError, did_you_mean

    if name not in BY_NAME:
        raise RobustBenchError(did_you_mean(name, BY_NAME, "metric"))
    return BY_NAME[name]


def label(name: str) -> str:
    found = BY_NAME.get(name)
    return found.label if found else name
