"""Expand a scenario into cases: conditions x base scans x replicates, plus controls.

Pure and deterministic: ids and seeds depend only on the scenario and the scans' ids, never
on order, worker count or executor.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustbench_liver.errors import DataError, ScenarioError
from robustbench_liver.scenarios.load import Scenario
from robustbench_liver.scenarios.schema import FolderSource, MsdSource, PhantomSource
from robustbench_liver.sources.refs import ScanRef, file_refs, phantom_refs

# Stream tags keep the draws for tumors, controls and image noise independent.
TUMOR_STREAM, CONTROL_STREAM, IMAGE_STREAM = 1, 2, 3


def stable_hash(text: str) -> int:
    """A 63-bit integer from text, the same on every machine and Python run."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


@dataclass(frozen=True)
class CaseSpec:
    """One case to build: which condition, which base scan, which replicate."""

    case_id: str
    condition: str
    scan: ScanRef
    replicate: int
    is_control: bool

    def seed(self, scenario_seed: int, stream: int) -> np.random.SeedSequence:
        """Tumor draws do not depend on the condition (common random numbers): conditions
        that differ in one parameter get the same places and shapes, so their comparison
        is paired case by case, not just scan by scan."""
        return np.random.SeedSequence(self.entropy(scenario_seed, stream))

    def entropy(self, scenario_seed: int, stream: int) -> list[int]:
        kind = CONTROL_STREAM if self.is_control else TUMOR_STREAM
        return [scenario_seed, stable_hash(self.scan.id), self.replicate, kind, stream]


@dataclass(frozen=True)
class Plan:
    scenario: Scenario
    scans: tuple[ScanRef, ...]
    cases: tuple[CaseSpec, ...]

    def limited(self, per_condition: int | None) -> Plan:
        """The first N cases of each condition (for --limit), keeping every condition."""
        if per_condition is None:
            return self
        kept: list[CaseSpec] = []
        seen: dict[str, int] = {}
        for case in self.cases:
            if seen.get(case.condition, 0) < per_condition:
                kept.append(case)
                seen[case.condition] = seen.get(case.condition, 0) + 1
        return Plan(self.scenario, self.scans, tuple(kept))


def base_scans(scenario: Scenario, data_root: str | Path | None) -> list[ScanRef]:
    """The scenario's base scans; file sources read under `data_root`."""
    refs: list[ScanRef] = []
    for i, source in enumerate(scenario.spec.base_scans):
        if isinstance(source, PhantomSource):
            refs += phantom_refs(
                source.count,
                source.first_seed,
                shape=source.shape,
                spacing=source.spacing,
                noise_std=source.noise_std,
                liver_volume_ml=source.liver_volume_ml,
            )
            continue
        if data_root is None:
            raise ScenarioError(
                scenario.path,
                [
                    (
                        f"base_scans[{i}]",
                        None,
                        "reads files: pass --data-root DIR (or set ROBUSTBENCH_LIVER_DATA)",
                    )
                ],
            )
        root = Path(data_root)
        try:
            if isinstance(source, FolderSource):
                refs += file_refs(
                    root,
                    source.images,
                    source.labels,
                    source.liver,
                    source.liver_label,
                    source.vessel_labels,
                    source.limit,
                )
            elif isinstance(source, MsdSource):
                refs += file_refs(
                    root,
                    f"{source.task}/images{source.split}/*.nii.gz",
                    labels=f"{source.task}/labels{source.split}/{{name}}",
                    liver_label=source.liver_label,
                    limit=source.limit,
                )
        except DataError as err:
            raise ScenarioError(scenario.path, [(f"base_scans[{i}]", None, str(err))]) from None
    ids = [r.id for r in refs]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ScenarioError(scenario.path, [("base_scans", None, f"scan id {dup!r} appears twice")])
    return refs


def make_plan(scenario: Scenario, scans: list[ScanRef]) -> Plan:
    """Every case of the scenario: for each condition, `cases_per_condition` cases spread
    round-robin over the base scans, the share `controls` of them tumor-free."""
    spec = scenario.spec
    n_controls = round(spec.cases_per_condition * spec.controls)
    n_tumors = spec.cases_per_condition - n_controls
    cases: list[CaseSpec] = []
    for condition in scenario.conditions:
        for is_control, count in ((False, n_tumors), (True, n_controls)):
            for k in range(count):
                scan = scans[k % len(scans)]
                replicate = k // len(scans)
                tag = "c" if is_control else "t"
                case_id = f"{condition.id}__{scan.id}__{tag}{replicate:03d}"
                cases.append(CaseSpec(case_id, condition.id, scan, replicate, is_control))
    return Plan(scenario, tuple(scans), tuple(cases))
