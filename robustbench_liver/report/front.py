"""The top of a run report: the summary line, the phantom caveat (report.phantom), the
small-tumor headline per model and, with a calibration, each model's measured gap."""

from __future__ import annotations

from robustbench_liver.report import phantom
from robustbench_liver.report import sections as sec
from robustbench_liver.report.calibration import (
    CalibrationFile,
    calibration_blocks,
    gap_cell,
    model_calibration,
)
from robustbench_liver.report.document import Block, Cell, Heading, Paragraph, Table
from robustbench_liver.report.headline import FP_BUDGET, Headline
from robustbench_liver.report.rundata import RunData
from robustbench_liver.report.tables import fmt_ci

HEADLINE_TEXT = (
    "The smallest tumor radius from which a model finds at least 80 % of lesions: the smallest "
    "radius bin (all conditions pooled) whose lesion sensitivity, and that of every larger bin "
    "with lesions, is at least 0.80. 'censored' means it is already the smallest bin that held "
    "lesions. The radius CI applies the same rule to cluster-bootstrap resamples of the base "
    "scans; the sensitivity in that bin has its own CI. Sensitivity is bought with false "
    f"positives, so the headline is FROC-style: it is reached only at no more than {FP_BUDGET:g} "
    "false-positive lesion per case (scored tumor cases, all conditions), and the table gives each "
    "model's rate beside it."
)


def front_blocks(
    data: RunData, numbers: list[sec.ScenarioNumbers], calibration: CalibrationFile | None
) -> list[Block]:
    """Summary line, phantom caveat, headline and (with a calibration) the gaps."""
    blocks: list[Block] = [Paragraph(_summary_line(data))]
    shares = {
        num.info.name: phantom.phantom_share(
            data.cases[data.cases["scenario"] == num.info.name], {num.info.name: num.info.entry}
        )
        for num in numbers
    }
    caveat = phantom.note(shares, calibrated=calibration is not None)
    if caveat is not None:
        blocks.append(caveat)
    blocks += [Heading(2, "Small-tumor headline"), Paragraph(HEADLINE_TEXT)]
    cards = {m: data.model_entry(m).get("card") or {} for m in sorted(set(data.cases["model"]))}
    blocks.append(_headline_table(numbers, calibration, cards))
    if calibration is not None:
        blocks += calibration_blocks(calibration, cards)
    return blocks


def _summary_line(data: RunData) -> str:
    c = data.cases
    failed = int((c["status"] != "ok").sum()) if not c.empty else 0
    models = sorted(set(c["model"])) if not c.empty else []
    return (
        f"Run folder {data.root.name}: {len(data.scenario_names)} scenario(s) "
        f"({', '.join(data.scenario_names)}), {len(models)} model(s) ({', '.join(models)}), "
        f"{len(c)} (model, case) pairs, {failed} failed. Made with robustbench-liver "
        f"{data.manifest.get('package_version', '?')}. Dates are left out so that the same "
        "results always give the same page: see RUNDIR/manifest.json for them."
    )


def _headline_table(
    numbers: list[sec.ScenarioNumbers],
    calibration: CalibrationFile | None = None,
    cards: dict[str, dict] | None = None,
) -> Table:
    rows = []
    for num in numbers:
        found = {h.model: h for h in num.headlines}
        for model in num.models:
            gap: tuple[Cell, ...] = ()
            if calibration is not None:
                calibrated = model_calibration(calibration, model, (cards or {}).get(model, {}))
                gap = (gap_cell(calibrated),)
            if model in found:
                rows.append((*_headline_row(num.info.name, found[model]), *gap))
            else:
                none = Cell("n/a (no scored lesions)", "")
                rows.append(
                    (
                        Cell(num.info.name),
                        Cell(model),
                        none,
                        Cell("n/a"),
                        Cell("n/a", ""),
                        sec.count(0),
                        Cell("n/a", ""),
                        *gap,
                    )
                )
    columns = (
        "scenario",
        "model",
        "≥ 80 % lesion sensitivity from",
        "radius CI",
        "sensitivity in that bin",
        "lesions in bin",
        "false positives / case",
        *(("calibrated gap, local DSC (synthetic − real)",) if calibration is not None else ()),
    )
    return Table(columns, tuple(rows), "per model, all conditions of the scenario", "headline")


def _headline_row(scenario: str, h: Headline) -> tuple[Cell, ...]:
    label = h.label + (" (censored)" if h.censored else "")
    if h.fp_per_case is not None and h.fp_per_case > h.fp_budget:
        label = (
            f"not reached at ≤ {h.fp_budget:g} FP/case (sensitivity alone: {h.sensitivity_label})"
        )
    return (
        Cell(scenario),
        Cell(h.model),
        Cell(label, h.radius_mm if h.radius_mm is not None else ""),
        Cell(h.radius_ci_label),
        Cell(fmt_ci(h.sensitivity, h.ci_low, h.ci_high), h.sensitivity or ""),
        sec.count(h.lesions),
        Cell(fmt_ci(h.fp_per_case, h.fp_ci_low, h.fp_ci_high), h.fp_per_case or ""),
    )
