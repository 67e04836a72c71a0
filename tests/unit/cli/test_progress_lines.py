"""Progress off a terminal: the first line, then one every `every_s`, and the last; each with
counts and an ETA. The plan's lines say what runs and the disk it needs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from robustbench_liver.cli import progress as progress_module
from robustbench_liver.cli.progress import Progress, RunProgress, duration, plan_lines, size
from robustbench_liver.runs.runner import RunPlan


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", fake)
    return fake


def test_lines_are_sparse_and_carry_counts_and_an_eta(clock):
    stream = io.StringIO()  # not a terminal
    with Progress(10, "work", stream, every_s=10, unit="pairs") as bar:
        for i in range(10):
            clock.now += 4.0
            bar.advance(failed=i == 2)
    assert stream.getvalue().splitlines() == [
        "work: 1/10 pairs done, 0 failed, 4 s elapsed, ETA 36 s",
        "work: 4/10 pairs done, 1 failed, 16 s elapsed, ETA 24 s",
        "work: 7/10 pairs done, 1 failed, 28 s elapsed, ETA 12 s",
        "work: 10/10 pairs done, 1 failed, 40 s elapsed, done",
    ]


def plan(**changes) -> RunPlan:
    fields = dict(
        scenarios=2,
        cases=40,
        models=2,
        pairs=80,
        done=20,
        units=30,
        cache_dir=Path("/cache"),
        cases_to_build=30,
        case_bytes=27_525_120,
        cached=(12, 330_000_000),
    )
    return RunPlan(**{**fields, **changes})


def test_the_plan_names_counts_and_disk(monkeypatch):
    monkeypatch.setattr(progress_module, "_free_bytes", lambda folder: 10**12)
    assert plan_lines(plan()) == [
        "plan: 2 scenarios, 40 cases x 2 models = 80 (model, case) pairs; 20 already done, "
        "60 to do in 30 units",
        "cache: /cache (holds 12 cases, 330 MB); 30 cases to build or reuse, up to 826 MB "
        "more (28 MB a case)",
    ]


def test_the_plan_warns_when_the_disk_is_too_small(monkeypatch):
    monkeypatch.setattr(progress_module, "_free_bytes", lambda folder: 100_000_000)
    lines = plan_lines(plan())
    assert lines[-1].startswith("warning: only 100 MB free there")
    assert "cache --prune" in lines[-1]


def test_nothing_to_build_says_only_where_the_cache_is():
    assert plan_lines(plan(done=80, units=0, cases_to_build=0))[1] == (
        "cache: /cache (holds 12 cases, 330 MB)"
    )


def test_run_progress_prints_the_plan_before_any_pair(clock, monkeypatch):
    monkeypatch.setattr(progress_module, "_free_bytes", lambda folder: None)
    stream = io.StringIO()
    listener = RunProgress(stream, every_s=10)
    listener.planned(plan(pairs=2, done=0, units=2))
    assert stream.getvalue().startswith("plan: 2 scenarios, 40 cases x 2 models = 2 (model")
    clock.now += 3
    listener.finished({"status": "ok"})
    clock.now += 3
    listener.finished({"status": "timeout"})
    listener.close()
    assert stream.getvalue().splitlines()[-2:] == [
        "synthesize, predict, score: 1/2 pairs done, 0 failed, 3 s elapsed, ETA 3 s",
        "synthesize, predict, score: 2/2 pairs done, 1 failed, 6 s elapsed, done",
    ]


def test_durations_and_sizes_read_well():
    durations = [duration(s) for s in (0.4, 42, 185, 7620)]
    assert durations == ["0 s", "42 s", "3 min 05 s", "2 h 07 min"]
    assert [size(b) for b in (512_000, 27_525_120, 3.4e9, 26e9)] == [
        "512 kB", "28 MB", "3.4 GB", "26 GB"
    ]  # fmt: skip
