"""Write a plan's cases as a test set in MSD / nnU-Net layout, or as an nnU-Net v2
training set, resumably."""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from robustbench_liver.io import save_nifti
from robustbench_liver.scenarios.cache import CaseCache
from robustbench_liver.scenarios.cases import build_case, content_key
from robustbench_liver.scenarios.load import Scenario
from robustbench_liver.scenarios.plan import CaseSpec, Plan
from robustbench_liver.types import Case

CASE_COLUMNS = (
    "case_id",
    "condition",
    "base_scan",
    "replicate",
    "is_control",
    "n_tumors",
    "tumors",
)


@dataclass(frozen=True)
class Layout:
    """Where a set's files go and how its dataset.json counts them."""

    name: str
    images: str
    """Folder of <case>_0000.nii.gz (the CT, HU)."""
    labels: str
    """Folder of <case>.nii.gz (0 background, 1 liver, 2 tumor)."""
    count_key: str
    """dataset.json key holding the number of cases."""
    list_key: str
    """dataset.json key listing the image and label of every case (MSD style)."""


TEST = Layout("test", "imagesTs", "labelsTs", "numTest", "test")
"""A test set to score a tool's predictions with `evaluate` (the default)."""
NNUNET_TRAIN = Layout("nnunet-train", "imagesTr", "labelsTr", "numTraining", "training")
"""A training set nnU-Net v2 takes as it is (`nnUNetv2_plan_and_preprocess -d ID`)."""
LAYOUTS = {layout.name: layout for layout in (TEST, NNUNET_TRAIN)}
_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")


def nnunet_dataset_dir(out: Path, dataset_id: int, name: str) -> Path:
    """nnU-Net v2's dataset folder `DatasetXXX_Name` inside `out` (nnUNet_raw); `out` itself
    when it already is that folder."""
    if isinstance(dataset_id, bool) or not isinstance(dataset_id, int) or dataset_id < 1:
        raise ValueError(f"dataset id {dataset_id!r}: a positive integer (e.g. 501)")
    if not _DATASET_NAME.match(name):
        raise ValueError(
            f"dataset name {name!r}: use letters, digits and _ (e.g. LiverSynth); nnU-Net "
            "reads the id from the folder name Dataset<id>_<name>"
        )
    folder = f"Dataset{dataset_id:03d}_{name}"
    return out if out.name == folder else out / folder


def dataset_name_of(scenario_name: str) -> str:
    """A scenario's name as an nnU-Net dataset name (letters, digits, _)."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", scenario_name).strip("_")
    return name or "robustbench"


def case_row(case: Case, spec: CaseSpec) -> dict[str, Any]:
    """One row of cases.csv: identity, and the tumor records (JSON) to replay it."""
    return {
        "case_id": case.case_id,
        "condition": case.condition,
        "base_scan": spec.scan.id,
        "replicate": case.replicate,
        "is_control": case.is_control,
        "n_tumors": len(case.tumors),
        "tumors": json.dumps([t.to_dict() for t in case.tumors], separators=(",", ":")),
    }


def write_case(out: Path, case: Case, layout: Layout = TEST) -> None:
    """<images>/<id>_0000.nii.gz and <labels>/<id>.nii.gz; the label last, so its presence
    means the case is complete."""
    affine = case.affine if case.affine is not None else np.eye(4)
    save_nifti(out / layout.images / f"{case.case_id}_0000.nii.gz", case.image, affine)
    final = out / layout.labels / f"{case.case_id}.nii.gz"
    tmp = final.with_name(final.name + ".part.nii.gz")
    save_nifti(tmp, case.label, affine, kind="label")
    os.replace(tmp, final)


def is_written(out: Path, case_id: str, layout: Layout = TEST) -> bool:
    return (out / layout.labels / f"{case_id}.nii.gz").exists() and (
        out / layout.images / f"{case_id}_0000.nii.gz"
    ).exists()


def write_index(
    out: Path, plan: Plan, rows: Iterable[dict[str, Any]], layout: Layout = TEST
) -> None:
    """dataset.json (nnU-Net v2 style) and cases.csv, sorted by case id."""
    rows = sorted(rows, key=lambda r: r["case_id"])
    spec = plan.scenario.spec
    dataset = {
        "name": spec.name,
        "description": spec.description.strip(),
        "scenario_version": spec.version,
        "scenario_hash": plan.scenario.hash,
        "channel_names": {"0": "CT"},
        "labels": {"background": 0, "liver": 1, "tumor": 2},
        layout.count_key: len(rows),
        "file_ending": ".nii.gz",
        layout.list_key: [
            {
                "image": f"./{layout.images}/{r['case_id']}_0000.nii.gz",
                "label": f"./{layout.labels}/{r['case_id']}.nii.gz",
            }
            for r in rows
        ],
    }
    (out / "dataset.json").write_text(json.dumps(dataset, indent=2) + "\n")
    with open(out / "cases.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CASE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    tumors = [
        {"case_id": r["case_id"], "condition": r["condition"], "base_scan": r["base_scan"], **t}
        for r in rows
        for t in json.loads(r["tumors"])
    ]
    with open(out / "tumors.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=_tumor_columns(tumors))
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in t.items()} for t in tumors)


def _tumor_columns(tumors: list[dict[str, Any]]) -> list[str]:
    """Identity first, then the record's own field order."""
    head = ["case_id", "condition", "base_scan"]
    return head + [k for k in (tumors[0] if tumors else {}) if k not in head]


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list | dict) else value


