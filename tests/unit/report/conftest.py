"""Hand-made result rows and run folders for the report tests (no synthesis, no models)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robustbench_liver.scenarios import scenario_from_dict

CONDITIONS = ("c-hypo", "c-iso")
PROFILES = {
    "dsc_profile": "dsc",
    "nsd_profile": "nsd@2mm/surfel",
    "hd95_profile": "hd95/surfel",
    "case_detection_profile": "case@10mm3",
    "lesion_profile": "lesion/26c/overlap",
    "empty_policy": "gt-empty:nan+specificity;pred-empty:0",
}


def spec(name: str = "handmade", version: int = 1, resamples: int = 200) -> dict:
    return {
        "name": name,
        "version": version,
        "description": "Hand-made rows for tests.",
        "seed": 1,
        "base_scans": [{"source": "phantom", "count": 4}],
        "cases_per_condition": 12,
        "controls": 0.25,
        "tumors": {"level": "small"},
        "sweep": {
            "axes": [
                {
                    "name": "c",
                    "param": "tumors.delta_hu",
                    "levels": {"hypo": [-60, -40], "iso": [-15, -5]},
                }
            ]
        },
        "statistics": {"resamples": resamples},
    }


def make_rows(
    seed: int = 0, models: tuple[str, ...] = ("alpha", "beta"), scenario: str = "handmade"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Case and lesion rows shaped like the runner's: 4 base scans x 2 replicates of tumor
    cases and one control per scan, per condition and model; one 'beta' case failed."""
    rng = np.random.default_rng(seed)
    cases, lesions = [], []
    for m, model in enumerate(models):
        for condition in CONDITIONS:
            shift = 0.0 if condition == "c-hypo" else -0.25
            for s in range(4):
                scan = f"phantom-{s}"
                for replicate, control in ((0, False), (1, False), (0, True)):
                    tag = "c" if control else "t"
                    case_id = f"{condition}__{scan}__{tag}{replicate:03d}"
                    failed = model == "beta" and case_id == "c-iso__phantom-3__t001"
                    row = {
                        "case_id": case_id,
                        "scenario": scenario,
                        "scenario_version": 1,
                        "model": model,
                        "model_version": "1",
                        "condition": condition,
                        "base_scan": scan,
                        "replicate": replicate,
                        "is_control": control,
                        "status": "model_error" if failed else "ok",
                        "error": "RuntimeError: boom" if failed else None,
                        **PROFILES,
                    }
                    n_lesions = 0 if control else 4
                    if failed:
                        row.update(
                            dsc=np.nan,
                            nsd=np.nan,
                            case_sensitivity=np.nan,
                            case_specificity=np.nan,
                            n_lesions=0,
                            n_lesions_detected=0,
                        )
                        cases.append(row)
                        continue
                    radii = rng.uniform(2, 25, n_lesions)
                    found = rng.random(n_lesions) < np.clip(radii / 12 + 0.1 * m + shift, 0, 1)
                    value = float(np.clip(0.6 + shift + 0.1 * m + rng.normal(0, 0.1), 0, 1))
                    positive = bool(rng.random() < 0.8) if not control else bool(rng.random() < 0.3)
                    row.update(
                        dsc=np.nan if control else value,
                        nsd=np.nan if control else value * 0.9,
                        case_sensitivity=np.nan if control else float(positive),
                        case_specificity=float(not positive) if control else np.nan,
                        n_lesions=n_lesions,
                        n_lesions_detected=int(found.sum()),
                    )
                    cases.append(row)
                    for k in range(n_lesions):
                        lesions.append({
                            **{c: row[c] for c in ("case_id", "scenario", "scenario_version",
                                                   "model", "model_version", "condition",
                                                   "base_scan", "replicate", "is_control")},
                            "lesion_id": k + 1,
                            "radius_mm": float(radii[k]),
                            "detected": bool(found[k]),
                            "lesion_profile": PROFILES["lesion_profile"],
                        })  # fmt: skip
    return pd.DataFrame(cases), pd.DataFrame(lesions)


def write_run(
    root: Path,
    cases: pd.DataFrame,
    lesions: pd.DataFrame,
    specs: list[dict] | None = None,
) -> Path:
    """A run folder as the runner leaves it (manifest, cases.parquet, lesions.parquet)."""
    root.mkdir(parents=True, exist_ok=True)
    scenarios = {}
    for s in specs or [spec()]:
        scenario = scenario_from_dict(s)
        scenarios[scenario.name] = {
            "hash": scenario.hash,
            "version": scenario.spec.version,
            "seed": scenario.spec.seed,
            "reference": scenario.reference,
            "conditions": [c.id for c in scenario.conditions],
            "base_scans": [{"id": f"phantom-{i}", "kind": "phantom", "seed": i} for i in range(4)],
            "n_cases": 24,
            "limit": None,
            "spec": scenario.spec.model_dump(mode="json"),
            "sources": {"<dict>": json.dumps(s)},
        }
    models = {
        m: {"spec": f"fake:{m}", "card": {"name": m, "version": "1"}}
        for m in sorted(set(cases["model"]))
    }
    manifest = {
        "format": 1,
        "created": "2026-01-01T00:00:00+00:00",
        "updated": "2026-01-01T00:00:00+00:00",
        "scenarios": scenarios,
        "models": models,
        "package_version": "0.1.0",
        "platform": {"python": "3.11"},
        "options": {},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    cases.to_parquet(root / "cases.parquet", index=False)
    lesions.to_parquet(root / "lesions.parquet", index=False)
    return root


@pytest.fixture
def rows() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_rows()


@pytest.fixture
def run_folder(tmp_path) -> Path:
    cases, lesions = make_rows()
    return write_run(tmp_path / "run", cases, lesions)


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory) -> Path:
    """A run folder that tests only read (built once per module)."""
    cases, lesions = make_rows()
    return write_run(tmp_path_factory.mktemp("shared") / "run", cases, lesions)


@pytest.fixture
def make_run(tmp_path) -> Callable[..., Path]:
    """make_run(name, seed=, models=, version=) -> a run folder under tmp_path."""

    def make(name: str, seed: int = 0, models=("alpha", "beta"), version: int = 1) -> Path:
        cases, lesions = make_rows(seed, tuple(models))
        return write_run(tmp_path / name, cases, lesions, [spec(version=version)])

    return make
