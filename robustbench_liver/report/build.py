"""A run folder -> its report: report.md, one self-contained report.html, figures/*.png."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.report import montage, plots
from robustbench_liver.report import sections as sec
from robustbench_liver.report.calibration import CalibrationFile
from robustbench_liver.report.document import (
    Block,
    Cell,
    Code,
    Details,
    Document,
    Figure,
    Heading,
    Paragraph,
    Table,
    render_markdown,
)
from robustbench_liver.report.files import write_shared
from robustbench_liver.report.front import front_blocks
from robustbench_liver.report.headline import detection_by_size, small_tumor_headline
from robustbench_liver.report.html import render_html
from robustbench_liver.report.paths import portable
from robustbench_liver.report.rundata import RunData, load_run, profiles
from robustbench_liver.report.tables import (
    condition_tests,
    failed_cases,
    failures,
    model_tests,
)
from robustbench_liver.runs.store import slug
from robustbench_liver.runs.summary import scores
from robustbench_liver.types import Case, card_for_display

if TYPE_CHECKING:  # imported where montages are drawn: it plans scenarios
    from robustbench_liver.report.cases import CaseSource


@dataclass(frozen=True)
class ReportOptions:
    resamples: int | None = None
    """Bootstrap resamples; None: each scenario's `statistics.resamples`."""
    seed: int = 0
    montages: bool = True
    data_root: str | None = None
    """Where file-based base scans live (montages only; phantoms need nothing)."""
    calibration: CalibrationFile | None = None
    """A calibration (`report.calibration.read_calibration`): each model's measured
    synthetic − real gap is shown beside its headline."""


def build_report(
    run: RunData | str | Path,
    options: ReportOptions = ReportOptions(),
    progress: Callable[[], None] | None = None,
) -> Document:
    """The report of a finished run as a `Document` (render it with `write_report`).

    `progress()` is called twice per scenario: after its statistics, after its figures.
    """
    data = run if isinstance(run, RunData) else load_run(run)
    tick = progress or (lambda: None)
    doc = Document(f"robustbench-liver report: {data.root.name}")
    numbers = []
    for name in data.scenario_names:
        numbers.append(_numbers(data, name, options))
        tick()
    doc.add(*front_blocks(data, numbers, options.calibration))
    for num in numbers:
        doc.add(*_scenario_blocks(data, num, options))
        tick()
    doc.add(*_model_blocks(data))
    doc.add(*_manifest_blocks(data))
    return doc


def write_report(doc: Document, out: str | Path) -> list[Path]:
    """Write report.md, report.html and figures/*.png under `out`; stale PNGs are removed."""
    out = Path(out)
    figures = out / "figures"
    written = []
    for figure in doc.figures():
        write_shared(figures / figure.name, figure.png)
        written.append(figures / figure.name)
    if figures.exists():
        keep = {p.name for p in written}
        for old in figures.glob("*.png"):
            if old.name not in keep:
                old.unlink()
    for name, text in (("report.md", render_markdown(doc)), ("report.html", render_html(doc))):
        write_shared(out / name, text.encode("utf-8"))
        written.append(out / name)
    return written


def _numbers(data: RunData, name: str, options: ReportOptions) -> sec.ScenarioNumbers:
    info = data.scenario(name)
    resamples = options.resamples or info.resamples
    stats = dict(resamples=resamples, confidence=info.confidence, seed=options.seed)
    cases = data.cases[data.cases["scenario"] == name]
    lesions = data.scenario_lesions(name)
    by_size = detection_by_size(lesions, info.bins, **stats)  # type: ignore[arg-type]
    return sec.ScenarioNumbers(
        info=info,
        models=sorted(set(cases["model"])),
        conditions=sec.ordered(info.conditions, sorted(set(cases["condition"]))),
        scores=scores(cases, lesions, **stats),  # type: ignore[arg-type]
        scored_only=scores(cases, lesions, failures="exclude", intervals=False, **stats),  # type: ignore[arg-type]
        failures=failures(cases),
        failed_cases=failed_cases(cases),
        condition_tests=condition_tests(
            cases,
            info.reference,
            correction=info.correction,
            **stats,  # type: ignore[arg-type]
        ),
        model_tests=model_tests(cases, correction=info.correction, **stats),  # type: ignore[arg-type]
        by_size=by_size,
        headlines=small_tumor_headline(
            lesions,
            info.bins,
            **stats,  # type: ignore[arg-type]
            by_size=by_size,
            cases=cases,
        ),
        profiles=profiles(cases, lesions),
        resamples=resamples,
        confidence=info.confidence,
    )


def _scenario_blocks(
    data: RunData, num: sec.ScenarioNumbers, options: ReportOptions
) -> list[Block]:
    info = num.info
    blocks: list[Block] = [Heading(2, f"Scenario {info.name} (version {info.version})")]
    blocks += sec.what_was_measured(num)
    blocks += [Heading(3, "Scores"), sec.score_table(num)]
    blocks += [Heading(3, f"Change against the reference condition ({info.reference})")]
    blocks.append(sec.change_table(num))
    blocks += sec.plot_blocks(num)
    blocks += [Heading(3, "Detection by size"), sec.size_table(num)]
    blocks += sec.failure_blocks(num)
    if options.montages:
        blocks += _montage_blocks(data, num, options)
    blocks += sec.source_blocks(info)
    return blocks


