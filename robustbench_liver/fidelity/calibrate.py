"""Calibration of the bench: run models on the real cases and on their twin cases (the same
scans with size-matched synthetic tumors, `fidelity.twins`) and score both with the suite's
metrics (`fidelity.scoring`). `fidelity.calibration_stats` turns the rows into gaps.

Models are foreign code: each runs in a process of its own through the runner's machinery
(`runs.roster`, `runs.isolate`); a crash, exit or timeout is a failed prediction, counted as
a miss, never a dead calibration.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from robustbench_liver.errors import DataError, ModelError
from robustbench_liver.fidelity.lesions import MIN_DIAMETER_VOXELS, Lesion, ScanFrame, find_lesions
from robustbench_liver.fidelity.scoring import (
    Prediction,
    Scored,
    real_liver,
    score_real,
    score_twin,
    twin_liver,
)
from robustbench_liver.fidelity.study import TumorModel
from robustbench_liver.fidelity.twins import heal, make_twin
from robustbench_liver.metrics import MetricOptions, ToleranceBelowSpacingWarning
from robustbench_liver.runs.isolate import Failure, ModelInfo
from robustbench_liver.runs.roster import model_process, preload, shutdown_all
from robustbench_liver.types import Scan

CARD_FIELDS = ("name", "version", "sha256")
"""What the calibration file keeps of each card to match it to a run's models later."""


@dataclass
class Calibration:
    """The rows of one calibration: every model on every real and twin case."""

    real_data: str
    tumor_model: str
    models: list[dict[str, Any]]
    """One per model: name, version, sha256 (of its weights; None without), spec, card."""
    cases: pd.DataFrame
    """One row per (model, case): `set` real / synthetic, `real_scan`, `replicate` (-1 on
    the real case), the metrics' case columns."""
    lesions: pd.DataFrame
    """One row per (model, matched lesion): `match` names the real lesion, `local_dsc`,
    `detected` (0/1), the metrics' lesion columns."""
    twin_failures: list[dict[str, Any]] = field(default_factory=list)
    """Twin cases that could not be made (scan, replicate, error)."""
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


