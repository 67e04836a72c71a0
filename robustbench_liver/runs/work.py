"""One unit of work, run inside a worker: build a batch of cases, predict with each model,
score, and write the parts. Failures become rows; nothing here ends a run."""

from __future__ import annotations

import functools
import importlib
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robustbench_liver.errors import ModelError, RobustBenchError
from robustbench_liver.metrics import (
    MetricOptions,
    ToleranceBelowSpacingWarning,
    failed_case_row,
    score_case,
)
from robustbench_liver.metrics.case import PredictionError
from robustbench_liver.runs.lesions import lesion_properties
from robustbench_liver.runs.store import RunStore
from robustbench_liver.scenarios import CaseSpec, Scenario
from robustbench_liver.scenarios.cache import CaseCache
from robustbench_liver.scenarios.testset import cached_case
from robustbench_liver.types import Case


class PredictionTimeout(RobustBenchError):
    pass


@dataclass(frozen=True)
class Unit:
    """Cases of one scenario and the models still to run on each of them."""

    scenario: Scenario
    cases: tuple[CaseSpec, ...]
    models: tuple[str, ...]
    run_dir: str
    timeout_s: float | None
    threads: int


def load_model(spec: str) -> Any:
    """A model by registered name, YAML spec path, or 'package.module:factory' (memoised per
    worker process, so each worker loads a model once)."""
    return _load_model(spec)


@functools.lru_cache(maxsize=16)
def _load_model(spec: str) -> Any:
    if ":" in spec and not Path(spec).exists():
        module, _, name = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as err:
            raise ModelError(f"cannot import model {spec!r}: {err}") from None
        return factory() if callable(factory) else factory
    from robustbench_liver.models import get_model

    return get_model(spec)


def model_name(model: Any, spec: str) -> str:
    card = getattr(model, "card", None)
    return str(getattr(card, "name", None) or spec)


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise PredictionTimeout after `seconds` (SIGALRM: works in a worker's main thread, and
    interrupts Python code or a sleep; elsewhere the overrun is reported after the fact)."""
    if not seconds:
        yield
        return
    if threading.current_thread() is not threading.main_thread():
        start = time.monotonic()
        yield
        if time.monotonic() - start > seconds:
            raise PredictionTimeout(
                f"took {time.monotonic() - start:.0f} s, over the {seconds:g} s limit"
            )
        return

    def alarm(signum, frame):
        raise PredictionTimeout(f"no answer within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_unit(unit: Unit) -> list[dict[str, Any]]:
    """Do a unit; return one summary per (model, case): status and error."""
    _set_threads(unit.threads)
    # spacing coarser than the NSD tolerance is said once per run (and kept in every row)
    warnings.simplefilter("ignore", ToleranceBelowSpacingWarning)
    store = RunStore(unit.run_dir)
    cache = CaseCache(store.cache_dir)
    scenario = unit.scenario
    options = _metric_options(scenario)
    done: list[dict[str, Any]] = []
    for spec in unit.cases:
        try:
            case, _ = cached_case(scenario, spec, cache)
        except RobustBenchError as err:  # e.g. no place left for a tumor: every model fails
            for model_spec in unit.models:
                row = failed_case_row(
                    spec.case_id, "synthesis_error", str(err), _identity(unit, spec, model_spec)
                )
                store.write_part(scenario.name, row["model"], spec.case_id, row, [])
                done.append(_summary(row))
            continue
        for model_spec in unit.models:
            row, lesions = _predict_and_score(unit, spec, case, model_spec, options)
            store.write_part(scenario.name, row["model"], spec.case_id, row, lesions)
            done.append(_summary(row))
    return done


def _predict_and_score(
    unit: Unit, spec: CaseSpec, case: Case, model_spec: str, options: MetricOptions
):
    extra = _identity(unit, spec, model_spec)
    start = time.perf_counter()
    try:
        model = load_model(model_spec)
        extra["model"] = model_name(model, model_spec)
        extra["model_version"] = str(getattr(getattr(model, "card", None), "version", ""))
        liver = case.label >= 1 if _needs_liver(model) else None
        with deadline(unit.timeout_s):
            prediction = model.predict(np.array(case.image), case.spacing, liver=liver)
    except PredictionTimeout as err:
        return _failed(spec, extra, "timeout", str(err), start), []
    except Exception as err:  # a third-party model may raise anything: record it, go on
        return _failed(spec, extra, "model_error", _describe(err), start), []
    seconds = time.perf_counter() - start
    try:
        prediction = np.asarray(prediction)
        scores = score_case(
            prediction,
            case.label,
            case.spacing or spec.scan.load().spacing,
            case_id=spec.case_id,
            options=options,
            extra=extra,
        )
    except PredictionError as err:
        return _failed(spec, extra, err.status, str(err), start), []
    except RobustBenchError as err:
        return _failed(spec, extra, "invalid_prediction", str(err), start), []
    row = {**scores.case, "seconds": seconds, "n_tumors": len(case.tumors)}
    where = lesion_properties(case)
    lesions = [{**lesion, **where.get(int(lesion["lesion_id"]), {})} for lesion in scores.lesions]
    return row, lesions


def _identity(unit: Unit, spec: CaseSpec, model_spec: str) -> dict[str, Any]:
    return {
        "scenario": unit.scenario.name,
        "scenario_version": unit.scenario.spec.version,
        "model": model_spec,
        "model_version": "",
        "condition": spec.condition,
        "base_scan": spec.scan.id,
        "replicate": spec.replicate,
        "is_control": spec.is_control,
    }


def _failed(spec: CaseSpec, extra: dict, status: str, error: str, start: float) -> dict[str, Any]:
    row = failed_case_row(spec.case_id, status, error, extra)
    row["seconds"] = time.perf_counter() - start
    return row


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in ("scenario", "model", "case_id", "status", "error")}


def _describe(err: BaseException) -> str:
    """'RuntimeError: out of memory (in predict, model.py:46)': the error and where the
    model's own code raised it."""
    frames = traceback.extract_tb(err.__traceback__)
    where = (
        f" (in {frames[-1].name}, {Path(frames[-1].filename).name}:{frames[-1].lineno})"
        if frames
        else ""
    )
    return f"{type(err).__name__}: {str(err)[:500]}{where}"


def _needs_liver(model: Any) -> bool:
    card = getattr(model, "card", None)
    return bool(
        getattr(card, "needs_liver", False)
        or getattr(getattr(card, "input", None), "needs_liver", False)
    )


def _metric_options(scenario: Scenario) -> MetricOptions:
    m = scenario.spec.metrics
    return MetricOptions(
        nsd_tolerance_mm=m.nsd_tolerance_mm,
        min_volume_mm3=m.min_volume_mm3,
        lesion_rule=m.lesion_match,
        iou_threshold=m.iou_threshold,
    )


def _set_threads(threads: int) -> None:
    """A fixed thread count per worker keeps floating-point sums, and so predictions, the same
    whatever the number of workers."""
    try:
        import torch
    except ImportError:
        return
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
