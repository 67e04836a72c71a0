"""Reading an nnU-Net trained-model folder without nnunetv2: label mapping, folds,
configuration, axis order of plans.json values."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from robustbench_liver.errors import ModelError
from robustbench_liver.models.nnunet_folder import map_labels, output_values, read_folder, to_xyz
from robustbench_liver.models.nnunet_load import takes_liver_mask

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "nnunet_tiny"


def labels_of(labels: dict, **extra) -> dict:
    return {"labels": labels, **extra}


@pytest.mark.parametrize(
    ("labels", "suite"),
    [
        ({"background": 0, "liver": 1, "tumor": 2}, ("background", "liver", "tumor")),
        ({"background": 0, "Liver": 1, "Liver Tumour": 2}, ("background", "liver", "tumor")),
        ({"background": 0, "liver_lesion": 1}, ("background", "tumor")),
        # other organs, and hepatic vessels, are background to the suite
        (
            {
                "background": 0,
                "spleen": 1,
                "liver": 2,
                "kidney_tumor": 3,
                "hepatic vessel": 4,
                "HCC": 5,
            },
            ("background", "background", "liver", "background", "background", "tumor"),
        ),
    ],
)
def test_labels_map_by_name(labels, suite):
    mapped = map_labels(labels_of(labels), None, "spec.yaml")
    assert mapped.suite == suite
    assert mapped.lut() == [("background", "liver", "tumor").index(c) for c in suite]


def test_region_labels_use_regions_class_order():
    # nnU-Net's region-based LiTS form: liver region = liver + tumor, written as 1, tumor as 2
    data = labels_of({"background": 0, "liver": [1, 2], "tumor": 2}, regions_class_order=[1, 2])
    assert output_values(data, "x") == {0: "background", 1: "liver", 2: "tumor"}
    assert map_labels(data, None, "x").suite == ("background", "liver", "tumor")


def test_labels_that_cannot_be_mapped_say_how_to_remap():
    data = labels_of({"background": 0, "class_a": 1, "class_b": 2})
    with pytest.raises(ModelError) as err:
        map_labels(data, None, "spec.yaml")
    text = str(err.value)
    assert "spec.yaml" in text and "'class_b': 2" in text and "remap:" in text
    mapped = map_labels(data, {"class_b": "tumor", 1: "liver"}, "spec.yaml")
    assert mapped.suite == ("background", "liver", "tumor")
    assert "by the spec's remap" in mapped.note
    # unlisted labels become background
    assert map_labels(data, {"class_b": 2}, "x").suite == ("background", "background", "tumor")


def test_remap_errors_name_the_key():
    data = labels_of({"background": 0, "class_a": 1, "class_b": 2})
    with pytest.raises(ModelError, match=r"'class_c' is no label.*class_b"):
        map_labels(data, {"class_c": "tumor"}, "x")
    with pytest.raises(ModelError, match="must be background, liver or tumor"):
        map_labels(data, {"class_b": "lesion"}, "x")
    with pytest.raises(ModelError, match="no label is a liver tumor in `remap:`"):
        map_labels(data, {"class_b": "liver"}, "x")


def test_plans_values_come_back_in_xyz_order():
    # plans.json holds (z, y, x) after transpose_forward
    assert to_xyz([5.0, 4.0, 3.0], {"transpose_forward": [0, 1, 2]}) == (3.0, 4.0, 5.0)
    # nnU-Net moved original axis 2 first: transposed [a2, a0, a1]
    assert to_xyz(["a2", "a0", "a1"], {"transpose_forward": [2, 0, 1]}) == ("a2", "a1", "a0")


@pytest.fixture
def folder(tmp_path) -> Path:
    copy = tmp_path / "Trainer__Plans__3d_fullres"
    shutil.copytree(FIXTURE, copy)
    return copy


def test_folder_defaults_come_from_the_folder(folder):
    found = read_folder(folder, None, None, "checkpoint_final.pth", "x")
    assert found.configuration == "3d_fullres"  # from the folder name
    assert found.folds == (0,) and found.checkpoints == (folder / "fold_0/checkpoint_final.pth",)


def test_folder_errors_say_what_to_give(folder, tmp_path):
    with pytest.raises(ModelError, match=r"nnU-Net model folder .*nowhere not found"):
        read_folder(tmp_path / "nowhere", None, None, "checkpoint_final.pth", "x")
    with pytest.raises(ModelError, match=r"no configuration '3d_lowres'.*3d_fullres"):
        read_folder(folder, "3d_lowres", None, "checkpoint_final.pth", "x")
    with pytest.raises(
        ModelError, match=r"fold 3: .*fold_3/checkpoint_final.pth not found .*\[0\]"
    ):
        read_folder(folder, None, [3], "checkpoint_final.pth", "x")
    with pytest.raises(ModelError, match=r"found checkpoint_final.pth: set `checkpoint:`"):
        read_folder(folder, None, None, "checkpoint_best.pth", "x")
    with pytest.raises(ModelError, match=r"fold_0 holds checkpoint_final.pth: set `checkpoint:`"):
        read_folder(folder, None, [0], "checkpoint_best.pth", "x")
    # the dataset folder above the trained-model folder: point one level down
    with pytest.raises(ModelError, match=r"one level down: Trainer__Plans__3d_fullres"):
        read_folder(folder.parent, None, None, "checkpoint_final.pth", "x")
    plans = json.loads((folder / "plans.json").read_text())
    (folder / "plans.json").write_text(json.dumps({**plans, "configurations": {}}))
    with pytest.raises(ModelError, match="has no `configurations`"):
        read_folder(folder, None, None, "checkpoint_final.pth", "x")


def test_a_second_channel_must_be_the_liver_mask(folder):
    found = read_folder(folder, None, None, "checkpoint_final.pth", "spec.yaml")
    assert takes_liver_mask(found, "spec.yaml") is False
    two = replace(found, dataset={**found.dataset, "channel_names": {"0": "CT", "1": "liver"}})
    assert takes_liver_mask(two, "spec.yaml") is True
    pet = replace(found, dataset={**found.dataset, "channel_names": {"0": "CT", "1": "PET"}})
    with pytest.raises(ModelError, match=r"spec.yaml: .*wants 2 input channels; the suite gives"):
        takes_liver_mask(pet, "spec.yaml")
