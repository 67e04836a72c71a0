"""The command adapter runs a real separate program: tests/fixtures/threshold_tool.py."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from robustbench_liver.errors import ModelError
from robustbench_liver.models import BatchItem, ModelCard, get_model
from robustbench_liver.models.command import CommandModel

TOOL = Path(__file__).resolve().parents[2] / "fixtures" / "threshold_tool.py"


def tool(*extra: str, timeout_s: float = 60.0, **options) -> CommandModel:
    card = ModelCard(name="threshold-tool", adapter="command", **options.pop("card", {}))
    argv = [sys.executable, str(TOOL), "-i", "{input_dir}", "-o", "{output_dir}", *extra]
    return CommandModel(card, argv, timeout_s=timeout_s, **options)


def items(volume, *ids):
    image, spacing, _ = volume
    return [BatchItem(case_id, image, spacing) for case_id in ids]


def expected(image: np.ndarray) -> np.ndarray:
    hu = np.rint(image)  # the adapter hands over int16 HU
    soft = (hu > -20) & (hu < 200)
    return soft.astype(np.uint8) + (soft & (hu < 40)).astype(np.uint8)


def test_a_batch_of_cases_in_one_call(small_volume):
    image, _, _ = small_volume
    out = tool().predict_batch(items(small_volume, "case-a", "case-b", "case-c"))
    assert set(out) == {"case-a", "case-b", "case-c"}
    for result in out.values():
        assert isinstance(result, np.ndarray) and result.dtype == np.uint8
        np.testing.assert_array_equal(result, expected(image))


def test_single_predict(small_volume):
    image, spacing, _ = small_volume
    np.testing.assert_array_equal(tool().predict(image, spacing), expected(image))


def test_missing_output_fails_that_case_only(small_volume):
    out = tool("--skip", "case-b").predict_batch(items(small_volume, "case-a", "case-b"))
    assert isinstance(out["case-a"], np.ndarray)
    err = out["case-b"]
    assert isinstance(err, ModelError)
    assert "no output case-b.nii.gz" in str(err) and "threshold_tool: skipping case-b" in str(err)


def test_wrong_shape_fails_that_case_only(small_volume):
    out = tool("--wrong-shape", "case-a").predict_batch(items(small_volume, "case-a", "case-b"))
    assert isinstance(out["case-b"], np.ndarray)
    assert isinstance(out["case-a"], ModelError)
    assert "output shape (39, 36, 14)" in str(out["case-a"])
    assert "threshold_tool: wrote case-a" in str(out["case-a"])


def test_non_finite_output_fails_that_case(small_volume):
    out = tool("--nan", "case-a").predict_batch(items(small_volume, "case-a", "case-b"))
    assert "non-finite" in str(out["case-a"]) and isinstance(out["case-b"], np.ndarray)


def test_non_zero_exit_with_the_stderr_tail(small_volume):
    out = tool("--exit-code", "7", isolate_failures=False).predict_batch(
        items(small_volume, "case-a", "case-b")
    )
    for err in out.values():
        assert isinstance(err, ModelError)
        assert "exited with status 7" in str(err)
        assert "threshold_tool: exiting with 7 as asked" in str(err)


def test_a_crash_is_isolated_to_the_culprit(small_volume):
    out = tool("--fail-on", "case-b").predict_batch(
        items(small_volume, "case-a", "case-b", "case-c")
    )
    assert isinstance(out["case-a"], np.ndarray) and isinstance(out["case-c"], np.ndarray)
    assert "exited with status 3" in str(out["case-b"])
    assert "cannot segment case-b: simulated crash" in str(out["case-b"])


def test_timeout_kills_the_tool(small_volume):
    import time

    start = time.monotonic()
    out = tool("--sleep", "30", timeout_s=1.0).predict_batch(items(small_volume, "case-a"))
    assert time.monotonic() - start < 15
    err = out["case-a"]
    assert isinstance(err, ModelError) and "no answer within 1 s" in str(err)
    assert "threshold_tool: sleeping 30.0 s" in str(err)


def test_probability_output(small_volume):
    image, spacing, _ = small_volume
    prob = tool("--probability", card={"output": "probability"}).predict(image, spacing)
    assert prob.dtype == np.float32 and 0 <= prob.min() and prob.max() <= 1


def test_remap_of_output_values(small_volume):
    image, spacing, _ = small_volume
    swapped = tool(remap={1: 2, 2: 1}).predict(image, spacing)
    base = expected(image)
    np.testing.assert_array_equal(swapped == 2, base == 1)


def test_unsafe_case_ids_fail_alone(small_volume):
    out = tool().predict_batch(items(small_volume, "../escape", "fine"))
    assert "cannot be a file name" in str(out["../escape"]) and isinstance(out["fine"], np.ndarray)


def test_liver_mask_is_written_as_channel_0001(tmp_path, small_volume):
    image, spacing, liver = small_volume
    script = tmp_path / "echo_liver.py"
    script.write_text(
        "import sys, shutil, pathlib\n"
        "i, o = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])\n"
        "for p in i.glob('*_0001.nii.gz'):\n"
        "    shutil.copy(p, o / p.name.replace('_0001', ''))\n"
    )
    card = ModelCard(name="echo", adapter="command", needs_liver=True)
    model = CommandModel(card, [sys.executable, str(script), "{input_dir}", "{output_dir}"])
    with pytest.raises(ModelError, match="needs the liver mask"):
        model.predict(image, spacing)
    np.testing.assert_array_equal(model.predict(image, spacing, liver), liver.astype(np.uint8))


def test_argv_must_name_both_folders():
    with pytest.raises(ModelError, match="input_dir"):
        CommandModel(ModelCard(name="x", adapter="command"), [sys.executable, "-c", "pass"])


def test_unknown_program():
    card = ModelCard(name="x", adapter="command")
    with pytest.raises(ModelError, match="not found on PATH"):
        CommandModel(card, ["no-such-tool-xyz", "{input_dir}", "{output_dir}"])


def test_command_spec_file(tmp_path, small_volume):
    """The way an nnU-Net-style tool is declared: a YAML spec, {python} and {spec_dir}."""
    (tmp_path / "tool.py").write_text(TOOL.read_text())
    spec = tmp_path / "threshold.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "adapter": "command",
                "argv": [
                    "{python}",
                    "{spec_dir}/tool.py",
                    "-i",
                    "{input_dir}",
                    "-o",
                    "{output_dir}",
                ],
                "timeout_s": 60,
                "batch_size": 2,
                "card": {"name": "threshold-cli", "license": "MIT"},
            }
        )
    )
    model = get_model(str(spec))
    assert model.card.adapter == "command" and model.card.name == "threshold-cli"
    out = model.predict_batch(items(small_volume, "a", "b", "c"))
    assert all(isinstance(v, np.ndarray) for v in out.values())


def test_an_outside_deadline_leaves_no_orphan(small_volume, tmp_path):
    """The runner's SIGALRM deadline interrupts the call: the tool must die with it."""
    import signal

    marker = tmp_path / "alive"
    script = tmp_path / "slow.py"
    script.write_text(
        "import sys, time, pathlib\n"
        "time.sleep(1.5)\n"
        f"pathlib.Path({str(marker)!r}).write_text('still running')\n"
    )
    card = ModelCard(name="slow", adapter="command")
    model = CommandModel(card, [sys.executable, str(script), "{input_dir}", "{output_dir}"])

    class Deadline(Exception):
        pass

    def alarm(signum, frame):
        raise Deadline

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        with pytest.raises(Deadline):
            model.predict(*small_volume[:2])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    import time

    time.sleep(2.0)
    assert not marker.exists()
