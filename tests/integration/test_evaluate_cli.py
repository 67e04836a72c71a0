"""`robustbench-liver evaluate` end to end on small NIfTI folders written into tmp_path."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from robustbench_liver.cli.main import main

AFFINE = np.diag([0.8, 0.8, 2.5, 1.0])
SHAPE = (24, 22, 10)


def _save(array: np.ndarray, path: Path, affine: np.ndarray = AFFINE) -> None:
    nib.save(nib.Nifti1Image(array, affine), str(path))


def _label(tumor: bool, shift: int = 0) -> np.ndarray:
    label = np.zeros(SHAPE, dtype=np.uint8)
    label[3:21, 3:19, 1:9] = 1
    if tumor:
        label[8 + shift : 14 + shift, 7:13, 3:7] = 2
    return label


@pytest.fixture
def test_set(tmp_path: Path) -> tuple[Path, Path]:
    """4 base scans × 3 replicates (replicate 2 is a control), 2 conditions, good predictions."""
    gt, pred = tmp_path / "testset", tmp_path / "pred"
    (gt / "labelsTs").mkdir(parents=True)
    pred.mkdir()
    rows = []
    for scan in range(4):
        for rep in range(3):
            case_id = f"s{scan}_r{rep}"
            control = rep == 2
            _save(_label(not control), gt / "labelsTs" / f"{case_id}.nii.gz")
            _save(_label(not control, shift=1), pred / f"{case_id}.nii.gz")
            rows.append(
                {"case_id": case_id, "condition": "ref" if scan < 2 else "small",
                 "base_scan": f"scan{scan}", "replicate": rep, "is_control": control}
            )  # fmt: skip
    pd.DataFrame(rows).to_csv(gt / "cases.csv", index=False)
    return gt, pred


def _run(gt: Path, pred: Path, out: Path, *extra: str) -> int:
    args = ["evaluate", "--pred", str(pred), "--gt", str(gt), "--out", str(out)]
    return main([*args, "--n-resamples", "500", *extra])


def test_all_scored(test_set, tmp_path, capsys):
    gt, pred = test_set
    out = tmp_path / "res" / "results.parquet"
    assert _run(gt, pred, out) == 0
    cases = pd.read_parquet(out)
    lesions = pd.read_parquet(tmp_path / "res" / "results.lesions.parquet")
    assert len(cases) == 12 and (cases["status"] == "ok").all()
    assert set(cases["condition"]) == {"ref", "small"}
    tumor = cases[~cases["is_control"]]
    assert tumor["dsc"].between(0.8, 0.9).all() and (tumor["nsd"] == 1.0).all()
    assert cases.loc[cases["is_control"], "dsc"].isna().all()
    assert (cases.loc[cases["is_control"], "case_specificity"] == 1.0).all()
    assert (cases["nsd_profile"] == "nsd@2mm/surfel").all()
    assert len(lesions) == 8 and lesions["detected"].all()
    printed = capsys.readouterr()
    assert "condition" in printed.out and "sensitivity" in printed.out and "small" in printed.out
    assert "below the voxel spacing along z" in printed.err  # 2 mm on 2.5 mm slices


def test_problems_are_reported_per_case(test_set, tmp_path, capsys):
    gt, pred = test_set
    (pred / "s0_r0.nii.gz").rename(pred / "s0_r0_0000.nii.gz")  # nnU-Net input naming
    _save(_label(True)[:-1], pred / "s0_r1.nii.gz")  # misshapen
    _save(np.full(SHAPE, np.nan, dtype=np.float32), pred / "s1_r0.nii.gz")  # non-finite
    _save(_label(True) * 2, pred / "s1_r1.nii.gz")  # values 0, 2, 4: not a label map
    _save(_label(True), pred / "s2_r0.nii.gz", affine=np.diag([0.8, 0.8, -2.5, 1.0]))
    (pred / "s2_r1.nii.gz").write_bytes(b"not a nifti file")  # unreadable
    _save(_label(True), pred / "unknown_case.nii.gz")  # extra
    out = tmp_path / "results.parquet"
    assert _run(gt, pred, out) == 1
    cases = pd.read_parquet(out).set_index("case_id")
    status = cases["status"].to_dict()
    assert (
        status["s0_r0"] == "missing" and "rename it to s0_r0.nii.gz" in cases.loc["s0_r0", "error"]
    )
    assert status["s0_r1"] == "misshapen"
    assert status["s1_r0"] == "non_finite"
    assert status["s1_r1"] == "invalid_values" and "[4]" in cases.loc["s1_r1", "error"]
    assert status["s2_r0"] == "misaligned"
    assert status["s2_r1"] == "unreadable" and "s2_r1.nii.gz" in cases.loc["s2_r1", "error"]
    assert status["unknown_case"] == status["s0_r0_0000"] == "extra"
    assert (cases["status"] == "ok").sum() == 12 - 6
    err = capsys.readouterr().err
    assert "failed: s0_r1: misshapen" in err and "2 prediction(s) match no case" in err


def test_without_cases_csv_each_case_is_its_own_cluster(test_set, tmp_path, capsys):
    gt, pred = test_set
    (gt / "cases.csv").unlink()
    out = tmp_path / "results.parquet"
    assert _run(gt, pred, out) == 0
    cases = pd.read_parquet(out)
    assert (cases["condition"] == "all").all()
    assert (cases["base_scan"] == cases["case_id"]).all()
    assert cases["is_control"].sum() == 4  # derived from empty ground truth
    assert "all" in capsys.readouterr().out


def test_binary_masks_and_probabilities(test_set, tmp_path):
    gt, pred = test_set
    for path in pred.glob("*.nii.gz"):
        tumor = np.asanyarray(nib.load(str(path)).dataobj) == 2
        _save(tumor.astype(np.uint8), path)
    assert _run(gt, pred, tmp_path / "a.parquet", "--tumor-label", "1") == 0
    for path in pred.glob("*.nii.gz"):
        tumor = np.asanyarray(nib.load(str(path)).dataobj) == 1
        _save(np.where(tumor, 0.9, 0.1).astype(np.float32), path)
    assert _run(gt, pred, tmp_path / "b.parquet", "--probability") == 0
    a, b = pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")
    pd.testing.assert_series_equal(a["dsc"], b["dsc"])


def test_user_mistakes(test_set, tmp_path, capsys):
    gt, pred = test_set
    assert _run(tmp_path, pred, tmp_path / "r.parquet") == 1  # no labelsTs/
    assert "labelsTs" in capsys.readouterr().err
    pd.DataFrame({"case_id": ["s0_r0"]}).to_csv(gt / "cases.csv", index=False)
    assert _run(gt, pred, tmp_path / "r.parquet") == 1
    assert "missing column(s)" in capsys.readouterr().err


def test_help_shows_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "robustbench-liver evaluate --pred" in capsys.readouterr().out
