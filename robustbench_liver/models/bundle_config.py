"""A MONAI bundle's files, and the check its inference config must pass before MONAI's
`ConfigParser` builds anything from it.

A bundle config is a program: `_target_` names a class or function that the parser calls
with the given arguments, and a `$`-string is a Python expression the parser hands to
`eval`. `checked_config` keeps of the config only the items inference needs (the given
roots and what they reference, transitively), and refuses, naming the item:
- a `_target_` outside monai.networks.{nets,blocks,layers}, monai.transforms, monai.inferers
  and torch.nn, or one in monai.transforms.io (file readers and writers; the one loader the
  adapter feeds is the exception), `_mode_: debug`, and `pretrained: true` or a
  `pretrained_url` (downloads);
- an expression that uses a name other than monai, torch, np, numpy, a few pure builtins,
  its own lambda and comprehension variables, and the config's `@` references; that touches
  an attribute whose name starts with `_` or is a known file, network or code entry point
  (load, save, hub, jit, compile, ...); or that imports anything but monai, torch or numpy;
- a macro that reads another file (`%other.json::id`).
That stops the plain routes out (importing os, opening files, unpickling, torch.hub) but it
is a filter, not a sandbox: Python's `eval` over torch and MONAI objects cannot be proven
harmless by inspection. Run bundles you would run with `python -m monai.bundle run`.
"""

from __future__ import annotations

import ast
import copy
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from robustbench_liver.errors import ModelError

CONFIG_NAMES = ("inference.json", "inference.yaml", "inference.yml")
ALLOWED_MODULES = ("monai", "torch", "np", "numpy")
"""Names an expression may start from (MONAI's ConfigParser provides exactly these)."""
SAFE_BUILTINS = frozenset(
    "abs all any bool dict enumerate float int isinstance len list max min range reversed "
    "round set slice sorted str sum tuple zip True False None".split()
)
DENIED_ATTRIBUTES = frozenset(
    "load loads save hub jit compile ops library package serialization cpp_extension "
    "ctypeslib f2py fromfile tofile from_file memmap genfromtxt loadtxt savetxt fromregex "
    "download download_url download_and_extract extractall optional_import instantiate "
    "locate import_module run system popen bundle apps testing distributed multiprocessing "
    "os sys subprocess builtins eval exec open getattr setattr delattr globals locals vars "
    "breakpoint input".split()
)
TARGET_PREFIXES = (
    "monai.networks.nets.",
    "monai.networks.blocks.",
    "monai.networks.layers.",
    "monai.transforms.",
    "monai.inferers.",
    "torch.nn.",
)
IO_PREFIX = "monai.transforms.io."
DOWNLOAD_ARGUMENTS = ("pretrained", "pretrained_url", "pretrained_path", "download", "url")
"""Arguments by which MONAI networks fetch weights from the internet."""
LOADERS = ("monai.transforms.io.dictionary.LoadImaged",)
_REF = "bundle_ref"
_NODES = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Store, ast.Attribute, ast.Call,
    ast.keyword, ast.Subscript, ast.Slice, ast.Tuple, ast.List, ast.Dict, ast.Set,
    ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Lambda, ast.arguments,
    ast.arg, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.comprehension,
    ast.Starred, ast.JoinedStr, ast.FormattedValue, ast.operator, ast.unaryop, ast.boolop,
    ast.cmpop, ast.expr_context,
)  # fmt: skip


def read_config_file(path: Path) -> dict[str, Any]:
    """A bundle JSON or YAML file as a mapping (json, or yaml.safe_load: no tags)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ModelError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ModelError(f"{path}: not valid {path.suffix.lstrip('.').upper()} ({err})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: a bundle config must be a mapping of ids to items")
    return data


def find_config(bundle: Path, name: str | None = None) -> Path:
    """The bundle's inference config: `name` (relative to the bundle) or configs/inference.*"""
    if name is not None:
        path = bundle / name
        if not path.is_file():
            raise ModelError(f"bundle {bundle}: config {name} not found")
        return path
    for candidate in CONFIG_NAMES:
        if (bundle / "configs" / candidate).is_file():
            return bundle / "configs" / candidate
    present = sorted(p.name for p in (bundle / "configs").glob("*")) if bundle.is_dir() else []
    raise ModelError(
        f"bundle {bundle}: no configs/inference.json or .yaml"
        + (f" (configs/ holds {', '.join(present)}; name one with `config:`)" if present else "")
    )


