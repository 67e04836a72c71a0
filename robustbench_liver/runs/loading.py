"""Load a model by spec, in the process that will run it (a model's own process: see
runs.isolate), and describe it. Errors name the spec and the user's own line."""

from __future__ import annotations

import functools
import importlib
import os
import sys
import sysconfig
import traceback
from pathlib import Path
from typing import Any

from robustbench_liver.errors import ModelError, RobustBenchError, did_you_mean


def load_model(spec: str) -> Any:
    """A model by registered name, YAML spec path, or 'package.module:factory', loaded in
    this process (memoised)."""
    return _load_model(spec)


@functools.lru_cache(maxsize=16)
def _load_model(spec: str) -> Any:
    if ":" in spec and not Path(spec).exists():
        return _from_factory(spec)
    from robustbench_liver.models import get_model

    try:
        return get_model(spec)
    except RobustBenchError:
        raise
    except Exception as err:  # a registered factory is foreign code too
        raise ModelError(f"model {spec!r} failed to load: {in_user_code(err)}") from None


def _from_factory(spec: str) -> Any:
    """'package.module:factory' imported the way `python -m` would (the working folder
    first on sys.path, so `mymodels/dark.py` beside the user needs no PYTHONPATH), then
    called. Anything it raises becomes a ModelError naming the spec and the user's line."""
    module, _, name = spec.partition(":")
    add_cwd_to_path()
    try:
        imported = importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name and (module + ".").startswith(err.name + "."):
            raise ModelError(
                f"cannot import model {spec!r}: no module {err.name!r} in the working folder "
                f"({os.getcwd()}) or on sys.path; run from the folder that holds it, or "
                "install it"
            ) from None
        raise ModelError(f"importing model {spec!r} failed: {in_user_code(err)}") from None
    except Exception as err:  # the module's own top-level code failed
        raise ModelError(f"importing model {spec!r} failed: {in_user_code(err)}") from None
    factory = getattr(imported, name, None)
    if factory is None:
        known = [k for k in vars(imported) if not k.startswith("_")]
        where = _short(getattr(imported, "__file__", None) or module)
        raise ModelError(
            f"cannot import model {spec!r}: {where}: "
            + did_you_mean(name, known, "name", listing=False)
        )
    if not callable(factory):
        return factory
    try:
        return factory()
    except Exception as err:
        raise ModelError(f"model factory {spec!r} failed: {in_user_code(err)}") from None


def check_model(model: Any, spec: str) -> None:
    """Refuse what is no model at all (a factory that returned None, say)."""
    if callable(getattr(model, "predict", None)):
        return
    got = repr(model)
    got = got if len(got) <= 80 else got[:77] + "..."
    hint = " (did the factory forget to `return` the model?)" if model is None else ""
    raise ModelError(
        f"--model {spec!r} gave {got} of type {type(model).__name__}, not a model"
        f"{hint}. A model needs a method predict(image_hu, spacing, liver=None) that "
        "returns a label map (0/1/2) or a tumor probability of the image's shape, and "
        "optionally a `card` (robustbench_liver.models.ModelCard)."
    )


def add_cwd_to_path(folder: str | None = None) -> None:
    """Put `folder` (the working folder) first on sys.path, as `python -m` does, once."""
    folder = folder or os.getcwd()
    if folder not in sys.path:
        sys.path.insert(0, folder)


def model_name(model: Any, spec: str) -> str:
    card = getattr(model, "card", None)
    return str(getattr(card, "name", None) or spec)


def needs_liver(model: Any) -> bool:
    """Does the model's card ask for the liver mask?"""
    card = getattr(model, "card", None)
    return bool(
        getattr(card, "needs_liver", False)
        or getattr(getattr(card, "input", None), "needs_liver", False)
    )


def in_user_code(err: BaseException) -> str:
    """'RuntimeError: no weights (at mymodels/dark.py:12, in make)': the error and the
    innermost line of the user's own code (not this package's, the standard library's or an
    installed package's; the innermost line of all when none is theirs)."""
    if isinstance(err, SyntaxError) and err.filename:
        return f"{type(err).__name__}: {err.msg} (at {_short(err.filename)}:{err.lineno})"
    frames = traceback.extract_tb(err.__traceback__)
    users = [f for f in frames if _is_user_file(f.filename)] or frames
    where = f" (at {_short(users[-1].filename)}:{users[-1].lineno}, in {users[-1].name})"
    return f"{type(err).__name__}: {shorten(str(err), 500)}{where if users else ''}"


def describe(err: BaseException) -> str:
    """'RuntimeError: out of memory (in predict, model.py:46)': the error and where the
    model's own code raised it."""
    frames = traceback.extract_tb(err.__traceback__)
    where = (
        f" (in {frames[-1].name}, {Path(frames[-1].filename).name}:{frames[-1].lineno})"
        if frames
        else ""
    )
    # the suite's own errors are written to be read whole (the command adapter's carry the
    # tool's stderr tail); foreign messages can be huge (an array's repr): cut them
    text = str(err) if isinstance(err, RobustBenchError) else shorten(str(err), 500)
    return f"{type(err).__name__}: {text}{where}"


def _is_user_file(filename: str) -> bool:
    if filename.startswith("<"):  # <frozen importlib._bootstrap> and the like
        return False
    path = Path(filename).resolve()
    ours = Path(__file__).resolve().parents[1]
    libraries = {sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return not any(path.is_relative_to(Path(p).resolve()) for p in {str(ours), *libraries} if p)


def _short(filename: str) -> str:
    """The path relative to the working folder when it lies inside it."""
    try:
        return str(Path(filename).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return filename


def shorten(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters at a line or word boundary, marked with '…'."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    boundary = max(cut.rfind("\n"), cut.rfind(" "))
    return (cut[:boundary] if boundary > limit // 2 else cut).rstrip() + " …"


def tail(text: str, lines: int = 20, chars: int = 2000) -> str:
    """The last `lines` lines of `text`, at most about `chars` characters, whole lines only
    (an overlong last line keeps its end)."""
    kept: list[str] = []
    size = 0
    for line in reversed(text.rstrip().splitlines()[-lines:]):
        if kept and size + len(line) + 1 > chars:
            break
        kept.append(line)
        size += len(line) + 1
    if kept and len(kept[0]) > chars:
        kept[0] = "… " + kept[0][-chars:]
    return "\n".join(reversed(kept))
