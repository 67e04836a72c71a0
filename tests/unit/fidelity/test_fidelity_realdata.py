"""Finding labelled scans: the folder layouts, scenarios, and the errors people meet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robustbench_liver.errors import DataError
from robustbench_liver.fidelity.inputs import real_frames, tumor_model
from robustbench_liver.fidelity.realdata import find_scans, load_labelled
from robustbench_liver.io import save_nifti

AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


def write_case(image: Path, labels: Path, tumor: bool = True) -> None:
    ct = np.full((24, 24, 16), -1000.0)
    label = np.zeros(ct.shape, dtype=np.uint8)
    label[4:20, 4:20, 2:14] = 1
    ct[label == 1] = 100.0
    if tumor:
        label[9:14, 9:14, 6:10] = 2
        ct[label == 2] = 40.0
    save_nifti(image, ct, AFFINE)
    save_nifti(labels, label, AFFINE, kind="label")


def test_msd_layout(tmp_path):
    for case in ("liver_1", "liver_2"):
        write_case(
            tmp_path / "imagesTr" / f"{case}_0000.nii.gz", tmp_path / "labelsTr" / f"{case}.nii.gz"
        )
    data = find_scans(tmp_path)
    assert [s.id for s in data.scans] == ["liver_1", "liver_2"]
    assert all(s.liver_label == 1 for s in data.scans)
    scan, tumors = load_labelled(data.scans[0], tumor_label=2)
    assert tumors.sum() == 5 * 5 * 4
    assert not (scan.liver & tumors).any()  # the liver is the tumor-free base


def test_lits_layout_and_the_liver_label_override(tmp_path):
    write_case(tmp_path / "volume-7.nii", tmp_path / "segmentation-7.nii")
    data = find_scans(tmp_path, liver_label=1)
    assert [s.id for s in data.scans] == ["volume-7"]
    assert data.scans[0].labels.name == "segmentation-7.nii"


def test_one_case_folder_is_named_after_the_folder(shared_data):
    data = find_scans(shared_data / "lits-tiny")
    assert data.name == "lits-tiny" and [s.id for s in data.scans] == ["lits-tiny"]


def test_an_empty_folder_lists_the_layouts(tmp_path):
    with pytest.raises(DataError, match="imagesTr"):
        find_scans(tmp_path)


def test_a_missing_tumor_label_names_the_values_present(tmp_path):
    write_case(tmp_path / "ct.nii.gz", tmp_path / "labels.nii.gz", tumor=False)
    with pytest.raises(DataError, match=r"tumor label 2.*\[0, 1\]"):
        real_frames(find_scans(tmp_path), tumor_label=2)


def test_tumor_and_liver_label_must_differ(tmp_path):
    write_case(tmp_path / "ct.nii.gz", tmp_path / "labels.nii.gz")
    with pytest.raises(DataError, match="both 1"):
        load_labelled(find_scans(tmp_path).scans[0], tumor_label=1)


def test_a_phantom_scenario_holds_no_real_tumors():
    with pytest.raises(DataError, match="phantom"):
        find_scans(Path(__file__).parents[3] / "scenarios" / "quickstart.yaml")


def test_tumor_models_from_a_scenario_or_a_level():
    root = Path(__file__).parents[3] / "scenarios"
    model = tumor_model(root / "quickstart.yaml")
    assert model.name == "scenario quickstart, condition size-medium"
    assert tumor_model(root / "quickstart.yaml", "size-large").config.sizes[0].name == "large"
    assert tumor_model("small").name == "level small"
    with pytest.raises(DataError, match="Did you mean 'small'"):
        tumor_model("smal")
