"""`robustbench-liver preview` on a real scan and on the phantom."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pytest

from robustbench_liver.cli.main import main
from robustbench_liver.display import axial


def test_preview_on_a_real_scan(shared_data, tmp_path, capsys):
    folder = shared_data / "totalseg-full"
    out = tmp_path / "pics" / "small.png"
    argv = [
        "preview",
        "--source",
        str(folder / "ct.nii.gz"),
        "--labels",
        str(folder / "labels.nii.gz"),
        "--liver-label",
        "5",
        "--vessel-labels",
        "64",
        "63",
        "--level",
        "small",
        "--seed",
        "3",
        "--max-tumors",
        "3",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    assert "tumors (3 shown)" in capsys.readouterr().out
    picture = mpimg.imread(out)
    assert picture.shape[0] > picture.shape[1] > 300  # three rows of before / after


def test_preview_on_the_phantom(tmp_path):
    pytest.importorskip("robustbench_liver.sources.phantom")
    out = tmp_path / "tiny.png"
    assert main(["preview", "--source", "phantom", "--level", "tiny", "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000


def test_preview_needs_labels_for_a_path(shared_data, tmp_path, capsys):
    ct = shared_data / "totalseg-full" / "ct.nii.gz"
    assert main(["preview", "--source", str(ct), "--out", str(tmp_path / "x.png")]) == 1
    assert "--labels" in capsys.readouterr().err


def test_preview_help_shows_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["preview", "--help"])
    text = capsys.readouterr().out
    assert "robustbench-liver preview --source phantom" in text and "--liver-label" in text


def test_radiological_display_puts_the_liver_on_the_screen_left(shared_data):
    """RAS arrays: patient right (the liver) must appear on the left of the picture."""
    from robustbench_liver.io import load_scan

    folder = shared_data / "totalseg-dicom"
    scan = load_scan(folder / "dicom", labels=folder / "labels.nii.gz", liver_label=5)
    k = int(np.argmax(scan.liver.sum(axis=(0, 1))))
    shown = axial(scan.liver, k)
    columns = np.nonzero(shown.any(axis=0))[0]
    assert columns.mean() < shown.shape[1] / 2
