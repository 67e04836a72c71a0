"""`synth --layout nnunet-train`: a training set nnU-Net v2 takes as it is, checked with
nnU-Net's own dataset integrity check."""

from __future__ import annotations

import importlib.util
import json
import textwrap

import nibabel as nib
import numpy as np
import pytest

from robustbench_liver.cli.main import main

TINY = textwrap.dedent(
    """\
    name: tiny-train
    seed: 5
    base_scans:
      - {source: phantom, count: 2, shape: [96, 80, 40], spacing: [4.0, 4.0, 5.0]}
    tumor_cases: 2
    control_cases: 1
    tumors: {level: medium, count: [1, 1]}
    """
)
ARGS = ["--layout", "nnunet-train", "--dataset-id", "501", "--dataset-name", "LiverSynth"]


@pytest.fixture
def scenario(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_writes_a_dataset_folder_nnunet_reads(scenario, tmp_path):
    raw = tmp_path / "nnUNet_raw"
    assert main(["synth", str(scenario), *ARGS, "--out", str(raw)]) == 0
    folder = raw / "Dataset501_LiverSynth"
    dataset = json.loads((folder / "dataset.json").read_text())
    assert dataset["numTraining"] == 3 and "numTest" not in dataset
    assert dataset["channel_names"] == {"0": "CT"} and dataset["file_ending"] == ".nii.gz"
    assert dataset["labels"] == {"background": 0, "liver": 1, "tumor": 2}
    cases = sorted(p.name[: -len("_0000.nii.gz")] for p in (folder / "imagesTr").iterdir())
    assert cases == sorted(p.name[: -len(".nii.gz")] for p in (folder / "labelsTr").iterdir())
    assert len(cases) == 3 and not (folder / "imagesTs").exists()
    label = np.asarray(nib.load(folder / "labelsTr" / f"{cases[0]}.nii.gz").dataobj)
    assert label.shape == (96, 80, 40) and set(np.unique(label)) <= {0, 1, 2}

    # --out naming the dataset folder itself writes into it, and resumes
    (folder / "labelsTr" / f"{cases[0]}.nii.gz").unlink()
    assert main(["synth", str(scenario), *ARGS, "--out", str(folder)]) == 0
    assert (folder / "labelsTr" / f"{cases[0]}.nii.gz").exists()
    assert sorted(p.name for p in raw.iterdir()) == ["Dataset501_LiverSynth"]


@pytest.mark.skipif(
    importlib.util.find_spec("nnunetv2") is None,
    reason="nnunetv2 is not installed: pip install 'robustbench-liver[nnunet]' "
    "-c constraints/nnunet.txt",
)
def test_nnunet_dataset_integrity_check_accepts_it(scenario, tmp_path):
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

    assert main(["synth", str(scenario), *ARGS, "--out", str(tmp_path)]) == 0
    folder = tmp_path / "Dataset501_LiverSynth"
    verify_dataset_integrity(str(folder), num_processes=1)
    # the check is real: the test layout fails it
    assert main(["synth", str(scenario), "--out", str(tmp_path / "test")]) == 0
    with pytest.raises(AssertionError, match=r"numTraining|imagesTr"):
        verify_dataset_integrity(str(tmp_path / "test"), num_processes=1)


def test_layout_options_are_checked(scenario, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["synth", str(scenario), "--layout", "nnunet-train", "--out", out]) == 2
    assert "needs --dataset-id" in capsys.readouterr().err
    bad = ["--layout", "nnunet-train", "--dataset-id", "501", "--dataset-name", "my set"]
    assert main(["synth", str(scenario), *bad, "--out", out]) == 2
    assert "dataset name 'my set': use letters, digits and _" in capsys.readouterr().err
    assert main(["synth", str(scenario), "--dataset-id", "501", "--out", out]) == 2
    assert "go with --layout nnunet-train" in capsys.readouterr().err
    # the scenario's name, made fit for nnU-Net, is the default dataset name
    assert main(["synth", str(scenario), *ARGS[:4], "--out", out]) == 0
    assert (tmp_path / "out" / "Dataset501_tiny_train" / "dataset.json").is_file()
