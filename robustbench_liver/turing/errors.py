"""What can go wrong in a reader study, said so that the organiser knows what to fix."""

from __future__ import annotations

from pathlib import Path

from robustbench_liver.errors import RobustBenchError


class TuringError(RobustBenchError):
    """A reader study that cannot be exported or scored as asked."""

    def __init__(self, message: str, path: str | Path | None = None, hint: str | None = None):
        self.path = None if path is None else Path(path)
        self.hint = hint
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{message}" + (f" ({hint})" if hint else ""))


class KeyFileError(TuringError):
    """key.json is missing, damaged, or not a study key."""


class AnswersError(TuringError):
    """An answers file that cannot be scored: wrong format, unknown or missing items."""


class StudyMismatchError(AnswersError):
    """An answers file from another study than the key's."""


class TuringWarning(UserWarning):
    """The study came out smaller than asked, or a tumor could not be used."""
