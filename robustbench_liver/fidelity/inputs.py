"""The command's inputs as the study wants them: the tumor model from a scenario or a level
name, and loaded scan frames from labelled scans."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from robustbench_liver.errors import DataError, did_you_mean
from robustbench_liver.fidelity.lesions import ScanFrame, scan_frame
from robustbench_liver.fidelity.realdata import RealData, label_values, load_labelled
from robustbench_liver.fidelity.study import TumorModel
from robustbench_liver.synthesis import LEVELS, TumorConfig


def tumor_model(spec: str | Path, condition: str | None = None) -> TumorModel:
    """A scenario file's tumors (its reference condition, or `condition`), or a level."""
    text = str(spec)
    if text in LEVELS:
        if condition is not None:
            raise DataError(f"--condition {condition!r} needs a scenario file, not level {text!r}")
        return TumorModel(name=f"level {text}", config=TumorConfig.level(text))
    path = Path(spec)
    if not path.is_file():
        raise DataError(
            "neither a scenario file nor a tumor level",
            path,
            did_you_mean(text, LEVELS, "level") + " Or pass a scenario .yaml",
        )
    from robustbench_liver.scenarios import load_scenario

    scenario = load_scenario(path)
    chosen = scenario.condition(condition or scenario.reference)
    name = f"scenario {scenario.name}, condition {chosen.id}"
    return TumorModel(name=name, config=chosen.tumors)


def real_frames(
    data: RealData, tumor_label: int, note: Callable[[str], None] | None = None
) -> list[ScanFrame]:
    """Each scan of `data` loaded, with its tumor mask; a DataError if no scan has tumors."""
    frames = []
    for item in data.scans:
        scan, tumors = load_labelled(item, tumor_label)
        frames.append(scan_frame(scan, tumors))
        if note:
            note(f"loaded {item.id}: {int(tumors.sum())} tumor voxels")
    if not any(f.tumors.any() for f in frames):
        values = label_values(data.scans[0]) if data.scans else []
        raise DataError(
            f"no voxel has the tumor label {tumor_label} in any of the {len(frames)} scan(s) "
            f"of {data.name} (the first label map holds {values})",
            hint="pass --tumor-label (LiTS / MSD: 2)",
        )
    return frames


def base_frames(data: RealData) -> list[ScanFrame]:
    """Healthy base scans: loaded with their liver mask, no tumors."""
    frames = []
    for item in data.scans:
        from robustbench_liver.io import load_scan

        scan = load_scan(
            item.image,
            item.labels,
            liver_label=item.liver_label,
            vessel_labels=item.vessel_labels,
            id=item.id,
        )
        frames.append(scan_frame(scan, np.zeros(scan.shape, dtype=bool)))
    return frames
