"""A few cases of a run again, for montages: the image and label from the run's case cache (or
rebuilt, which gives the same bytes), and the model's prediction recomputed, since runs keep
no prediction masks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.report.rundata import RunData
from robustbench_liver.runs.work import load_model, needs_liver
from robustbench_liver.scenarios import base_scans, make_plan, scenario_from_dict
from robustbench_liver.scenarios.cache import CaseCache
from robustbench_liver.scenarios.testset import cached_case
from robustbench_liver.types import Case


class CaseSource:
    """Cases of one run by (scenario, case id); plans are built once per scenario."""

    def __init__(self, run: RunData, data_root: str | Path | None = None):
        self.run = run
        self.data_root = data_root
        self._plans: dict[str, Any] = {}

    def case(self, scenario: str, case_id: str) -> Case:
        plan = self._plan(scenario)
        spec = next((c for c in plan.cases if c.case_id == case_id), None)
        if spec is None:
            raise RobustBenchError(
                f"{self.run.root}: case {case_id!r} is not in scenario {scenario!r} as stored "
                "in manifest.json"
            )
        # read the cache, never write it: a report leaves the run folder as it was
        cache = CaseCache(self.run.root / "cache")
        return cached_case(plan.scenario, spec, cache, write=False)[0]

    def _plan(self, scenario: str) -> Any:
        if scenario not in self._plans:
            entry = self.run.manifest["scenarios"][scenario]
            spec = scenario_from_dict(entry["spec"])
            self._plans[scenario] = make_plan(spec, base_scans(spec, self.data_root))
        return self._plans[scenario]


def predict(model_spec: str, case: Case) -> np.ndarray:
    """The model's prediction on `case`, loaded and called as the runner does."""
    model = load_model(model_spec)
    liver = case.label >= 1 if needs_liver(model) else None
    spacing = case.spacing if case.spacing is not None else (1.0, 1.0, 1.0)
    return np.asarray(model.predict(np.array(case.image), spacing, liver=liver))
