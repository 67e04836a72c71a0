"""The calibration's part of the fidelity report: the gap table, the ranking tables, one
plot (real vs synthetic per model) and the lines the command prints. Its files:
`calibration_file`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from robustbench_liver.fidelity.calibration_file import FIGURE, portable
from robustbench_liver.fidelity.calibration_stats import (
    BY_NAME,
    METRICS,
    CalibrationResult,
    row_of,
)
from robustbench_liver.fidelity.page import Page

if TYPE_CHECKING:  # the rows only: writing a report never starts the model machinery
    from robustbench_liver.fidelity.calibrate import Calibration

    Calibrated = tuple[Calibration, CalibrationResult]

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
"""Each model its own color and marker, drawn smaller one after the other: models at the same
point stay visible."""


def ci_text(estimate: float, low: float, high: float, method: str, signed: bool = False) -> str:
    """'0.42 [0.30, 0.55]', or the estimate and why there is no interval."""
    if not math.isfinite(estimate):
        return "n/a"
    fmt = "{:+.2f}" if signed else "{:.2f}"
    text = fmt.format(estimate)
    if math.isfinite(low) and math.isfinite(high):
        return f"{text} [{fmt.format(low)}, {fmt.format(high)}]"
    reason = method if method.startswith("no CI") else "no CI"
    return f"{text} ({reason})"


def add_section(page: Page, calibrated: Calibrated) -> bytes:
    """The calibration section of the fidelity page; returns its figure's PNG."""
    from robustbench_liver.fidelity.plots import png

    cal, result = calibrated
    page.heading(2, "Calibration: models on real and on synthetic tumors")
    real_scans = cal.cases.loc[cal.cases["set"] == "real", "real_scan"].nunique()
    twins = cal.cases.loc[cal.cases["set"] == "synthetic", "case_id"].nunique()
    matched = cal.lesions.loc[cal.lesions["set"] == "real", "match"].nunique()
    page.paragraph(
        f"Each model ran on the {real_scans} real case(s) and on {twins} twin case(s): the "
        f"same scan with one size-matched synthetic tumor of {cal.tumor_model} for each of "
        f"its {matched} measured real lesion(s) ({cal.settings['per_lesion']} twin case(s) per "
        "real scan). The real tumors stay in a twin's image but are not scored there: "
        "prediction voxels on them, and predicted components touching them and no synthetic "
        "tumor, are removed first. Scores are the suite's own (metrics.score_case). Gap = "
        "synthetic − real, paired twin by twin with the real lesion (or case) it stands for: "
        "a positive gap means the bench's synthetic tumors flatter the model."
    )
    page.table(
        ("model", "metric", "real", "synthetic", "gap (synthetic − real)", "p (Holm)"),
        _score_rows(result),
        caption="estimate [95% CI]; failed predictions count as misses",
        name="calibration",
    )
    page.paragraph(_method_text(result))
    _ranking(page, result)
    image = png(calibration_figure(result, f"{cal.real_data} vs {cal.tumor_model}"))
    page.figure(
        f"figures/{FIGURE}",
        image,
        alt="each model's score on real vs synthetic tumors, with CIs",
        caption="One point per model: real (x) against synthetic (y) with 95% CIs where the "
        "method covers; on the diagonal the bench is calibrated, above it synthetic tumors "
        "flatter the model.",
    )
    _models(page, cal)
    return image


def _score_rows(result: CalibrationResult) -> list[tuple[str, ...]]:
    rows = []
    for model in sorted(set(result.sides["model"])):
        for metric in METRICS:
            side = {
                s: row_of(result.sides, model=model, set=s, metric=metric.name)
                for s in ("real", "synthetic")
            }
            gap = row_of(result.gaps, model=model, metric=metric.name)
            cells = [
                "n/a" if r is None else ci_text(r.estimate, r.ci_low, r.ci_high, r.ci_method)
                for r in side.values()
            ]
            gap_text = (
                "n/a"
                if gap is None
                else ci_text(gap.gap, gap.ci_low, gap.ci_high, gap.ci_method, True)
            )
            p = (
                "n/a"
                if gap is None or not math.isfinite(gap.p_adjusted)
                else f"{gap.p_adjusted:.3f}"
            )
            rows.append((model, metric.label, *cells, gap_text, p))
    return rows


def _method_text(result: CalibrationResult) -> str:
    unit = result.lesion_unit
    text = (
        f"Local DSC: Dice of a lesion and the predicted components touching it (0 when missed). "
        f"Case DSC: the tumor class over the whole case. Lesion sensitivity: share of lesions a "
        f"predicted voxel touches. CIs cluster by {unit} for the per-lesion metrics and by real "
        "scan for case DSC (stats.intervals: t interval or expanded BCa bootstrap for DSC, "
        "cluster-adjusted Wilson for sensitivity and Newcombe's paired interval for its gap); "
        "p: paired sign-flip test of gap = 0, Holm-adjusted over every gap."
    )
    if unit == "real lesion":
        text += (
            " Fewer than 4 real scans hold measured lesions, so lesions are the units: lesions "
            "of one scan share its patient, noise and contrast phase, and these intervals are "
            "narrower than they should be by an amount the data cannot tell."
        )
    return text


