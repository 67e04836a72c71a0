"""`validate` and `synth` from the command line: layout, resume, real scans."""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import nibabel as nib
import numpy as np

from robustbench_liver.cli.main import main

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios"

TINY = textwrap.dedent(
    """\
    name: tiny
    seed: 5
    base_scans:
      - {source: phantom, count: 2, shape: [128, 112, 56], spacing: [3.0, 3.0, 4.0]}
    cases_per_condition: 3
    controls: 0.34
    tumors: {level: medium}
    sweep:
      axes:
        - {name: c, param: tumors.delta_hu, levels: {hypo: [-60, -40], iso: [-5, 5]}}
    """
)


def test_validate_exit_codes(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text(TINY)
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.replace("cases_per_condition: 3", "cases_per_conditoin: 3"))
    assert main(["validate", str(good)]) == 0
    assert "tiny v1, 2 condition(s)" in capsys.readouterr().out
    assert main(["validate", str(good), str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml:5: cases_per_conditoin: unknown field" in err and "cases_per_condition" in err
    assert main(["validate", "--params"]) == 0
    assert "tumors.delta_hu" in capsys.readouterr().out


def test_synth_writes_an_msd_test_set_and_resumes(tmp_path):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY)
    out = tmp_path / "set"
    assert main(["synth", str(scenario), "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "cases.csv")))
    # 2 tumor cases per condition; the sweep changes tumors only, so one shared control
    assert len(rows) == 5 and sum(r["is_control"] == "True" for r in rows) == 1
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset["numTest"] == 5 and dataset["labels"] == {
        "background": 0,
        "liver": 1,
        "tumor": 2,
    }
    case_id = rows[0]["case_id"]
    image = nib.load(out / "imagesTs" / f"{case_id}_0000.nii.gz")
    label = np.asarray(nib.load(out / "labelsTs" / f"{case_id}.nii.gz").dataobj)
    assert image.shape == label.shape == (128, 112, 56)
    assert set(np.unique(label)) <= {0, 1, 2}
    tumor_rows = [r for r in rows if r["is_control"] == "False"]
    assert all(json.loads(r["tumors"]) for r in tumor_rows)

    # a killed run: one case lost its label and the log has a torn last line
    victim = tumor_rows[-1]["case_id"]
    (out / "labelsTs" / f"{victim}.nii.gz").unlink()
    with open(out / ".rows.jsonl", "a") as log:
        log.write('{"case_id": "torn')
    kept = {p.name: p.stat().st_mtime_ns for p in (out / "labelsTs").iterdir()}
    assert main(["synth", str(scenario), "--out", str(out)]) == 0
    assert (out / "labelsTs" / f"{victim}.nii.gz").exists()
    for name, mtime in kept.items():  # finished cases were not rewritten
        assert (out / "labelsTs" / name).stat().st_mtime_ns == mtime
    assert list(csv.DictReader(open(out / "cases.csv"))) == rows


def test_synth_real_scans_from_a_data_root(tmp_path, shared_data):
    out = tmp_path / "real"
    code = main(
        [
            "synth",
            str(LIBRARY / "real_scans.yaml"),
            "--out",
            str(out),
            "--limit",
            "1",
            "--data-root",
            str(shared_data),
        ]
    )
    assert code == 0
    rows = list(csv.DictReader(open(out / "cases.csv")))
    assert {r["base_scan"] for r in rows} == {"totalseg-full"}
    assert len(rows) == 4  # one tumor case per condition, and --limit keeps a control
    assert sum(r["is_control"] == "True" for r in rows) == 1


def test_synth_without_data_root_says_what_to_do(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ROBUSTBENCH_LIVER_DATA", raising=False)
    code = main(["synth", str(LIBRARY / "real_scans.yaml"), "--out", str(tmp_path / "x")])
    assert code == 1
    assert "--data-root" in capsys.readouterr().err


def _tree_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".rows.jsonl"  # the log's order follows completion
    }


def test_output_is_byte_identical_across_runs_and_workers(tmp_path):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY)
    outs = []
    for name, workers in (("a", "1"), ("b", "2"), ("c", "1")):
        out = tmp_path / name
        assert (
            main(["synth", str(scenario), "--out", str(out), "--workers", workers, "--no-cache"])
            == 0
        )
        outs.append(_tree_bytes(out))
    assert outs[0] == outs[1] == outs[2]
    assert len(outs[0]) == 2 * 5 + 3  # images, labels, dataset.json, cases.csv, tumors.csv


def test_cache_rebuilds_only_the_changed_level(tmp_path, capsys):
    cache = tmp_path / "cache"
    first = tmp_path / "first.yaml"
    first.write_text(TINY)
    second = tmp_path / "second.yaml"
    second.write_text(TINY.replace("iso: [-5, 5]", "iso: [-8, 8]"))
    args = ["--cache", str(cache)]
    assert main(["synth", str(first), "--out", str(tmp_path / "one"), *args]) == 0
    # 5 cases: the two conditions' controls are the same images, so they are planned once
    assert "0 from the cache" in capsys.readouterr().out
    assert main(["synth", str(second), "--out", str(tmp_path / "two"), *args]) == 0
    # only the 2 tumor cases of the changed level are built again
    assert "3 from the cache" in capsys.readouterr().out
    one, two = _tree_bytes(tmp_path / "one"), _tree_bytes(tmp_path / "two")
    hypo = [k for k in one if "c-hypo" in k and k.endswith(".nii.gz")]
    assert hypo and all(one[k] == two[k] for k in hypo)
