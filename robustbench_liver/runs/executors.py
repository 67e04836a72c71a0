"""Where units run: in this process, a local process pool, or a Dask cluster. Each unit
writes its own results, so every executor gives the same tables; models run in processes of
their own under each (runs.isolate), so a model's misbehaviour gives the same rows under
each.

A unit never raises; should its worker die anyway (the bench's own crash, the kernel's OOM
killer), its pairs without a row are run again in a fresh pool, and after WORKER_ATTEMPTS
deaths they become failed rows: the run goes on."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.runs.lifeline import die_with_parent
from robustbench_liver.runs.loading import add_cwd_to_path, describe
from robustbench_liver.runs.roster import shutdown_all
from robustbench_liver.runs.work import BENCH_ERROR, Unit, remaining, run_unit, unit_failed

Results = Iterator[list[dict[str, Any]]]
WORKER_ATTEMPTS = 3
"""Pools a unit may see break under it before its pairs are failed rows (a pool breaks for
every unit in flight when one worker dies)."""


def start_worker(folder: str, parent: int | None) -> None:
    """In a worker: find 'module:factory' models where the runner does (its working folder
    on sys.path), and die with the runner."""
    add_cwd_to_path(folder)
    die_with_parent(parent)


def run_inline(units: list[Unit]) -> Results:
    try:
        for unit in units:
            yield run_unit(unit)
    finally:
        shutdown_all()


def run_local(units: list[Unit], workers: int) -> Results:
    """A pool of `workers` processes (spawned: no state leaks from this process), each
    started by `start_worker`."""
    if workers <= 1:
        yield from run_inline(units)
        return
    shutdown_all()  # the models' processes of the check: each worker starts its own
    pending: list[tuple[Unit, int]] = [(unit, 0) for unit in units]  # (unit, pools broken)
    while pending:
        again: list[tuple[Unit, int]] = []
        with ProcessPoolExecutor(
            workers,
            mp_context=get_context("spawn"),
            initializer=start_worker,
            initargs=(os.getcwd(), os.getpid()),
        ) as pool:
            futures = {pool.submit(run_unit, unit): (unit, n) for unit, n in pending}
            for future in as_completed(futures):
                unit, broken = futures[future]
                try:
                    result = future.result()
                except BrokenProcessPool:  # a worker died: under this unit or another one
                    if broken + 1 < WORKER_ATTEMPTS:
                        again.append((unit, broken + 1))
                        continue
                    text = f"a worker process died under this unit {broken + 1} times"
                    result = unit_failed(unit, BENCH_ERROR, text)
                except Exception as err:  # e.g. a unit that cannot be sent to a worker
                    text = f"the unit failed in its worker: {describe(err)}"
                    result = unit_failed(unit, BENCH_ERROR, text)
                yield result
        pending = []
        for unit, broken in again:  # in a fresh pool, without the pairs already written
            left, written = remaining(unit)
            if written:
                yield written
            pending += [(part, broken) for part in left]


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
            futures = client.map(run_unit, units, pure=False)
            unit_of = {future.key: unit for future, unit in zip(futures, units, strict=True)}
            for future in dask_completed(futures):
                try:
                    result = future.result()
                except Exception as err:  # a lost worker (KilledWorker) or the like
                    text = f"the unit failed on its Dask worker: {describe(err)}"
                    result = unit_failed(unit_of[future.key], BENCH_ERROR, text)
                yield result
    except OSError as err:
        raise RobustBenchError(f"cannot reach the Dask scheduler at {address}: {err}") from None
    finally:
        if cluster is not None:
            cluster.close()


def executor(kind: str, workers: int, address: str | None) -> Callable[[list[Unit]], Results]:
    if kind == "local":
        return lambda units: run_local(units, workers)
    if kind == "dask":
        return lambda units: run_dask(units, workers, address)
    raise RobustBenchError(f"unknown executor {kind!r}; use local or dask")
