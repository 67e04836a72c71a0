"""Leaderboards: run folders -> one JSON document (schema: leaderboard.schema.json), a pure
function of the per-case rows, so `verify` can recompute every number and compare."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from robustbench_liver import __version__
from robustbench_liver.errors import DataError, RobustBenchError
from robustbench_liver.metrics.registry import BY_NAME, RANK_BY
from robustbench_liver.report.calibration import CalibrationFile, model_calibration
from robustbench_liver.report.casesets import CaseSet, case_set, difference, seen_rows
from robustbench_liver.report.digest import plain, rows_digest
from robustbench_liver.report.files import write_shared
from robustbench_liver.report.headline import small_tumor_headline
from robustbench_liver.report.leaderboard_compare import (
    BoardKey,
    board_key,
    calibration_problems,
    compare,
    keyed,
    label,
    split_versions,
)
from robustbench_liver.report.paths import portable
from robustbench_liver.report.phantom import caveat, phantom_share
from robustbench_liver.report.rundata import RunData, ScenarioInfo, load_run, profiles
from robustbench_liver.report.schema import SCHEMA_NAME, SCHEMA_VERSION, validate
from robustbench_liver.report.tables import METRICS
from robustbench_liver.runs.store import RunStore
from robustbench_liver.runs.summary import model_failures, scores

SEED = 0


@dataclass(frozen=True)
class Member:
    """One model's rows on one scenario version in one run folder, and their case set."""

    data: RunData
    info: ScenarioInfo
    case_set: CaseSet

    @property
    def limit(self) -> int | None:
        """The run's --limit for this scenario, as its manifest records it."""
        value = self.info.entry.get("limit")
        return int(value) if isinstance(value, int) else None


Found = dict[BoardKey, dict[str, Member]]


def build_leaderboard(
    runs: Sequence[RunData | str | Path],
    resamples: int | None = None,
    include_seen: bool = False,
    same_cases: bool = False,
    calibration: CalibrationFile | None = None,
) -> dict[str, Any]:
    """The leaderboard of every (scenario version, case set, model) in `runs`, schema-checked.

    Each scenario version (name, version, hash) gets a board per case set: runs of it on
    other cases (a --limit, an unfinished run, other base scans) go on a board of their own,
    with a note saying how the case sets differ; `same_cases` refuses them instead. The same
    model on the same scenario version and case set in two run folders is refused (which one
    would count?). Rows marked `seen_in_training` are left out of the scores unless
    `include_seen`. `resamples` overrides each scenario's `statistics.resamples`. Each board
    says what share of its cases come from the built-in phantom (and what that means); with
    a `calibration`, each entry carries its model's measured synthetic − real gap.
    """
    found = _collect([r if isinstance(r, RunData) else load_run(r) for r in runs])
    if same_cases:
        _refusesplit_versions(found)
    return _document(found, {key: resamples for key in found}, include_seen, calibration)


def _collect(runs: list[RunData]) -> Found:
    found: Found = {}
    for data in runs:
        for name in data.scenario_names:
            info = data.scenario(name)
            rows = data.cases[data.cases["scenario"] == name]
            for model in sorted(set(rows["model"])):
                cases = case_set(rows[rows["model"] == model])
                key = (info.name, info.version, info.hash, cases.sha256)
                if model in found.setdefault(key, {}):
                    other = found[key][model].data.root
                    raise DataError(
                        f"model {model!r} on scenario {name!r} v{info.version} "
                        f"({info.hash[:12]}), the same {cases.cases} cases, is in two run "
                        f"folders: {other} and {data.root}",
                        hint="give only one of them (or merge them into one run folder)",
                    )
                found[key][model] = Member(data, info, cases)
    return found


def _refusesplit_versions(found: Found) -> None:
    """A DataError naming how the case sets differ when a scenario version has several."""
    for version, sets in _case_sets(found).items():
        if len(sets) > 1:
            name, number, hash_ = version
            largest = _name(found, version, sets[0])
            lines = [f"{largest}: {sets[0].summary()}"] + [
                f"{_name(found, version, s)}: {s.summary()}; {difference(s, sets[0], largest)}"
                for s in sets[1:]
            ]
            raise DataError(
                f"scenario {name!r} v{number} ({hash_[:12]}) was run on {len(sets)} different "
                "case sets, which cannot share one board:\n  " + "\n  ".join(lines),
                hint="run the same cases (same --limit and data root, finished runs), or drop "
                "--same-cases to put each case set on a board of its own",
            )


