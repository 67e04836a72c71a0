"""leaderboard.json -> the `Document` behind leaderboard.md and leaderboard.html."""

from __future__ import annotations

import json
from typing import Any

from robustbench_liver.report.calibration import METRICS as GAP_METRICS
from robustbench_liver.report.calibration import gap_cell
from robustbench_liver.report.document import (
    Block,
    Bullets,
    Cell,
    Code,
    Details,
    Document,
    Heading,
    Note,
    Paragraph,
    Table,
)
from robustbench_liver.report.phantom import TITLE as PHANTOM_TITLE
from robustbench_liver.report.tables import LABELS, METRICS, fmt_ci
from robustbench_liver.stats import intervals
from robustbench_liver.types import card_for_display

INTRO = (
    "Each board holds the models scored on one version of one scenario and on the same cases "
    "(runs with another --limit, unfinished runs or other base scans get a board of their "
    "own, with a note on how they differ); boards are never mixed. Rows of cases a model saw "
    "in training are left out of its scores unless the board says otherwise. Scores are "
    "means with 95 % CIs clustered by base scan (none where too few base scans leave no "
    "interval that covers; the cell says how many are needed). A failed prediction counts "
    "as a miss (on a control, as a false positive): models are ranked by DSC counted so, "
    "then by fewer failures; the scored-only figure follows in parentheses where it differs. "
    "The small-tumor headline holds only at no more than one false-positive lesion per case. "
    "A board whose cases come from the built-in phantom says so at its top: phantom scores "
    "rank models on the phantom, not on patients. "
    "Every number is "
    "recomputed from the run folders' per-case rows by `robustbench-liver leaderboard RUNDIR... "
    "--out DIR --verify`, and leaderboard.json follows a versioned JSON Schema "
    "(robustbench_liver/report/leaderboard.schema.json). Click a column header to sort."
)


def leaderboard_document(document: dict[str, Any]) -> Document:
    doc = Document("robustbench-liver leaderboard")
    doc.add(Paragraph(INTRO))
    doc.add(
        Paragraph(
            f"Schema {document['schema']} version {document['schema_version']}, written by "
            f"robustbench-liver {document['package_version']}."
        )
    )
    for board in document["boards"]:
        doc.add(*_board_blocks(board))
    return doc


def _score_cell(score: dict[str, Any] | None) -> Cell:
    if not score or score.get("estimate") is None:
        return Cell("n/a", "")
    text = fmt_ci(score["estimate"], score["ci_low"], score["ci_high"], score.get("ci_method"))
    scored_only = score.get("scored_only")
    if scored_only is not None and f"{scored_only:.2f}" != f"{score['estimate']:.2f}":
        text += f" (scored only {scored_only:.2f})"  # failures counted in the main figure
    return Cell(text, score["estimate"])


def _worst_cell(worst: dict[str, Any] | None) -> Cell:
    if worst is None:
        return Cell("n/a", "")
    cell = _score_cell(worst["score"])
    return Cell(f"{cell.text} ({worst['condition']})", cell.sort)


def _count(value: int) -> Cell:
    return Cell(str(value), value)


