"""Leaderboards: run folders -> one JSON document (schema: leaderboard.schema.json), a pure
function of the per-case rows, so `verify` can recompute every number and compare."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from robustbench_liver import __version__
from robustbench_liver.errors import DataError, RobustBenchError
from robustbench_liver.report.digest import plain, rows_digest
from robustbench_liver.report.files import write_shared
from robustbench_liver.report.headline import small_tumor_headline
from robustbench_liver.report.rundata import RunData, ScenarioInfo, load_run, profiles
from robustbench_liver.report.schema import SCHEMA_NAME, SCHEMA_VERSION, validate
from robustbench_liver.report.tables import METRICS
from robustbench_liver.runs.summary import scores

SEED = 0
TOLERANCE = 1e-9
BoardKey = tuple[str, int, str]


def build_leaderboard(
    runs: Sequence[RunData | str | Path], resamples: int | None = None
) -> dict[str, Any]:
    """The leaderboard of every (scenario version, model) in `runs`, schema-checked.

    Each scenario version (name, version, hash) gets its own board; the same model on the
    same scenario version in two run folders is refused (which one would count?).
    `resamples` overrides each scenario's `statistics.resamples`.
    """
    found = _collect([r if isinstance(r, RunData) else load_run(r) for r in runs])
    return _document(found, {key: resamples for key in found})


def _collect(runs: list[RunData]) -> dict[BoardKey, dict[str, tuple[RunData, ScenarioInfo]]]:
    found: dict[BoardKey, dict[str, tuple[RunData, ScenarioInfo]]] = {}
    for data in runs:
        for name in data.scenario_names:
            info = data.scenario(name)
            key = (info.name, info.version, info.hash)
            for model in sorted(set(data.cases.loc[data.cases["scenario"] == name, "model"])):
                if model in found.setdefault(key, {}):
                    other = found[key][model][0].root
                    raise DataError(
                        f"model {model!r} on scenario {name!r} v{info.version} "
                        f"({info.hash[:12]}) is in two run folders: {other} and {data.root}",
                        hint="give only one of them (or merge them into one run folder)",
                    )
                found[key][model] = (data, info)
    return found


def _document(
    found: dict[BoardKey, dict[str, tuple[RunData, ScenarioInfo]]],
    resamples: dict[BoardKey, int | None],
) -> dict[str, Any]:
    boards = [_board(found[key], resamples.get(key)) for key in sorted(found)]
    names = [b["scenario"] for b in boards]
    for board in boards:
        versions = names.count(board["scenario"])
        if versions > 1:
            board["notes"].insert(
                0,
                f"Scenario {board['scenario']!r} is on this page in {versions} versions; "
                " scores of different versions measure different things and are not "
                "comparable.",
            )
    document = {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "package_version": __version__,
        "boards": boards,
    }
    validate(document)
    return document


def _board(
    models: dict[str, tuple[RunData, ScenarioInfo]], resamples: int | None
) -> dict[str, Any]:
    info = next(iter(models.values()))[1]
    n_resamples = int(resamples or info.resamples)
    entries = [
        entry(data, info, model, n_resamples, info.confidence)
        for model, (data, info) in sorted(models.items())
    ]
    entries.sort(key=lambda e: (-_or(e["scores"].get("dsc", {}).get("estimate")), e["model"]))
    cases = pd.concat([d.cases[d.cases["scenario"] == info.name] for d, _ in models.values()])
    lesions = pd.concat([d.scenario_lesions(info.name) for d, _ in models.values()])
    notes = []
    versions = sorted({e["package_version"] for e in entries})
    if len(versions) > 1:
        notes.append(f"Entries were run with different robustbench-liver versions: {versions}.")
    return {
        "scenario": info.name,
        "version": info.version,
        "hash": info.hash,
        "description": info.description,
        "reference": info.reference,
        "conditions": list(info.conditions),
        "metrics": dict(info.spec.get("metrics") or {}),
        "statistics": {
            "resamples": n_resamples,
            "confidence": info.confidence,
            "seed": SEED,
            "cluster": "base_scan",
        },
        "metric_profiles": profiles(cases, lesions),
        "notes": notes,
        "entries": entries,
    }


def entry(
    data: RunData, info: ScenarioInfo, model: str, resamples: int, confidence: float
) -> dict[str, Any]:
    """One model's entry on one board, from its rows alone."""
    cases, lesions = model_rows(data, info.name, model)
    stats = dict(resamples=resamples, confidence=confidence, seed=SEED)
    pooled = _scores(scores(cases, lesions, by=("model",), **stats))  # type: ignore[arg-type]
    per_condition = scores(cases, lesions, by=("model", "condition"), **stats)  # type: ignore[arg-type]
    conditions = {
        c: _scores(per_condition[per_condition["condition"] == c])
        for c in info.conditions
        if (per_condition["condition"] == c).any()
    }
    worst = None
    dsc = [
        (c, s["dsc"]) for c, s in conditions.items() if _finite(s.get("dsc", {}).get("estimate"))
    ]
    if dsc:
        condition, score = min(dsc, key=lambda cs: cs[1]["estimate"])  # first of ties
        worst = {"condition": condition, "metric": "dsc", "score": score}
    headline = small_tumor_headline(lesions, info.bins, **stats)  # type: ignore[arg-type]
    card_entry = data.model_entry(model)
    versions = sorted({str(v) for v in cases.get("model_version", pd.Series([], dtype=str))})
    return {
        "model": model,
        "model_version": ", ".join(v for v in versions if v)
        or str((card_entry.get("card") or {}).get("version", "")),
        "model_spec": str(card_entry.get("spec", model)),
        "card": _json_safe(card_entry.get("card") or {}),
        "run": data.root.name,
        "package_version": str(data.manifest.get("package_version", "")),
        "cases": len(cases),
        "failed": int((cases["status"] != "ok").sum()),
        "rows": {
            "cases_sha256": rows_digest(cases),
            "lesions_sha256": rows_digest(lesions),
            "case_rows": len(cases),
            "lesion_rows": len(lesions),
        },
        "scores": pooled,
        "conditions": conditions,
        "worst_condition": worst,
        "small_tumor": _headline(headline[0]) if headline else None,
    }