def _case_sets(found: Found) -> dict[tuple[str, int, str], list[CaseSet]]:
    """Scenario version -> its case sets on the page, the largest first."""
    out: dict[tuple[str, int, str], list[CaseSet]] = {}
    for key, members in found.items():
        out.setdefault(key[:3], []).append(next(iter(members.values())).case_set)
    for sets in out.values():
        sets.sort(key=lambda s: (-s.cases, s.sha256))
    return out


def _runs(found: Found, key: BoardKey) -> str:
    """'run lim2 (--limit 2)', 'runs a, b': the run folders of one board, with their limits."""
    seen: dict[str, int | None] = {}
    for member in found[key].values():
        seen.setdefault(member.data.root.name, member.limit)
    names = [n + (f" (--limit {limit})" if limit else "") for n, limit in sorted(seen.items())]
    return ("run " if len(names) == 1 else "runs ") + ", ".join(names)


def _name(found: Found, version: tuple[str, int, str], cases: CaseSet) -> str:
    """'case set 0123456789ab (run full)': how a note names another board."""
    key = (*version, cases.sha256)
    return f"case set {cases.sha256[:12]} ({_runs(found, key)})"


def _document(
    found: Found,
    resamples: dict[BoardKey, int | None],
    include_seen: bool | dict[BoardKey, bool],
    calibration: CalibrationFile | None = None,
) -> dict[str, Any]:
    keys = sorted(found, key=_board_order(found))
    seen = include_seen if isinstance(include_seen, dict) else {k: include_seen for k in found}
    boards = [
        _board(found[key], resamples.get(key), seen.get(key, False), calibration) for key in keys
    ]
    versions = {name: {(v, h) for n, v, h, _ in found if n == name} for name, *_ in found}
    sets = _case_sets(found)
    for key, board in zip(keys, boards, strict=True):
        notes = []
        if len(versions[key[0]]) > 1:
            notes.append(
                f"Scenario {key[0]!r} is on this page in {len(versions[key[0]])} versions; "
                "scores of different versions measure different things and are not comparable."
            )
        others = [s for s in sets[key[:3]] if s.sha256 != key[3]]
        if others:
            mine = next(iter(found[key].values())).case_set
            against = "; ".join(
                difference(mine, other, _name(found, key[:3], other)) for other in others
            )
            notes.append(
                f"Scenario {key[0]!r} v{key[1]} was run on {len(others) + 1} case sets, each on "
                "a board of its own: scores on different cases are not comparable. This board: "
                f"{_runs(found, key)}, {mine.summary()}, that is {against}."
            )
        board["notes"][:0] = notes
    document = {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "package_version": __version__,
        "boards": boards,
    }
    validate(document)
    return document


def _board_order(found: Found) -> Callable[[BoardKey], tuple[Any, ...]]:
    """Boards by scenario name, version and hash; within one version the largest case set
    first."""
    return lambda key: (*key[:3], -next(iter(found[key].values())).case_set.cases, key[3])


def _board(
    models: dict[str, Member],
    resamples: int | None,
    include_seen: bool,
    calibration: CalibrationFile | None = None,
) -> dict[str, Any]:
    info = next(iter(models.values())).info
    n_resamples = int(resamples or info.resamples)
    # the rows scored: one copy per run folder without the rows seen in training
    runs = {id(m.data): m.data if include_seen else without_seen(m.data) for m in models.values()}
    entries = []
    for model, member in sorted(models.items()):
        data = runs[id(member.data)]
        e = entry(data, member.info, model, n_resamples, member.info.confidence)
        e["calibration"] = (
            None if calibration is None else model_calibration(calibration, model, e["card"])
        )
        entries.append(_annotate(e, member))
    # failure-counted DSC first; on a tie, the model that failed less (it answered) ranks higher
    sign = -1.0 if BY_NAME[RANK_BY].higher_is_better else 1.0
    entries.sort(
        key=lambda e: (
            sign * _or(e["scores"].get(RANK_BY, {}).get("estimate"), sign),
            e["failed"],
            e["model"],
        )
    )
    cases = pd.concat([d.cases[d.cases["scenario"] == info.name] for d in runs.values()])
    lesions = pd.concat([d.scenario_lesions(info.name) for d in runs.values()])
    notes = []
    versions = sorted({e["package_version"] for e in entries})
    if len(versions) > 1:
        notes.append(f"Entries were run with different robustbench-liver versions: {versions}.")
    notes += _seen_notes(entries, include_seen)
    # the case set's own rows (seen-in-training ones too): which base scans are the phantom
    every = pd.concat(
        [m.data.cases[m.data.cases["scenario"] == info.name] for m in models.values()]
    )
    share = phantom_share(every, {info.name: info.entry})
    calibrated = any(e["calibration"] is not None for e in entries)
    return {
        "scenario": info.name,
        "version": info.version,
        "hash": info.hash,
        "description": portable(info.description),
        "reference": info.reference,
        "conditions": list(info.conditions),
        "case_set": next(iter(models.values())).case_set.counts(),
        "include_seen": include_seen,
        "metrics": portable(dict(info.spec.get("metrics") or {})),
        "statistics": {
            "resamples": n_resamples,
            "confidence": info.confidence,
            "seed": SEED,
            "cluster": "base_scan",
        },
        "metric_profiles": profiles(cases, lesions),
        "phantom": share.to_dict(),
        "caveat": caveat(share, calibrated),
        "notes": notes,
        "entries": entries,
    }


