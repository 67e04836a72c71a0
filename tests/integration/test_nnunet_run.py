"""The tiny real nnU-Net model end to end: `run` the quickstart, `report` it, and `models`
shows its filled card; and (slow) the model retrained from scratch by nnU-Net's own code."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from robustbench_liver.cli.main import main
from robustbench_liver.metrics import ToleranceBelowSpacingWarning
from robustbench_liver.models.checksum import sha256_of
from robustbench_liver.runs.store import RunStore

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "tests" / "fixtures" / "nnunet_tiny.yaml"
# a bright (+150..200 HU) large tumor, as the model was trained on, on an unseen phantom
BRIGHT = """\
name: bright
seed: 3
base_scans:
  - {source: phantom, count: 1, first_seed: 0, shape: [128, 112, 56], spacing: [3.0, 3.0, 4.0]}
tumor_cases: 1
control_cases: 0
tumors: {level: large, count: [1, 1], delta_hu: [150, 200]}
"""

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("nnunetv2") is None,
        reason="nnunetv2 is not installed: pip install 'robustbench-liver[nnunet]' "
        "-c constraints/nnunet.txt",
    ),
    pytest.mark.filterwarnings("ignore", category=ToleranceBelowSpacingWarning),
]


def test_quickstart_run_report_and_card(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["run", str(ROOT / "scenarios" / "quickstart.yaml"), "--model", str(SPEC)]
    # --batch 4: the four cases through one model process (predict_batch), not four
    assert main([*args, "--limit", "1", "--batch", "4", "--out", str(out)]) == 0
    cases, _ = RunStore(out).tables()
    assert len(cases) >= 4 and set(cases["model"]) == {"nnunet-tiny"}
    assert set(cases["status"]) == {"ok"}, cases[["case_id", "error"]].to_string()
    assert cases["dsc"].notna().any()  # scored, not only run
    assert main(["report", str(out)]) == 0
    assert (out / "report" / "report.html").is_file()
    assert "nnunet-tiny" in (out / "report" / "report.md").read_text()

    capsys.readouterr()
    assert main(["models", "--full", "--spec", str(SPEC)]) == 0
    shown = capsys.readouterr().out.split(f"{SPEC}  ", 1)[1]
    assert "nnU-Net v2 nnUNetTrainer__nnUNetPlans__3d_fullres, fold(s) 0" in shown
    assert "  adapter: nnunet" in shown and "  spacing_mm: [4.0, 4.0, 5.0]" in shown
    assert "  roi_size: [64, 64, 32]" in shown and "  overlap: 0.5" in shown
    assert "hu_window" not in shown and "normalize:" not in shown


@pytest.mark.slow
def test_the_fixture_is_retrained_from_scratch(tmp_path):
    """make_nnunet_tiny.py rebuilds the model; the result loads and finds a bright tumor."""
    out = tmp_path / "nnunet_tiny"
    script = ROOT / "tests" / "fixtures" / "make_nnunet_tiny.py"
    done = subprocess.run(
        [sys.executable, str(script), "--out", str(out), "--work", str(tmp_path / "work")],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "trained 8x20 iterations" in done.stdout
    checkpoint = out / "fold_0" / "checkpoint_final.pth"
    assert checkpoint.stat().st_size < 5e6
    spec = tmp_path / "tiny.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "adapter": "nnunet",
                "folder": str(out),
                "configuration": "3d_fullres",
                "sha256": {0: sha256_of(checkpoint)},
                "mirroring": False,
            }
        )
    )
    from robustbench_liver.models import load_spec
    from robustbench_liver.scenarios import base_scans, load_scenario, make_plan
    from robustbench_liver.scenarios.cases import build_case

    (tmp_path / "bright.yaml").write_text(BRIGHT)
    scenario = load_scenario(tmp_path / "bright.yaml")
    case_spec = make_plan(scenario, base_scans(scenario, None)).cases[0]
    scan = case_spec.scan.load()
    case = build_case(scenario, case_spec, scan)
    predicted = load_spec(spec).predict(case.image, tuple(scan.spacing)) == 2
    truth = np.asarray(case.label) == 2
    assert 2 * (predicted & truth).sum() / (predicted.sum() + truth.sum()) > 0.3
