"""A finished run folder as the report reads it: manifest, tables, and each scenario's facts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from robustbench_liver.errors import DataError, RobustBenchError
from robustbench_liver.metrics.registry import BY_NAME, METRICS
from robustbench_liver.runs.store import RunStore
from robustbench_liver.scenarios import scenario_from_dict
from robustbench_liver.scenarios.plan import control_holders

DEFAULT_BINS = (0.0, 5.0, 10.0, 15.0, 20.0)
# metric -> the case-row column naming its definition (DESIGN.md §6: never mix profiles)
PROFILE_COLUMNS = {m.name: m.profile_column for m in METRICS}


@dataclass(frozen=True)
class ScenarioInfo:
    """What one scenario of a run measured, from the manifest."""

    name: str
    version: int
    hash: str
    reference: str
    conditions: tuple[str, ...]
    """Condition ids in sweep order."""
    levels: dict[str, tuple[tuple[str, str], ...]]
    """Condition id -> its (axis, level) pairs (empty when the spec cannot be re-read)."""
    settings: dict[str, dict[str, Any]]
    """Condition id -> the parameter paths the sweep set."""
    axes: tuple[str, ...]
    control_holders: dict[str, str]
    """Condition id -> the condition holding the controls it shares (scenarios.plan)."""
    description: str
    spec: dict[str, Any]
    sources: dict[str, str]
    entry: dict[str, Any]
    """The manifest's entry for this scenario, verbatim."""

    @property
    def bins(self) -> tuple[float, ...]:
        metrics = self.spec.get("metrics") or {}
        return tuple(float(b) for b in metrics.get("radius_bins_mm") or DEFAULT_BINS)

    @property
    def resamples(self) -> int:
        return int((self.spec.get("statistics") or {}).get("resamples", 10_000))

    @property
    def confidence(self) -> float:
        return float((self.spec.get("statistics") or {}).get("ci_level", 0.95))

    @property
    def correction(self) -> str:
        return str((self.spec.get("statistics") or {}).get("correction", "holm"))


@dataclass(frozen=True)
class RunData:
    """A run folder read once: its manifest and its per-case and per-lesion rows."""

    root: Path
    manifest: dict[str, Any]
    cases: pd.DataFrame
    lesions: pd.DataFrame

    @property
    def scenario_names(self) -> list[str]:
        """Scenarios with rows, sorted (the manifest may list ones not run yet)."""
        return sorted(set(self.cases["scenario"])) if not self.cases.empty else []

    def scenario(self, name: str) -> ScenarioInfo:
        entry = (self.manifest.get("scenarios") or {}).get(name)
        if entry is None:
            raise DataError(
                f"scenario {name!r} has result rows but no entry in manifest.json",
                path=self.root,
                hint="the run folder was edited by hand; run the scenario again into a new --out",
            )
        return scenario_info(name, entry)

    def model_entry(self, model: str) -> dict[str, Any]:
        """{'spec': how it was named on the command line, 'card': its model card}."""
        return dict((self.manifest.get("models") or {}).get(model) or {"spec": model, "card": {}})

    def scenario_lesions(self, scenario: str) -> pd.DataFrame:
        if self.lesions.empty or "scenario" not in self.lesions:
            return self.lesions
        return self.lesions[self.lesions["scenario"] == scenario]


def load_run(root: str | Path) -> RunData:
    """Read a finished run folder; errors name the folder, the file and what to do."""
    root = Path(root)
    if not root.is_dir():
        raise DataError("no such run folder", path=root, hint="give the --out of a finished run")
    store = RunStore(root)
    if not store.manifest_path.exists():
        raise DataError(
            "not a run folder: manifest.json is missing",
            path=root,
            hint="give the --out folder of `robustbench-liver run`",
        )
    try:
        manifest = json.loads(store.manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(
            f"manifest.json is damaged ({err})", path=root, hint="run the scenario again"
        ) from None
    try:
        cases, lesions = store.tables()
    except RobustBenchError:
        raise DataError(
            "no results yet: cases.parquet is missing",
            path=root,
            hint="finish the run (the same `robustbench-liver run` command resumes it)",
        ) from None
    except (OSError, ValueError) as err:
        raise DataError(
            f"cannot read cases.parquet / lesions.parquet ({err})",
            path=root,
            hint="run the same `robustbench-liver run` command again to rewrite them",
        ) from None
    needed = {"scenario", "model", "condition", "case_id", "status", "base_scan"}
    missing = sorted(needed - set(cases.columns)) if not cases.empty else []
    if missing:
        raise DataError(
            f"cases.parquet lacks the column(s) {missing}",
            path=root / "cases.parquet",
            hint="it was written by another version of robustbench-liver; run again",
        )
    return RunData(root, manifest, cases, lesions)


def scenario_info(name: str, entry: dict[str, Any]) -> ScenarioInfo:
    spec = dict(entry.get("spec") or {})
    conditions = tuple(entry.get("conditions") or ())
    levels: dict[str, tuple[tuple[str, str], ...]] = {}
    settings: dict[str, dict[str, Any]] = {}
    holders: dict[str, str] = {}
    axes: tuple[str, ...] = ()
    try:
        # the scenario code names conditions and their levels; re-reading the stored spec
        # gives exactly the run's conditions without repeating that logic here
        scenario = scenario_from_dict(spec)
        levels = {c.id: c.levels for c in scenario.conditions}
        settings = {c.id: dict(c.settings) for c in scenario.conditions}
        axes = tuple(a.name for a in scenario.spec.sweep.axes)
        holders = control_holders(scenario)
    except (RobustBenchError, TypeError, ValueError):
        pass  # a spec of another package version: ids only, no levels
    return ScenarioInfo(
        name=name,
        version=int(entry.get("version", 1)),
        hash=str(entry.get("hash", "")),
        reference=str(entry.get("reference", conditions[0] if conditions else "")),
        conditions=conditions,
        levels=levels,
        settings=settings,
        axes=axes,
        control_holders=holders,
        description=str(spec.get("description", "")).strip(),
        spec=spec,
        sources=dict(entry.get("sources") or {}),
        entry=entry,
    )


def profiles(cases: pd.DataFrame, lesions: pd.DataFrame) -> dict[str, str]:
    """Metric -> the profile(s) its rows name, e.g. {'nsd': 'nsd@2mm/surfel'}."""
    out: dict[str, str] = {}
    for metric, column in PROFILE_COLUMNS.items():
        table = lesions if BY_NAME[metric].table == "lesions" else cases
        if column in table.columns:
            found = sorted(str(v) for v in table[column].dropna().unique())
            if found:
                out[metric] = ", ".join(found)
    if "empty_policy" in cases.columns:
        found = sorted(str(v) for v in cases["empty_policy"].dropna().unique())
        if found:
            out["empty_policy"] = ", ".join(found)
    return out
