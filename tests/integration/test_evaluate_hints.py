"""`robustbench-liver evaluate` says which --tumor-label fits when no prediction holds label 2
but some hold label 1, and keeps scoring (and the exit code) as asked."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from robustbench_liver.cli.main import main

AFFINE = np.diag([0.8, 0.8, 2.5, 1.0])
SHAPE = (24, 22, 10)
LIVER = (slice(3, 21), slice(3, 19), slice(1, 9))  # 18 * 16 * 8 = 2304 voxels
TUMOR = (slice(8, 14), slice(7, 13), slice(3, 7))  # 6 * 6 * 4 = 144 voxels: 6.25 % of it


def _save(array: np.ndarray, path: Path) -> None:
    nib.save(nib.Nifti1Image(array, AFFINE), str(path))


@pytest.fixture
def test_set(tmp_path: Path) -> Path:
    """Four tumor cases and one control, without cases.csv."""
    gt = tmp_path / "testset"
    (gt / "labelsTs").mkdir(parents=True)
    for i in range(5):
        label = np.zeros(SHAPE, dtype=np.uint8)
        label[LIVER] = 1
        if i < 4:
            label[TUMOR] = 2
        _save(label, gt / "labelsTs" / f"case{i}.nii.gz")
    return gt


def _predict(gt: Path, folder: Path, make: str) -> Path:
    """Predictions from the ground truth: 'tumor' (binary tumor masks), 'liver' (liver
    masks, no tumor) or 'labels' (the label map itself)."""
    folder.mkdir()
    for path in sorted((gt / "labelsTs").glob("*.nii.gz")):
        label = np.asanyarray(nib.load(str(path)).dataobj)
        pred = {"tumor": label == 2, "liver": label > 0, "labels": label}[make]
        _save(pred.astype(np.uint8), folder / path.name)
    return folder


def _evaluate(gt: Path, pred: Path, out: Path, *extra: str) -> int:
    args = ["evaluate", "--pred", str(pred), "--gt", str(gt), "--out", str(out)]
    return main([*args, "--n-resamples", "200", *extra])


def test_binary_tumor_masks_get_one_warning_naming_tumor_label_1(test_set, tmp_path, capsys):
    pred = _predict(test_set, tmp_path / "pred", "tumor")
    out = tmp_path / "results.parquet"
    assert _evaluate(test_set, pred, out) == 0  # exit code as before: every case was scored
    err = capsys.readouterr().err
    assert err.count("--tumor-label 1") == 1
    assert "binary tumor masks" in err
    assert "4 of 5 scored case(s) have label 1 only" in err
    assert "6.2% of the liver" in err and "100% of it lies inside" in err
    cases = pd.read_parquet(out)  # scored as asked (tumor = 2), not silently switched
    assert (cases.loc[cases["has_tumor"], "dsc"] == 0.0).all()
    # asked for explicitly: scored as tumor, nothing to warn about
    assert _evaluate(test_set, pred, tmp_path / "b.parquet", "--tumor-label", "1") == 0
    assert "--tumor-label" not in capsys.readouterr().err
    assert (pd.read_parquet(tmp_path / "b.parquet").query("has_tumor")["dsc"] == 1.0).all()


def test_liver_masks_are_named_as_such(test_set, tmp_path, capsys):
    pred = _predict(test_set, tmp_path / "pred", "liver")
    assert _evaluate(test_set, pred, tmp_path / "results.parquet") == 0
    err = capsys.readouterr().err
    assert "liver masks without tumor" in err and "5 of 5 scored case(s)" in err
    assert "100.0% of the liver" in err
    assert "binary tumor masks" not in err
    # label maps with tumor (label 2) are what evaluate expects: no warning
    labels = _predict(test_set, tmp_path / "labels", "labels")
    assert _evaluate(test_set, labels, tmp_path / "b.parquet") == 0
    assert "--tumor-label" not in capsys.readouterr().err


def test_label_outside_the_liver_gets_the_plain_suggestion():
    from robustbench_liver.cli.evaluate import LabelCounts, label_hint

    outside = [LabelCounts(False, label1=100, label1_in_liver=10, liver=2000)] * 3
    hint = label_hint(outside)
    assert hint is not None and "--tumor-label 1" in hint
    assert "binary tumor masks" not in hint and "liver masks" not in hint
    assert "10% of it lies inside" in hint
    assert label_hint([]) is None
    assert label_hint([LabelCounts(False), *outside, LabelCounts(True)]) is None
