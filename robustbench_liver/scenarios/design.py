"""What a scenario's plan can show before anything runs (DESIGN.md §7): how many base scans
and controls each condition uses, the interval half-widths to expect, whether an interval is
printed at all, and the smallest p-value a condition comparison can reach.

Pure: it reads a Plan and the planning helpers of `stats`, nothing is synthesized or run.
Assumptions, printed with the numbers: a true sensitivity and specificity of 0.9, a per-case
DSC standard deviation of 0.15 with intra-scan correlation 0.1, and the comparisons a report
makes (each condition vs the reference, per model, on the paired metrics below).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from robustbench_liver.scenarios.plan import CaseSpec, Plan, control_holders
from robustbench_liver.stats.compare import pvalue_floor, smallest_pvalue
from robustbench_liver.stats.intervals import (
    MIN_CLUSTERS,
    continuous_halfwidth,
    has_ci,
    proportion_halfwidth,
)

ASSUMED_PROPORTION = 0.9
ASSUMED_SD = 0.15
ASSUMED_ICC = 0.1
ALPHA = 0.05
MAX_SPECIFICITY_HALFWIDTH = 0.15
# The paired metrics of a condition comparison (report.tables.PAIRED_METRICS): four are
# measured on tumor cases, specificity on controls.
TUMOR_METRICS = ("dsc", "nsd", "case_sensitivity", "lesion_sensitivity")
CONTROL_METRICS = ("case_specificity",)
_SEARCH = 1000  # most base scans a "needed" count is looked for up to


@dataclass(frozen=True)
class Estimate:
    """The interval one metric of one condition is expected to get."""

    n_cases: int
    n_scans: int
    halfwidth: float
    """Expected half-width of the 95 % interval (NaN without cases)."""
    printed: bool
    """Whether the report prints the interval (enough base scans, `MIN_CLUSTERS`)."""


@dataclass(frozen=True)
class ConditionDesign:
    condition: str
    tumor_cases: int
    controls: int
    base_scans: int
    """Distinct base scans its cases use."""
    controls_in: str
    """The condition whose controls stand for this one (itself when it holds them)."""
    sensitivity: Estimate
    specificity: Estimate
    dsc: Estimate
    comparisons: int
    """Comparisons with the reference per model (0 for the reference)."""
    smallest_p: float
    """Smallest p its tumor-case comparisons can reach after the adjustment (NaN: none)."""
    specificity_p: float
    """The same for its specificity comparison (NaN: not compared, controls shared)."""


@dataclass(frozen=True)
class Design:
    scenario: str
    reference: str
    base_scans: int
    unused_scans: tuple[str, ...]
    conditions: tuple[ConditionDesign, ...]
    models: int
    n_tests: int
    """Comparisons the adjustment runs over: per model, times `models`."""
    correction: str
    resamples: int
    verdicts: tuple[str, ...]
    """One line per problem; empty when the design is fine."""


def _estimate(kind: str, n_cases: int, n_scans: int) -> Estimate:
    if n_cases == 0 or n_scans == 0:
        return Estimate(n_cases, n_scans, math.nan, False)
    per_scan = n_cases / n_scans
    if kind == "proportion":
        half = proportion_halfwidth(ASSUMED_PROPORTION, n_scans, per_scan)
    else:
        half = continuous_halfwidth(ASSUMED_SD, n_scans, per_scan, ASSUMED_ICC)
    return Estimate(n_cases, n_scans, half, has_ci(n_scans, kind))


def _paired_scans(plan: Plan, a: str, b: str, is_control: bool) -> int:
    """Base scans holding a unit of the kind that both conditions have (what pairs them)."""

    def units(condition: str) -> set[tuple[str, int]]:
        return {
            (c.scan.id, c.replicate)
            for c in plan.cases
            if c.condition == condition and c.is_control == is_control
        }

    return len({scan for scan, _ in units(a) & units(b)})


def controls_needed(limit: float = MAX_SPECIFICITY_HALFWIDTH) -> int:
    """Fewest controls, one per base scan, for a specificity of 0.9 within ±`limit`."""
    for n in range(2, _SEARCH):
        if proportion_halfwidth(ASSUMED_PROPORTION, n) <= limit:
            return n
    return _SEARCH


def scans_needed(n_tests: int, resamples: int, correction: str) -> int | None:
    """Fewest base scans for a paired comparison to reach p <= 0.05 after adjustment over
    `n_tests` comparisons; None when more scans cannot do it (too few resamples)."""
    for n in range(2, _SEARCH):
        if pvalue_floor(n, resamples, n_tests, correction) <= ALPHA:
            return n
        if smallest_pvalue(n, resamples) == 1.0 / (resamples + 1.0):
            return None  # past exact enumeration: more scans no longer lower the floor
    return None


def design(plan: Plan, models: int = 1) -> Design:
    """The design of `plan` for a report on `models` models."""
    scenario = plan.scenario
    options = scenario.spec.statistics
    holders = control_holders(scenario)
    reference = scenario.reference
    per_condition: dict[str, list[CaseSpec]] = {c.id: [] for c in scenario.conditions}
    for case in plan.cases:
        per_condition[case.condition].append(case)

    paired: dict[tuple[str, bool], int] = {}  # (condition, is_control) -> base scans paired
    for condition in scenario.conditions:
        for is_control in (False, True):
            if condition.id != reference:
                paired[condition.id, is_control] = _paired_scans(
                    plan, condition.id, reference, is_control
                )
    per_model = sum(
        len(CONTROL_METRICS if is_control else TUMOR_METRICS)
        for (_, is_control), scans in paired.items()
        if scans
    )
    n_tests = per_model * models

    def floor(condition: str, is_control: bool) -> float:
        scans = paired.get((condition, is_control), 0)
        if not scans:
            return math.nan
        return pvalue_floor(scans, options.resamples, n_tests, options.correction)

    rows = []
    for condition in scenario.conditions:
        cases = per_condition[condition.id]
        tumor = [c for c in cases if not c.is_control]
        controls = [c for c in cases if c.is_control]
        tumor_scans = len({c.scan.id for c in tumor})
        control_scans = len({c.scan.id for c in controls})
        rows.append(
            ConditionDesign(
                condition=condition.id,
                tumor_cases=len(tumor),
                controls=len(controls),
                base_scans=len({c.scan.id for c in cases}),
                controls_in=holders[condition.id],
                sensitivity=_estimate("proportion", len(tumor), tumor_scans),
                specificity=_estimate("proportion", len(controls), control_scans),
                dsc=_estimate("continuous", len(tumor), tumor_scans),
                comparisons=sum(
                    len(CONTROL_METRICS if k else TUMOR_METRICS)
                    for k in (False, True)
                    if paired.get((condition.id, k))
                ),
                smallest_p=floor(condition.id, False),
                specificity_p=floor(condition.id, True),
            )
        )
    used = {c.scan.id for c in plan.cases}
    unused = tuple(s.id for s in plan.scans if s.id not in used)
    return Design(
        scenario=scenario.name,
        reference=reference,
        base_scans=len(plan.scans),
        unused_scans=unused,
        conditions=tuple(rows),
        models=models,
        n_tests=n_tests,
        correction=options.correction,
        resamples=options.resamples,
        verdicts=_verdicts(rows, unused, n_tests, options.resamples, options.correction),
    )


_ESTIMATES: tuple[tuple[str, str, Callable[[ConditionDesign], Estimate]], ...] = (
    ("sensitivity", "proportion", lambda r: r.sensitivity),
    ("specificity", "proportion", lambda r: r.specificity),
    ("DSC", "continuous", lambda r: r.dsc),
)


def _verdicts(
    rows: list[ConditionDesign],
    unused: tuple[str, ...],
    n_tests: int,
    resamples: int,
    correction: str,
) -> tuple[str, ...]:
    out = []
    if unused:
        names = ", ".join(unused[:4]) + (", ..." if len(unused) > 4 else "")
        out.append(f"{len(unused)} declared base scan(s) get no case ({names})")
    held = [r for r in rows if r.controls_in == r.condition and r.specificity.n_cases]
    wide = [r for r in held if not r.specificity.halfwidth <= MAX_SPECIFICITY_HALFWIDTH]
    if not held:
        out.append(
            f"no controls: specificity is not measured; give control_cases: "
            f"{controls_needed()} (on base scans of their own)"
        )
    elif wide:
        r = wide[0]
        out.append(
            f"specificity ±{r.specificity.halfwidth:.2f} > ±{MAX_SPECIFICITY_HALFWIDTH} "
            f"({r.specificity.n_cases} controls on {r.specificity.n_scans} base scans): "
            f"needs at least {controls_needed()} controls, each on its own base scan"
        )
    for name, kind, pick in _ESTIMATES:
        silent = [pick(r) for r in rows if pick(r).n_cases and not pick(r).printed]
        if silent:
            fewest = min(e.n_scans for e in silent)
            out.append(
                f"{name}: no CI is printed with {fewest} base scan(s); it needs "
                f"{MIN_CLUSTERS[kind]}"
            )
    compared = [r for r in rows if not math.isnan(r.smallest_p)]
    if compared and all(not r.smallest_p <= ALPHA for r in compared):
        need = scans_needed(n_tests, resamples, correction)
        best = min(r.smallest_p for r in compared)
        what = (
            f"needs at least {need} base scans with tumor cases in every condition"
            if need is not None
            else f"more base scans cannot help: raise statistics.resamples ({resamples})"
        )
        out.append(
            f"no tumor-case comparison can reach p <= {ALPHA} (smallest {best:.3g} after "
            f"{correction} over {n_tests} comparisons): {what}"
        )
    return tuple(out)


def _cell(e: Estimate, kind: str) -> str:
    if e.n_cases == 0:
        return "-"
    if not e.printed:
        return f"no CI (<{MIN_CLUSTERS[kind]})"
    return f"±{e.halfwidth:.3f}"


def _p(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2g}"


def render(d: Design) -> str:
    """The design as text: a table per condition, the assumptions, a verdict."""
    n_cases = sum(r.tumor_cases + r.controls for r in d.conditions)
    used = d.base_scans - len(d.unused_scans)
    lines = [
        f"{d.scenario}: {d.base_scans} base scans ({used} used), {len(d.conditions)} "
        f"condition(s), reference {d.reference}, {n_cases} cases",
    ]
    header = ["condition", "tumor", "controls", "scans", "sensitivity", "specificity", "DSC"]
    header += ["p tumor", "p spec"]
    table: list[list[str]] = [header]
    for r in d.conditions:
        controls = str(r.controls) if r.controls_in == r.condition else f"in {r.controls_in}"
        p = (
            ("reference", "")
            if r.condition == d.reference
            else (_p(r.smallest_p), _p(r.specificity_p))
        )
        table.append(
            [
                r.condition,
                str(r.tumor_cases),
                controls,
                str(r.base_scans),
                _cell(r.sensitivity, "proportion"),
                _cell(r.specificity, "proportion"),
                _cell(r.dsc, "continuous"),
                *p,
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    per_model = d.n_tests // d.models if d.models else 0
    lines += [
        f"assumed: true sensitivity and specificity {ASSUMED_PROPORTION}; DSC per-case SD "
        f"{ASSUMED_SD}, intra-scan correlation {ASSUMED_ICC}; 95 % CI half-widths shown.",
        f"CIs are printed from {MIN_CLUSTERS['proportion']} base scans (sensitivity, "
        f"specificity) and {MIN_CLUSTERS['continuous']} (DSC).",
        f"p-values: sign-flip by base scan ({d.resamples} resamples), {d.correction} over "
        f"{d.n_tests} comparisons ({per_model} per model x {d.models} model(s)):",
        f"  each condition vs the reference on {', '.join(TUMOR_METRICS)} (p tumor), and "
        f"on {', '.join(CONTROL_METRICS)} where both hold controls (p spec): the smallest "
        "adjusted p each can reach.",
    ]
    shared = sorted({r.controls_in for r in d.conditions if r.controls_in != r.condition})
    if shared:
        lines.append(
            "controls: conditions with the same image settings share one set of controls "
            f"(held by {', '.join(shared)}); they have no specificity of their own."
        )
    if d.verdicts:
        lines += [f"verdict: {v}" for v in d.verdicts]
    else:
        reach = f"p-values can reach {ALPHA}" if d.n_tests else "nothing to compare"
        lines.append(
            f"verdict: ok (specificity within ±{MAX_SPECIFICITY_HALFWIDTH}, {reach}, every "
            "base scan used)"
        )
    return "\n".join(lines)