def _montage_blocks(data: RunData, num: sec.ScenarioNumbers, options: ReportOptions) -> list[Block]:
    blocks: list[Block] = [Heading(3, "Best and worst cases")]
    notes: list[str] = []
    grid: list[list[montage.Panel | None]] = []
    titles: list[str] = []
    cases = data.cases[data.cases["scenario"] == num.info.name]
    try:
        from robustbench_liver.report.cases import CaseSource

        source = CaseSource(data, options.data_root)
        for model in num.models:
            picks = montage.pick_cases(cases, model)
            if not picks:
                notes.append(f"{model}: no scored case with tumor to show.")
                continue
            row: list[montage.Panel | None] = []
            for which, case_row in picks:
                case_id = str(case_row["case_id"])
                case = source.case(num.info.name, case_id)
                prediction, note = _stored_prediction(source, num.info.name, model, case_id, case)
                if note:
                    notes.append(note)
                title = f"{which}: {case_row['case_id']}, DSC {float(case_row['dsc']):.2f}"
                row.append(
                    montage.make_panel(
                        title, case.image, case.label, case.spacing or (1.0, 1.0, 1.0), prediction
                    )
                )
            grid.append(row)
            titles.append(model)
    except Exception as err:  # a montage must never cost the whole report
        return [*blocks, Paragraph(portable(f"Montages skipped: {type(err).__name__}: {err}"))]
    if grid:
        blocks.append(
            Figure(
                f"{slug(num.info.name)}-montage.png",
                plots.png(montage.draw_montage(grid, titles)),
                f"{num.info.name}: best and worst case per model",
                "Axial slice through the largest lesion, soft-tissue window, radiological "
                "orientation; green: ground truth, red: prediction (the mask the run scored).",
            )
        )
    blocks += [Paragraph(portable(n)) for n in notes]
    return blocks


def _stored_prediction(
    source: CaseSource, scenario: str, model: str, case_id: str, case: Case
) -> tuple[np.ndarray | None, str]:
    """The tumor mask the run stored for the outline, or None and one line saying why not:
    the report draws from the run folder only, never by running the model again."""
    try:
        mask = source.prediction(scenario, model, case_id)
    except RobustBenchError as err:
        why = f"prediction outline left out ({err}); re-run to store predictions."
        return None, f"{model}, {case_id}: {why}"
    if mask is None:
        return None, (
            f"{model}, {case_id}: prediction outline missing, the run folder stores no mask for "
            "it (made by an older version); re-run to store predictions (with a new --out: a "
            "resumed run skips finished cases)."
        )
    if mask.shape != case.label.shape:
        return None, (
            f"{model}, {case_id}: prediction outline left out: the stored mask has shape "
            f"{mask.shape}, the case {case.label.shape}; re-run to store predictions."
        )
    return mask, ""


def _model_blocks(data: RunData) -> list[Block]:
    rows = []
    models = sorted(set(data.cases["model"])) if not data.cases.empty else []
    for model in models:
        entry = data.model_entry(model)
        card = entry.get("card") or {}
        rows.append(
            (
                Cell(model),
                Cell(portable(str(entry.get("spec", "")))),
                Cell(str(card.get("version", ""))),
                Cell(str(card.get("adapter", ""))),
                Cell(str(card.get("needs_liver", ""))),
                Cell(str(card.get("license", ""))),
                Cell(str(card.get("sha256") or "")),
            )
        )
    columns = ("model", "spec", "version", "adapter", "needs liver", "license", "weights sha256")
    entries = {m: data.model_entry(m) for m in models}
    shown = {m: {**e, "card": card_for_display(e.get("card") or {})} for m, e in entries.items()}
    cards = json.dumps(portable(shown), indent=2, sort_keys=True)
    return [
        Heading(2, "Models"),
        Table(columns, tuple(rows), name="models"),
        Details(
            "Model cards (the fields that apply to each adapter; manifest.json has them all)",
            (Code(cards, "json"),),
        ),
    ]


def _manifest_blocks(data: RunData) -> list[Block]:
    m = data.manifest
    platform = ", ".join(f"{k} {v}" for k, v in sorted((m.get("platform") or {}).items()))
    # without dates (a resumed run is the same run) and without the scenario texts, which
    # are shown above with their file names (absolute paths differ from machine to machine)
    slim = {k: v for k, v in m.items() if k not in ("created", "updated")}
    slim["scenarios"] = {
        name: {k: v for k, v in entry.items() if k != "sources"}
        for name, entry in (m.get("scenarios") or {}).items()
    }
    return [
        Heading(2, "Run manifest"),
        Paragraph(
            f"format {m.get('format')}, package {m.get('package_version')}, platform: "
            f"{platform or 'n/a'}, options: {json.dumps(m.get('options', {}), sort_keys=True)}"
        ),
        Details(
            "manifest.json (local paths cut to file names)",
            (Code(json.dumps(portable(slim), indent=2, sort_keys=True), "json"),),
        ),
    ]
