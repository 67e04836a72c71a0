"""The fidelity study: measure the real lesions, synthesize size-matched tumors of a tumor
model, measure them the same way, and compare (distances and the classifier test)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from robustbench_liver.errors import DataError
from robustbench_liver.fidelity.classifier import TwoSampleResult, two_sample_test
from robustbench_liver.fidelity.compare import feature_distances
from robustbench_liver.fidelity.lesions import (
    MIN_DIAMETER_VOXELS,
    Lesion,
    ScanFrame,
    find_lesions,
    measure_real,
    measure_synthetic,
)
from robustbench_liver.fidelity.matching import synthesize_matched
from robustbench_liver.fidelity.registry import CLASSIFIER_FEATURES, NAMES
from robustbench_liver.synthesis import TumorConfig

MIN_SCAN_CLUSTERS = 4
"""With at least this many real scans holding measured lesions, the bootstrap resamples
scans (lesions of one scan share its noise, contrast phase and patient); below it, lesions."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TumorModel:
    name: str
    """What the report calls it: 'scenario quickstart, condition size-medium', 'level small'."""
    config: TumorConfig


@dataclass
class Study:
    """Everything one fidelity run found: the per-lesion table and the comparisons."""

    real_data: str
    tumor_model: str
    table: pd.DataFrame
    """One row per measured lesion (`set` real / synthetic), features as columns."""
    distances: pd.DataFrame
    classifier: TwoSampleResult
    cluster_unit: str
    """'real lesion' or 'real scan': what the bootstraps resample."""
    lesions: list[Lesion] = field(default_factory=list)
    """Every real lesion found, measured or too small."""
    failures: list[dict[str, Any]] = field(default_factory=list)
    """Synthetic tumors that could not be made or left no voxel, with why."""
    settings: dict[str, Any] = field(default_factory=dict)


def run_study(
    real: Sequence[ScanFrame],
    model: TumorModel,
    real_data: str,
    per_lesion: int = 10,
    seed: int = 0,
    min_diameter_voxels: float = MIN_DIAMETER_VOXELS,
    base: Sequence[ScanFrame] = (),
    resamples: int = 2000,
    classifier_resamples: int = 500,
    repeats: int = 10,
    progress: Progress | None = None,
) -> Study:
    """Measure, synthesize, measure, compare.

    Args:
        real: the scans with real tumors (their `tumors` masks).
        base: healthy scans to paint the synthetic tumors into, round-robin; empty: each
            real lesion's matches go into its own scan, real tumors masked out of the liver.
        progress: called with a short note after each lesion (real or synthetic).
    """
    if per_lesion < 1:
        raise DataError(f"--per-lesion must be at least 1, got {per_lesion}")
    rows: list[dict[str, Any]] = []
    lesions: list[Lesion] = []
    failures: list[dict[str, Any]] = []
    common = {"real_data": real_data, "tumor_model": model.name}
    tick = progress or (lambda note: None)
    slot = 0
    for frame in real:
        labelled, found = find_lesions(frame, min_diameter_voxels)
        lesions += found
        for lesion in found:
            if not lesion.measured:
                continue
            row = measure_real(frame, labelled, lesion)
            rows.append(_row("real", lesion, frame.scan.id, -1, row, common))
            tick(f"real {lesion.name}")
            for replicate in range(per_lesion):
                target = base[slot % len(base)] if base else frame
                slot += 1
                made = synthesize_matched(
                    target.scan, model.config, lesion.radius_mm, lesion.name, replicate, seed
                )
                measured = None if made.case is None else measure_synthetic(target, made.case)
                if measured is None:
                    why = made.error or "the tumor left no voxel on this grid"
                    failures.append({"match": lesion.name, "replicate": replicate, "error": why})
                else:
                    measured["synthesis_warning"] = made.warning
                    rows.append(
                        _row("synthetic", lesion, target.scan.id, replicate, measured, common)
                    )
                tick(f"synthetic {lesion.name}~{replicate}")
    if not any(lesion.measured for lesion in lesions):
        raise DataError(_nothing_to_measure(lesions, min_diameter_voxels))
    table = pd.DataFrame(rows)
    measured_scans = table.loc[table["set"] == "real", "real_scan"].nunique()
    by_scan = measured_scans >= MIN_SCAN_CLUSTERS
    table["cluster"] = table["real_scan"] if by_scan else table["match"]
    features = [n for n in NAMES if n in table]
    distances = feature_distances(table, features, n_resamples=resamples, seed=seed)
    classifier = two_sample_test(
        table,
        [n for n in CLASSIFIER_FEATURES if n in table],
        seed=seed,
        repeats=repeats,
        n_resamples=classifier_resamples,
    )
    return Study(
        real_data=real_data,
        tumor_model=model.name,
        table=table,
        distances=distances,
        classifier=classifier,
        cluster_unit="real scan" if by_scan else "real lesion",
        lesions=lesions,
        failures=failures,
        settings={
            "per_lesion": per_lesion,
            "seed": seed,
            "min_diameter_voxels": min_diameter_voxels,
            "base_scans": [f.scan.id for f in base],
            "resamples": resamples,
            "classifier_resamples": classifier_resamples,
            "repeats": repeats,
        },
    )


def _row(
    kind: str,
    lesion: Lesion,
    scan_id: str,
    replicate: int,
    measured: dict[str, Any],
    common: dict[str, str],
) -> dict[str, Any]:
    return {
        "set": kind,
        **common,
        "match": lesion.name,
        "real_scan": lesion.scan_id,
        "scan": scan_id,
        "replicate": replicate,
        "target_radius_mm": lesion.radius_mm,
        **measured,
    }


def _nothing_to_measure(lesions: list[Lesion], min_diameter_voxels: float) -> str:
    if not lesions:
        return "no tumor voxels in any scan: check --tumor-label (LiTS / MSD: 2)"
    largest = max(lesions, key=lambda les: les.radius_mm)
    return (
        f"{len(lesions)} lesion(s) found, none large enough to measure: the largest, "
        f"{largest.name}, has an equivalent radius of {largest.radius_mm:.1f} mm "
        f"({largest.voxels} voxels) and the smallest measured is a diameter of "
        f"{min_diameter_voxels:g} voxels (--min-diameter-voxels)"
    )


def summary(study: Study) -> list[str]:
    """The lines the command prints: the classifier, then the largest feature distances."""
    result = study.classifier
    real = int((study.table["set"] == "real").sum())
    synthetic = int((study.table["set"] == "synthetic").sum())
    head = f"{study.real_data} vs {study.tumor_model}: {real} real, {synthetic} synthetic lesions"
    if math.isfinite(result.auc):
        ci = (
            f" [{result.ci_low:.2f}, {result.ci_high:.2f}]"
            if math.isfinite(result.ci_low)
            else f" (no CI: {result.note})"
        )
        auc = f"classifier AUC real vs synthetic: {result.auc:.2f}{ci} (0.5 = indistinguishable)"
    else:
        auc = f"classifier AUC: not estimated: {result.note}"
    return [head, auc]
