"""Reports and leaderboards travel: none of them may hold an absolute local path (the run
folder, the data root, a model spec or weights file, a path in an error message)."""

from __future__ import annotations

import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import pytest
import yaml

from robustbench_liver.cli.main import main
from robustbench_liver.metrics import ToleranceBelowSpacingWarning
from robustbench_liver.models.checksum import sha256_of
from robustbench_liver.runs.runner import RunOptions, run
from robustbench_liver.scenarios import load_scenario

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SCENARIO = textwrap.dedent(
    """\
    name: pathtest
    seed: 3
    base_scans:
      - {source: folder, images: '*/ct.nii.gz', liver: '{dir}/liver.nii.gz'}
    cases_per_condition: 2
    controls: 0.5
    tumors: {level: medium}
    sweep:
      axes:
        - {name: contrast, param: tumors.delta_hu, levels: {hypo: [-60, -40], iso: [-15, -5]}}
    statistics: {resamples: 200}
    """
)
# a model whose card names its weights by absolute path and whose error says where it looked
PATHY = textwrap.dedent(
    """\
    from pathlib import Path

    WEIGHTS = str(Path(__file__).resolve().parent / "weights" / "pathy.pt")


    class Card:
        name = "pathy"
        version = "1"
        needs_liver = True

        def to_dict(self):
            return {"name": self.name, "version": self.version, "weights": WEIGHTS}


    class Pathy:
        card = Card()

        def predict(self, image, spacing, liver=None):
            raise FileNotFoundError(f"no weights at {WEIGHTS}")
    """
)


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    """A run on files under a data root, with a model named by an absolute spec path and one
    that fails naming a path; its report, a report without the data root, its leaderboard."""
    root = tmp_path_factory.mktemp("paths")
    data = root / "data"
    for seed in (0, 1):
        argv = ["phantom", "--seed", str(seed), "--out", str(data / f"p{seed}")]
        assert main([*argv, "--shape", "128", "112", "56", "--spacing", "3", "3", "4"]) == 0
    (root / "pathtest.yaml").write_text(SCENARIO)
    (root / "pathy_models.py").write_text(PATHY)
    spec = root / "tool.yaml"
    tool = [sys.executable, str(FIXTURES / "threshold_tool.py"), "-i", "{input_dir}", "-o",
            "{output_dir}"]  # fmt: skip
    weights = root / "weights" / "tool.bin"  # a command card's weights must exist and match
    weights.parent.mkdir()
    weights.write_bytes(b"the tool's checkpoint")
    card = {"name": "threshold-tool", "weights": str(weights), "sha256": sha256_of(weights)}
    spec.write_text(yaml.safe_dump({"adapter": "command", "argv": tool, "card": card}))
    out = root / "run"
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore", ToleranceBelowSpacingWarning)
        mp.syspath_prepend(str(root))
        mp.setenv("PYTHONPATH", str(root))
        models = [str(spec), "pathy_models:Pathy"]
        options = RunOptions(data_root=str(data))
        summary = run([load_scenario(root / "pathtest.yaml")], models, out, options)
    assert summary.failed and all(f["model"] == "pathy" for f in summary.failed)
    assert str(root) in (out / "manifest.json").read_text()  # the run folder keeps them
    report, bare, board = root / "report", root / "report-bare", root / "board"
    common = ["--resamples", "200"]
    assert main(["report", str(out), "--out", str(report), "--data-root", str(data), *common]) == 0
    assert main(["report", str(out), "--out", str(bare), *common]) == 0  # montages fail
    assert main(["leaderboard", str(out), "--out", str(board)]) == 0
    return {"root": root, "run": out, "report": report, "bare": bare, "board": board}


def _published(made: dict[str, Path]) -> list[Path]:
    files = [p for key in ("report", "bare", "board") for p in made[key].rglob("*")]
    return sorted(p for p in files if p.suffix in (".md", ".html", ".json"))


def test_reports_and_boards_hold_no_local_path(made):
    files = _published(made)
    assert {p.name for p in files} >= {"report.md", "report.html", "leaderboard.json",
                                       "leaderboard.md", "leaderboard.html"}  # fmt: skip
    forbidden = {
        str(made["run"].resolve()),
        str(made["root"].resolve()),
        str(Path.home()) + "/",
        str(Path(tempfile.gettempdir()).resolve()) + "/",
        tempfile.gettempdir().rstrip("/") + "/",
    }
    for path in files:
        text = path.read_text(encoding="utf-8")
        for prefix in forbidden:
            assert prefix not in text, f"{path.name} holds {prefix!r}"


def test_paths_become_file_names(made):
    md = (made["report"] / "report.md").read_text()
    assert "tool.yaml" in md and "tool.bin" in md and "ct.nii.gz" in md
    assert "no weights at pathy.pt" in md  # the error, its path cut to the file name
    assert "Montages skipped" in (made["bare"] / "report.md").read_text()
    board = (made["board"] / "leaderboard.json").read_text()
    assert '"model_spec": "tool.yaml"' in board and '"weights": "tool.bin"' in board
