"""A few cases of a run again, for montages: the image and label from the run's case cache (or
rebuilt, which gives the same bytes). Predicted masks come from the run folder
(RunStore.read_prediction): a report never loads or runs a model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.report.rundata import RunData
from robustbench_liver.runs.store import RunStore
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
        # the cache the run used (shared between runs by default); read it, never write it:
        # a report leaves the run folder and the cache as they were
        cache = CaseCache(RunStore(self.run.root).cache_dir)
        return cached_case(plan.scenario, spec, cache, write=False)[0]

    def prediction(self, scenario: str, model: str, case_id: str) -> np.ndarray | None:
        """The tumor mask the run scored for (model, case); None when the run stored none."""
        return RunStore(self.run.root).read_prediction(scenario, model, case_id)

    def _plan(self, scenario: str) -> Any:
        if scenario not in self._plans:
            entry = self.run.manifest["scenarios"][scenario]
            spec = scenario_from_dict(entry["spec"])
            self._plans[scenario] = make_plan(spec, base_scans(spec, self.data_root))
        return self._plans[scenario]
