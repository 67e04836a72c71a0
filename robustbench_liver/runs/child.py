"""A model's own process (started by runs.isolate): load the model once, then answer
predictions until the connection closes. Whatever the model raises or returns becomes an
answer; whatever it does to the process (a crash, an exit, a hang) the runner sees from
outside."""

from __future__ import annotations

import atexit
import faulthandler
import json
import os
import socket
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.runs.lifeline import die_with_parent
from robustbench_liver.runs.loading import (
    check_model,
    describe,
    in_user_code,
    load_model,
    model_name,
    needs_liver,
)
from robustbench_liver.runs.wire import Gone, recv, send

Reply = tuple[tuple[Any, ...], list[np.ndarray]]


def main(argv: list[str]) -> NoReturn:
    """argv: the socket's file descriptor, the parent's pid, the model's spec."""
    code = 0
    try:
        serve(argv)
    except BaseException:  # the bench's own bug: its traceback goes to the log
        traceback.print_exc()
        code = 1
    # The model's atexit handlers run; the interpreter's teardown is skipped: with torch
    # loaded it takes ~1.5 s, and every run waits for it at its end.
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def serve(argv: list[str]) -> None:
    """Load the model, say so, then answer predictions until the runner hangs up."""
    sock = socket.socket(fileno=int(argv[0]))
    die_with_parent(int(argv[1]))
    spec = argv[2]
    faulthandler.enable(all_threads=False)  # a crash leaves the model's stack in the log
    try:
        model = load_model(spec)
        check_model(model, spec)
        info = describe_model(model, spec)
    except SystemExit as err:
        _answer(sock, ("error", f"model {spec!r} called sys.exit({err.code!r}) while loading"))
        return
    except RobustBenchError as err:
        _answer(sock, ("error", str(err)))
        return
    except BaseException as err:  # foreign code: anything at all
        _answer(sock, ("error", f"model {spec!r} failed to load: {in_user_code(err)}"))
        return
    if not _answer(sock, ("ready", info)):
        return
    while True:
        try:
            message, arrays = recv(sock)
        except Gone:  # the runner is done with us (or gone)
            return
        kind, detail, threads, limit_s = message
        _set_threads(threads)
        _set_time_limit(model, limit_s)
        if kind == "predict":
            reply, out = _predict(model, detail, arrays)
        else:
            reply, out = _predict_batch(model, detail, arrays)
        if not _answer(sock, reply, out):
            return


def describe_model(model: Any, spec: str) -> dict[str, Any]:
    """The fields of runs.isolate.ModelInfo."""
    card = getattr(model, "card", None)
    name = model_name(model, spec)
    data: dict[str, Any] | None = None
    if card is not None:
        to_dict = getattr(card, "to_dict", None)
        try:
            data = to_dict() if callable(to_dict) else {"name": name}
            data = json.loads(json.dumps(data, default=str))  # plain data, as stored
        except Exception as err:
            raise RobustBenchError(
                f"model {spec!r}: its card's to_dict() failed: {in_user_code(err)}"
            ) from None
        if not isinstance(data, dict):
            raise RobustBenchError(f"model {spec!r}: its card's to_dict() gave no dict")
    return {
        "name": name,
        "version": str(getattr(card, "version", "") or ""),
        "card": data,
        "needs_liver": needs_liver(model),
        "trained_on_scans": tuple(str(d) for d in getattr(card, "trained_on_scans", None) or ()),
        "batch": callable(getattr(model, "predict_batch", None)),
        "batch_size": _batch_size(model),
        "runtime": runtime(model),
    }


def _batch_size(model: Any) -> int:
    size = getattr(model, "batch_size", 1)
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 1 else 1


FRAMEWORKS = ("torch", "monai", "nnunetv2", "onnxruntime", "tensorflow", "jax")
"""Packages whose versions decide a model's numbers, recorded when the model loaded them."""


def runtime(model: Any) -> dict[str, str]:
    """Python and the frameworks loaded in this process (the model's own, not the suite's),
    plus what the model says of code it runs elsewhere (`model.runtime`, e.g. a command
    tool's versions)."""
    found = {"python": sys.version.split()[0]}
    for name in FRAMEWORKS:
        module = sys.modules.get(name)
        if module is not None:
            found[name] = str(getattr(module, "__version__", "") or "unknown")
    extra = getattr(model, "runtime", None)
    if isinstance(extra, dict):
        found.update({str(k): str(v) for k, v in extra.items()})
    return found


