"""How `leaderboard --verify` compares a stated board with the one recomputed from the run
folders: boards by label and entries by model, provenance left out, numbers within
`TOLERANCE`; and which calibration file a board's gaps come from."""

from __future__ import annotations

import math
from typing import Any

from robustbench_liver.report.calibration import CalibrationFile

TOLERANCE = 1e-9
BoardKey = tuple[str, int, str, str]
"""(scenario name, version, hash, case-set sha256): one board each."""


def calibration_problems(
    document: dict[str, Any], calibration: CalibrationFile | None
) -> list[str]:
    """The calibration files the board's gaps come from, against the one given, in words."""
    used = {
        (e["calibration"]["file"], e["calibration"]["file_sha256"])
        for board in document["boards"]
        for e in board["entries"]
        if e.get("calibration")
    }
    if not used:
        return []
    listing = ", ".join(f"{name} (sha256 {sha[:12]})" for name, sha in sorted(used))
    if calibration is None:
        return [
            f"the board shows calibrated gaps from {listing}: pass that file with "
            "--calibration to verify them"
        ]
    if {sha for _, sha in used} != {calibration.sha256}:
        return [
            f"the board's gaps come from {listing}, not from {calibration.name} (sha256 "
            f"{calibration.sha256[:12]})"
        ]
    return []


def board_key(board: dict[str, Any]) -> BoardKey:
    return (board["scenario"], board["version"], board["hash"], board["case_set"]["sha256"])


def split_versions(keys: set[BoardKey]) -> set[tuple[str, int, str]]:
    """Scenario versions with more than one case set: their board labels name the case set."""
    versions = [k[:3] for k in keys]
    return {v for v in versions if versions.count(v) > 1}


def label(key: BoardKey, split: set[tuple[str, int, str]]) -> str:
    """'name vN (hash)', and ', case set <sha>' when the version has several case sets."""
    text = f"{key[0]} v{key[1]} ({key[2][:12]})"
    return text + (f", case set {key[3][:12]}" if key[:3] in split else "")


# where a run was made, not what it found: left out of verify's comparison
_PROVENANCE = {"run", "limit"}


# what a calibration file adds: left out when there is no file to check it against
_CALIBRATED = {"calibration", "caveat"}


def keyed(
    document: dict[str, Any], split: set[tuple[str, int, str]], calibrated: bool = True
) -> dict[str, Any]:
    """Boards by label, entries by model, without provenance and notes (and without what a
    calibration adds, unless `calibrated`): mismatches then name what they are."""
    drop = set() if calibrated else _CALIBRATED
    boards = {}
    for board in document["boards"]:
        entries = {}
        for e in board["entries"]:
            entries[e["model"]] = {
                k: v for k, v in e.items() if k not in _PROVENANCE and k not in drop
            }
        rest = {k: v for k, v in board.items() if k != "notes" and k not in drop}
        boards[label(board_key(board), split)] = {**rest, "entries": entries}
    return {"boards": boards, "schema_version": document["schema_version"]}


def compare(stated: Any, again: Any, path: str) -> list[str]:
    if isinstance(stated, dict) and isinstance(again, dict):
        out = []
        for key in sorted(set(stated) | set(again)):
            if key not in stated or key not in again:
                side = "leaderboard" if key in stated else "run folders"
                out.append(f"{path} / {key}: only in the {side}")
                continue
            out += compare(stated[key], again[key], f"{path} / {key}")
        return out
    if isinstance(stated, list) and isinstance(again, list) and len(stated) == len(again):
        return [
            m
            for i, (a, b) in enumerate(zip(stated, again, strict=True))
            for m in compare(a, b, f"{path} / {i}")
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
