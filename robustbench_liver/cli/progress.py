"""A progress bar on a terminal, plain log lines when piped (all on stderr: stdout keeps the
results, so `run ... | grep` sees no progress)."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from robustbench_liver.runs.runner import RunPlan

LOG_EVERY_S = 10.0
"""Off a terminal (a log file, a pipe): the first line, then one at most this often, and the
last."""


class Progress:
    """`with Progress(total, label) as bar: bar.advance()`; rich on a TTY, sparse lines else."""

    def __init__(
        self,
        total: int,
        label: str,
        stream: IO[str] | None = None,
        every_s: float = LOG_EVERY_S,
        unit: str = "",
    ):
        self.total, self.label, self.done, self.failed = total, label, 0, 0
        self.stream = stream if stream is not None else sys.stderr
        self.every_s, self.unit = every_s, unit
        self._rich: Any = None
        self._start = time.monotonic()
        self._last_log = self._start

    def __enter__(self) -> Progress:
        self._start = self._last_log = time.monotonic()
        if _isatty(self.stream) and self.total > 0:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
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
            return
        now = time.monotonic()
        if self.done == 1 or self.done >= self.total or now - self._last_log >= self.every_s:
            self._last_log = now
            print(self.line(now - self._start), file=self.stream, flush=True)

    def line(self, elapsed: float) -> str:
        """`label: 12/40 pairs done, 1 failed, 35 s elapsed, ETA 1 min 22 s`."""
        unit = f" {self.unit}" if self.unit else ""
        left = max(0, self.total - self.done)
        eta = "done" if left == 0 else f"ETA {duration(elapsed / max(1, self.done) * left)}"
        return (
            f"{self.label}: {self.done}/{self.total}{unit} done, {self.failed} failed, "
            f"{duration(elapsed)} elapsed, {eta}"
        )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None


class RunProgress:
    """`run`'s progress (a `runs.runner.RunProgress`): the plan at once, then a bar or lines
    per finished (model, case), each synthesized (or read from the cache), predicted and
    scored."""

    def __init__(self, stream: IO[str] | None = None, every_s: float = LOG_EVERY_S):
        self.stream = stream if stream is not None else sys.stderr
        self.every_s = every_s
        self.bar: Progress | None = None

    def planned(self, plan: RunPlan) -> None:
        for line in plan_lines(plan):
            print(line, file=self.stream, flush=True)
        label = "synthesize, predict, score"
        self.bar = Progress(plan.todo, label, self.stream, self.every_s, "pairs").__enter__()

    def finished(self, result: dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.advance(failed=result.get("status") != "ok")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def plan_lines(plan: RunPlan) -> list[str]:
    """The plan in two lines: what will run, and what it needs on disk."""
    s = "" if plan.scenarios == 1 else "s"
    lines = [
        f"plan: {plan.scenarios} scenario{s}, {plan.cases} cases x {plan.models} models = "
        f"{plan.pairs} (model, case) pairs; {plan.done} already done, {plan.todo} to do "
        f"in {plan.units} units"
    ]
    entries, held = plan.cached
    holds = f"holds {entries} cases, {size(held)}"
    if plan.cases_to_build == 0:
        lines.append(f"cache: {plan.cache_dir} ({holds})")
    elif plan.case_bytes is None:
        lines.append(
            f"cache: {plan.cache_dir} ({holds}); {plan.cases_to_build} cases to build or reuse"
        )
    else:
        need = plan.cases_to_build * plan.case_bytes
        lines.append(
            f"cache: {plan.cache_dir} ({holds}); {plan.cases_to_build} cases to build or "
            f"reuse, up to {size(need)} more ({size(plan.case_bytes)} a case)"
        )
        free = _free_bytes(plan.cache_dir)
        if free is not None and free < need:
            lines.append(
                f"warning: only {size(free)} free there; cases that do not fit are built "
                "again when needed (robustbench-liver cache --prune, or --cache DIR elsewhere)"
            )
    return lines


def duration(seconds: float) -> str:
    """`42 s`, `3 min 05 s`, `2 h 07 min`."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def size(n_bytes: float) -> str:
    """`512 kB`, `27 MB`, `3.4 GB` (powers of 1000, as disks are sold)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if n_bytes >= scale:
            value = n_bytes / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{n_bytes / 1e3:.0f} kB"


def _free_bytes(folder: Any) -> int | None:
    import shutil
    from pathlib import Path

    path = Path(folder)
    while not path.exists() and path != path.parent:  # not made yet: its nearest parent
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def _isatty(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
