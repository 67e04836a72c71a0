"""One unit of work, run inside a worker: build a batch of cases, predict with each model
(each in a process of its own, see runs.isolate), score, and write the parts. Failures
become rows; nothing here ends a run."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.metrics import (
    MetricOptions,
    ToleranceBelowSpacingWarning,
    failed_case,
    failed_case_row,
    score_case,
    tumor_mask_from_prediction,
)
from robustbench_liver.metrics.case import PredictionError
from robustbench_liver.runs.isolate import Answer, Failure, ModelInfo, ModelProcess
from robustbench_liver.runs.lesions import lesion_properties
from robustbench_liver.runs.loading import (
    _load_model,
    add_cwd_to_path,
    describe,
    model_name,
    needs_liver,
)
from robustbench_liver.runs.roster import known_info, load_model, model_process
from robustbench_liver.runs.store import RunStore
from robustbench_liver.scenarios import CaseSpec, Scenario
from robustbench_liver.scenarios.cache import CaseCache
from robustbench_liver.scenarios.testset import cached_case
from robustbench_liver.types import Case

BENCH_ERROR = "bench_error"
"""Status of a pair the bench itself failed on (a bug, a full disk, a lost worker)."""

STOPPING = threading.Event()
"""Set when a run with worker threads is interrupted: units still running write nothing
more (their pairs are done again on resume), not rows for models ended under them."""

Places = dict[str, dict[int, dict[str, Any]]]


@dataclass(frozen=True)
class Unit:
    """Cases of one scenario and the models still to run on each of them."""

    scenario: Scenario
    cases: tuple[CaseSpec, ...]
    models: tuple[str, ...]
    run_dir: str
    timeout_s: float | None
    threads: int


def run_unit(unit: Unit) -> list[dict[str, Any]]:
    """Do a unit; return one summary per (model, case): status and error. Never raises an
    Exception: what the bench itself fails on becomes failed rows of this unit's pairs."""
    done: list[dict[str, Any]] = []
    try:
        _run_unit(unit, done)
    except Exception as err:  # our own failure: this unit's pairs fail, the run goes on
        if STOPPING.is_set():  # not a failure: the run is ending under it
            return done
        for spec in unit.models:  # perhaps mid-message: the next unit starts them afresh
            model_process(spec).stop()
        text = f"the bench failed on this unit: {describe(err)}"
        done += unit_failed(unit, BENCH_ERROR, text, done)
    return done


