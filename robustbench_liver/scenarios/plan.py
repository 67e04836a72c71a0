"""Expand a scenario into cases: conditions x base scans x replicates, plus shared controls.

Pure and deterministic: ids and seeds depend only on the scenario and the scans' ids, never
on order, worker count or executor.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustbench_liver.errors import DataError, RobustBenchError, ScenarioError
from robustbench_liver.scenarios.load import Scenario
from robustbench_liver.scenarios.schema import FolderSource, MsdSource, PhantomSource
from robustbench_liver.sources.liver_from import LiverFrom
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
        """About N cases per condition (for --limit): the first tumor cases and the first
        controls of the round-robin, in the full plan's proportion (at least one of each
        kind the full plan has). A subset of the full plan: ids, seeds and pairing hold."""
        if per_condition is None:
            return self
        if per_condition < 1:
            raise RobustBenchError(f"--limit must be at least 1, got {per_condition}")
        n_tumors, n_controls = limit_counts(per_condition, *self.scenario.spec.case_counts)
        kept: list[CaseSpec] = []
        seen: dict[tuple[str, bool], int] = {}
        for case in self.cases:  # in round-robin order within each condition and kind
            key = (case.condition, case.is_control)
            if seen.get(key, 0) < (n_controls if case.is_control else n_tumors):
                kept.append(case)
            seen[key] = seen.get(key, 0) + 1
        return Plan(self.scenario, self.scans, tuple(kept))


def limit_counts(limit: int, tumors: int, controls: int) -> tuple[int, int]:
    """(tumor cases, controls) that --limit keeps: `limit` cases split as `tumors` to
    `controls`, rounded half up, with at least one of each kind there is."""
    if limit >= tumors + controls:
        return tumors, controls
    n_controls = int(limit * controls / (tumors + controls) + 0.5)
    n_controls = min(controls, max(n_controls, 1 if controls else 0))
    n_tumors = min(tumors, max(limit - n_controls, 1 if tumors else 0))
    return n_tumors, n_controls


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
            # a model's liver instead of a label map: its spec is the scenario file's
            liver_from = (
                None
                if source.liver_from is None
                else LiverFrom.of(source.liver_from, scenario.path)
            )
            if isinstance(source, FolderSource):
                refs += file_refs(
                    root,
                    source.images,
                    source.labels,
                    source.liver,
                    source.liver_label,
                    source.vessel_labels,
                    source.limit,
                    liver_from=liver_from,
                )
            elif isinstance(source, MsdSource):
                refs += file_refs(
                    root,
                    f"{source.task}/images{source.split}/*.nii.gz",
                    # {case}: the image's stem without nnU-Net's _0000 (MSD and nnU-Net raw)
                    labels=None
                    if liver_from
                    else f"{source.task}/labels{source.split}/{{case}}.nii.gz",
                    liver_label=source.liver_label,
                    limit=source.limit,
                    liver_from=liver_from,
                )
        except DataError as err:
            raise ScenarioError(scenario.path, [(f"base_scans[{i}]", None, str(err))]) from None
    ids = [r.id for r in refs]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ScenarioError(scenario.path, [("base_scans", None, f"scan id {dup!r} appears twice")])
    return refs


def control_holders(scenario: Scenario) -> dict[str, str]:
    """Condition id -> the condition that holds the controls of its image-level setting.

    A control's image depends only on the base scan, the replicate and the image shift (its
    seed has no condition), so conditions with equal `image` settings would predict the same
    bytes: they share one set, held by the first of them in sweep order, or by the reference
    when it is one of them."""
    groups: dict[str, list[str]] = {}
    for condition in scenario.conditions:
        key = json.dumps(condition.image.to_dict(), sort_keys=True, default=str)
        groups.setdefault(key, []).append(condition.id)
    holders: dict[str, str] = {}
    for ids in groups.values():
        holder = scenario.reference if scenario.reference in ids else ids[0]
        holders.update(dict.fromkeys(ids, holder))
    return holders


def make_plan(scenario: Scenario, scans: list[ScanRef]) -> Plan:
    """Every case of the scenario. In each condition the tumor cases go round-robin over the
    base scans; the controls continue that round-robin, so they land first on scans without
    tumor cases, and are planned only in the condition that holds them (`control_holders`).
    The same (scan, replicate, kind) recurs in every condition that has the kind, which is
    what pairs a condition with the reference case by case."""
    n_tumors, n_controls = scenario.spec.case_counts
    holders = control_holders(scenario)
    cases: list[CaseSpec] = []
    for condition in scenario.conditions:
        kinds = [(False, n_tumors, 0)]
        if holders[condition.id] == condition.id:
            kinds.append((True, n_controls, n_tumors))
        for is_control, count, start in kinds:
            for k in range(count):
                scan = scans[(start + k) % len(scans)]
                replicate = k // len(scans)  # consecutive places meet each scan once per lap
                tag = "c" if is_control else "t"
                case_id = f"{condition.id}__{scan.id}__{tag}{replicate:03d}"
                cases.append(CaseSpec(case_id, condition.id, scan, replicate, is_control))
    return Plan(scenario, tuple(scans), tuple(cases))