def _board_blocks(board: dict[str, Any]) -> list[Block]:
    cases = board["case_set"]
    title = (
        f"{board['scenario']} — version {board['version']} (hash {board['hash'][:12]}), "
        f"{cases['cases']} cases"
    )
    stats = board["statistics"]
    blocks: list[Block] = [Heading(2, title)]
    if board["caveat"]:  # before anything else: what the scores below can mean
        blocks.append(Note(PHANTOM_TITLE, board["caveat"]))
    if board["description"]:
        blocks.append(Paragraph(board["description"]))
    blocks += [Paragraph(f"Note: {note}") for note in board["notes"]]
    blocks.append(
        Bullets(
            (
                f"scenario hash {board['hash']}",
                f"case set {cases['sha256']}: {cases['cases']} cases ({cases['tumor_cases']} "
                f"with tumor, {cases['controls']} controls) from {cases['base_scans']} base scans",
                "rows of cases seen in training: "
                + ("included (--include-seen)" if board["include_seen"] else "left out"),
                f"reference condition {board['reference']}; conditions: "
                + ", ".join(board["conditions"]),
                intervals.policy(stats["confidence"], stats["resamples"])
                + f" Seed {stats['seed']}; failed predictions count as misses.",
                "metric profiles: "
                + "; ".join(f"{k} = {v}" for k, v in sorted(board["metric_profiles"].items())),
            )
        )
    )
    # a column for rows seen in training only where a model has some
    seen = any(e["seen_in_training"]["case_rows"] for e in board["entries"])
    calibrated = any(e["calibration"] for e in board["entries"])
    seen_column = "seen in training " + ("(scored)" if board["include_seen"] else "(left out)")
    rows = []
    for e in board["entries"]:
        worst = e["worst_condition"]
        head = e["small_tumor"]
        if head is None:
            head_cell = Cell("n/a", "")
        else:
            text = head["label"] + (" (censored)" if head["censored"] else "")
            head_cell = Cell(text, head["radius_mm"] if head["reached"] else "")
        rows.append(
            (
                Cell(e["model"]),
                Cell(e["model_version"]),
                *(_score_cell(e["scores"].get(m)) for m in METRICS),
                _worst_cell(worst),
                head_cell,
                *(_count(e["case_set"][k]) for k in ("cases", "controls", "base_scans")),
                _count(e["failed"]),
                *((_count(e["seen_in_training"]["case_rows"]),) if seen else ()),
                *((gap_cell(e["calibration"]),) if calibrated else ()),
            )
        )
    columns = (
        "model",
        "version",
        *(LABELS[m] for m in METRICS),
        "worst-condition DSC",
        "≥ 80 % lesion sens. from",
        "cases",
        "controls",
        "base scans",
        "failed",
        *((seen_column,) if seen else ()),
        *(("calibrated gap, local DSC (synthetic − real)",) if calibrated else ()),
    )
    blocks.append(Table(columns, tuple(rows), "all conditions pooled; estimate [CI]", "board"))
    if calibrated:
        blocks.append(_calibration_table(board))
    blocks.append(_condition_table(board))
    cards = {
        e["model"]: {
            "spec": e["model_spec"],
            "card": card_for_display(e["card"]),  # leaderboard.json keeps every field
            "run": e["run"],
            "limit": e["limit"],
            "rows": e["rows"],
            "case_set": e["case_set"],
        }
        for e in board["entries"]
    }
    blocks.append(
        Details("Model cards and row digests", (Code(json.dumps(cards, indent=2, sort_keys=True)),))
    )
    return blocks


def _calibration_table(board: dict[str, Any]) -> Table:
    """Each model's measured gaps, from the calibration file the board was built with."""
    rows = []
    sources = set()
    for e in board["entries"]:
        c = e["calibration"]
        if c is not None:
            sources.add(f"{c['file']} ({c['real_data']} vs {c['tumor_model']})")
        rows.append(
            (
                Cell(e["model"]),
                *(gap_cell(c, metric) for metric in GAP_METRICS),
                Cell("not calibrated" if c is None else c["note"] or "same model"),
            )
        )
    caption = (
        "measured synthetic − real gap [95% CI] on real scans with tumor labels, from "
        + "; ".join(sorted(sources))
        + ": a positive gap means synthetic tumors flatter the model"
    )
    columns = ("model", *(f"gap, {label}" for label in GAP_METRICS.values()), "calibrated model")
    return Table(columns, tuple(rows), caption, "calibration")


def _condition_table(board: dict[str, Any]) -> Table:
    rows = []
    for e in board["entries"]:
        rows.append(
            (
                Cell(e["model"]),
                *(_score_cell(e["conditions"].get(c, {}).get("dsc")) for c in board["conditions"]),
            )
        )
    columns = (
        "model",
        *(c + (" (ref.)" if c == board["reference"] else "") for c in board["conditions"]),
    )
    return Table(columns, tuple(rows), "DSC per condition", "conditions")
