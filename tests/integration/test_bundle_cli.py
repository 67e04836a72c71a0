"""A MONAI bundle end to end: `run` the quickstart with a bundle spec, `report` the run, and
`models --spec` shows the card filled from the bundle's metadata.json."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
import yaml

from robustbench_liver.cli.main import main
from robustbench_liver.metrics import ToleranceBelowSpacingWarning
from robustbench_liver.models.checksum import sha256_of

pytestmark = pytest.mark.filterwarnings("ignore", category=ToleranceBelowSpacingWarning)

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "make_bundle", REPO / "tests" / "fixtures" / "make_bundle.py"
)
assert _spec is not None and _spec.loader is not None
make_bundle_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_bundle_module)


@pytest.fixture
def bundle_spec(tmp_path: Path) -> Path:
    bundle = make_bundle_module.make_bundle(tmp_path / "tiny_liver_bundle")
    spec = {
        "adapter": "monai-bundle",
        "bundle": "tiny_liver_bundle",
        "sha256": sha256_of(bundle / "models" / "model.pt"),
        "card": {"name": "tiny-bundle"},
    }
    path = tmp_path / "tiny_bundle.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_run_and_report_with_a_bundle(bundle_spec, tmp_path, capsys):
    out = tmp_path / "run"
    quickstart = REPO / "scenarios" / "quickstart.yaml"
    command = ["run", str(quickstart), "--model", str(bundle_spec), "--limit", "1"]
    assert main([*command, "--out", str(out)]) == 0
    assert "0 failed" in capsys.readouterr().out
    rows = pd.read_parquet(out / "cases.parquet")
    assert len(rows) >= 4 and set(rows["model"]) == {"tiny-bundle"}
    assert (rows["status"] == "ok").all()
    tumor = rows[~rows["is_control"]]
    assert tumor["dsc"].notna().all()  # scored, not failed
    assert main(["report", str(out)]) == 0
    text = (out / "report" / "report.md").read_text()
    assert "tiny-bundle" in text


def test_models_shows_the_filled_card(bundle_spec, capsys):
    assert main(["models", "--spec", str(bundle_spec), "--full"]) == 0
    out = capsys.readouterr().out
    shown = out[out.index(str(bundle_spec)) :]
    assert "Tiny liver CT segmentation: A test bundle that labels intensity bands." in shown
    assert "adapter: monai-bundle" in shown and "version: 0.3.1+config." in shown
    assert "license: Apache License, Version 2.0" in shown
    assert "citation: Hu et al., Label-Free Liver Tumor Segmentation, CVPR 2023" in shown
    assert "spacing_mm: [2.0, 2.0, 2.0]" in shown
    assert f"sha256: {sha256_of(bundle_spec.parent / 'tiny_liver_bundle/models/model.pt')}" in shown
