"""Run scenarios against models: plan, skip what is done, dispatch units, collect tables."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import math
import platform
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from robustbench_liver import __version__
from robustbench_liver.errors import ModelError, RobustBenchError
from robustbench_liver.metrics import ToleranceBelowSpacingWarning
from robustbench_liver.runs.binding import (
    check_data,
    check_folders,
    check_models,
    check_scenarios,
    generators,
    manifest_fields,
    scan_data,
)
from robustbench_liver.runs.executors import executor
from robustbench_liver.runs.isolate import ModelInfo
from robustbench_liver.runs.loading import check_model
from robustbench_liver.runs.roster import preload
from robustbench_liver.runs.store import FORMAT, Pair, RunStore
from robustbench_liver.runs.work import Unit, load_model, model_name
from robustbench_liver.scenarios import Plan, Scenario, base_scans, make_plan
from robustbench_liver.scenarios.cache import CaseCache, estimate_case_bytes


@dataclass(frozen=True)
class RunOptions:
    workers: int = 1
    executor: str = "local"
    dask_address: str | None = None
    limit: int | None = None
    """Cases per condition (the first N)."""
    timeout_s: float | None = None
    """Per prediction."""
    threads: int = 1
    """Torch threads per worker: fixed, so results do not depend on the worker count."""
    batch: int | None = None
    """Cases per unit of work; None: the largest `batch_size` the models ask for (a command
    tool that starts once per call), shared out so that every worker gets units."""
    data_root: str | None = None
    cache_dir: str | None = None
    """The case cache; None: RUNDIR/cache. The CLI passes the cache shared between runs
    (`scenarios.cache.default_root`) unless told otherwise."""
    retry_failed: bool = False
    """Run again the pairs whose rows failed (any status but ok: a model's failures and the
    bench's, such as a case that could not be synthesized); finished ok rows are kept."""


@dataclass(frozen=True)
class RunPlan:
    """What a run is about to do, announced before any case is built."""

    scenarios: int
    cases: int
    """Cases of all scenarios (after --limit)."""
    models: int
    pairs: int
    """(model, case) pairs in all."""
    done: int
    """Pairs finished by an earlier run of this folder, skipped."""
    units: int
    cache_dir: Path
    cases_to_build: int
    """Cases with a pair to do: built, or read from the cache when built before."""
    case_bytes: int | None
    """Typical bytes of one cached case (from the base scans' shapes); None if unknown."""
    cached: tuple[int, int] = (0, 0)
    """(entries, bytes) in the cache before the run."""

    @property
    def todo(self) -> int:
        return self.pairs - self.done


class RunProgress(Protocol):
    """What `run` reports while it works."""

    def planned(self, plan: RunPlan) -> None:
        """Once, after planning and before any case is built."""

    def finished(self, result: dict[str, Any]) -> None:
        """Once per finished (model, case): its summary (status, error, ...)."""


@dataclass
class RunSummary:
    total: int = 0
    skipped: int = 0
    done: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    retried: dict[str, int] = field(default_factory=dict)
    """Failed rows removed to run again (--retry-failed), by status."""
    cases: pd.DataFrame | None = None
    lesions: pd.DataFrame | None = None


def run(
    scenarios: Sequence[Scenario],
    models: Sequence[str],
    out: str | Path,
    options: RunOptions = RunOptions(),
    progress: RunProgress | None = None,
) -> RunSummary:
    """Run every case of every scenario through every model; resume where a run stopped.

    `progress.planned(plan)` is called once before any case is built, then
    `progress.finished(summary)` once per finished (model, case).
    """
    if not models:
        raise RobustBenchError("name at least one model (--model NAME_OR_PATH)")
    models = list(dict.fromkeys(models))  # the same --model twice is one model
    # each in its own process, side by side (and one more of each per extra worker thread);
    # one error names every bad one
    here = options.executor == "local" or options.dask_address is None  # workers are threads
    infos = preload(models, spares=options.workers - 1 if here else 0)
    names = _check_models(models)  # before any synthesis: a model that is none ends the run
    store = RunStore(out)
    plans = [
        make_plan(s, base_scans(s, options.data_root)).limited(options.limit) for s in scenarios
    ]
    for plan in plans:
        _warn_coarse_spacing(plan)
    folders, data = _bind(store, plans, names)  # refuse to mix rows before any work
    cache_dir = cache_location(options, store.root)
    summary = RunSummary()
    if options.retry_failed:
        summary.retried = _drop_failed(store, plans, models, names)
    units: list[Unit] = []
    to_write: list[Pair] = []
    for plan in plans:
        pending: list[tuple[Any, tuple[str, ...]]] = []
        for case in plan.cases:
            todo = tuple(
                m for m in models if not store.is_done(plan.scenario.name, names[m], case.case_id)
            )
            summary.total += len(models)
            summary.skipped += len(models) - len(todo)
            to_write += [(plan.scenario.name, names[m], case.case_id) for m in todo]
            if todo:
                pending.append((case, todo))
        # one base scan after another: a worker keeps only the last few scans it loaded
        pending.sort(key=lambda item: item[0].scan.id)
        size = _unit_size(options, infos.values(), len(pending))
        for i in range(0, len(pending), size):
            chunk = pending[i : i + size]
            for todo in sorted({t for _, t in chunk}):
                cases = tuple(c for c, t in chunk if t == todo)
                units.append(
                    Unit(
                        plan.scenario,
                        cases,
                        todo,
                        str(store.root),
                        options.timeout_s,
                        options.threads,
                    )
                )
    units = interleaved(units, options.workers)
    store.forget(to_write)  # their parts are written anew, not edited
    if progress:
        progress.planned(_announce(plans, models, summary, units, cache_dir))
    # reads the file scans of new scenarios: after the announcement
    _update_manifest(store, plans, models, options, cache_dir, folders, data)
    for results in executor(options.executor, options.workers, options.dask_address)(units):
        for result in results:
            summary.done += 1
            if progress:
                progress.finished(result)
    summary.cases, summary.lesions = store.collect()
    asked = {(p.scenario.name, names[m], c.case_id) for p in plans for c in p.cases for m in models}
    summary.failed = [
        f for f in _failures(summary.cases) if (f["scenario"], f["model"], f["case_id"]) in asked
    ] + _missing(summary.cases, asked)
    _record_seen_in_training(store, plans, summary.cases, asked)
    return summary


def interleaved(units: list[Unit], workers: int) -> list[Unit]:
    """Units (in base-scan order) cut into `workers` runs of scans, taken in turn: each worker
    then starts on scans of its own (built side by side, not waited for) and keeps working
    through neighbouring units, whose scans it has loaded."""
    if workers <= 1 or len(units) <= 1:
        return units
    size = math.ceil(len(units) / workers)
    blocks = [units[i : i + size] for i in range(0, len(units), size)]
    return [block[i] for i in range(size) for block in blocks if i < len(block)]


def _unit_size(options: RunOptions, infos: Iterable[ModelInfo], pending: int) -> int:
    """Cases per unit: --batch as given; else the models' largest batch_size, but no more
    than an equal share per worker (one big unit would keep the other workers idle)."""
    if options.batch is not None:
        return max(1, options.batch)
    wanted = max((info.batch_size for info in infos), default=1)
    return max(1, min(wanted, math.ceil(pending / max(1, options.workers))))


def cache_location(options: RunOptions, run_dir: Path) -> Path:
    """The case cache a run uses, as an absolute path (workers read it from the manifest)."""
    if options.cache_dir is None:
        return (run_dir / "cache").resolve()
    return Path(options.cache_dir).expanduser().resolve()


def _announce(
    plans: list[Plan], models: Sequence[str], summary: RunSummary, units: list[Unit], cache: Path
) -> RunPlan:
    """The plan in numbers: cheap (no scan is loaded, the cache is only listed)."""
    to_build = {(u.scenario.name, c.case_id): c.scan for u in units for c in u.cases}
    sizes = [_scan_shape_bytes(scan) for scan in to_build.values()]
    known = [size for size in sizes if size is not None]
    return RunPlan(
        scenarios=len(plans),
        cases=sum(len(p.cases) for p in plans),
        models=len(models),
        pairs=summary.total,
        done=summary.skipped,
        units=len(units),
        cache_dir=cache,
        cases_to_build=len(to_build),
        case_bytes=int(sum(known) / len(known)) if known else None,
        cached=CaseCache(cache).usage() if cache.is_dir() else (0, 0),
    )


def _scan_shape_bytes(scan: Any) -> int | None:
    """Bytes of a cached case of this base scan, from its shape (a phantom's options, or a
    NIfTI header); None when only loading the scan would tell."""
    args = dict(scan.args)
    if scan.kind == "phantom":
        from robustbench_liver.sources.phantom import PhantomOptions

        return estimate_case_bytes(args.get("shape") or PhantomOptions().shape)
    path = str(args.get("image_path", ""))
    if path.endswith((".nii", ".nii.gz")):
        try:
            import nibabel as nib

            image: Any = nib.load(path)  # the header only
            return estimate_case_bytes(image.shape[:3])
        except Exception:  # unreadable: its cases fail later with the reason
            return None
    return None


def _bind(
    store: RunStore, plans: list[Plan], names: dict[str, str]
) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    """Refuse a rerun that would mix rows in one run folder (runs.binding): folder names,
    scenario hashes, model cards, edited parts, then the data (which may read the scans).
    Returns the manifest's `folders` and the data of the scenarios it already holds."""
    manifest = store.read_manifest() or {}
    folders = check_folders(store.root, plans, names.values(), manifest)
    check_scenarios(store.root, plans, manifest)
    check_models(manifest, {names[spec]: _card(spec) for spec in names})
    edited = store.edited_parts()
    if edited:
        listing = "\n  ".join(edited[:10]) + ("\n  ..." if len(edited) > 10 else "")
        raise RobustBenchError(
            f"{store.root}: {len(edited)} part file(s) changed after the run wrote them:\n  "
            f"{listing}\nRestore them, or delete them to have those (model, case) pairs run "
            "again."
        )
    return folders, check_data(store.root, plans, manifest)


def _drop_failed(
    store: RunStore, plans: list[Plan], models: Sequence[str], names: dict[str, str]
) -> dict[str, int]:
    """Remove this run's failed rows (status not ok) so that they run again; status -> count."""
    failed: dict[Pair, str] = {}
    for plan in plans:
        for case in plan.cases:
            for spec in models:
                pair = (plan.scenario.name, names[spec], case.case_id)
                status = store.status(*pair)
                if status not in (None, "ok"):
                    failed[pair] = str(status)
    store.drop(failed)
    counts: dict[str, int] = {}
    for status in failed.values():
        counts[status] = counts.get(status, 0) + 1
    return dict(sorted(counts.items()))


def _card(spec: str) -> dict[str, Any]:
    """The model's card as the manifest records it."""
    model = load_model(spec)
    to_dict = getattr(getattr(model, "card", None), "to_dict", None)
    return to_dict() if callable(to_dict) else {"name": model_name(model, spec)}


def _check_models(models: Sequence[str]) -> dict[str, str]:
    """Load each model once, here, and refuse what cannot load or is no model at all (a
    factory that returned None, say); spec -> the model's name. A model that loads but fails
    on cases is not refused: its cases become rows with a status."""
    names: dict[str, str] = {}
    for spec in models:
        model = load_model(spec)  # a ModelError naming the spec and the user's line
        check_model(model, spec)
        names[spec] = model_name(model, spec)
    shared = {n: [s for s in names if names[s] == n] for n in names.values()}
    for name, specs in shared.items():
        if len(specs) > 1:
            raise ModelError(
                f"--model {' and '.join(map(repr, specs))} are both named {name!r} (their "
                "cards' `name`); their rows would share one place: give each its own name"
            )
    return names


def _warn_coarse_spacing(plan: Plan) -> None:
    """Once per scenario, not once per case: NSD's tolerance is finer than the voxels."""
    tolerance = plan.scenario.spec.metrics.nsd_tolerance_mm
    for ref in plan.scans:
        spacing = dict(ref.args).get("spacing")
        if spacing is not None and max(spacing) > tolerance:
            warnings.warn(
                f"{plan.scenario.name}: base scan {ref.id} has {max(spacing):g} mm voxels, "
                f"coarser than the NSD tolerance of {tolerance:g} mm; NSD then only counts "
                "exact boundary matches",
                ToleranceBelowSpacingWarning,
                stacklevel=3,
            )
            return


def _missing(cases: pd.DataFrame, asked: set[Pair]) -> list[dict[str, Any]]:
    """Pairs of this run without a row in the tables: failures too, never a quiet success."""
    keys = ["scenario", "model", "case_id"]
    present = set(cases[keys].itertuples(index=False, name=None)) if not cases.empty else set()
    error = "no row was written for this (model, case); run the same command again"
    return [
        {**dict(zip(keys, pair, strict=True)), "status": "no_row", "error": error}
        for pair in sorted(asked - present)
    ]


def _failures(cases: pd.DataFrame) -> list[dict[str, Any]]:
    if cases.empty:
        return []
    bad = cases[cases["status"] != "ok"]
    return bad[["scenario", "model", "case_id", "status", "error"]].to_dict("records")


class SeenInTrainingWarning(UserWarning):
    """A model was evaluated on base scans its card lists in `trained_on_scans`."""


def _record_seen_in_training(
    store: RunStore, plans: list[Plan], cases: pd.DataFrame, asked: set[tuple[str, str, str]]
) -> None:
    """Add to each scenario's manifest entry, per model, the cases its rows mark
    `seen_in_training` (base scan -> case ids), for the report; warn once, in one line,
    when this run marked any case."""
    if cases.empty or "seen_in_training" not in cases:
        return  # rows of an older version only
    manifest = store.read_manifest() or {"scenarios": {}}
    for plan in plans:
        entry = manifest["scenarios"].get(plan.scenario.name)
        rows = cases[cases["scenario"] == plan.scenario.name]
        if entry is None or rows.empty:
            continue
        seen: dict[str, dict[str, list[str]]] = {}
        for r in rows[rows["seen_in_training"].eq(True)].itertuples():  # old rows: NaN
            seen.setdefault(str(r.model), {}).setdefault(str(r.base_scan), []).append(r.case_id)
        entry["seen_in_training"] = {
            m: {scan: sorted(ids) for scan, ids in sorted(by_scan.items())}
            for m, by_scan in sorted(seen.items())
        }
    store.write_manifest(manifest)
    marked = cases[cases["seen_in_training"].eq(True)]
    keys = zip(marked["scenario"], marked["model"], marked["case_id"], strict=True)
    marked = marked[[key in asked for key in keys]]  # this run's cases, not older ones
    if marked.empty:
        return
    parts = [
        f"{model!r} on {', '.join(sorted(set(group['base_scan'])))} ({len(group)} cases)"
        for model, group in marked.groupby("model")
    ]
    warnings.warn(
        "models evaluated on base scans their cards list as training data (trained_on_scans): "
        + "; ".join(parts)
        + ". Their rows are marked seen_in_training = True: no test of generalisation.",
        SeenInTrainingWarning,
        stacklevel=3,
    )


def _update_manifest(
    store: RunStore,
    plans: list[Plan],
    models: Sequence[str],
    options: RunOptions,
    cache: Path,
    folders: dict[str, dict[str, str]],
    data: dict[str, Any],
) -> None:
    """Record what is run (after `_bind` refused what would mix)."""
    manifest = store.read_manifest() or {
        "format": FORMAT,
        "created": _now(),
        "scenarios": {},
        "models": {},
    }
    for plan in plans:
        s = plan.scenario
        known = manifest["scenarios"].get(s.name)
        manifest["scenarios"][s.name] = {
            "hash": s.hash,
            "generators": generators(),
            "version": s.spec.version,
            "seed": s.spec.seed,
            "reference": s.reference,
            "conditions": [c.id for c in s.conditions],
            "base_scans": [r.describe() for r in plan.scans],
            "n_cases": len(plan.cases),
            "limit": options.limit,
            "spec": s.spec.model_dump(mode="json"),
            "sources": s.sources,
            **manifest_fields(data.get(s.name) or scan_data(plan, known)),
        }
    for spec in models:
        model = load_model(spec)
        manifest["models"][model_name(model, spec)] = {
            "spec": spec,
            "card": _card(spec),
            "runtime": model.info.runtime,  # the versions that ran it, not the suite's
        }
    manifest.update(
        {
            "format": FORMAT,
            "folders": folders,
            "package_version": __version__,
            "updated": _now(),
            "platform": _platform(),
            "options": {"threads_per_worker": options.threads, "timeout_s": options.timeout_s},
            "cache_dir": _relative_to(cache, store.root),  # RunStore.cache_dir, for workers
        }
    )
    store.write_manifest(manifest)


def _relative_to(path: Path, root: Path) -> str:
    """`path` relative to the run folder when inside it (the folder can move), else as is."""
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _platform() -> dict[str, str]:
    info = {
        "python": platform.python_version(),
        "system": platform.platform(),
        "numpy": np.__version__,
    }
    try:  # from its metadata: importing torch here would cost every run 2 s
        info["torch"] = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        pass
    return info
