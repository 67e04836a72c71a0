"""The command adapter: relative paths are the spec file's, failures keep the stderr's end
in whole lines and show the command as it ran."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import numpy as np
import yaml

from robustbench_liver.errors import ModelError
from robustbench_liver.models import BatchItem, ModelCard, get_model
from robustbench_liver.models.command import TAIL_CHARS, CommandModel

TOOL = Path(__file__).resolve().parents[2] / "fixtures" / "threshold_tool.py"


def spec_beside_a_tool(folder: Path, argv: list[str]) -> Path:
    """tools/bin/threshold_tool.py (also runnable as tools/bin/threshold) and a spec in tools/."""
    (folder / "bin").mkdir(parents=True)
    script = folder / "bin" / "threshold_tool.py"
    script.write_text(TOOL.read_text())
    runnable = folder / "bin" / "threshold"
    runnable.write_text(f"#!{sys.executable}\n" + TOOL.read_text())
    runnable.chmod(runnable.stat().st_mode | stat.S_IXUSR)
    spec = folder / "tool.yaml"
    spec.write_text(yaml.safe_dump({"adapter": "command", "argv": argv, "card": {"name": "t"}}))
    return spec


def test_a_relative_script_argument_is_the_spec_files(tmp_path, monkeypatch, small_volume):
    argv = ["{python}", "bin/threshold_tool.py", "-i", "{input_dir}", "-o", "{output_dir}"]
    spec = spec_beside_a_tool(tmp_path / "tools", argv)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    out = get_model(str(spec)).predict(*small_volume[:2])
    assert isinstance(out, np.ndarray) and out.shape == small_volume[0].shape


def test_a_relative_program_is_the_spec_files(tmp_path, monkeypatch, small_volume):
    spec = spec_beside_a_tool(
        tmp_path / "tools", ["bin/threshold", "-i", "{input_dir}", "-o", "{output_dir}"]
    )
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    model = get_model(str(spec))
    assert model.program == str((tmp_path / "tools" / "bin" / "threshold").resolve())
    out = model.predict(*small_volume[:2])
    assert isinstance(out, np.ndarray)


# says a lot, then why, and fails
NOISY = (
    "import sys\n"
    "for i in range(60):\n"
    "    print(f'step {i:02d} ' + 'word ' * 25, file=sys.stderr)\n"
    "print('ValueError: weights were trained for 2 channels, got 1', file=sys.stderr)\n"
    "sys.exit(4)\n"
)


def test_a_failure_keeps_the_stderr_end_in_whole_lines(tmp_path, small_volume):
    script = tmp_path / "noisy.py"
    script.write_text(NOISY)
    card = ModelCard(name="noisy", adapter="command")
    model = CommandModel(card, ["{python}", str(script), "{input_dir}", "{output_dir}"])
    image, spacing, _ = small_volume
    err = model.predict_batch([BatchItem("liver-7", image, spacing)])["liver-7"]
    assert isinstance(err, ModelError)
    text = str(err)
    headline, rest = text.split("\n", 1)
    # the reason beside the failure: what a one-line listing shows
    assert "exited with status 4 (stderr: ValueError: weights were trained for 2" in headline
    assert text.endswith("ValueError: weights were trained for 2 channels, got 1")
    # the command as it ran: no placeholders left, the case's own input folder
    command = next(line for line in rest.splitlines() if line.startswith("Command: "))
    assert "{" not in command and f"{sys.executable} {script} /" in command
    assert os.sep + "input " in command and command.rstrip().endswith(os.sep + "output")
    # the stderr's end, whole lines only, and a good part of it
    tail = [line.rstrip() for line in rest.split("Its stderr ends with:\n", 1)[1].splitlines()]
    expected = [(f"step {i:02d} " + "word " * 25).rstrip() for i in range(60)]
    assert tail[:-1] == expected[-len(tail) + 1 :] and len(tail) >= 12
    assert len("\n".join(tail)) <= TAIL_CHARS


def test_one_huge_stderr_line_keeps_its_end_from_a_word(tmp_path, small_volume):
    script = tmp_path / "huge.py"
    script.write_text("import sys\nsys.stderr.write('word ' * 2000 + 'the end')\nsys.exit(1)\n")
    card = ModelCard(name="huge", adapter="command")
    model = CommandModel(card, ["{python}", str(script), "{input_dir}", "{output_dir}"])
    err = model.predict_batch([BatchItem("a", *small_volume[:2])])["a"]
    tail = str(err).split("Its stderr ends with:\n", 1)[1]
    assert tail.startswith("… word ") and tail.endswith("word the end")
    assert len(tail) <= TAIL_CHARS + 2
