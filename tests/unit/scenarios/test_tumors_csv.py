"""tumors.csv says which tumors merged into one lesion."""

from __future__ import annotations

import csv
import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest

from robustbench_liver.scenarios.testset import case_row, write_index
from robustbench_liver.synthesis import SynthesisWarning, TumorConfig, apply, sample
from robustbench_liver.synthesis.config import LEVELS
from robustbench_liver.types import Scan


@pytest.fixture
def scan() -> Scan:
    """A 60 x 60 x 40 ball of liver (100 +- 10 HU) at 1.5 mm."""
    grid = np.indices((60, 60, 40)).astype(float)
    liver = ((grid - np.array([30, 30, 20])[:, None, None, None]) ** 2).sum(axis=0) <= 19**2
    image = np.where(liver, 100.0, -90.0).astype(np.float32)
    image += np.random.default_rng(0).normal(0, 10, image.shape).astype(np.float32)
    return Scan(image=image, spacing=(1.5, 1.5, 1.5), liver=liver, affine=np.eye(4), id="ball")


def test_tumors_csv_has_the_lesion_columns(tmp_path, scan):
    cfg = TumorConfig(sizes=(dataclasses.replace(LEVELS["small"][0], count=(1, 1)),))
    (first,) = sample(scan, cfg, 0)
    centre = np.asarray(scan.shape) // 2

    def at(index: int, dx: int):  # type: ignore[no-untyped-def]
        return dataclasses.replace(
            first, index=index, center_vox=tuple(int(c) for c in np.add(centre, (dx, 0, 0)))
        )

    with pytest.warns(SynthesisWarning, match="merged-case"):
        merged = apply(scan, [at(0, -2), at(1, 2)], case_id="merged-case")
    alone = apply(scan, [at(0, -12), at(1, 12)], case_id="apart-case")
    spec = SimpleNamespace(scan=SimpleNamespace(id=scan.id))
    rows = [case_row(case, spec) for case in (merged, alone)]  # type: ignore[arg-type]
    plan = SimpleNamespace(
        scenario=SimpleNamespace(
            spec=SimpleNamespace(name="t", description="", version="1"), hash="h"
        )
    )
    write_index(tmp_path, plan, rows)  # type: ignore[arg-type]
    with open(tmp_path / "tumors.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    got = {
        (r["case_id"], r["index"]): (r["lesion_id"], json.loads(r["merged_with"])) for r in table
    }
    assert got == {
        ("apart-case", "0"): ("1", []),
        ("apart-case", "1"): ("2", []),
        ("merged-case", "0"): ("1", [1]),
        ("merged-case", "1"): ("1", [0]),
    }
