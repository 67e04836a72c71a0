"""Where units run: in this process (one thread or several), or on a Dask cluster. Each unit
writes its own results, so every executor gives the same tables; models run in processes of
their own under each (runs.isolate), so a model's misbehaviour gives the same rows under
each, and a unit never raises.

Local workers are threads, not processes: the work that is heavy (a model's prediction)
already runs in the models' processes, and threads start nothing, import nothing and load
each base scan once. A Dask worker lost under a unit makes its pairs failed rows."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.runs.lifeline import die_with_parent
from robustbench_liver.runs.loading import add_cwd_to_path, describe
from robustbench_liver.runs.roster import shutdown_all, spare, take_slot
from robustbench_liver.runs.work import BENCH_ERROR, STOPPING, Unit, run_unit, unit_failed

Results = Iterator[list[dict[str, Any]]]


def start_worker(folder: str, parent: int | None) -> None:
    """In a Dask worker on this machine: find 'module:factory' models where the runner does
    (its working folder on sys.path), and die with the runner."""
    add_cwd_to_path(folder)
    die_with_parent(parent)


def run_inline(units: list[Unit]) -> Results:
    try:
        for unit in units:
            yield run_unit(unit)
    finally:
        shutdown_all()


def run_threads(units: list[Unit], workers: int) -> Results:
    """`workers` threads of this process. Each holds model processes of its own, started
    and checked by `roster.preload` (its `spares`) before any unit; cases are built and
    scored in the threads (numpy and scipy let go of the GIL) while models predict in their
    processes. Threads share the base scans this process has loaded."""
    if workers <= 1:
        yield from run_inline(units)
        return
    slots = [threading.get_ident(), *(spare(n) for n in range(workers - 1, 0, -1))]
    lock = threading.Lock()

    def claim() -> None:  # each pool thread takes the next slot's processes
        with lock:
            take_slot(slots.pop(0) if slots else threading.get_ident())

    STOPPING.clear()
    pool = ThreadPoolExecutor(workers, "robustbench-liver-worker", initializer=claim)
    finished = False
    try:
        futures = [pool.submit(run_unit, unit) for unit in units]
        for future in as_completed(futures):
            yield future.result()  # run_unit never raises
        finished = True
    finally:  # interrupted: no unit starts, and those running end without writing more
        if not finished:
            STOPPING.set()
        pool.shutdown(wait=False, cancel_futures=True)
        shutdown_all()
        pool.shutdown(wait=True)


def run_dask(units: list[Unit], workers: int, address: str | None) -> Results:
    """Dask distributed: a LocalCluster of `workers` single-threaded processes, or the
    scheduler at `address` (tcp://host:port) of a real cluster. A unit whose worker is
    lost (Dask retries it elsewhere first) becomes failed rows."""
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError:
        raise RobustBenchError(
            "the Dask executor needs dask.distributed: pip install 'robustbench-liver[dask]'"
        ) from None
    shutdown_all()  # the models' processes of the check: each worker starts its own
    cluster = None
    if address is None:
        cluster = LocalCluster(
            n_workers=max(1, workers), threads_per_worker=1, processes=True, dashboard_address=None
        )
    try:
        with Client(address or cluster) as client:
            if cluster is not None:  # workers on this machine find models where we do,
                client.run(start_worker, os.getcwd(), None)  # and die with their parent
            groups = by_scan(units)
            futures = client.map(run_units, groups, pure=False)
            group_of = {future.key: group for future, group in zip(futures, groups, strict=True)}
            for future in dask_completed(futures):
                try:
                    result = future.result()
                except Exception as err:  # a lost worker (KilledWorker) or the like
                    text = f"the unit failed on its Dask worker: {describe(err)}"
                    group = group_of[future.key]
                    result = [row for unit in group for row in unit_failed(unit, BENCH_ERROR, text)]
                yield result
    except OSError as err:
        raise RobustBenchError(f"cannot reach the Dask scheduler at {address}: {err}") from None
    finally:
        if cluster is not None:
            cluster.close()


def by_scan(units: list[Unit]) -> list[list[Unit]]:
    """Units in groups that share their base scans (in first-seen order): one Dask task per
    group, so a worker builds each scan it gets once and no two workers build the same."""
    groups: dict[tuple[str, ...], list[Unit]] = {}
    for unit in units:
        key = tuple(sorted({case.scan.id for case in unit.cases}))
        groups.setdefault(key, []).append(unit)
    return list(groups.values())


def run_units(units: list[Unit]) -> list[dict[str, Any]]:
    """A group of units, one after another, on one worker (never raises: see run_unit)."""
    return [row for unit in units for row in run_unit(unit)]


def executor(kind: str, workers: int, address: str | None) -> Callable[[list[Unit]], Results]:
    if kind == "local":
        return lambda units: run_threads(units, workers)
    if kind == "dask":
        return lambda units: run_dask(units, workers, address)
    raise RobustBenchError(f"unknown executor {kind!r}; use local or dask")