def model_rows(data: RunData, scenario: str, model: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    cases = data.cases[(data.cases["scenario"] == scenario) & (data.cases["model"] == model)]
    lesions = data.scenario_lesions(scenario)
    if not lesions.empty:
        lesions = lesions[lesions["model"] == model]
    return cases.reset_index(drop=True), lesions.reset_index(drop=True)


def _scores(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    out = {}
    for metric in METRICS:
        rows = table[table["metric"] == metric] if not table.empty else table
        if rows.empty:
            continue
        r = rows.iloc[0]
        out[metric] = {
            "estimate": plain(float(r["estimate"])),
            "ci_low": plain(float(r["ci_low"])),
            "ci_high": plain(float(r["ci_high"])),
            "n": int(r["n"]),
            "n_clusters": int(r["n_clusters"]),
            "ci_method": str(r["ci_method"]),
        }
    return out


def _headline(h: Any) -> dict[str, Any]:
    data = h.to_dict()
    for key in ("model", "bin", "confidence", "resamples"):
        data.pop(key)
    return {k: plain(v) for k, v in data.items()}


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, allow_nan=True).replace("NaN", "null"))


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _or(value: Any) -> float:
    return float(value) if _finite(value) else -math.inf


# --- files ---


def write_leaderboard(document: dict[str, Any], out: str | Path) -> list[Path]:
    """leaderboard.json (validated first), leaderboard.md and leaderboard.html under `out`."""
    from robustbench_liver.report.document import render_markdown
    from robustbench_liver.report.html import render_html
    from robustbench_liver.report.leaderboard_pages import leaderboard_document

    out = Path(out)
    validate(document, out / "leaderboard.json")
    text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n"
    page = leaderboard_document(document)
    files = {
        "leaderboard.json": text,
        "leaderboard.md": render_markdown(page),
        "leaderboard.html": render_html(page, toc=False),
    }
    for name, content in files.items():
        write_shared(out / name, content.encode("utf-8"))
    return [out / name for name in files]


