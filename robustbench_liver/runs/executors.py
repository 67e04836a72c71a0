"""Where units run: in this process (one thread or several), or on a Dask cluster. Each unit
writes its own results, so every executor gives the same tables; models run in processes of
their own under each (runs.isolate), so a model's misbehaviour gives the same rows under
each, and a unit never raises.

Workers on this machine (local, or a Dask LocalCluster) are threads, not processes: the work
that is heavy (a model's prediction) already runs in the models' processes, and threads
start nothing, import nothing and load each base scan once. A Dask worker lost under a unit
makes its pairs failed rows."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.runs.loading import describe
from robustbench_liver.runs.roster import shutdown_all, spare, take_slot
from robustbench_liver.runs.work import BENCH_ERROR, STOPPING, Unit, run_unit, unit_failed

Results = Iterator[list[dict[str, Any]]]


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
    slots = SlotPool(workers)
    STOPPING.clear()
    pool = ThreadPoolExecutor(workers, "robustbench-liver-worker", initializer=slots.claim)
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


class SlotPool:
    """The model processes `roster.preload` started for a run's workers: the runner
    thread's own and its spares, given out one per worker thread on its first unit."""

    def __init__(self, workers: int):
        self._free = [threading.get_ident(), *(spare(n) for n in range(workers - 1, 0, -1))]
        self._owners: set[int] = set()
        self._lock = threading.Lock()

    def claim(self) -> None:
        """Give this thread the next free slot (once); with none left it starts its own."""
        me = threading.get_ident()
        with self._lock:
            if me in self._owners:
                return
            self._owners.add(me)
            take_slot(self._free.pop(0) if self._free else me)


_POOLS: dict[int, SlotPool] = {}
"""The slot pools of in-process Dask runs, by id (a task names its pool, not the pool)."""


def run_dask(units: list[Unit], workers: int, address: str | None) -> Results:
    """Dask distributed: the scheduler at `address` (tcp://host:port) of a real cluster, or
    without one a LocalCluster of `workers` single-threaded workers in this process. As with
    local threads, the heavy work (a model's prediction) runs in model processes, so workers
    on this machine need no processes of their own: they take the model processes the
    runner has checked and share its base scans (worker processes would import the suite
    and load every model again, which cost more than they gave: issue 17). A unit whose
    worker is lost (Dask retries it elsewhere first) becomes failed rows."""
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError:
        raise RobustBenchError(
            "the Dask executor needs dask.distributed: pip install 'robustbench-liver[dask]'"
        ) from None
    cluster, pool = None, None
    if address is None:
        cluster = LocalCluster(
            n_workers=max(1, workers),
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
        )
        pool = id(slots := SlotPool(workers))
        _POOLS[pool] = slots
    else:
        shutdown_all()  # the models' processes of the check: each worker starts its own
    STOPPING.clear()
    finished = False
    try:
        with Client(address or cluster) as client:
            try:
                yield from _collect(client, units, pool, dask_completed)
                finished = True
            finally:
                if address is not None:  # a cluster outlives the run: its workers must not
                    _end_worker_models(client)  # keep models whose files may change
    except OSError as err:
        raise RobustBenchError(f"cannot reach the Dask scheduler at {address}: {err}") from None
    finally:
        if not finished:
            STOPPING.set()
        if cluster is not None:
            cluster.close()
            _POOLS.pop(pool or 0, None)
            shutdown_all()


def _collect(client: Any, units: list[Unit], pool: int | None, completed: Any) -> Results:
    """Submit the units and yield each task's rows as it finishes. Workers in this process
    share its base scans, so each unit is a task of its own (the finest balance); workers
    elsewhere get one task per base scan, so that no two of them build the same scan."""
    groups = [[unit] for unit in units] if pool is not None else by_scan(units)
    futures = client.map(run_units, groups, pool=pool, pure=False)
    group_of = {future.key: group for future, group in zip(futures, groups, strict=True)}
    for future in completed(futures):
        try:
            result = future.result()
        except Exception as err:  # a lost worker (KilledWorker) or the like
            text = f"the unit failed on its Dask worker: {describe(err)}"
            group = group_of[future.key]
            result = [row for unit in group for row in unit_failed(unit, BENCH_ERROR, text)]
        yield result


def _end_worker_models(client: Any) -> None:
    """End the model processes every worker of the cluster started for this run."""
    try:
        client.run(shutdown_all)
    except Exception as err:  # a worker already gone: nothing of it to end
        import warnings

        warnings.warn(
            f"could not end the Dask workers' model processes: {describe(err)}", stacklevel=3
        )


def by_scan(units: list[Unit]) -> list[list[Unit]]:
    """Units in groups that share their base scans (in first-seen order): one Dask task per
    group, so a worker builds each scan it gets once and no two workers build the same."""
    groups: dict[tuple[str, ...], list[Unit]] = {}
    for unit in units:
        key = tuple(sorted({case.scan.id for case in unit.cases}))
        groups.setdefault(key, []).append(unit)
    return list(groups.values())


def run_units(units: list[Unit], pool: int | None = None) -> list[dict[str, Any]]:
    """A group of units, one after another, on one worker (never raises: see run_unit);
    `pool`: the in-process run's slot pool, from which this worker thread takes its models."""
    if pool is not None:
        _POOLS[pool].claim()
    return [row for unit in units for row in run_unit(unit)]


def executor(kind: str, workers: int, address: str | None) -> Callable[[list[Unit]], Results]:
    if kind == "local":
        return lambda units: run_threads(units, workers)
    if kind == "dask":
        return lambda units: run_dask(units, workers, address)
    raise RobustBenchError(f"unknown executor {kind!r}; use local or dask")
