"""Where units run: in this process, a local process pool, or a Dask cluster. Each unit
writes its own results, so every executor gives the same tables."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.runs.work import Unit, add_cwd_to_path, run_unit

Results = Iterator[list[dict[str, Any]]]


def run_inline(units: list[Unit]) -> Results:
    for unit in units:
        yield run_unit(unit)


def run_local(units: list[Unit], workers: int) -> Results:
    """A pool of `workers` processes (spawned: no state leaks from this process). Each puts
    this process's working folder on its sys.path, so 'module:factory' models found here are
    found there."""
    if workers <= 1:
        yield from run_inline(units)
        return
    with ProcessPoolExecutor(
        workers,
        mp_context=get_context("spawn"),
        initializer=add_cwd_to_path,
        initargs=(os.getcwd(),),
    ) as pool:
        futures = [pool.submit(run_unit, unit) for unit in units]
        for future in as_completed(futures):
            yield future.result()


def run_dask(units: list[Unit], workers: int, address: str | None) -> Results:
    """Dask distributed: a LocalCluster of `workers` single-threaded processes, or the
    scheduler at `address` (tcp://host:port) of a real cluster."""
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError:
        raise RobustBenchError(
            "the Dask executor needs dask.distributed: pip install 'robustbench-liver[dask]'"
        ) from None
    cluster = None
    if address is None:
        cluster = LocalCluster(
            n_workers=max(1, workers), threads_per_worker=1, processes=True, dashboard_address=None
        )
    try:
        with Client(address or cluster) as client:
            if cluster is not None:  # workers on this machine find models where we do
                client.run(add_cwd_to_path, os.getcwd())
            futures = client.map(run_unit, units, pure=False)
            for future in dask_completed(futures):
                yield future.result()
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
