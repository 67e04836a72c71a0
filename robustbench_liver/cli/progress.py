"""A progress bar on a terminal, plain log lines when piped."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any


class Progress:
    """`with Progress(total, label) as bar: bar.advance()`; rich on a TTY, quiet lines else."""

    def __init__(self, total: int, label: str):
        self.total, self.label, self.done, self.failed = total, label, 0, 0
        self._rich: Any = None
        self._start = time.monotonic()
        self._last_log = 0.0

    def __enter__(self) -> Progress:
        if sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                TimeRemainingColumn(),
                transient=True,
            )
            self._rich.start()
            self._task = self._rich.add_task(self.label, total=self.total, failed=0)
        return self

    def advance(self, failed: bool = False) -> None:
        self.done += 1
        self.failed += int(failed)
        if self._rich is not None:
            self._rich.update(self._task, advance=1, failed=self.failed)
        elif time.monotonic() - self._last_log > 10 or self.done == self.total:
            self._last_log = time.monotonic()
            elapsed = time.monotonic() - self._start
            print(
                f"{self.label}: {self.done}/{self.total} done, {self.failed} failed, "
                f"{elapsed:.0f} s",
                file=sys.stderr,
                flush=True,
            )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._rich is not None:
            self._rich.stop()