def _predict(model: Any, spacing: tuple[float, float, float], arrays: list[np.ndarray]) -> Reply:
    liver = arrays[1] if len(arrays) > 1 else None
    try:
        value = model.predict(arrays[0], spacing, liver=liver)
    except SystemExit as err:
        _exit(err)
    except BaseException as err:  # foreign code: anything at all is the model's error
        return ("error", _status(err), describe(err)), []
    return _converted(value)


def _predict_batch(model: Any, layout: list, arrays: list[np.ndarray]) -> Reply:
    from robustbench_liver.models.protocol import BatchItem

    items, taken = [], 0
    for case_id, spacing, has_liver in layout:
        liver = arrays[taken + 1] if has_liver else None
        items.append(BatchItem(case_id, arrays[taken], spacing, liver))
        taken += 2 if has_liver else 1
    try:
        results = dict(model.predict_batch(items))
    except SystemExit as err:
        _exit(err)
    except BaseException as err:  # the whole call failed: every case of it did
        text = describe(err)
        status = _status(err)
        return ("batch", {item.case_id: ("error", status, text) for item in items}), []
    answers: dict[str, tuple[Any, ...]] = {}
    out: list[np.ndarray] = []
    for item in items:
        if item.case_id not in results:
            message = f"predict_batch returned nothing for case {item.case_id!r}"
            answers[item.case_id] = ("error", "model_error", message)
            continue
        value = results[item.case_id]
        if isinstance(value, BaseException):
            answers[item.case_id] = ("error", _status(value), describe(value))
            continue
        reply, array = _converted(value)
        answers[item.case_id] = ("ok", len(out)) if reply[0] == "ok" else reply
        out += array
    return ("batch", answers), out


def _converted(value: Any) -> Reply:
    """A model's output as a numeric numpy array (a torch tensor detached and moved to the
    CPU first), or why it is none. Its shape and values are checked when it is scored."""
    if value is None:
        return ("error", "invalid_prediction", "predict returned None, not an array"), []
    try:
        if callable(getattr(value, "detach", None)) and callable(getattr(value, "cpu", None)):
            value = value.detach().cpu()  # a torch tensor, perhaps with requires_grad or on GPU
            try:
                value = value.numpy()
            except (TypeError, RuntimeError):  # bfloat16 and other types numpy lacks
                value = value.float().numpy()
        array = np.asarray(value)
    except Exception as err:
        message = f"predict returned a {type(value).__name__}, not an array: {describe(err)}"
        return ("error", "invalid_prediction", message), []
    if array.dtype.kind not in "biuf":
        message = (
            f"predict returned an array of dtype {array.dtype}; return a uint8 label map "
            "(0/1/2) or float tumor probabilities"
        )
        return ("error", "invalid_dtype", message), []
    return ("ok",), [array]


def _exit(err: SystemExit) -> NoReturn:
    """The model called sys.exit: say where on stderr (the runner keeps its end), and exit
    with its code; the runner records the exit and starts a fresh process."""
    frames = traceback.extract_tb(err.__traceback__)
    where = f" (in {frames[-1].name}, {Path(frames[-1].filename).name}:{frames[-1].lineno})"
    print(f"the model called sys.exit({err.code!r}){where if frames else ''}", file=sys.stderr)
    sys.stderr.flush()
    code = err.code
    os._exit(code if isinstance(code, int) and 0 <= code <= 255 else int(code is not None))


def _answer(sock: socket.socket, message: Any, arrays: list[np.ndarray] | None = None) -> bool:
    """Send; False when the runner is gone."""
    try:
        send(sock, message, arrays or [])
    except Gone:
        return False
    return True


def _status(err: BaseException) -> str:
    """A TimeoutError (e.g. a command tool the adapter ended at its limit) is a timeout."""
    return "timeout" if isinstance(err, TimeoutError) else "model_error"


def _set_time_limit(model: Any, seconds: float | None) -> None:
    """Tell a model that can use it (`set_time_limit`) how long the runner waits for this
    call: a command adapter then ends its tool first and keeps the tool's stderr, which a
    kill of this process would lose."""
    hook = getattr(model, "set_time_limit", None)
    if callable(hook):
        hook(seconds)


def _set_threads(threads: int) -> None:
    """A fixed torch thread count keeps floating-point sums, and so predictions, the same
    whatever the number of workers."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
