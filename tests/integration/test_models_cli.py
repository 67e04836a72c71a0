"""`robustbench-liver models` and `robustbench-liver train` end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from robustbench_liver.cli.main import main
from robustbench_liver.models import get_model

TOOL = Path(__file__).resolve().parents[1] / "fixtures" / "threshold_tool.py"

TINY_TRAINING = {
    "seed": 3,
    "iterations": 3,
    "batch_size": 1,
    "warmup": 1,
    "checkpoint_every": 2,
    "threads": 1,
    "model": {
        "name": "tiny-synth",
        "network_args": {
            "spatial_dims": 3,
            "in_channels": 1,
            "out_channels": 3,
            "channels": [4, 8],
            "strides": [2],
            "num_res_units": 0,
        },
        "spacing_mm": [6.0, 6.0, 6.0],
        "roi_size": [16, 16, 16],
    },
    "data": {
        "phantom_seeds": [100, 101],
        "phantom_options": {"shape": [96, 84, 40], "spacing": [4.0, 4.0, 6.0]},
        "real_scans": [
            {
                "image": "totalseg-dicom/dicom",
                "labels": "totalseg-dicom/labels.nii.gz",
                "liver_label": 5,
                "vessel_labels": [63, 64],
            }
        ],
        "real_share": 0.5,
        "tumor_overrides": {"min_inside": 0.7, "vessel_clearance": 0.3},
        "patch_size": [16, 16, 16],
    },
}


def test_models_lists_every_model_with_its_card(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "hu-threshold" in out and "unet-synth" in out
    assert "needs_liver: True" in out and "trained_on:" in out


def test_models_json_and_a_spec(tmp_path, capsys):
    spec = tmp_path / "threshold.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "adapter": "command",
                "argv": [sys.executable, str(TOOL), "-i", "{input_dir}", "-o", "{output_dir}"],
                "card": {"name": "threshold-tool", "license": "MIT"},
            }
        )
    )
    assert main(["models", "--json", "--spec", str(spec)]) == 0
    cards = json.loads(capsys.readouterr().out)
    assert cards["unet-synth"]["sha256"] and cards["hu-threshold"]["needs_liver"] is True
    assert cards[str(spec)]["adapter"] == "command"


def test_models_reports_a_broken_spec(tmp_path, capsys):
    spec = tmp_path / "broken.yaml"
    spec.write_text("adapter: torch\nnetwork: UNet\n")
    assert main(["models", "--spec", str(spec)]) == 1
    captured = capsys.readouterr()
    assert "needs `checkpoint:`" in captured.out and "could not be loaded" in captured.err


def test_help_shows_examples(capsys):
    for verb in ("models", "train"):
        with pytest.raises(SystemExit):
            main([verb, "--help"])
        assert "example" in capsys.readouterr().out


def test_train_then_resume_then_use(tmp_path, shared_data, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY_TRAINING))
    out = tmp_path / "run"
    args = ["train", "--config", str(config), "--out", str(out), "--data-root", str(shared_data)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "trained 3 iterations" in printed and "model.yaml" in printed
    assert (
        "totalseg-dicom/dicom"
        in yaml.safe_load((out / "model.yaml").read_text())["card"]["trained_on"]
    )
    assert main(args) == 0  # rerun: already complete, exports again
    model = get_model(str(out / "model.yaml"))
    image = np.full((30, 28, 12), 50.0, dtype=np.float32)
    assert model.predict(image, (4.0, 4.0, 6.0)).shape == image.shape


def test_train_with_a_bad_config(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("iterations: 0\n")
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "o")]) == 1
    assert "iterations: must be an integer >= 1" in capsys.readouterr().err
