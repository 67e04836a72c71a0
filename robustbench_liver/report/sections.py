"""The blocks of one scenario's part of a run report: what was measured, scores, changes
against the reference, plots, detection by size and failures."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

import pandas as pd

from robustbench_liver.report import plots
from robustbench_liver.report.document import (
    Block,
    Bullets,
    Cell,
    Code,
    Details,
    Figure,
    Heading,
    Paragraph,
    Table,
)
from robustbench_liver.report.headline import THRESHOLD, Headline
from robustbench_liver.report.paths import portable
from robustbench_liver.report.rundata import ScenarioInfo
from robustbench_liver.report.tables import LABELS, METRICS, fmt_ci, fmt_number, fmt_p, lookup
from robustbench_liver.runs.store import slug
from robustbench_liver.stats import intervals, unreachable_significance

DEFINITIONS = {
    "dsc": "Dice of the tumor class per case, averaged over cases with tumor (undefined on "
    "controls, which are left out).",
    "nsd": "normalized surface Dice at the tolerance of its profile, surfel-area definition "
    "(Nikolov et al.; the Decathlon's), averaged like DSC.",
    "case_sensitivity": "share of cases with tumor in which the predicted tumor volume reaches "
    "the profile's minimum volume.",
    "case_specificity": "share of tumor-free control cases in which it does not.",
    "lesion_sensitivity": "share of ground-truth lesions (26-connected components) that a "
    "predicted tumor voxel touches (or that reach the IoU rule of the profile), pooled over "
    "all lesions.",
    "lesion_precision": "share of predicted lesions (26-connected components) that touch a "
    "ground-truth lesion, pooled over all predicted lesions of the scored tumor cases.",
    "fp_per_case": "predicted lesions that touch no ground-truth lesion, per scored tumor "
    "case: what a model pays for its sensitivity (on controls, specificity counts them).",
}
FAILURE_POLICY = (
    "failures count: a failed prediction (crash, timeout, unusable output) on a tumor case "
    "is a miss (DSC = NSD = 0, case and lesions not found), on a control a false positive; "
    "precision and false positives per case use the scored tumor cases. Where the scored-only "
    "figure differs, it is given in parentheses."
)
EMPTY_POLICY = (
    "ground truth without tumor: DSC and NSD undefined, the case counts for specificity; "
    "tumor missed entirely: DSC = NSD = 0"
)


@dataclass(frozen=True)
class ScenarioNumbers:
    """Everything computed for one scenario, ready to render."""

    info: ScenarioInfo
    models: list[str]
    conditions: list[str]
    scores: pd.DataFrame
    """Failures counted (the default and what leaderboards rank by)."""
    scored_only: pd.DataFrame
    """The same scores over the scored cases only."""
    failures: pd.DataFrame
    failed_cases: pd.DataFrame
    condition_tests: pd.DataFrame
    model_tests: pd.DataFrame
    by_size: pd.DataFrame
    headlines: list[Headline]
    profiles: dict[str, str]
    resamples: int
    confidence: float


def n(value: object) -> Cell:
    """A numeric cell sorted by its value ('' sorts n/a last)."""
    text = fmt_number(value)
    return Cell(text, "" if text == "n/a" else float(value))  # type: ignore[arg-type]


def count(value: object) -> Cell:
    """An integer cell."""
    return Cell(str(int(value)), float(value))  # type: ignore[call-overload,arg-type]


def ci(row: pd.Series | None) -> Cell:
    if row is None:
        return Cell("n/a", "")
    text = fmt_ci(row["estimate"], row["ci_low"], row["ci_high"], row.get("ci_method"))
    return Cell(text, "" if text == "n/a" else float(row["estimate"]))


def ci_with_scored_only(row: pd.Series | None, scored: pd.Series | None) -> Cell:
    """The failure-counted score, and the scored-only estimate where it differs."""
    cell = ci(row)
    if (
        row is None
        or scored is None
        or fmt_number(scored["estimate"]) == fmt_number(row["estimate"])
    ):
        return cell
    return Cell(f"{cell.text} (scored only {fmt_number(scored['estimate'])})", cell.sort)


def what_was_measured(num: ScenarioNumbers) -> list[Block]:
    info = num.info
    entry = info.entry
    scans = ", ".join(str(s.get("id", s)) for s in entry.get("base_scans", []))
    blocks: list[Block] = [
        Paragraph(info.description or "(no description)"),
        *seen_in_training_note(num),
        Bullets(
            (
                f"scenario {info.name}, version {info.version}, hash {info.hash}",
                f"seed {entry.get('seed')}; reference condition {info.reference}",
                f"base scans: {scans or 'n/a'}; {entry.get('n_cases', 'n/a')} cases per model"
                + (f" (limited to {entry['limit']} per condition)" if entry.get("limit") else ""),
                intervals.policy(num.confidence, num.resamples) + " (README, Statistics)",
                FAILURE_POLICY,
                "p-values: paired sign-flip permutation by base scan; a condition is matched to "
                "the reference case by case (base scan, replicate, control or not); "
                f"{info.correction} adjustment across all comparisons of this scenario",
            )
        ),
        Heading(3, "Conditions"),
        Table(
            ("condition", "levels", "settings"),
            tuple(
                (
                    Cell(c + (" (reference)" if c == info.reference else "")),
                    Cell(", ".join(f"{a}={lv}" for a, lv in info.levels.get(c, ())) or "n/a"),
                    Cell(json.dumps(info.settings.get(c, {}), sort_keys=True)),
                )
                for c in num.conditions
            ),
            name="conditions",
        ),
        Heading(3, "Metrics and their profiles"),
        Table(
            ("metric", "profile", "definition"),
            (
                *(
                    (Cell(LABELS[m]), Cell(num.profiles.get(m, "n/a")), Cell(DEFINITIONS[m]))
                    for m in METRICS
                ),
                (
                    Cell("empty cases"),
                    Cell(num.profiles.get("empty_policy", "n/a")),
                    Cell(EMPTY_POLICY),
                ),
            ),
            name="profiles",
        ),
    ]
    return blocks


def score_table(num: ScenarioNumbers) -> Table:
    rows = []
    for condition in num.conditions:
        for model in num.models:
            counts = lookup(num.failures, model=model, condition=condition)
            if counts is None:
                continue
            cells = [Cell(condition), Cell(model), count(counts["cases"]), count(counts["failed"])]
            for metric in METRICS:
                keys = dict(model=model, condition=condition, metric=metric)
                row = lookup(num.scores, **keys)
                if row is None and metric == "case_specificity":
                    cells.append(_shared_controls(num, condition))
                    continue
                cells.append(ci_with_scored_only(row, lookup(num.scored_only, **keys)))
            rows.append(tuple(cells))
    columns = ("condition", "model", "cases", "failed", *(LABELS[m] for m in METRICS))
    caption = (
        f"estimate [{num.confidence:.0%} CI]; failed predictions count as misses (controls: "
        "as false positives), the scored-only estimate in parentheses where it differs"
    ) + rare_miss_note(num.scores)
    return Table(columns, tuple(rows), caption, name="scores")


RARE_MISS_SCANS = 32
"""Base scans from which DSC intervals cover with one case per scan and rare misses
(README, 'Where intervals still fail')."""


def rare_miss_note(scores: pd.DataFrame) -> str:
    """Says so where DSC / NSD intervals rest on few base scans with about one case each and
    few misses: there the coverage simulation found them too narrow."""
    if scores.empty:
        return ""
    rows = scores[scores["metric"].isin(["dsc", "nsd"]) & scores["ci_low"].notna()]
    thin = rows[(rows["n_clusters"] < RARE_MISS_SCANS) & (rows["n"] < 2 * rows["n_clusters"])]
    if thin.empty:
        return ""
    return (
        f". DSC and NSD intervals over fewer than {RARE_MISS_SCANS} base scans with about one "
        "case each assume that total misses (DSC 0) are not rare: with about 1 in 10 cases "
        "missed they covered only 72–85 % in simulation (README, Statistics)"
    )


def _shared_controls(num: ScenarioNumbers, condition: str) -> Cell:
    """Conditions that render the same images share one set of controls (scenarios.plan):
    point to the condition that holds them."""
    holder = num.info.control_holders.get(condition)
    if holder is None or holder == condition:
        return Cell("n/a", "")
    return Cell(f"shared: see {holder}", "")


def change_table(num: ScenarioNumbers) -> Table:
    rows = []
    tests = num.condition_tests
    # only the metrics compared (precision and false positives per case are not paired)
    compared = [m for m in METRICS if not tests.empty and (tests["metric"] == m).any()]
    for condition in num.conditions:
        if condition == num.info.reference:
            continue
        for model in num.models:
            if lookup(tests, model=model, a=condition) is None:
                continue  # nothing scored to compare (e.g. every case failed)
            cells = [Cell(condition), Cell(model)]
            for metric in compared:
                row = lookup(tests, model=model, a=condition, metric=metric)
                if row is None:
                    cells += [Cell("n/a", ""), Cell("n/a", "")]
                    continue
                cells.append(
                    Cell(
                        fmt_ci(row["difference"], row["ci_low"], row["ci_high"], row["ci_method"]),
                        float(row["difference"]),
                    )
                )
                cells.append(Cell(fmt_p(row["p_adjusted"]), n(row["p_adjusted"]).sort))
            rows.append(tuple(cells))
    columns = ["condition", "model"]
    for metric in compared:
        columns += [f"Δ {LABELS[metric]}", "p (adj.)"]
    caption = (
        f"condition − {num.info.reference}, paired case by case, [{num.confidence:.0%} CI]; "
        f"p-values {num.info.correction}-adjusted. Lesion sensitivity is compared through each "
        "case's share of lesions found." + power_note(num, num.condition_tests)
    )
    return Table(tuple(columns), tuple(rows), caption, name="changes")


def power_note(num: ScenarioNumbers, tests: pd.DataFrame) -> str:
    """Says so when too few base scans leave the sign-flip test no chance of significance,
    so that a column of p = 1 is not read as 'no effect'."""
    alpha = 1.0 - num.confidence
    gap = unreachable_significance(tests, num.resamples, num.info.correction, alpha)
    if gap is None:
        return ""
    clusters, n_tests, floor = gap
    return (
        f" With at most {clusters} base scans per comparison, no {num.info.correction}-adjusted "
        f"p-value of these {n_tests} comparisons can fall below {floor:.2g}: nothing here "
        f"can reach significance at {alpha:.2g}, whatever the effect. More base scans (for "
        "the phantom, a larger `count`) give the test its power."
    )


def size_table(num: ScenarioNumbers) -> Table:
    rows = []
    for _, r in num.by_size.iterrows():
        rows.append(
            (
                Cell(str(r["model"])),
                Cell(str(r["label"]), float(r["bin"])),
                count(r["lesions"]),
                count(r["detected"]),
                ci(r if r["lesions"] else None),
            )
        )
    caption = (
        f"lesion sensitivity per equivalent-radius bin, all conditions pooled, "
        f"[{num.confidence:.0%} CI]"
    )
    return Table(
        ("model", "radius bin", "lesions", "detected", "sensitivity"),
        tuple(rows),
        caption,
        name="by-size",
    )


def _seen(num: ScenarioNumbers) -> dict[str, dict[str, list[str]]]:
    """model -> base scan -> ids of the cases marked seen_in_training (the runner copies
    them from the rows into the manifest)."""
    return dict(num.info.entry.get("seen_in_training") or {})


def seen_in_training_note(num: ScenarioNumbers) -> list[Block]:
    """A warning when a model was evaluated on base scans its card lists as training data:
    those cases test memory, not robustness."""
    seen = _seen(num)
    if not seen:
        return []
    parts = [
        f"{model} on " + ", ".join(f"{scan} ({len(ids)} cases)" for scan, ids in scans.items())
        for model, scans in seen.items()
    ]
    return [
        Paragraph(
            "WARNING, seen in training: " + "; ".join(parts) + ". The model card lists these "
            "base scans as training data (trained_on_scans), so their cases (column "
            "seen_in_training; marked in the case lists) test memory, not generalisation. "
            "The scores in this report include them."
        )
    ]


def failure_blocks(num: ScenarioNumbers) -> list[Block]:
    total = int(num.failures["failed"].sum()) if not num.failures.empty else 0
    blocks: list[Block] = [Heading(3, "Failures")]
    if total == 0:
        return [*blocks, Paragraph("Every (model, case) pair was scored: no failures.")]
    per_model = num.failures.groupby("model")[["cases", "failed"]].sum().reset_index()
    seen = {(m, c) for m, scans in _seen(num).items() for ids in scans.values() for c in ids}
    blocks.append(
        Table(
            ("model", "cases", "failed"),
            tuple(
                (Cell(str(r.model)), count(r.cases), count(r.failed))
                for r in per_model.itertuples()
            ),
            name="failure-counts",
        )
    )
    rows = tuple(
        (
            Cell(str(r["model"])),
            Cell(
                f"{r['case_id']} (seen in training)"
                if (r["model"], r["case_id"]) in seen
                else str(r["case_id"])
            ),
            Cell(str(r["status"])),
            Cell(portable(str(r["error"] or ""))[:300]),
        )
        for _, r in num.failed_cases.iterrows()
    )
    blocks.append(
        Details(
            f"{total} failed (model, case) pairs",
            (Table(("model", "case", "status", "error"), rows, name="failures"),),
        )
    )
    return blocks


def plot_blocks(num: ScenarioNumbers) -> list[Block]:
    info = num.info
    stem = slug(info.name)
    blocks: list[Block] = [Heading(3, "Plots")]
    single_axis = len(info.axes) == 1 and all(c in info.levels for c in num.conditions)
    ticks = [info.levels[c][0][1] for c in num.conditions] if single_axis else num.conditions
    if not num.scores.empty:
        blocks.append(
            Figure(
                f"{stem}-metrics.png",
                plots.png(
                    plots.metric_vs_level(
                        num.scores,
                        num.conditions,
                        ticks,
                        info.reference,
                        METRICS,
                        num.models,
                        xlabel=info.axes[0] if single_axis else "condition",
                        holders=info.control_holders,
                    )
                ),
                f"{info.name}: each metric per condition, one line per model",
                f"Estimate per condition with its {num.confidence:.0%} CI band; * marks the "
                "reference condition.",
            )
        )
        blocks.append(
            Figure(
                f"{stem}-heatmap.png",
                plots.png(plots.heatmap(num.scores, "dsc", num.models, num.conditions)),
                f"{info.name}: DSC per model and condition",
                "DSC estimate per model (rows) and condition (columns).",
            )
        )
    if not num.by_size.empty and num.by_size["lesions"].sum() > 0:
        blocks.append(
            Figure(
                f"{stem}-radius.png",
                plots.png(plots.sensitivity_vs_radius(num.by_size, num.models, THRESHOLD)),
                f"{info.name}: lesion sensitivity by tumor radius",
                f"Lesion sensitivity per radius bin (all conditions) with {num.confidence:.0%} "
                "CIs; the dashed line is the 80 % of the small-tumor headline.",
            )
        )
    if not num.model_tests.empty:
        blocks.append(
            Figure(
                f"{stem}-forest.png",
                plots.png(plots.forest(num.model_tests, ["dsc", "nsd"], num.conditions)),
                f"{info.name}: paired model differences",
                "Mean paired difference a − b per condition on the same cases (failures "
                f"counted as misses), with {num.confidence:.0%} CIs; filled red: adjusted "
                "p < 0.05." + power_note(num, num.model_tests),
            )
        )
    return blocks


def source_blocks(info: ScenarioInfo) -> list[Block]:
    if not info.sources:
        return [Paragraph("(the manifest holds no scenario text)")]
    blocks: list[Block] = [Code(portable(text), "yaml") for text in info.sources.values()]
    names = ", ".join(PurePath(p).name for p in info.sources)
    return [Details(f"Scenario text ({names})", tuple(blocks))]


def ordered(known: Sequence[str], present: Sequence[str]) -> list[str]:
    """The manifest's order first, then anything else found in the rows (sorted)."""
    present_set = set(present)
    first = [c for c in known if c in present_set]
    return first + sorted(present_set - set(first))