def target_path(target: str, locator: Any) -> str:
    """The dotted path MONAI's ConfigComponent resolves `_target_` to."""
    module = locator.get_component_module_name(target)
    if isinstance(module, list):
        module = module[0]  # what MONAI does too (with a warning)
    return f"{module}.{target}" if module else target


def checked_config(
    config: Mapping[str, Any], roots: Iterable[str], where: str, locator: Any
) -> dict[str, Any]:
    """The items of `config` that `roots` need (top-level ids, followed through `@` and `%`
    references), plus the config's imports of monai, torch and numpy (MONAI runs every
    import statement of a config; other imports are left out, and an expression that needs
    one is refused), after every check in the module docstring. Raises ModelError naming
    the file (`where`) and the item."""
    config = copy.deepcopy(dict(config))
    imports = [s for s in _strings(config) if _import_of(s) is not None]
    allowed = [s for s in imports if _import_refusal(_import_of(s)) is None]  # type: ignore[arg-type]
    checker = _Checker(where, locator, {_REF, *ALLOWED_MODULES, *SAFE_BUILTINS})
    for statement in allowed:
        checker.names.update(_bound_by(_import_of(statement)))  # type: ignore[arg-type]
    keep: dict[str, Any] = {}
    todo = list(roots)
    while todo:
        key = todo.pop()
        if key in keep:
            continue
        if key not in config:
            raise ModelError(f"{where}: `{key}` is referenced but not defined")
        keep[key] = config[key]
        todo.extend(ref.split("::", 1)[0] for ref in checker.item(config[key], key))
    if allowed:
        keep.setdefault(IMPORTS_ID, allowed)
    return keep


IMPORTS_ID = "robustbench_liver_imports"
"""Where the kept import statements go in the checked config."""


