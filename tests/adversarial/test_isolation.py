"""Models run isolated (issue 14, item 1): a model that segfaults, aborts, calls sys.exit(0)
or swallows its timeout costs itself that case, as a failed row with the reason, and the run
goes on, with the same rows inline, in the local pool and on Dask; a model whose factory
fails is named before any synthesis; a command tool's leftover helper cannot stall a run;
and a run killed with SIGKILL leaves no worker behind.

Runs go through the CLI in a separate process: a model that crashes its process must not
take the test with it, and a run that never ends fails by the subprocess timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

SCENARIO = textwrap.dedent(
    """\
    name: isolation
    seed: 4
    base_scans:
      - {source: phantom, count: 1, shape: [96, 80, 40], spacing: [3.0, 3.0, 4.0]}
    cases_per_condition: 2
    controls: 0.0
    tumors: {level: medium}
    sweep:
      axes:
        - {name: c, param: tumors.delta_hu, levels: {hypo: [-60, -40], iso: [-5, 5]}}
    """
)
BAD_MODELS = textwrap.dedent(
    '''\
    """Models that misbehave each in their own way (written by tests/adversarial)."""
    import ctypes
    import os
    import sys
    import time
    from pathlib import Path

    import numpy as np


    class Card:
        def __init__(self, name):
            self.name = name
            self.version = "1"

        def to_dict(self):
            return {"name": self.name, "version": self.version}


    class Bad:
        def __init__(self, how):
            self.card = Card(how)
            self.how = how

        def predict(self, image, spacing, liver=None):
            print(f"{self.how} starts on a case", file=sys.stderr)
            if self.how == "segfault":
                ctypes.string_at(0)
            elif self.how == "abort":
                os.abort()
            elif self.how == "exit":
                sys.exit(0)
            elif self.how == "grad":
                import torch

                return torch.zeros(image.shape, requires_grad=True) * 1.0
            elif self.how == "slow":  # says it started, then takes its time
                Path(os.environ["ISOLATION_MARKERS"], f"predicting-{os.getpid()}").touch()
                time.sleep(60)
            return np.zeros(image.shape, dtype=np.uint8)


    class Swallow(Bad):
        """Catches whatever is thrown at it, timeouts too, on the c-hypo cases (it sees case
        ids in batches); answers the others."""

        def predict_batch(self, items):
            for item in items:
                print(f"swallow starts on {item.case_id}", file=sys.stderr)
                while item.case_id.startswith("c-hypo"):
                    try:
                        time.sleep(0.05)
                    except BaseException:
                        pass
            return {item.case_id: np.zeros(item.image_hu.shape, np.uint8) for item in items}


    def segfault():
        return Bad("segfault")


    def abort():
        return Bad("abort")


    def exit():
        return Bad("exit")


    def swallow():
        return Swallow("swallow")


    def grad():
        import torch  # loaded with the model, not in the first prediction's time

        torch.zeros(1)
        return Bad("grad")


    def slow():
        return Bad("slow")


    def raises():
        weights = None
        raise RuntimeError("no weights in " + str(weights))


    def quits():
        sys.exit(3)


    def crashes():
        ctypes.string_at(0)
    '''
)
# A command-adapter tool that starts a helper in a session of its own, holding the tool's
# stdout and stderr (the helper outlives any kill of the tool's process group), then
# answers, or hangs on the cases named by --hang-on.
TOOL = textwrap.dedent(
    """\
    import argparse, subprocess, sys, time
    from pathlib import Path
    import nibabel as nib
    import numpy as np

    parser = argparse.ArgumentParser()
    parser.add_argument("-i", type=Path)
    parser.add_argument("-o", type=Path)
    parser.add_argument("--pids", type=Path)
    parser.add_argument("--hang-on")
    args = parser.parse_args()
    helper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True
    )
    with open(args.pids, "a") as pids:
        pids.write(f"{helper.pid}\\n")
    print("the tool started its helper", file=sys.stderr, flush=True)
    if any(args.hang_on in path.name for path in args.i.iterdir()):
        time.sleep(300)
    for path in sorted(args.i.glob("*_0000.nii.gz")):
        image = nib.load(path)
        out = np.zeros(image.shape, dtype=np.uint8)
        nib.save(nib.Nifti1Image(out, image.affine), args.o / path.name.replace("_0000", ""))
    """
)
TIMEOUT_S = 6
"""--timeout of the runs: what the model that swallows timeouts costs."""
TOOL_TIMEOUT_S = 4
"""The command tool's own timeout_s (below --timeout, so the adapter's comes first)."""
BAD = ["segfault", "abort", "exit", "swallow"]
EXPECTED = {  # card name -> (status, the error's first line) on every case
    "hu-threshold": ("ok", None),
    "grad": ("ok", None),
    "segfault": (
        "crashed",
        "the model's process died from signal SIGSEGV (Segmentation fault) during the prediction.",
    ),
    "abort": (
        "crashed",
        "the model's process died from signal SIGABRT (Aborted) during the prediction.",
    ),
    "exit": ("exited", "the model's process exited with code 0 during the prediction."),
}
ON_HYPO = {  # card name -> (status, the error's first line) on c-hypo cases; c-iso: ok
    "swallow": ("timeout", f"no answer within {TIMEOUT_S} s: the model's process was killed."),
    "tool": ("timeout", "ToolTimeout: model 'tool', case 'c-hypo__phantom-0__t000': no "),
}


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """A user's folder: the scenario, bad_models.py and a command tool with its spec."""
    (tmp_path / "scenario.yaml").write_text(SCENARIO)
    (tmp_path / "bad_models.py").write_text(BAD_MODELS)
    (tmp_path / "tool.py").write_text(TOOL)
    argv = ["{python}", "{spec_dir}/tool.py", "-i", "{input_dir}", "-o", "{output_dir}"]
    argv += ["--pids", "{spec_dir}/helpers.txt", "--hang-on", "c-hypo"]
    card = {"name": "tool"}
    spec = {"adapter": "command", "argv": argv, "timeout_s": TOOL_TIMEOUT_S, "card": card}
    (tmp_path / "tool.yaml").write_text(yaml.safe_dump(spec))
    (tmp_path / "markers").mkdir()
    yield tmp_path
    helpers = tmp_path / "helpers.txt"
    for pid in helpers.read_text().split() if helpers.exists() else []:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def cli(folder: Path, *args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    """`robustbench-liver ARGS` in `folder`, in a process of its own."""
    env = {**os.environ, "ISOLATION_MARKERS": str(folder / "markers")}
    env.pop("PYTHONPATH", None)  # 'bad_models:...' is found in the working folder
    command = [sys.executable, "-m", "robustbench_liver", *args]
    return subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    "executor",
    [["--workers", "1"], ["--workers", "2"], ["--executor", "dask", "--workers", "2"]],
    ids=["inline", "local-pool", "dask"],
)
def test_misbehaving_models_cost_their_own_cases_only(folder, executor):
    models = ["hu-threshold", *(f"bad_models:{how}" for how in BAD), "bad_models:grad"]
    models += ["tool.yaml"]
    # one case per unit: a batch that hangs costs all its cases, which is not tested here
    options = ["--out", "out", "--limit", "1", "--timeout", str(TIMEOUT_S), "--batch", "1"]
    options += executor
    result = cli(
        folder, "run", "scenario.yaml", *(a for m in models for a in ("--model", m)), *options
    )
    assert result.returncode == 3, result.stderr[-3000:]  # finished, some cases failed
    assert "Traceback" not in result.stderr
    cases = pd.read_parquet(folder / "out" / "cases.parquet")
    assert len(cases) == 2 * len(models)  # one row per (model, case), bad or good
    assert sorted(cases["model"].unique()) == sorted([*EXPECTED, *ON_HYPO])
    for row in cases.itertuples():
        if row.model in ON_HYPO and row.condition == "c-iso":
            status, first_line = "ok", None
        else:
            status, first_line = {**EXPECTED, **ON_HYPO}[row.model]
        assert row.status == status, (row.model, row.case_id, row.error)
        assert first_line is None or row.error.splitlines()[0].startswith(first_line), row.error
    errors = cases.set_index(["model", "case_id"])["error"]
    for case in cases["case_id"].unique():
        assert "starts on a case" in errors["segfault", case]  # the end of its stderr
        assert "Fatal Python error: Segmentation fault" in errors["segfault", case]
        assert "bad_models.py" in errors["segfault", case]  # the model's line in its stack
        assert "Fatal Python error: Aborted" in errors["abort", case]
        assert "the model called sys.exit(0) (in predict, bad_models.py:" in errors["exit", case]
    hung = errors["tool", "c-hypo__phantom-0__t000"]
    assert f"no answer within {TOOL_TIMEOUT_S} s (killed)" in hung
    assert "the tool started its helper" in hung  # the end of its stderr
    assert "swallow starts on c-hypo" in errors["swallow", "c-hypo__phantom-0__t000"]


