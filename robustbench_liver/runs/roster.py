"""The model processes this process holds (runs.isolate.ModelProcess): one per model and
thread, kept from unit to unit; `preload` starts and checks every model of a run at once,
before any synthesis, and `load_model` gives the runner a model it can hold without running
its code."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robustbench_liver.errors import ModelError
from robustbench_liver.runs.isolate import Failure, ModelInfo, ModelProcess

Slot = Hashable
"""Whose model processes: a thread's id, or ("spare", n) for processes started ahead for a
worker thread that will take them (runs.executors.run_threads)."""
_PROCESSES: dict[tuple[str, Slot], ModelProcess] = {}
_SLOT = threading.local()
_LOADED: dict[str, IsolatedModel] = {}
"""The models `preload` checked (or `load_model` loaded), as the runner holds them."""


def spare(n: int) -> Slot:
    return ("spare", n)


def take_slot(slot: Slot) -> None:
    """Let this thread use the model processes of `slot` from now on."""
    _SLOT.id = slot


def model_process(spec: str, slot: Slot | None = None) -> ModelProcess:
    """This thread's ModelProcess of `spec` (or `slot`'s), kept between units. One per
    thread: a Dask worker may run two units at once. A process ends with the thread that
    started it (PR_SET_PDEATHSIG's rules), so spares are started by the runner's thread."""
    if slot is None:
        slot = getattr(_SLOT, "id", None) or threading.get_ident()
    key = (spec, slot)
    if key not in _PROCESSES:
        _PROCESSES[key] = ModelProcess(spec)
    return _PROCESSES[key]


def shutdown_all() -> None:
    """End every model process this process started."""
    processes = list(_PROCESSES.values())
    _PROCESSES.clear()
    for process in processes:  # all are asked first, so they end together
        process.hang_up()
    for process in processes:
        process.stop()


atexit.register(shutdown_all)


def start_models(specs: Iterable[str], spares: int = 0) -> list[str]:
    """Start loading every model in its own process (returns at once), and `spares` more
    of each for worker threads; `preload` then waits for them. Processes from an earlier run
    in this process are ended first."""
    specs = list(dict.fromkeys(specs))
    shutdown_all()
    _LOADED.clear()
    for spec in specs:
        model_process(spec).start()
    for n in range(1, spares + 1):
        for spec in specs:
            model_process(spec, spare(n)).start()
    return specs


def preload(specs: Iterable[str], spares: int = 0, started: bool = False) -> dict[str, ModelInfo]:
    """Load every model in its own process (all at once: they load side by side) and wait
    until each has loaded and passed its check; one ModelError names every model that did
    not. `started`: `start_models` was called already."""
    specs = list(dict.fromkeys(specs)) if started else start_models(specs, spares)
    problems = []
    for spec in specs:
        info = model_process(spec).info()
        if isinstance(info, Failure):
            problems.append(info.error)
        else:
            _LOADED[spec] = IsolatedModel(spec, info)
    if problems:
        shutdown_all()
        if len(problems) == 1:
            raise ModelError(problems[0])
        listed = "\n".join(f"- {problem}" for problem in problems)
        raise ModelError(f"{len(problems)} models cannot be used:\n{listed}")
    return {spec: _LOADED[spec].info for spec in specs}


class CardView:
    """A model's card as read in its own process: its `to_dict()` fields as attributes."""

    def __init__(self, data: dict[str, Any], name: str):
        self._data = dict(data)
        for key, value in self._data.items():
            if isinstance(key, str) and key.isidentifier() and key != "to_dict":
                setattr(self, key, value)
        self.name = name

    def to_dict(self) -> dict[str, Any]:
        return dict(self._data)


@dataclass
class IsolatedModel:
    """A model as the runner holds it: its card, read in the model's own process, and a
    `predict` that runs there."""

    spec: str
    info: ModelInfo
    card: CardView | None = field(init=False)

    def __post_init__(self) -> None:
        self.card = None if self.info.card is None else CardView(self.info.card, self.info.name)

    def predict(
        self,
        image_hu: np.ndarray,
        spacing: tuple[float, float, float],
        liver: np.ndarray | None = None,
    ) -> np.ndarray:
        answer = model_process(self.spec).predict(np.asarray(image_hu), spacing, liver, None)
        if isinstance(answer, Failure):
            raise ModelError(f"model {self.spec!r}: {answer.status}: {answer.error}")
        return answer


def load_model(spec: str) -> IsolatedModel:
    """The model `spec` as the runner holds it (loaded and checked in its own process, once
    per run: see `preload`); a ModelError says why it cannot be used."""
    if spec not in _LOADED:
        info = model_process(spec).info()
        if isinstance(info, Failure):
            raise ModelError(info.error)
        _LOADED[spec] = IsolatedModel(spec, info)
    return _LOADED[spec]


def known_info(spec: str) -> ModelInfo | None:
    """What this process already knows of `spec` (from `preload`, or a process that has
    loaded it), without starting anything."""
    if spec in _LOADED:
        return _LOADED[spec].info
    for (known, _), process in list(_PROCESSES.items()):
        if known == spec and process.loaded is not None:
            return process.loaded
    return None