def _ranking(page: Page, result: CalibrationResult) -> None:
    page.heading(3, "Do real and synthetic tumors rank the models alike?")
    if result.pairs.empty:
        page.paragraph("One model: nothing to rank.")
        return
    rows = [
        (
            BY_NAME[str(r.metric)].label,
            f"{r.a} − {r.b}",
            ci_text(r.real_difference, r.real_ci_low, r.real_ci_high, r.real_ci_method, True),
            ci_text(
                r.synthetic_difference,
                r.synthetic_ci_low,
                r.synthetic_ci_high,
                r.synthetic_ci_method,
                True,
            ),
            str(r.verdict),
        )
        for r in result.pairs.itertuples(index=False)
    ]
    page.table(
        ("metric", "models", "real", "synthetic", "order"),
        rows,
        caption="paired difference between two models on the same cases, on each side",
        name="calibration-ranking",
    )
    tested = result.kendall[result.kendall["n_models"] >= 3]
    if not tested.empty:
        page.table(
            ("metric", "models", "Kendall's tau (real vs synthetic)", "p", "note"),
            [
                (
                    BY_NAME[str(r.metric)].label,
                    str(r.n_models),
                    f"{r.tau:+.2f}" if math.isfinite(r.tau) else "n/a",
                    f"{r.p_value:.3f}" if math.isfinite(r.p_value) else "n/a",
                    str(r.note),
                )
                for r in tested.itertuples(index=False)
            ],
            caption="rank agreement of the models' estimates: +1 same order, −1 reversed",
            name="calibration-kendall",
        )


def _models(page: Page, cal: Calibration) -> None:
    page.table(
        ("model", "version", "weights sha256", "spec"),
        [(m["name"], m["version"], m["sha256"] or "none", portable(m["spec"])) for m in cal.models],
        caption="the models calibrated (calibration.json keeps their cards)",
        name="calibration-models",
    )
    failed = cal.cases[cal.cases["status"] != "ok"]
    lines = [f"{r.model} on {r.case_id}: {r.status}" for r in failed.itertuples(index=False)]
    lines += [
        f"twin {f['scan']}~{f['replicate']} not made: {f['error']}" for f in cal.twin_failures
    ]
    lines += cal.notes
    if lines:
        page.paragraph(
            "Failures and notes: " + "; ".join(lines[:20]) + ("; …" if len(lines) > 20 else "")
        )


def summary_lines(cal: Calibration, result: CalibrationResult) -> list[str]:
    """What the command prints: each model's gaps, then the ranking verdicts."""
    lines = [f"calibration, {cal.real_data} vs {cal.tumor_model} (gap = synthetic - real):"]
    for model in sorted(set(result.sides["model"])):
        parts = []
        for metric in METRICS:
            gap = row_of(result.gaps, model=model, metric=metric.name)
            text = (
                "n/a"
                if gap is None
                else ci_text(gap.gap, gap.ci_low, gap.ci_high, gap.ci_method, True)
            )
            parts.append(f"{metric.label} {text}")
        lines.append(f"  {model}: " + "; ".join(parts))
    for r in result.pairs.itertuples(index=False):
        lines.append(f"  {BY_NAME[str(r.metric)].label}, {r.a} vs {r.b}: {r.verdict}")
    return lines


def calibration_figure(result: CalibrationResult, title: str = "") -> Figure:
    """Real (x) vs synthetic (y) per model and metric, with CIs, and the diagonal."""
    fig = Figure(figsize=(4.0 * len(METRICS), 4.2))
    models = sorted(set(result.sides["model"]))
    for k, metric in enumerate(METRICS):
        ax = fig.add_subplot(1, len(METRICS), k + 1)
        ax.plot([0, 1], [0, 1], color="#888888", lw=1, ls="--")
        for i, model in enumerate(models):
            real = row_of(result.sides, model=model, set="real", metric=metric.name)
            synthetic = row_of(result.sides, model=model, set="synthetic", metric=metric.name)
            if real is None or synthetic is None:
                continue
            ax.errorbar(
                real.estimate,
                synthetic.estimate,
                xerr=_err(real),
                yerr=_err(synthetic),
                fmt=MARKERS[i % len(MARKERS)],
                markersize=max(10.0 - 1.5 * i, 4.0),
                color=COLORS[i % len(COLORS)],
                capsize=3,
                label=model,
            )
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        ax.set_xlabel(f"{metric.label}, real tumors")
        ax.set_ylabel(f"{metric.label}, synthetic tumors")
        ax.set_title(metric.label, fontsize=10)
        if k == 0 and models:
            ax.legend(fontsize=8, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _err(row: Any) -> np.ndarray | None:
    """Asymmetric error bar of a row with a CI, None without one."""
    if not (math.isfinite(row.ci_low) and math.isfinite(row.ci_high)):
        return None
    return np.array([[row.estimate - row.ci_low], [row.ci_high - row.estimate]])
