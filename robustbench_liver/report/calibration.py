"""A calibration (calibration.json of `robustbench-liver fidelity --model`) as reports and
leaderboards read it: each model's measured synthetic − real gap, shown beside its phantom
scores. The file is read as data only; no model is loaded.

A gap belongs to a model by name; where the calibration's card (version, weights sha256)
differs from the run's, the gap is still shown, with a note that it was measured on another
version of the model.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robustbench_liver.errors import DataError
from robustbench_liver.report.document import Block, Cell, Heading, Paragraph, Table

FORMAT = "robustbench-liver/calibration"
FORMAT_VERSION = 1
"""The format `fidelity.calibration_report` writes (a test keeps the two equal)."""
METRICS = {
    "local_dsc": "local DSC",
    "dsc": "case DSC",
    "lesion_sensitivity": "lesion sensitivity",
}
HEADLINE_METRIC = "local_dsc"
"""The gap shown in one column beside each model (the others are in the calibration table)."""


@dataclass(frozen=True)
class CalibrationFile:
    name: str
    """The file's name (never its local path)."""
    sha256: str
    real_data: str
    tumor_model: str
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Model name -> version, sha256, metrics -> {real, synthetic, gap}."""
    clusters: dict[str, str] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return f"{self.real_data} vs {self.tumor_model}"


def read_calibration(path: str | Path) -> CalibrationFile:
    """Read and check a calibration.json (or the fidelity folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "calibration.json"
    hint = (
        "give the calibration.json that `robustbench-liver fidelity --model ...` wrote in its "
        "--out folder"
    )
    if not path.is_file():
        raise DataError("no calibration file here", path=path, hint=hint)
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"not a calibration file: not JSON ({err})", path=path, hint=hint) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError(f"not a calibration file (no format {FORMAT!r})", path=path, hint=hint)
    if data.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"calibration format version {data.get('format_version')!r}; this "
            f"robustbench-liver reads version {FORMAT_VERSION}",
            path=path,
            hint="run the calibration again with this version",
        )
    models = data.get("models")
    if not isinstance(models, dict) or not all(isinstance(m, dict) for m in models.values()):
        raise DataError("calibration file: 'models' must map names to entries", path=path)
    return CalibrationFile(
        name=path.name,
        sha256=hashlib.sha256(raw).hexdigest(),
        real_data=str(data.get("real_data", "")),
        tumor_model=str(data.get("tumor_model", "")),
        models=models,
        clusters=dict(data.get("clusters") or {}),
    )


def card_note(entry: Mapping[str, Any], card: Mapping[str, Any]) -> str:
    """'' when the calibrated model is the run's (same version and weights, where both say),
    else what differs."""
    differ = [
        f"{label} {entry.get(key)!s:.12} calibrated, {card.get(key)!s:.12} here"
        for key, label in (("version", "version"), ("sha256", "weights"))
        if entry.get(key) not in (None, "") and card.get(key) not in (None, "")
        if str(entry.get(key)) != str(card.get(key))
    ]
    if not differ:
        return ""
    return "measured on another version of the model (" + "; ".join(differ) + ")"


def model_calibration(
    calibration: CalibrationFile, model: str, card: Mapping[str, Any]
) -> dict[str, Any] | None:
    """A model's calibration as a leaderboard entry keeps it, or None when the file has no
    model of that name."""
    entry = calibration.models.get(model)
    if entry is None:
        return None
    metrics = entry.get("metrics") or {}
    gaps = {}
    for name in METRICS:
        gap = (metrics.get(name) or {}).get("gap")
        if isinstance(gap, dict):
            gaps[name] = {k: gap.get(k) for k in ("estimate", "ci_low", "ci_high", "ci_method")}
            gaps[name]["n_pairs"] = int(gap.get("n_pairs") or 0)
    note = card_note(entry, card)
    return {
        "file": calibration.name,
        "file_sha256": calibration.sha256,
        "real_data": calibration.real_data,
        "tumor_model": calibration.tumor_model,
        "same_model": not note,
        "note": note,
        "gaps": gaps,
    }


def gap_text(gap: Mapping[str, Any] | None) -> str:
    """'+0.12 [+0.03, +0.20]'; the estimate and why there is no interval; 'n/a'."""
    if not gap or not _finite(gap.get("estimate")):
        return "n/a"
    text = f"{float(gap['estimate']):+.2f}"
    if _finite(gap.get("ci_low")) and _finite(gap.get("ci_high")):
        return f"{text} [{float(gap['ci_low']):+.2f}, {float(gap['ci_high']):+.2f}]"
    method = str(gap.get("ci_method") or "")
    return f"{text} ({method if method.startswith('no CI') else 'no CI'})"


def gap_cell(calibrated: Mapping[str, Any] | None, metric: str = HEADLINE_METRIC) -> Cell:
    """A table cell with one metric's gap, marked when measured on another model version."""
    if calibrated is None:
        return Cell("not calibrated", "")
    gap = (calibrated.get("gaps") or {}).get(metric)
    text = gap_text(gap)
    if calibrated.get("note") and text != "n/a":
        text += " (other model version)"
    return Cell(text, float(gap["estimate"]) if gap and _finite(gap.get("estimate")) else "")


def calibration_blocks(
    calibration: CalibrationFile, models: Mapping[str, Mapping[str, Any]]
) -> list[Block]:
    """The report's calibration table: per model (name -> its card in the run) the measured
    gap of each metric."""
    rows = []
    for model, card in sorted(models.items()):
        calibrated = model_calibration(calibration, model, card)
        rows.append(
            (
                Cell(model),
                *(gap_cell(calibrated, metric) for metric in METRICS),
                Cell("" if calibrated is None else calibrated["note"] or "same model"),
            )
        )
    units = calibration.clusters.get("per_lesion", "real lesion or scan")
    return [
        Heading(3, "Calibration against real tumors"),
        Paragraph(
            f"From {calibration.name} (sha256 {calibration.sha256[:12]}): {calibration.source}. "
            "Gap = score on size-matched synthetic tumors − score on the real tumors they "
            "stand for, in the same real scans, paired twin by twin (95 % CI clustered by "
            f"{units}; case DSC by real scan). A positive gap means synthetic tumors flatter "
            "the model: on the real tumors measured, it scored that much lower. It was measured "
            "on other data than this run's, so it is a warning, not a correction."
        ),
        Table(
            ("model", *(f"gap, {label}" for label in METRICS.values()), "calibrated model"),
            tuple(rows),
            "synthetic − real [95% CI]",
            "calibration",
        ),
    ]


def _finite(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