def cached_case(
    scenario: Scenario, spec: CaseSpec, cache: CaseCache | None, write: bool = True
) -> tuple[Case, bool]:
    """The case of `spec`, from the cache when its content was built before (and put there
    when built, if `write`); and whether it was reused."""
    scan = spec.scan.load()
    if cache is None:
        return build_case(scenario, spec, scan), False
    key = content_key(scenario, spec, scan)
    identity = {
        "case_id": spec.case_id,
        "condition": spec.condition,
        "replicate": spec.replicate,
        "is_control": spec.is_control,
    }
    found = cache.get(key, **identity)
    if found is not None:
        return found, True
    case = build_case(scenario, spec, scan)
    if write:
        cache.put(key, case)
    return case, False


def _build_and_write(
    scenario: Scenario, spec: CaseSpec, out: Path, cache: CaseCache | None, layout: Layout
) -> dict[str, Any]:
    case, reused = cached_case(scenario, spec, cache)
    write_case(out, case, layout)
    return {**case_row(case, spec), "_reused": reused}


def export(
    plan: Plan,
    out: Path,
    workers: int = 1,
    progress: Callable[[dict[str, Any]], None] | None = None,
    cache: CaseCache | None = None,
    layout: Layout = TEST,
) -> list[dict[str, Any]]:
    """Write every case of `plan` under `out` (in `workers` processes) in `layout`, skipping
    cases already written by an earlier, perhaps interrupted, call; return the cases.csv
    rows. For NNUNET_TRAIN, `out` is the DatasetXXX_Name folder (`nnunet_dataset_dir`)."""
    out.mkdir(parents=True, exist_ok=True)
    rows_path = out / ".rows.jsonl"
    done: dict[str, dict[str, Any]] = {}
    if rows_path.exists():
        for line in rows_path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
            if is_written(out, row["case_id"], layout):
                done[row["case_id"]] = row
    # one base scan after another: a worker keeps only the last few scans it loaded
    todo = sorted((s for s in plan.cases if s.case_id not in done), key=lambda s: s.scan.id)
    with open(rows_path, "a") as log:

        def finished(row: dict[str, Any]) -> None:
            if progress is not None:
                progress(row)
            row = {k: v for k, v in row.items() if not k.startswith("_")}
            done[row["case_id"]] = row
            log.write(json.dumps(row) + "\n")
            log.flush()

        if workers <= 1:
            for spec in todo:
                finished(_build_and_write(plan.scenario, spec, out, cache, layout))
        else:
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                futures = [
                    pool.submit(_build_and_write, plan.scenario, s, out, cache, layout)
                    for s in todo
                ]
                for future in as_completed(futures):
                    finished(future.result())
    rows = [done[s.case_id] for s in plan.cases]
    write_index(out, plan, rows, layout)
    return rows