def test_factories_that_fail_are_all_named_before_any_synthesis(folder):
    models = ["hu-threshold", "bad_models:raises", "bad_models:quits", "bad_models:crashes"]
    result = cli(
        folder, "run", "scenario.yaml", *(a for m in models for a in ("--model", m)), "--out", "out"
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    err = result.stderr
    assert "3 models cannot be used" in err
    assert "model factory 'bad_models:raises' failed: RuntimeError: no weights in None" in err
    assert "(at bad_models.py:" in err and "in raises)" in err
    assert "model 'bad_models:quits' called sys.exit(3) while loading" in err
    assert "model 'bad_models:crashes': the model's process died from signal SIGSEGV" in err
    assert "hu-threshold" not in err
    assert not (folder / "out").exists()  # nothing synthesized, no run folder


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (psutil when installed, else /proc)."""
    try:
        import psutil
    except ImportError:
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(parent, []).append(int(entry.name))
        found, todo = [], [pid]
        while todo:
            kids = children.get(todo.pop(), [])
            found += kids
            todo += kids
        return found
    return [p.pid for p in psutil.Process(pid).children(recursive=True)]


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_run_killed_with_sigkill_leaves_no_worker_behind(folder):
    env = {**os.environ, "ISOLATION_MARKERS": str(folder / "markers")}
    env.pop("PYTHONPATH", None)
    command = [sys.executable, "-m", "robustbench_liver", "run", "scenario.yaml"]
    command += ["--model", "bad_models:slow", "--out", "out", "--workers", "2"]
    run = subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    below: list[int] = []
    try:
        deadline = time.monotonic() + 120
        # both workers are in a prediction (each model's process says so when it starts)
        while len(list((folder / "markers").iterdir())) < 2:
            assert run.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.1)
        below = descendants(run.pid)
        assert len(below) >= 2  # two worker threads, each with its model's process
        run.send_signal(signal.SIGKILL)
        run.wait()
        end = time.monotonic() + 5
        while any(alive(pid) for pid in below) and time.monotonic() < end:
            time.sleep(0.1)
        assert not [pid for pid in below if alive(pid)], "model processes outlived the run"
    finally:  # whatever the outcome, nothing of the run is left running
        if run.poll() is None:
            below += descendants(run.pid)
            run.kill()
            run.wait()
        for pid in below:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
