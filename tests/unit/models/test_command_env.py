"""The command adapter's spec keys beyond argv: `env:` (its PATH finds the program),
`{device}`, a card's weights and sha256, and failures that name every case of a batch."""

from __future__ import annotations

import stat
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import yaml

from robustbench_liver.errors import ModelError
from robustbench_liver.models import BatchItem, ModelCard, get_model
from robustbench_liver.models.checksum import sha256_of
from robustbench_liver.models.command import CommandModel
from robustbench_liver.models.command_tool import detect_device

# writes an all-zero label map per case and, into the file named by its first argument,
# the arguments it was given (one per line)
ECHO = """\
import sys, pathlib
import nibabel as nib, numpy as np
record, i, o = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
record.write_text("\\n".join(sys.argv[4:]))
for p in sorted(i.glob("*_0000.nii.gz")):
    image = nib.load(p)
    zeros = np.zeros(image.shape, np.uint8)
    nib.save(nib.Nifti1Image(zeros, image.affine), o / p.name.replace("_0000", ""))
"""


def write_spec(folder: Path, **data) -> Path:
    spec = folder / "tool.yaml"
    spec.write_text(yaml.safe_dump({"adapter": "command", **data}, sort_keys=False))
    return spec


def echo_tool(folder: Path) -> Path:
    """folder/bin/echo-tool: an executable found only through a PATH that names bin/."""
    (folder / "bin").mkdir(parents=True)
    tool = folder / "bin" / "echo-tool"
    tool.write_text(f"#!{sys.executable}\n" + ECHO)
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return tool


def test_a_bare_program_is_found_on_the_specs_env_path(tmp_path, small_volume):
    tool = echo_tool(tmp_path)
    record = tmp_path / "args.txt"
    argv = ["echo-tool", str(record), "{input_dir}", "{output_dir}", "{device}"]
    without = write_spec(tmp_path, argv=argv, card={"name": "echo"})
    with pytest.raises(ModelError, match=r"'echo-tool' not found on PATH; .*set PATH in the spec"):
        get_model(str(without))
    # relative PATH entries are the spec folder's; $PATH keeps the bench's own after it
    spec = write_spec(tmp_path, argv=argv, env={"PATH": "bin:$PATH"}, card={"name": "echo"})
    model = get_model(str(spec))
    assert model.program == str(tool)
    assert model.env["PATH"].startswith("bin:/") and model.env["PATH"].count(":") >= 2
    out = model.predict(*small_volume[:2])
    assert isinstance(out, np.ndarray) and not out.any()
    assert record.read_text() == "cpu"  # no GPU on the test machine: {device} is cpu


def test_a_path_without_the_program_says_where_it_looked(tmp_path):
    echo_tool(tmp_path)
    argv = ["echo-tool", "x", "{input_dir}", "{output_dir}"]
    spec = write_spec(tmp_path, argv=argv, env={"PATH": "/nowhere"}, card={"name": "echo"})
    with pytest.raises(ModelError, match=r"PATH the spec's `env:` sets \(/nowhere\)"):
        get_model(str(spec))


def test_env_values_take_spec_dir_python_and_device(tmp_path):
    echo_tool(tmp_path)
    env = {"TOOL_HOME": "{spec_dir}/bin", "TOOL_PY": "{python}", "TOOL_DEVICE": "{device}"}
    argv = ["bin/echo-tool", "x", "{input_dir}", "{output_dir}"]
    model = get_model(str(write_spec(tmp_path, argv=argv, env=env, device="cuda:1")))
    assert model.env == {
        "TOOL_HOME": f"{tmp_path.resolve()}/bin",
        "TOOL_PY": sys.executable,
        "TOOL_DEVICE": "cuda:1",
    }


def test_device_can_be_set_and_reaches_the_tool(tmp_path, small_volume):
    echo_tool(tmp_path)
    record = tmp_path / "args.txt"
    argv = ["bin/echo-tool", str(record), "{input_dir}", "{output_dir}", "-device", "{device}"]
    get_model(str(write_spec(tmp_path, argv=argv, device="cuda"))).predict(*small_volume[:2])
    assert record.read_text() == "-device\ncuda"
    with pytest.raises(ModelError, match="device must be auto or one word"):
        get_model(str(write_spec(tmp_path, argv=argv, device="cuda; rm -rf /")))


def test_device_detection_follows_torch_and_hidden_gpus(monkeypatch):
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: True))
    monkeypatch.setitem(sys.modules, "torch", fake)
    assert detect_device({}) == "cuda"
    assert detect_device({"CUDA_VISIBLE_DEVICES": ""}) == "cpu"
    assert detect_device({"CUDA_VISIBLE_DEVICES": "-1"}) == "cpu"
    fake.cuda.is_available = lambda: False
    assert detect_device({}) == "cpu"


