"""One unit of work, run inside a worker: build a batch of cases, predict with each model,
score, and write the parts. Failures become rows; nothing here ends a run."""

from __future__ import annotations

import functools
import importlib
import os
import signal
import sys
import sysconfig
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

from robustbench_liver.errors import ModelError, RobustBenchError, did_you_mean
from robustbench_liver.metrics import (
    MetricOptions,
    ToleranceBelowSpacingWarning,
    failed_case,
    failed_case_row,
    score_case,
    tumor_mask_from_prediction,
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
        return _from_factory(spec)
    from robustbench_liver.models import get_model

    try:
        return get_model(spec)
    except RobustBenchError:
        raise
    except Exception as err:  # a registered factory is foreign code too
        raise ModelError(f"model {spec!r} failed to load: {_in_user_code(err)}") from None


def _from_factory(spec: str) -> Any:
    """'package.module:factory' imported the way `python -m` would (the working folder
    first on sys.path, so `mymodels/dark.py` beside the user needs no PYTHONPATH), then
    called. Anything it raises becomes a ModelError naming the spec and the user's line."""
    module, _, name = spec.partition(":")
    add_cwd_to_path()
    try:
        imported = importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name and (module + ".").startswith(err.name + "."):
            raise ModelError(
                f"cannot import model {spec!r}: no module {err.name!r} in the working folder "
                f"({os.getcwd()}) or on sys.path; run from the folder that holds it, or "
                "install it"
            ) from None
        raise ModelError(f"importing model {spec!r} failed: {_in_user_code(err)}") from None
    except Exception as err:  # the module's own top-level code failed
        raise ModelError(f"importing model {spec!r} failed: {_in_user_code(err)}") from None
    factory = getattr(imported, name, None)
    if factory is None:
        known = [k for k in vars(imported) if not k.startswith("_")]
        where = _short(getattr(imported, "__file__", None) or module)
        raise ModelError(
            f"cannot import model {spec!r}: {where}: "
            + did_you_mean(name, known, "name", listing=False)
        )
    if not callable(factory):
        return factory
    try:
        return factory()
    except Exception as err:
        raise ModelError(f"model factory {spec!r} failed: {_in_user_code(err)}") from None


def add_cwd_to_path(folder: str | None = None) -> None:
    """Put `folder` (the working folder) first on sys.path, as `python -m` does, once."""
    folder = folder or os.getcwd()
    if folder not in sys.path:
        sys.path.insert(0, folder)


def _in_user_code(err: BaseException) -> str:
    """'RuntimeError: no weights (at mymodels/dark.py:12, in make)': the error and the
    innermost line of the user's own code (not this package's, the standard library's or an
    installed package's; the innermost line of all when none is theirs)."""
    if isinstance(err, SyntaxError) and err.filename:
        return f"{type(err).__name__}: {err.msg} (at {_short(err.filename)}:{err.lineno})"
    frames = traceback.extract_tb(err.__traceback__)
    users = [f for f in frames if _is_user_file(f.filename)] or frames
    where = f" (at {_short(users[-1].filename)}:{users[-1].lineno}, in {users[-1].name})"
    return f"{type(err).__name__}: {_shorten(str(err), 500)}{where if users else ''}"


def _is_user_file(filename: str) -> bool:
    if filename.startswith("<"):  # <frozen importlib._bootstrap> and the like
        return False
    path = Path(filename).resolve()
    ours = Path(__file__).resolve().parents[1]
    libraries = {sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return not any(path.is_relative_to(Path(p).resolve()) for p in {str(ours), *libraries} if p)


def _short(filename: str) -> str:
    """The path relative to the working folder when it lies inside it."""
    try:
        return str(Path(filename).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return filename


def _shorten(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters at a line or word boundary, marked with '…'."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    boundary = max(cut.rfind("\n"), cut.rfind(" "))
    return (cut[:boundary] if boundary > limit // 2 else cut).rstrip() + " …"


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
    built: list[tuple[CaseSpec, Case]] = []
    for spec in unit.cases:
        try:
            built.append((spec, cached_case(scenario, spec, cache)[0]))
        except RobustBenchError as err:  # e.g. an impossible placement: every model fails
            for model_spec in unit.models:
                # the card's name, as on the model's scored rows (one model, one board entry)
                extra = {**_identity(unit, spec, model_spec), "model": _name_of(model_spec)}
                row = failed_case_row(spec.case_id, "synthesis_error", str(err), extra)
                store.write_part(scenario.name, row["model"], spec.case_id, row, [])
                done.append(_summary(row))
    # where each ground-truth lesion lies depends on the case only: once for all models
    places = {spec.case_id: lesion_properties(case) for spec, case in built}
    for model_spec in unit.models:
        for spec, row, lesions, outcome in _run_model(unit, model_spec, built, places, options):
            if row["status"] == "ok":  # the mask it scored, so a report never runs the model
                mask = tumor_mask_from_prediction(outcome, spec.case_id, options=options)
                store.write_prediction(scenario.name, row["model"], spec.case_id, mask)
            store.write_part(scenario.name, row["model"], spec.case_id, row, lesions)
            done.append(_summary(row))
    return done


def _run_model(
    unit: Unit,
    model_spec: str,
    built: list[tuple[CaseSpec, Case]],
    places: dict[str, dict[int, dict[str, Any]]],
    options: MetricOptions,
):
    """Predict every built case with one model (one batch call when the model has one: an
    external tool then starts once per unit) and score each case on its own. Yields (spec,
    case row, lesion rows, the prediction or None)."""
    start = time.perf_counter()
    try:
        model = load_model(model_spec)
    except Exception as err:  # a model that cannot load fails its cases, not the run
        for spec, case in built:
            extra = _identity(unit, spec, model_spec)
            failure = ("model_error", _describe(err))
            yield spec, *_failed(spec, case, extra, failure, start, places, options), None
        return
    name = model_name(model, model_spec)
    version = str(getattr(getattr(model, "card", None), "version", ""))
    predictions = _predict(unit, model, built, needs_liver(model))
    seconds = (time.perf_counter() - start) / max(1, len(built))
    for spec, case in built:
        extra = {**_identity(unit, spec, model_spec), "model": name, "model_version": version}
        outcome = predictions[spec.case_id]
        if isinstance(outcome, BaseException):
            status = "timeout" if isinstance(outcome, PredictionTimeout) else "model_error"
            text = str(outcome) if status == "timeout" else _describe(outcome)
            row, lesions = _failed(spec, case, extra, (status, text), start, places, options)
            yield spec, {**row, "seconds": seconds}, lesions, None
            continue
        row, lesions = _score(spec, case, outcome, places, extra, options, seconds, start)
        yield spec, row, lesions, np.asarray(outcome)


def _predict(unit: Unit, model: Any, built: list[tuple[CaseSpec, Case]], with_liver: bool) -> dict:
    """case id -> prediction or the exception it raised."""

    def liver_of(case: Case) -> np.ndarray | None:
        return case.label >= 1 if with_liver else None

    batch = getattr(model, "predict_batch", None)
    if callable(batch):  # even for one case: it is then named by its case id, not "case"
        from robustbench_liver.models.protocol import BatchItem

        items = [
            BatchItem(s.case_id, np.array(c.image), _spacing(s, c), liver_of(c)) for s, c in built
        ]
        try:
            limit = None if unit.timeout_s is None else unit.timeout_s * len(items)
            with deadline(limit):
                return dict(batch(items))
        except Exception as err:  # the whole call failed: every case of it did
            return {s.case_id: err for s, _ in built}
    results: dict[str, Any] = {}
    for spec, case in built:
        try:
            with deadline(unit.timeout_s):
                results[spec.case_id] = model.predict(
                    np.array(case.image), _spacing(spec, case), liver=liver_of(case)
                )
        except Exception as err:  # a third-party model may raise anything: record it, go on
            results[spec.case_id] = err
    return results


def _score(
    spec: CaseSpec,
    case: Case,
    prediction: Any,
    places: dict[str, dict[int, dict[str, Any]]],
    extra: dict,
    options: MetricOptions,
    seconds: float,
    start: float,
):
    try:
        scores = score_case(
            np.asarray(prediction),
            case.label,
            _spacing(spec, case),
            case_id=spec.case_id,
            options=options,
            extra=extra,
        )
    except PredictionError as err:
        return _failed(spec, case, extra, (err.status, str(err)), start, places, options)
    except RobustBenchError as err:
        failure = ("invalid_prediction", str(err))
        return _failed(spec, case, extra, failure, start, places, options)
    row = {**scores.case, "seconds": seconds, "n_tumors": len(case.tumors)}
    return row, _with_places(scores.lesions, places[spec.case_id])


def _with_places(
    lesions: list[dict[str, Any]], where: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    return [{**lesion, **where.get(int(lesion["lesion_id"]), {})} for lesion in lesions]


def _spacing(spec: CaseSpec, case: Case) -> tuple[float, float, float]:
    return case.spacing or spec.scan.load().spacing


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
        "seen_in_training": _seen_in_training(spec, model_spec),
    }


def _name_of(model_spec: str) -> str:
    """The model's card name (the spec itself when the model cannot load)."""
    try:
        return model_name(load_model(model_spec), model_spec)
    except Exception:  # foreign code: its own rows say why it failed
        return model_spec


def _seen_in_training(spec: CaseSpec, model_spec: str) -> bool:
    """Does the model's card list the case's base scan in `trained_on_scans`? The scan is
    hashed only for such models (it is loaded by now: one hash per scan and worker)."""
    listed = _trained_on_scans(model_spec)
    if not listed:
        return False
    try:
        return spec.scan.image_digest() in listed
    except RobustBenchError:  # a scan that cannot load fails its rows anyway
        return False


def _trained_on_scans(model_spec: str) -> tuple[str, ...]:
    """Image digests the model's card says it was trained on (none when it cannot load)."""
    try:
        card = getattr(load_model(model_spec), "card", None)
    except Exception:  # foreign code: its rows say why it failed
        return ()
    return tuple(getattr(card, "trained_on_scans", None) or ())


def _failed(
    spec: CaseSpec,
    case: Case,
    extra: dict,
    failure: tuple[str, str],
    start: float,
    places: dict[str, dict[int, dict[str, Any]]],
    options: MetricOptions,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A failed prediction: its case row and its ground-truth lesions, none found (so the
    statistics can count the failure as a miss)."""
    status, error = failure
    scores = failed_case(
        spec.case_id, status, error, case.label, _spacing(spec, case), options=options, extra=extra
    )
    row = {**scores.case, "seconds": time.perf_counter() - start, "n_tumors": len(case.tumors)}
    return row, _with_places(scores.lesions, places[spec.case_id])


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
    # the suite's own errors are written to be read whole (the command adapter's carry the
    # tool's stderr tail); foreign messages can be huge (an array's repr): cut them
    text = str(err) if isinstance(err, RobustBenchError) else _shorten(str(err), 500)
    return f"{type(err).__name__}: {text}{where}"


def needs_liver(model: Any) -> bool:
    """Does the model's card ask for the liver mask?"""
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