def run_calibration(
    frames: Sequence[ScanFrame],
    tumor: TumorModel,
    real_data: str,
    specs: Sequence[str],
    *,
    per_lesion: int = 4,
    seed: int = 0,
    min_diameter_voxels: float = MIN_DIAMETER_VOXELS,
    timeout_s: float | None = None,
    options: MetricOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> Calibration:
    """Each model (by spec, as `run --model` takes it) on each real case and on `per_lesion`
    twin cases of it. Raises a ModelError naming every model that cannot load."""
    if not specs:
        raise DataError("calibration needs at least one --model")
    if per_lesion < 1:
        raise DataError(f"--per-lesion must be at least 1, got {per_lesion}")
    options = options or MetricOptions()
    tick = progress or (lambda note: None)
    specs = list(dict.fromkeys(specs))
    infos = preload(specs)
    try:
        _check_names(infos)
        run = _Run(infos, options, timeout_s, tick)
        with warnings.catch_warnings():
            # NSD is not part of the calibration: its tolerance warning would repeat per case
            warnings.simplefilter("ignore", ToleranceBelowSpacingWarning)
            for frame in frames:
                run.scan(frame, tumor, per_lesion, seed, min_diameter_voxels)
    finally:
        shutdown_all()
    if not run.case_rows:
        raise DataError(
            "no real lesion large enough to calibrate on: "
            + ("; ".join(run.notes) or "no scan given"),
            hint="lower --min-diameter-voxels, or give scans with larger tumors",
        )
    return Calibration(
        real_data=real_data,
        tumor_model=tumor.name,
        models=[_model_entry(spec, info) for spec, info in infos.items()],
        cases=pd.DataFrame(run.case_rows),
        lesions=pd.DataFrame(run.lesion_rows),
        twin_failures=run.twin_failures,
        notes=run.notes,
        settings={
            "per_lesion": per_lesion,
            "seed": seed,
            "min_diameter_voxels": min_diameter_voxels,
            "timeout_s": timeout_s,
            "metric_options": {
                "nsd_tolerance_mm": options.nsd_tolerance_mm,
                "min_volume_mm3": options.min_volume_mm3,
                "lesion_rule": options.lesion_rule,
                "iou_threshold": options.iou_threshold,
            },
        },
    )


class _Run:
    """Predict-and-score for every model, collecting the rows."""

    def __init__(
        self,
        infos: dict[str, ModelInfo],
        options: MetricOptions,
        timeout_s: float | None,
        tick: Callable[[str], None],
    ):
        self.infos, self.options, self.timeout_s, self.tick = infos, options, timeout_s, tick
        self.case_rows: list[dict[str, Any]] = []
        self.lesion_rows: list[dict[str, Any]] = []
        self.twin_failures: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def scan(
        self,
        frame: ScanFrame,
        tumor: TumorModel,
        per_lesion: int,
        seed: int,
        min_diameter_voxels: float,
    ) -> None:
        """The real case of `frame` and its twins, every model on each."""
        _, found = find_lesions(frame, min_diameter_voxels)
        measured = [lesion for lesion in found if lesion.measured]
        if not measured:
            self.notes.append(f"{frame.scan.id}: no lesion large enough to match, left out")
            return
        self.real(frame, measured)
        healed = heal(frame, seed)  # once per scan: every twin starts from it
        for replicate in range(per_lesion):
            self.twin(frame, healed, tumor, measured, replicate, seed)

    def real(self, frame: ScanFrame, measured: list[Lesion]) -> None:
        scan = frame.scan
        liver = real_liver(frame)
        for spec, info in self.infos.items():
            answer = self._predict(spec, info, scan.image, scan.spacing, liver)
            extra = self._extra(info, "real", scan.id, scan.id, -1)
            self._keep(score_real(answer, frame, measured, extra, self.options))
            self.tick(f"{info.name} on {scan.id}")

    def twin(
        self,
        frame: ScanFrame,
        healed: Scan,
        tumor: TumorModel,
        measured: list[Lesion],
        replicate: int,
        seed: int,
    ) -> None:
        made = make_twin(frame, tumor.config, measured, replicate, seed, healed)
        if made.case is None:
            self.twin_failures.append(
                {"scan": made.scan_id, "replicate": replicate, "error": made.error}
            )
            for _ in self.infos:
                self.tick(f"twin {made.case_id} not made")
            return
        if made.warning:
            self.notes.append(f"{made.case_id}: {made.warning}")
        case = made.case
        liver = twin_liver(frame, case)
        radii = {lesion.name: lesion.radius_mm for lesion in measured}
        for spec, info in self.infos.items():
            answer = self._predict(spec, info, case.image, frame.scan.spacing, liver)
            extra = self._extra(info, "synthetic", case.case_id, frame.scan.id, replicate)
            self._keep(score_twin(answer, frame, case, radii, extra, self.options))
            self.tick(f"{info.name} on {case.case_id}")

    def _predict(
        self,
        spec: str,
        info: ModelInfo,
        image: np.ndarray,
        spacing: tuple[float, float, float],
        liver: np.ndarray,
    ) -> Prediction:
        answer = model_process(spec).predict(
            np.asarray(image), spacing, liver if info.needs_liver else None, self.timeout_s
        )
        return (answer.status, answer.error) if isinstance(answer, Failure) else answer

    @staticmethod
    def _extra(
        info: ModelInfo, kind: str, case_id: str, real_scan: str, replicate: int
    ) -> dict[str, Any]:
        return {
            "case_id": case_id,
            "model": info.name,
            "model_version": info.version,
            "set": kind,
            "real_scan": real_scan,
            "replicate": replicate,
        }

    def _keep(self, scored: Scored) -> None:
        self.case_rows.append(scored.case)
        self.lesion_rows += scored.lesions


def _check_names(infos: dict[str, ModelInfo]) -> None:
    seen: dict[str, str] = {}
    for spec, info in infos.items():
        if info.name in seen:
            raise ModelError(
                f"--model {seen[info.name]!r} and --model {spec!r} are both called "
                f"{info.name!r}: their rows could not be told apart; give one of them another "
                "name on its card"
            )
        seen[info.name] = spec


def _model_entry(spec: str, info: ModelInfo) -> dict[str, Any]:
    card = dict(info.card or {})
    return {
        "name": info.name,
        "version": str(info.version or card.get("version") or ""),
        "sha256": card.get("sha256"),
        "spec": spec,
        "card": card,
    }
