"""leaderboard.json -> the `Document` behind leaderboard.md and leaderboard.html."""

from __future__ import annotations

import json
from typing import Any

from robustbench_liver.report.document import (
    Block,
    Bullets,
    Cell,
    Code,
    Details,
    Document,
    Heading,
    Paragraph,
    Table,
)
from robustbench_liver.report.tables import LABELS, METRICS, fmt_ci

INTRO = (
    "Each board holds the models scored on one version of one scenario; boards are never "
    "mixed. Scores are means with cluster-bootstrap CIs over base scans. Every number is "
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
    return Cell(fmt_ci(score["estimate"], score["ci_low"], score["ci_high"]), score["estimate"])


def _worst_cell(worst: dict[str, Any] | None) -> Cell:
    if worst is None:
        return Cell("n/a", "")
    cell = _score_cell(worst["score"])
    return Cell(f"{cell.text} ({worst['condition']})", cell.sort)


def _board_blocks(board: dict[str, Any]) -> list[Block]:
    title = f"{board['scenario']} — version {board['version']} (hash {board['hash'][:12]})"
    stats = board["statistics"]
    blocks: list[Block] = [Heading(2, title)]
    if board["description"]:
        blocks.append(Paragraph(board["description"]))
    blocks += [Paragraph(f"Note: {note}") for note in board["notes"]]
    blocks.append(
        Bullets(
            (
                f"scenario hash {board['hash']}",
                f"reference condition {board['reference']}; conditions: "
                + ", ".join(board["conditions"]),
                f"{stats['confidence']:.0%} CIs, {stats['resamples']} cluster-bootstrap "
                f"resamples over base scans, seed {stats['seed']}",
                "metric profiles: "
                + "; ".join(f"{k} = {v}" for k, v in sorted(board["metric_profiles"].items())),
            )
        )
    )
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
                Cell(str(e["cases"]), e["cases"]),
                Cell(str(e["failed"]), e["failed"]),
            )
        )
    columns = (
        "model",
        "version",
        *(LABELS[m] for m in METRICS),
        "worst-condition DSC",
        "≥ 80 % lesion sens. from",
        "cases",
        "failed",
    )
    blocks.append(Table(columns, tuple(rows), "all conditions pooled; estimate [CI]", "board"))
    blocks.append(_condition_table(board))
    cards = {
        e["model"]: {"spec": e["model_spec"], "card": e["card"], "run": e["run"], "rows": e["rows"]}
        for e in board["entries"]
    }
    blocks.append(
        Details("Model cards and row digests", (Code(json.dumps(cards, indent=2, sort_keys=True)),))
    )
    return blocks


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