def unit_failed(
    unit: Unit, status: str, error: str, done: Iterable[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """Write a failed row (no lesions: no case was built) for each pair of `unit` that has
    none yet; their summaries."""
    finished = {(d.get("model"), d.get("case_id")) for d in done}
    store = RunStore(unit.run_dir)
    out = []
    for spec in unit.cases:
        for model_spec in unit.models:
            name = _known_name(model_spec)
            if (name, spec.case_id) in finished or store.is_done(
                unit.scenario.name, name, spec.case_id
            ):
                continue
            extra = {**_identity(unit, spec, model_spec, seen=False), "model": name}
            row = failed_case_row(spec.case_id, status, error, extra)
            try:
                store.write_part(unit.scenario.name, name, spec.case_id, row, [])
            except Exception:  # e.g. the disk is full: the summary still says so
                pass
            out.append(_summary(row))
    return out


def _known_name(model_spec: str) -> str:
    """The model's card name as far as this process knows it without loading it."""
    info = known_info(model_spec)
    return info.name if info is not None else model_spec


def _run_unit(unit: Unit, done: list[dict[str, Any]]) -> None:
    # spacing coarser than the NSD tolerance is said once per run (and kept in every row)
    warnings.simplefilter("ignore", ToleranceBelowSpacingWarning)
    store = RunStore(unit.run_dir)
    cache = CaseCache(store.cache_dir)
    scenario = unit.scenario
    options = _metric_options(scenario)
    processes = {spec: model_process(spec) for spec in unit.models}
    for process in processes.values():  # the models load while the cases are built
        process.start()
    built: list[tuple[CaseSpec, Case]] = []
    for spec in unit.cases:
        try:
            built.append((spec, cached_case(scenario, spec, cache)[0]))
        except RobustBenchError as err:  # e.g. an impossible placement: every model fails
            for model_spec, process in processes.items():
                info = process.info()
                loaded = info if isinstance(info, ModelInfo) else None
                # the card's name, as on the model's scored rows (one model, one board entry)
                extra = {
                    **_identity(unit, spec, model_spec, _seen_in_training(spec, loaded)),
                    "model": loaded.name if loaded else model_spec,
                }
                row = failed_case_row(spec.case_id, "synthesis_error", str(err), extra)
                if STOPPING.is_set():
                    return
                store.write_part(scenario.name, row["model"], spec.case_id, row, [])
                done.append(_summary(row))
    # where each ground-truth lesion lies depends on the case only: once for all models
    places = {spec.case_id: lesion_properties(case) for spec, case in built}
    for process in processes.values():
        for spec, row, lesions, outcome in _run_model(unit, process, built, places, options):
            if STOPPING.is_set():
                return
            if outcome is not None:  # the mask it scored, so a report never runs the model
                mask = tumor_mask_from_prediction(outcome, spec.case_id, options=options)
                store.write_prediction(scenario.name, row["model"], spec.case_id, mask)
            store.write_part(scenario.name, row["model"], spec.case_id, row, lesions)
            done.append(_summary(row))


def _run_model(
    unit: Unit,
    process: ModelProcess,
    built: list[tuple[CaseSpec, Case]],
    places: Places,
    options: MetricOptions,
) -> Iterator[tuple[CaseSpec, dict[str, Any], list[dict[str, Any]], np.ndarray | None]]:
    """Predict every built case with one model (one batch call when the model has one: an
    external tool then starts once per unit) and score each case on its own. Yields (spec,
    case row, lesion rows, the prediction scored, or None)."""
    info = process.info()
    if isinstance(info, Failure):  # a model that cannot load fails its cases, not the run
        for spec, case in built:
            extra = _identity(unit, spec, process.spec, seen=False)
            failure = (info.status, info.error)
            yield spec, *_failed(spec, case, extra, failure, 0.0, places, options), None
        return
    answers, seconds = _predict(unit, process, info, built)
    for spec, case in built:
        extra = {
            **_identity(unit, spec, process.spec, _seen_in_training(spec, info)),
            "model": info.name,
            "model_version": info.version,
        }
        answer, took = answers[spec.case_id], seconds[spec.case_id]
        if isinstance(answer, Failure):
            failure = (answer.status, answer.error)
            row, lesions = _failed(spec, case, extra, failure, took, places, options)
            yield spec, row, lesions, None
            continue
        row, lesions = _score(spec, case, answer, places, extra, options, took)
        yield spec, row, lesions, (answer if row["status"] == "ok" else None)


def _predict(
    unit: Unit, process: ModelProcess, info: ModelInfo, built: list[tuple[CaseSpec, Case]]
) -> tuple[dict[str, Answer], dict[str, float]]:
    """case id -> the prediction or why there is none; case id -> seconds it took."""

    def liver_of(case: Case) -> np.ndarray | None:
        return case.label >= 1 if info.needs_liver else None

    if info.batch:  # even for one case: it is then named by its case id, not "case"
        items = [(s.case_id, c.image, _spacing(s, c), liver_of(c)) for s, c in built]
        start = time.perf_counter()
        batch = process.predict_batch(items, unit.timeout_s, unit.threads)
        each = (time.perf_counter() - start) / max(1, len(built))
        return batch, {s.case_id: each for s, _ in built}
    answers: dict[str, Answer] = {}
    seconds: dict[str, float] = {}
    for spec, case in built:
        start = time.perf_counter()
        answers[spec.case_id] = process.predict(
            case.image, _spacing(spec, case), liver_of(case), unit.timeout_s, unit.threads
        )
        seconds[spec.case_id] = time.perf_counter() - start
    return answers, seconds


def _score(
    spec: CaseSpec,
    case: Case,
    prediction: np.ndarray,
    places: Places,
    extra: dict,
    options: MetricOptions,
    seconds: float,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    try:
        scores = score_case(
            prediction,
            case.label,
            _spacing(spec, case),
            case_id=spec.case_id,
            options=options,
            extra=extra,
        )
    except PredictionError as err:
        return _failed(spec, case, extra, (err.status, str(err)), seconds, places, options)
    except RobustBenchError as err:
        failure = ("invalid_prediction", str(err))
        return _failed(spec, case, extra, failure, seconds, places, options)
    except Exception as err:  # an output no check foresaw: its row says so
        failure = ("invalid_prediction", f"the prediction cannot be scored: {describe(err)}")
        return _failed(spec, case, extra, failure, seconds, places, options)
    row = {**scores.case, "seconds": seconds, "n_tumors": len(case.tumors)}
    return row, _with_places(scores.lesions, places[spec.case_id])


def _with_places(
    lesions: list[dict[str, Any]], where: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    return [{**lesion, **where.get(int(lesion["lesion_id"]), {})} for lesion in lesions]


def _spacing(spec: CaseSpec, case: Case) -> tuple[float, float, float]:
    return case.spacing or spec.scan.load().spacing


def _identity(unit: Unit, spec: CaseSpec, model_spec: str, seen: bool) -> dict[str, Any]:
    return {
        "scenario": unit.scenario.name,
        "scenario_version": unit.scenario.spec.version,
        "model": model_spec,
        "model_version": "",
        "condition": spec.condition,
        "base_scan": spec.scan.id,
        "replicate": spec.replicate,
        "is_control": spec.is_control,
        "seen_in_training": seen,
    }


def _seen_in_training(spec: CaseSpec, info: ModelInfo | None) -> bool:
    """Does the model's card list the case's base scan in `trained_on_scans`? The scan is
    hashed only for such models (it is loaded by now: one hash per scan and worker)."""
    if info is None or not info.trained_on_scans:
        return False
    try:
        return spec.scan.image_digest() in info.trained_on_scans
    except RobustBenchError:  # a scan that cannot load fails its rows anyway
        return False


def _failed(
    spec: CaseSpec,
    case: Case,
    extra: dict,
    failure: tuple[str, str],
    seconds: float,
    places: Places,
    options: MetricOptions,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A failed prediction: its case row and its ground-truth lesions, none found (so the
    statistics can count the failure as a miss)."""
    status, error = failure
    scores = failed_case(
        spec.case_id, status, error, case.label, _spacing(spec, case), options=options, extra=extra
    )
    row = {**scores.case, "seconds": seconds, "n_tumors": len(case.tumors)}
    return row, _with_places(scores.lesions, places[spec.case_id])


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in ("scenario", "model", "case_id", "status", "error")}


def _metric_options(scenario: Scenario) -> MetricOptions:
    m = scenario.spec.metrics
    return MetricOptions(
        nsd_tolerance_mm=m.nsd_tolerance_mm,
        min_volume_mm3=m.min_volume_mm3,
        lesion_rule=m.lesion_match,
        iou_threshold=m.iou_threshold,
    )


__all__ = [
    "BENCH_ERROR",
    "Unit",
    "_load_model",
    "add_cwd_to_path",
    "load_model",
    "model_name",
    "needs_liver",
    "run_unit",
    "unit_failed",
]