class _Checker:
    def __init__(self, where: str, locator: Any, names: set[str]):
        self.where = where
        self.locator = locator
        self.names = names
        """Names an expression may use: modules, safe builtins, imported names."""

    def item(self, value: Any, id: str) -> Iterator[str]:
        """Check one item and everything nested in it; yield the ids it references."""
        from monai.bundle import ConfigParser
        from monai.bundle.reference_resolver import ReferenceResolver

        if isinstance(value, Mapping):
            if "_target_" in value:
                self.target(value, id)
            for k, v in value.items():
                yield from self.item(v, f"{id}::{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from self.item(v, f"{id}::{i}")
        elif isinstance(value, str):
            try:
                text = ConfigParser.resolve_relative_ids(id, value)
            except ValueError as err:  # a relative id that climbs above the config
                raise ModelError(f"{self.where}: `{id}`: {err}") from None
            if text.startswith("%"):
                path, ref = ConfigParser.split_path_id(text[1:])
                if path:
                    raise ModelError(
                        f"{self.where}: `{id}` is a macro that reads another file ({value!r}); "
                        "this adapter reads the inference config and metadata.json only"
                    )
                yield ref
            elif text.startswith("$"):
                yield from ReferenceResolver.match_refs_pattern(text)
                check_expression(text[1:], f"{self.where}: `{id}`", self.names)
            elif text.startswith("@"):
                yield from ReferenceResolver.match_refs_pattern(text)

    def target(self, item: Mapping[str, Any], id: str) -> None:
        target = item["_target_"]
        if not isinstance(target, str):
            raise ModelError(f"{self.where}: `{id}::_target_` must be a class name, got {target!r}")
        if target.startswith("$"):
            return  # an expression: checked like every other one
        path = target_path(target, self.locator)
        io = path.startswith(IO_PREFIX) and path not in LOADERS
        if io or not path.startswith(TARGET_PREFIXES):
            raise ModelError(
                f"{self.where}: `{id}` builds {path}; this adapter builds only MONAI "
                "networks, transforms and inferers and torch.nn modules (no file readers or "
                "writers, no code of the bundle's own): export such a network to TorchScript "
                "(models/model.ts) or wrap the bundle in a python model"
            )
        if str(item.get("_mode_", "default")).lower() == "debug":
            raise ModelError(
                f"{self.where}: `{id}` asks for `_mode_: debug` (a debugger); remove it"
            )
        for key in DOWNLOAD_ARGUMENTS:
            if item.get(key) not in (None, False, ""):
                raise ModelError(
                    f"{self.where}: `{id}` asks for `{key}: {item[key]!r}` (a download); the "
                    f"bundle's own weights are loaded instead: remove it or set it to false"
                )


def check_expression(source: str, where: str, names: Iterable[str] = ()) -> None:
    """Refuse an expression (or import statement) that steps outside monai, torch, numpy
    and the config's references (see the module docstring). `names`: what it may use
    besides its own lambda and comprehension variables."""
    from monai.bundle.reference_resolver import ReferenceResolver

    statement = _import_of("$" + source)
    if statement is not None:
        why = _import_refusal(statement)
        if why:
            _refuse(where, source, why)
        return
    code = ReferenceResolver.id_matcher.sub(_REF, source).strip()
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError as err:
        raise ModelError(f"{where}: not a Python expression: ${source} ({err.msg})") from None
    bound = {_REF, *names}
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)  # comprehension targets
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            _refuse(where, source, f"{type(node).__name__} is not allowed")
        if isinstance(node, ast.Name) and node.id not in bound:
            _refuse(where, source, f"it uses {node.id!r}, not monai, torch or numpy")
        if isinstance(node, ast.Attribute) and (
            node.attr.startswith("_") or node.attr in DENIED_ATTRIBUTES
        ):
            _refuse(where, source, f"it reaches .{node.attr}")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _import_of(text: str) -> ast.Import | ast.ImportFrom | None:
    """The import statement a `$import ...` string is, else None."""
    if not text.startswith("$") or "import" not in text:
        return None
    try:
        body = ast.parse(text[1:].strip(), mode="exec").body
    except SyntaxError:
        return None
    if len(body) == 1 and isinstance(body[0], ast.Import | ast.ImportFrom):
        return body[0]
    return None


def _import_refusal(node: ast.Import | ast.ImportFrom) -> str | None:
    """Why an import statement is refused, or None."""
    if isinstance(node, ast.ImportFrom):
        modules = [node.module or ""]
        if node.level:
            return "it is a relative import"
    else:
        modules = [a.name for a in node.names]
    for module in modules:
        parts = module.split(".")
        if parts[0] not in ("monai", "torch", "numpy"):
            return f"it imports {module!r}, not monai, torch or numpy"
        if any(p in DENIED_ATTRIBUTES or p.startswith("_") for p in parts):
            return f"it imports {module!r}"
    for alias in node.names:
        if alias.name in DENIED_ATTRIBUTES or alias.name.startswith("_") or alias.name == "*":
            return f"it imports {alias.name!r}"
    return None


def _bound_by(node: ast.Import | ast.ImportFrom) -> set[str]:
    if isinstance(node, ast.ImportFrom):
        return {a.asname or a.name for a in node.names}
    return {a.asname or a.name.split(".")[0] for a in node.names}


def _refuse(where: str, source: str, why: str) -> None:
    raise ModelError(
        f"{where}: the expression ${source} is refused: {why}. Bundle expressions may use "
        "monai, torch and numpy only (see robustbench_liver.models.bundle_config)"
    )


__all__ = [
    "CONFIG_NAMES",
    "IMPORTS_ID",
    "check_expression",
    "checked_config",
    "find_config",
    "read_config_file",
    "target_path",
]