def without_seen(data: RunData) -> RunData:
    """`data` without the rows marked seen_in_training (their lesions too)."""
    cases = data.cases[~seen_rows(data.cases)]
    lesions = data.lesions
    if not lesions.empty:
        lesions = lesions[~seen_rows(lesions, data.cases)]
    return dataclasses.replace(data, cases=cases, lesions=lesions)


def _annotate(e: dict[str, Any], member: Member) -> dict[str, Any]:
    """An entry with its case set, the run's --limit, its rows marked seen_in_training
    (whether or not they were scored), and no local paths."""
    cases, lesions = model_rows(member.data, member.info.name, e["model"])
    return {
        **e,
        "model_spec": portable(e["model_spec"]),
        "card": portable(e["card"]),
        "limit": member.limit,
        "case_set": {**member.case_set.counts(), "lesions": len(lesions)},
        "seen_in_training": {
            "case_rows": int(seen_rows(cases).sum()),
            "lesion_rows": int(seen_rows(lesions, cases).sum()) if not lesions.empty else 0,
        },
    }


def _seen_notes(entries: list[dict[str, Any]], include_seen: bool) -> list[str]:
    """What the board did with rows marked seen_in_training, model by model."""
    seen = {e["model"]: e["seen_in_training"] for e in entries}
    listing = ", ".join(
        f"{m}: {s['case_rows']} case rows, {s['lesion_rows']} lesion rows"
        for m, s in sorted(seen.items())
        if s["case_rows"] or s["lesion_rows"]
    )
    if not listing:
        return []
    if include_seen:
        return [f"Scores include rows the model saw in training (--include-seen) ({listing})."]
    total = sum(s["case_rows"] for s in seen.values())
    return [
        f"{total} case rows marked seen_in_training (the model was trained on that case's base "
        f"scan) were left out of the scores ({listing}); --include-seen keeps them."
    ]


def entry(
    data: RunData, info: ScenarioInfo, model: str, resamples: int, confidence: float
) -> dict[str, Any]:
    """One model's entry on one board, from its rows alone."""
    cases, lesions = model_rows(data, info.name, model)
    stats = dict(resamples=resamples, confidence=confidence, seed=SEED)
    pooled = _scores(*_both(cases, lesions, ("model",), stats))
    counted, scored = _both(cases, lesions, ("model", "condition"), stats)
    conditions = {
        c: _scores(counted[counted["condition"] == c], scored[scored["condition"] == c])
        for c in info.conditions
        if (counted["condition"] == c).any()
    }
    worst = None
    dsc = [
        (c, s["dsc"]) for c, s in conditions.items() if _finite(s.get("dsc", {}).get("estimate"))
    ]
    if dsc:
        condition, score = min(dsc, key=lambda cs: cs[1]["estimate"])  # first of ties
        worst = {"condition": condition, "metric": "dsc", "score": score}
    headline = small_tumor_headline(lesions, info.bins, **stats, cases=cases)  # type: ignore[arg-type]
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
        "failed": int(model_failures(cases).sum()),
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


