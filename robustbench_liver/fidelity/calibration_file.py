"""The calibration's files: calibration.json (what `report --calibration` and
`leaderboard --calibration` read: per model its card and, per metric, the real and synthetic
scores and the gap, with CIs; the ranking checks), calibration-cases.csv and
calibration-lesions.csv (every row the numbers come from)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from robustbench_liver import __version__
from robustbench_liver.fidelity.calibration_stats import METRICS, CalibrationResult, row_of

if TYPE_CHECKING:
    from robustbench_liver.fidelity.calibrate import Calibration

    Calibrated = tuple[Calibration, CalibrationResult]

FORMAT = "robustbench-liver/calibration"
FORMAT_VERSION = 1
"""calibration.json's format; report.calibration reads the same name and version."""
FIGURE = "calibration.png"
FILES = ("calibration.json", "calibration-cases.csv", "calibration-lesions.csv")


def calibration_document(cal: Calibration, result: CalibrationResult) -> dict[str, Any]:
    """calibration.json: per model its card and, per metric, real, synthetic and gap."""
    models = {}
    for entry in cal.models:
        name = entry["name"]
        metrics = {}
        for metric in METRICS:
            sides = {
                s: _score(row_of(result.sides, model=name, set=s, metric=metric.name))
                for s in ("real", "synthetic")
            }
            gap = row_of(result.gaps, model=name, metric=metric.name)
            metrics[metric.name] = {**sides, "gap": _gap(gap)}
        models[name] = {
            "version": entry["version"],
            "sha256": entry["sha256"],
            "spec": portable(entry["spec"]),
            "card": _portable_card(entry["card"]),
            "metrics": metrics,
        }
    lesions = cal.lesions
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "robustbench_liver": __version__,
        "real_data": cal.real_data,
        "tumor_model": cal.tumor_model,
        "clusters": {"per_lesion": result.lesion_unit, "case_dsc": "real scan"},
        "counts": {
            "real_scans": int(cal.cases.loc[cal.cases["set"] == "real", "real_scan"].nunique()),
            "real_lesions": int(lesions.loc[lesions["set"] == "real", "match"].nunique()),
            "twin_cases": int(cal.cases.loc[cal.cases["set"] == "synthetic", "case_id"].nunique()),
        },
        "metrics": {m.name: m.label for m in METRICS},
        "models": models,
        "ranking": {
            "pairs": _records(result.pairs),
            "kendall": _records(result.kendall),
        },
        "twin_failures": cal.twin_failures,
        "notes": cal.notes,
        "settings": cal.settings,
    }


def _score(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "estimate": _plain(row.estimate),
        "ci_low": _plain(row.ci_low),
        "ci_high": _plain(row.ci_high),
        "ci_method": str(row.ci_method),
        "n": int(row.n),
        "n_clusters": int(row.n_clusters),
    }


def _gap(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "estimate": _plain(row.gap),
        "ci_low": _plain(row.ci_low),
        "ci_high": _plain(row.ci_high),
        "ci_method": str(row.ci_method),
        "n_pairs": int(row.n_pairs),
        "n_clusters": int(row.n_clusters),
        "p_value": _plain(row.p_value),
        "p_adjusted": _plain(row.p_adjusted),
    }


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()} for row in table.to_dict("records")]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def portable(text: str) -> str:
    """A spec or weights path cut to its file name (no local path in a shared file)."""
    path = Path(str(text))
    return path.name if path.is_absolute() else str(text)


def _portable_card(card: dict[str, Any]) -> dict[str, Any]:
    return {k: portable(v) if k == "weights" and isinstance(v, str) else v for k, v in card.items()}


def write_calibration(out: Path, calibrated: Calibrated) -> Path:
    """calibration.json and the row tables under `out`; the JSON file's path."""
    cal, result = calibrated
    cal.cases.to_csv(out / "calibration-cases.csv", index=False)
    cal.lesions.to_csv(out / "calibration-lesions.csv", index=False)
    text = json.dumps(calibration_document(cal, result), indent=2, sort_keys=True, allow_nan=False)
    path = out / "calibration.json"
    path.write_text(text + "\n", encoding="utf-8")
    return path
