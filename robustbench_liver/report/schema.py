"""The leaderboard's JSON Schema (leaderboard.schema.json beside this file), checked on every
write and every read: one error lists every problem with its JSON location."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from robustbench_liver.errors import DataError

SCHEMA_PATH = Path(__file__).with_name("leaderboard.schema.json")
SCHEMA_NAME = "robustbench-liver/leaderboard"
SCHEMA_VERSION = 3


@functools.lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def problems(document: Any) -> list[str]:
    """Every way `document` breaks the schema, as 'at boards/0/entries/1/scores: message'."""
    from jsonschema import Draft202012Validator  # only the leaderboard needs it

    validator = Draft202012Validator(schema())
    found = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path))):
        where = "/".join(str(p) for p in error.path) or "(top level)"
        found.append(f"at {where}: {error.message[:300]}")
    return found


def validate(document: Any, path: str | Path | None = None) -> None:
    """Raise a DataError naming the file and every problem when `document` is not valid."""
    if isinstance(document, dict) and document.get("schema_version") not in (None, SCHEMA_VERSION):
        raise DataError(
            f"leaderboard schema version {document.get('schema_version')!r}; this "
            f"robustbench-liver reads version {SCHEMA_VERSION}",
            path=path,
            hint="rebuild it with `robustbench-liver leaderboard RUNDIR... --out DIR`",
        )
    found = problems(document)
    if found:
        listing = "\n  ".join(found[:20]) + (
            f"\n  ... and {len(found) - 20} more" if len(found) > 20 else ""
        )
        raise DataError(
            f"not a valid leaderboard ({len(found)} problem(s)):\n  {listing}",
            path=path,
            hint="rebuild it from the run folders instead of editing it by hand",
        )
