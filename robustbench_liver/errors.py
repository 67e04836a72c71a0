"""Errors written for people: what went wrong, where, and what to do about it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class RobustBenchError(Exception):
    """Base class of every error the suite raises on purpose."""


class DataError(RobustBenchError):
    """A scan, label file or prediction that cannot be used as it is."""

    def __init__(self, message: str, path: str | Path | None = None, hint: str | None = None):
        self.path = None if path is None else Path(path)
        self.hint = hint
        where = f"{self.path}: " if self.path is not None else ""
        text = f"{where}{message}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class ScenarioError(RobustBenchError):
    """One or more problems in a scenario file, each with its YAML location."""

    def __init__(self, file: str | Path | None, problems: list[tuple[str, int | None, str]]):
        """`problems` holds (dotted field path, line or None, message) triples."""
        self.file = None if file is None else Path(file)
        self.problems = problems
        lines = []
        for field, line, message in problems:
            at = f":{line}" if line is not None else ""
            loc = f"{self.file or '<scenario>'}{at}"
            lines.append(f"{loc}: {field}: {message}" if field else f"{loc}: {message}")
        head = f"{len(problems)} problem(s) in scenario" if len(problems) > 1 else ""
        super().__init__("\n".join([head, *lines]) if head else lines[0] if lines else "")


class ModelError(RobustBenchError):
    """A model that cannot be found, loaded or run, or that returned something unusable."""


class SynthesisError(RobustBenchError):
    """Tumor synthesis cannot do what was asked (for example, no vessel-free place is left)."""


def did_you_mean(name: str, known: Iterable[str], what: str = "name", listing: bool = True) -> str:
    """A message for an unknown `name`: the closest known ones, then (if `listing`) all."""
    options = sorted(known)
    name = str(name)  # YAML may hand over a number or a boolean where a name belongs
    close = difflib.get_close_matches(name, options, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    if not listing:
        return f"unknown {what} {name!r}.{hint}"
    return f"unknown {what} {name!r}.{hint} Known: {', '.join(options) or '(none)'}."