def read_leaderboard(path: str | Path) -> dict[str, Any]:
    """A leaderboard.json (or the folder holding one), schema-checked."""
    path = Path(path)
    if path.is_dir():
        path = path / "leaderboard.json"
    if not path.exists():
        raise DataError(
            "no leaderboard here", path=path, hint="build it first: robustbench-liver leaderboard"
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"not JSON ({err})", path=path, hint="rebuild it") from None
    validate(document, path)
    return document


def verify(document: dict[str, Any], runs: Sequence[RunData | str | Path]) -> list[str]:
    """Every difference between `document` and the leaderboard recomputed from the rows of
    `runs` with the same statistics (empty when they agree; numbers agree within 1e-9).
    Run folder names and the writing package version are not compared."""
    found = _collect([r if isinstance(r, RunData) else load_run(r) for r in runs])
    stated_resamples = {
        (b["scenario"], b["version"], b["hash"]): b["statistics"]["resamples"]
        for b in document["boards"]
    }
    again = _keyed(_document(found, {k: stated_resamples.get(k) for k in found}))
    stated = _keyed(document)
    changed = []
    for board, entries in stated["boards"].items():
        for model, e in entries["entries"].items():
            other = again["boards"].get(board, {}).get("entries", {}).get(model)
            if other is not None and other["rows"] != e["rows"]:
                changed.append(
                    f"{board} / {model}: the per-case rows in the run folders are not the ones "
                    "this leaderboard was built from (digest mismatch); rebuild it"
                )
    return changed + _compare(stated, again, "leaderboard")


def _keyed(document: dict[str, Any]) -> dict[str, Any]:
    """Boards by 'name vN (hash)', entries by model: mismatches then name what they are."""
    boards = {}
    for board in document["boards"]:
        entries = {}
        for e in board["entries"]:
            entries[e["model"]] = {k: v for k, v in e.items() if k != "run"}
        key = f"{board['scenario']} v{board['version']} ({board['hash'][:12]})"
        boards[key] = {**board, "entries": entries}
    return {"boards": boards, "schema_version": document["schema_version"]}


def verify_or_raise(document: dict[str, Any], runs: Sequence[RunData | str | Path]) -> None:
    found = verify(document, runs)
    if found:
        listing = "\n  ".join(found[:30])
        more = f"\n  ... and {len(found) - 30} more" if len(found) > 30 else ""
        raise RobustBenchError(
            f"leaderboard does not match its run folders ({len(found)} mismatch(es)):\n  "
            f"{listing}{more}"
        )


def _compare(stated: Any, again: Any, path: str) -> list[str]:
    if isinstance(stated, dict) and isinstance(again, dict):
        out = []
        for key in sorted(set(stated) | set(again)):
            if key not in stated or key not in again:
                side = "leaderboard" if key in stated else "run folders"
                out.append(f"{path} / {key}: only in the {side}")
                continue
            out += _compare(stated[key], again[key], f"{path} / {key}")
        return out
    if isinstance(stated, list) and isinstance(again, list) and len(stated) == len(again):
        return [
            m
            for i, (a, b) in enumerate(zip(stated, again, strict=True))
            for m in _compare(a, b, f"{path} / {i}")
        ]
    numbers = (int, float)
    if (
        isinstance(stated, numbers)
        and isinstance(again, numbers)
        and not isinstance(stated, bool)
        and not isinstance(again, bool)
    ):
        if math.isclose(stated, again, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
            return []
        return [f"{path}: leaderboard says {stated!r}, the rows give {again!r}"]
    return (
        [] if stated == again else [f"{path}: leaderboard says {stated!r}, the rows give {again!r}"]
    )
