"""Synthetic tumors for a reader study: one per case, sized like the real ones."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from robustbench_liver.errors import SynthesisError
from robustbench_liver.scenarios import load_scenario
from robustbench_liver.synthesis import SizeClass, TumorConfig, as_config, synthesize, tumor_box
from robustbench_liver.turing.lesions import Lesion, lesion_in_box
from robustbench_liver.types import Case, Scan, TumorRecord

SCENARIO_SUFFIXES = (".yaml", ".yml")


def tumor_config(tumors: str, condition: str | None = None) -> tuple[TumorConfig, str]:
    """A level name, or a scenario file (its `condition`, by default its reference), as a
    TumorConfig and a one-line description for the key."""
    path = Path(tumors)
    if path.suffix.lower() in SCENARIO_SUFFIXES or path.is_file():
        scenario = load_scenario(path)
        cid = condition or scenario.reference
        return scenario.condition(cid).tumors, f"scenario {scenario.name} ({path}), condition {cid}"
    return as_config(tumors), f"level {tumors}"


def matched(config: TumorConfig, radius_mm: float) -> TumorConfig:
    """`config` with one tumor per case whose semi-axes are drawn from U(0.75 r, 1.25 r) (the
    paper's rule) for the real lesion's radius r; elastic sigma from the config's size class
    nearest in size."""
    r = max(float(radius_mm), 1.0)
    nearest = min(config.sizes, key=lambda s: abs(sum(s.semi_axes_mm) / 2.0 - r))
    size = SizeClass("matched", (0.75 * r, 1.25 * r), (1, 1), nearest.elastic_sigma_mm)
    return replace(config, sizes=(size,))


@dataclass(frozen=True, eq=False)
class SyntheticTumor:
    case: Case
    record: TumorRecord
    lesion: Lesion
    notes: tuple[str, ...]


def one_tumor(scan: Scan, config: TumorConfig, seed: np.random.SeedSequence) -> SyntheticTumor:
    """Synthesize a case and pick its largest tumor (the first record: largest are placed first).

    Raises SynthesisError when no tumor could be placed or painted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        case = synthesize(scan, config, np.random.default_rng(seed))
    if not case.tumors:
        raise SynthesisError(f"scan {scan.id!r}: no tumor placed")
    record = case.tumors[0]
    box = tumor_box(record, case.image.shape, np.asarray(scan.spacing))
    lesion = lesion_in_box(case.label == 2, scan.spacing, box)
    if lesion is None:
        raise SynthesisError(f"scan {scan.id!r}: the tumor left no label inside the liver")
    return SyntheticTumor(case, record, lesion, tuple(str(w.message) for w in caught))