def test_device_detection_does_not_import_torch(tmp_path):
    echo_tool(tmp_path)
    spec = write_spec(
        tmp_path, argv=["bin/echo-tool", "x", "{input_dir}", "{output_dir}", "{device}"]
    )
    code = (
        "import sys\n"
        "from robustbench_liver.models import get_model\n"
        f"m = get_model({str(spec)!r})\n"
        "assert m.device in ('cpu', 'cuda'), m.device\n"
        "sys.exit('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr or "torch was imported"


def weights_spec(folder: Path, **card) -> Path:
    echo_tool(folder)
    argv = ["bin/echo-tool", "x", "{input_dir}", "{output_dir}"]
    return write_spec(folder, argv=argv, card={"name": "nnunet-ish", **card})


def test_made_up_weights_are_refused(tmp_path):
    spec = weights_spec(tmp_path, weights="fold_0/checkpoint_final.pth", sha256="0" * 64)
    with pytest.raises(ModelError, match=r"checkpoint_final\.pth not found; .*or drop `weights:`"):
        get_model(str(spec))


def test_a_zero_sha256_of_a_real_file_is_refused(tmp_path):
    weights = tmp_path / "fold_0" / "checkpoint_final.pth"
    weights.parent.mkdir()
    weights.write_bytes(b"not really a checkpoint")
    spec = weights_spec(tmp_path, weights="fold_0/checkpoint_final.pth", sha256="0" * 64)
    with pytest.raises(ModelError, match=f"has sha256 {sha256_of(weights)}, the card says 0000"):
        get_model(str(spec))
    unpinned = weights_spec(tmp_path / "b", weights=str(weights))
    with pytest.raises(ModelError, match=f"add `sha256: {sha256_of(weights)}` under `card:`"):
        get_model(str(unpinned))
    with pytest.raises(ModelError, match="sha256 but no weights file"):
        get_model(str(weights_spec(tmp_path / "c", sha256=sha256_of(weights))))
    folder = weights_spec(tmp_path / "d", weights=str(weights.parent), sha256=sha256_of(weights))
    with pytest.raises(ModelError, match="is a folder; name one file in it"):
        get_model(str(folder))


def test_checked_weights_show_on_the_card_as_a_full_path(tmp_path):
    weights = tmp_path / "fold_0" / "checkpoint_final.pth"
    weights.parent.mkdir()
    weights.write_bytes(b"weights")
    spec = weights_spec(tmp_path, weights="fold_0/checkpoint_final.pth", sha256=sha256_of(weights))
    card = get_model(str(spec)).card
    assert card.weights == str(weights.resolve()) and card.sha256 == sha256_of(weights)
    assert get_model(str(weights_spec(tmp_path / "none"))).card.weights is None


TOOL = Path(__file__).resolve().parents[2] / "fixtures" / "threshold_tool.py"


def test_a_batch_that_fails_together_names_every_case(small_volume):
    card = ModelCard(name="t", adapter="command")
    argv = [
        sys.executable,
        str(TOOL),
        "-i",
        "{input_dir}",
        "-o",
        "{output_dir}",
        "--exit-code",
        "7",
    ]
    model = CommandModel(card, argv, isolate_failures=False)
    ids = ["liver-3", "liver-9", "liver-12"]
    out = model.predict_batch([BatchItem(i, *small_volume[:2]) for i in ids])
    for case_id in ids:
        headline = str(out[case_id]).splitlines()[0]
        assert headline.startswith(f"model 't', case {case_id!r}: the command exited with status 7")
        assert "(a batch of 3 cases that failed together: liver-3, liver-9, liver-12)" in headline
    # one image through predict: no made-up case id in the message
    with pytest.raises(ModelError) as err:
        model.predict(*small_volume[:2])
    assert str(err.value).startswith("model 't': the command exited with status 7")


def test_a_timeout_keeps_what_a_python_tool_printed_to_stdout(tmp_path, small_volume, monkeypatch):
    """nnU-Net prints with print(): without PYTHONUNBUFFERED its last words would sit in a
    buffer that the kill throws away."""
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)  # as in a plain shell
    script = tmp_path / "stuck.py"
    script.write_text("import time\nprint('Predicting liver-3: patch 17 of 400')\ntime.sleep(30)\n")
    card = ModelCard(name="stuck", adapter="command")
    model = CommandModel(card, ["{python}", str(script), "{input_dir}", "{output_dir}"], 1.0)
    err = model.predict_batch([BatchItem("liver-3", *small_volume[:2])])["liver-3"]
    assert "case 'liver-3': no answer within 1 s (killed)" in str(err)
    assert str(err).endswith("Predicting liver-3: patch 17 of 400")
