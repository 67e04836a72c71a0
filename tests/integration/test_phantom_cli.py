"""`robustbench-liver phantom` writes files that load back into the same Scan."""

from __future__ import annotations

import json

import numpy as np

from robustbench_liver.cli.main import main
from robustbench_liver.io import load_scan
from robustbench_liver.sources.phantom import make_phantom


def test_phantom_seed_7_round_trip(tmp_path, capsys):
    out = tmp_path / "p7"
    assert main(["phantom", "--seed", "7", "--out", str(out)]) == 0
    for name in ("ct.nii.gz", "labels.nii.gz", "liver.nii.gz", "phantom.png", "labels.json"):
        assert (out / name).stat().st_size > 0
    assert "phantom-7" in capsys.readouterr().out
    labels = json.loads((out / "labels.json").read_text())
    loaded = load_scan(
        out / "ct.nii.gz",
        labels=out / "labels.nii.gz",
        liver=out / "liver.nii.gz",
        vessel_labels=(
            labels["portal_vein"],
            labels["hepatic_veins"],
            labels["inferior_vena_cava"],
        ),
    )
    # the acceptance figures: a 0.8-3.5 l liver at a median of 50-150 HU
    assert 800 <= loaded.liver_volume_ml <= 3500
    assert 50 <= float(np.median(loaded.image[loaded.liver])) <= 150
    original = make_phantom(7)
    np.testing.assert_array_equal(loaded.liver, original.liver)
    np.testing.assert_array_equal(loaded.vessels, original.vessels)
    np.testing.assert_allclose(loaded.affine, original.affine)
    assert np.abs(loaded.image - original.image).max() <= 0.5  # stored as int16 HU


def test_python_dash_m_entry_point(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "robustbench_liver", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "phantom" in result.stdout
