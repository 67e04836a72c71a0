"""A model in its own process: answers come back, and a crash, an exit, a hang or a failed
load is a Failure with the reason; the next case gets a fresh process; nothing it started
outlives it or the process that started it."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from robustbench_liver.errors import ModelError
from robustbench_liver.runs import roster
from robustbench_liver.runs.isolate import Failure, ModelInfo, ModelProcess

MODELS = textwrap.dedent(
    """\
    import ctypes, os, subprocess, sys, time
    from pathlib import Path

    import numpy as np


    class Card:
        name = "moody"
        version = "3"
        needs_liver = True
        trained_on_scans = ("ab" * 32,)

        def to_dict(self):
            return {"name": self.name, "version": self.version, "extra": (1, 2)}


    class Moody:
        \"\"\"Misbehaves as the image's first voxel says.\"\"\"

        card = Card()

        def predict(self, image, spacing, liver=None):
            how = int(image.flat[0])
            print(f"moody sees {how}", file=sys.stderr)
            if how == 1:
                ctypes.string_at(0)
            if how == 2:
                sys.exit(4)
            if how == 3:  # a helper in its process group, then a hang
                helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
                Path(os.environ["MOODY_PIDS"]).write_text(f"{os.getpid()} {helper.pid}")
                while True:
                    try:
                        time.sleep(0.05)
                    except BaseException:
                        pass
            if how == 4:
                raise ValueError("four is right out")
            if how == 5:
                return "not an array"
            image[:] = 0  # its own copy: writable
            return (liver & (np.asarray(spacing).sum() > 0)).astype(np.uint8) * 2


    class Batcher(Moody):
        def predict_batch(self, items):
            out = {}
            for item in items[1:]:  # forgets the first
                out[item.case_id] = ValueError("no") if item.case_id == "b" else self.predict(
                    item.image_hu, item.spacing, item.liver
                )
            return out


    def moody():
        return Moody()


    def batcher():
        return Batcher()


    def nothing():
        pass


    def broken():
        raise RuntimeError("no weights")
    """
)


@pytest.fixture
def models(tmp_path, monkeypatch):
    (tmp_path / "moody_models.py").write_text(MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))  # the model's process gets our sys.path
    monkeypatch.setenv("MOODY_PIDS", str(tmp_path / "pids"))
    yield tmp_path
    roster.shutdown_all()


def image(how: int) -> np.ndarray:
    out = np.full((6, 5, 4), 100.0, dtype=np.float32)
    out.flat[0] = how
    return out


LIVER = np.ones((6, 5, 4), dtype=bool)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_a_model_loads_once_and_answers(models):
    process = ModelProcess("moody_models:moody")
    info = process.info()
    assert info == ModelInfo(
        name="moody",
        version="3",
        card={"name": "moody", "version": "3", "extra": [1, 2]},
        needs_liver=True,
        trained_on_scans=("ab" * 32,),
        batch=False,
        runtime={"python": platform.python_version()},  # no framework loaded
    )
    sent = image(0)
    answer = process.predict(sent, (1.0, 1.0, 2.0), LIVER, timeout_s=30)
    assert isinstance(answer, np.ndarray) and answer.dtype == np.uint8
    assert (answer == 2).all()
    assert (sent[1:] == 100).all()  # the model changed its own copy only
    pid = process._proc.pid
    process.predict(image(0), (1.0, 1.0, 2.0), LIVER, timeout_s=30)
    assert process._proc.pid == pid  # the same process, model loaded once
    process.stop()
    assert not alive(pid)


@pytest.mark.parametrize(
    ("how", "status", "says"),
    [
        (1, "crashed", "died from signal SIGSEGV (Segmentation fault) during the prediction."),
        (2, "exited", "exited with code 4 during the prediction."),
        (4, "model_error", "ValueError: four is right out (in predict, moody_models.py:"),
        (5, "invalid_dtype", "predict returned an array of dtype <U12"),
    ],
)
def test_a_bad_case_is_a_failure_and_the_next_case_is_answered(models, how, status, says):
    process = ModelProcess("moody_models:moody")
    failure = process.predict(image(how), (1.0, 1.0, 1.0), LIVER, timeout_s=30)
    assert isinstance(failure, Failure) and failure.status == status
    assert says in failure.error
    if status in ("crashed", "exited"):
        assert "moody sees" in failure.error  # the end of its stderr
    answer = process.predict(image(0), (1.0, 1.0, 1.0), LIVER, timeout_s=30)
    assert isinstance(answer, np.ndarray)


def test_a_hang_is_killed_with_all_it_started(models):
    process = ModelProcess("moody_models:moody")
    assert isinstance(process.info(), ModelInfo)
    start = time.monotonic()
    failure = process.predict(image(3), (1.0, 1.0, 1.0), LIVER, timeout_s=1.5)
    assert isinstance(failure, Failure) and failure.status == "timeout"
    assert failure.error.startswith("no answer within 1.5 s: the model's process was killed")
    assert time.monotonic() - start < 10
    pids = [int(p) for p in (models / "pids").read_text().split()]
    time.sleep(0.2)
    assert not [pid for pid in pids if alive(pid)]


def test_batches_answer_per_case(models):
    process = ModelProcess("moody_models:batcher")
    items = [(c, image(0), (1.0, 1.0, 1.0), LIVER) for c in ("a", "b", "c")]
    answers = process.predict_batch(items, timeout_s=30)
    assert (
        isinstance(answers["a"], Failure) and "returned nothing for case 'a'" in answers["a"].error
    )
    assert isinstance(answers["b"], Failure) and answers["b"].error.startswith("ValueError: no")
    assert isinstance(answers["c"], np.ndarray)


def test_models_that_cannot_load_are_all_named(models):
    with pytest.raises(ModelError) as raised:
        roster.preload(["moody_models:moody", "moody_models:nothing", "moody_models:broken"])
    text = str(raised.value)
    assert text.startswith("2 models cannot be used:")
    assert "'moody_models:nothing' gave None" in text
    assert "model factory 'moody_models:broken' failed: RuntimeError: no weights" in text
    assert roster._PROCESSES == {}  # the one that loaded was ended too


def test_preloaded_models_are_held_by_card_and_predict_in_their_process(models):
    infos = roster.preload(["moody_models:moody"])
    assert infos["moody_models:moody"].name == "moody"
    model = roster.load_model("moody_models:moody")
    assert model.card is not None and model.card.name == "moody"
    assert model.card.to_dict()["extra"] == [1, 2]
    assert (model.predict(image(0), (1.0, 1.0, 1.0), LIVER) == 2).all()
    with pytest.raises(ModelError, match="crashed"):
        model.predict(image(1), (1.0, 1.0, 1.0), LIVER)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_model_process_dies_with_the_process_that_started_it(models):
    script = textwrap.dedent(
        """\
        import sys, time
        from robustbench_liver.runs.isolate import ModelProcess
        process = ModelProcess("moody_models:moody")
        process.info()
        print(process._proc.pid, flush=True)
        time.sleep(60)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(models), *sys.path])}
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    try:
        child = int(parent.stdout.readline())
        assert alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        end = time.monotonic() + 5
        while alive(child) and time.monotonic() < end:
            time.sleep(0.05)
        assert not alive(child)
    finally:
        parent.kill()
        parent.wait()


def test_the_runtime_is_the_model_process_own(monkeypatch):
    """The versions recorded are those loaded where the model runs, plus what the model says
    of a tool it runs elsewhere; not the suite's."""
    from types import SimpleNamespace

    from robustbench_liver.runs.child import runtime

    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(__version__="9.9.9"))
    monkeypatch.delitem(sys.modules, "monai", raising=False)
    model = SimpleNamespace(runtime={"nnunetv2": "2.8.1 (in its own env)"})
    found = runtime(model)
    assert found["torch"] == "9.9.9" and "monai" not in found
    assert found["nnunetv2"] == "2.8.1 (in its own env)"