def _both(
    cases: pd.DataFrame, lesions: pd.DataFrame, by: tuple[str, ...], stats: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores with failures counted (what the board ranks by) and over scored cases only."""
    return (
        scores(cases, lesions, by=by, **stats),
        scores(cases, lesions, by=by, failures="exclude", intervals=False, **stats),
    )


def _scores(table: pd.DataFrame, scored_only: pd.DataFrame) -> dict[str, dict[str, Any]]:
    out = {}
    for metric in METRICS:
        rows = table[table["metric"] == metric] if not table.empty else table
        if rows.empty:
            continue
        r = rows.iloc[0]
        other = scored_only[scored_only["metric"] == metric] if not scored_only.empty else None
        out[metric] = {
            "estimate": plain(float(r["estimate"])),
            "ci_low": plain(float(r["ci_low"])),
            "ci_high": plain(float(r["ci_high"])),
            "n": int(r["n"]),
            "n_clusters": int(r["n_clusters"]),
            "ci_method": str(r["ci_method"]),
            "scored_only": plain(float(other.iloc[0]["estimate"]))
            if other is not None and not other.empty
            else None,
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


def _or(value: Any, sign: float = -1.0) -> float:
    """The value, or the worst rank where there is none (last whatever the direction)."""
    return float(value) if _finite(value) else sign * math.inf


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


def verify(
    document: dict[str, Any],
    runs: Sequence[RunData | str | Path],
    calibration: CalibrationFile | None = None,
) -> list[str]:
    """Every difference between `document` and the leaderboard recomputed from the rows of
    `runs` with the same statistics and the same choice on rows seen in training (empty when
    they agree; numbers agree within 1e-9). A board that shows calibrated gaps verifies only
    against the same `calibration` file. Where the runs were made is not compared: run
    folder names, --limit, the notes (which name the runs) and the writing package version;
    the row digests cover results and case identity, not timings or paths (report.digest).
    Each run folder's part files are checked too, against its parts.sha256 and its tables
    (`RunStore.audit`): an edited part is named even before the tables are rebuilt."""
    loaded = [r if isinstance(r, RunData) else load_run(r) for r in runs]
    found = _collect(loaded)
    boards = {board_key(b): b for b in document["boards"]}
    again = _document(
        found,
        {k: boards[k]["statistics"]["resamples"] for k in found if k in boards},
        {k: bool(boards[k]["include_seen"]) for k in found if k in boards},
        calibration,
    )
    split = split_versions({*boards, *found})
    unchecked = calibration_problems(document, calibration)
    # no file to check the gaps against: said once, and the rest is compared without them
    checked = calibration is not None or not unchecked
    stated, recomputed = keyed(document, split, checked), keyed(again, split, checked)
    changed = _audit(loaded) + _moved(boards, found, split) + unchecked
    for board, entries in stated["boards"].items():
        for model, e in entries["entries"].items():
            other = recomputed["boards"].get(board, {}).get("entries", {}).get(model)
            if other is not None and other["rows"] != e["rows"]:
                changed.append(
                    f"{board} / {model}: the per-case rows in the run folders are not the ones "
                    "this leaderboard was built from (digest mismatch); rebuild it"
                )
    return changed + compare(stated, recomputed, "leaderboard")


def _audit(runs: list[RunData]) -> list[str]:
    """Where each run folder's part files, parts.sha256 and tables disagree."""
    return [
        f"run folder {root}: {problem}"
        for root in dict.fromkeys(data.root for data in runs)
        for problem in RunStore(root).audit()
    ]


def _moved(
    boards: dict[BoardKey, dict[str, Any]], found: Found, split: set[tuple[str, int, str]]
) -> list[str]:
    """A model of a board that the run folders hold only on another case set, in words."""
    out = []
    for key, board in boards.items():
        for e in board["entries"]:
            if e["model"] in found.get(key, {}):
                continue
            for other, members in found.items():
                if other[:3] == key[:3] and other != key and e["model"] in members:
                    now = members[e["model"]].case_set
                    stated = board["case_set"]
                    out.append(
                        f"{label(key, split)} / {e['model']}: the board was built from "
                        f"{stated['cases']} cases (case set {key[3][:12]}), the run folders "
                        f"hold {now.summary()} (case set {now.sha256[:12]}); rebuild it"
                    )
    return out


def verify_or_raise(
    document: dict[str, Any],
    runs: Sequence[RunData | str | Path],
    calibration: CalibrationFile | None = None,
) -> None:
    found = verify(document, runs, calibration)
    if found:
        listing = "\n  ".join(found[:30])
        more = f"\n  ... and {len(found) - 30} more" if len(found) > 30 else ""
        raise RobustBenchError(
            f"leaderboard does not match its run folders ({len(found)} mismatch(es)):\n  "
            f"{listing}{more}"
        )
