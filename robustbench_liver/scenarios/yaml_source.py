"""Read scenario YAML safely, remembering where every value came from (file and line), and
resolve `extends:` (relative paths inside the scenario root, or `robustbench-liver:NAME` for a
file of the shipped library; no cycles)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from robustbench_liver.errors import ScenarioError

Key = tuple[str | int, ...]

LIBRARY = "robustbench-liver:"
"""`extends: robustbench-liver:_defaults` names a file of the shipped scenario library."""
_LIBRARY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def library_dir() -> Path:
    """The shipped scenario library: `scenarios/` beside the package (a source checkout or an
    editable install), or `robustbench_liver/scenarios/library/` when packaged inside it."""
    package = Path(__file__).resolve().parents[1]
    candidates = (package / "scenarios" / "library", package.parent / "scenarios")
    for folder in candidates:
        if (folder / "_defaults.yaml").is_file():
            return folder
    return candidates[-1]


@dataclass(frozen=True)
class Located:
    """Plain data from YAML plus, for every key path, the file and line it was written on."""

    data: dict[str, Any]
    lines: dict[Key, tuple[Path, int]]
    files: tuple[Path, ...]
    """The files read, the requested one first, then what it extends."""
    texts: tuple[str, ...] = ()
    """Their text, in the same order."""
    problems: tuple[tuple[Path, str, int | None, str], ...] = ()
    """(file, dotted field, line, message) of problems that left the data usable (duplicate
    keys), kept when read with `collect=True` so they are reported with the later ones."""

    def where(self, key: Key) -> tuple[Path, int | None]:
        """The file and line of `key`, or of its nearest written ancestor."""
        for n in range(len(key), -1, -1):
            if key[:n] in self.lines:
                return self.lines[key[:n]]
        return self.files[0], None


def read_yaml(path: str | Path, root: str | Path | None = None, collect: bool = False) -> Located:
    """Load a scenario file and everything it `extends:`, merged (the extending file wins).

    Args:
        root: folder that `extends:` may not leave (default: the file's own folder). Files of
            the shipped library (`robustbench-liver:NAME`) may not leave the library.
        collect: keep duplicate keys in `Located.problems` instead of raising at once.
    """
    path = Path(path).resolve()
    root = Path(root).resolve() if root is not None else path.parent
    return _read(path, root, (), collect)


def _read(path: Path, root: Path, chain: tuple[Path, ...], collect: bool = False) -> Located:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        where = chain[-1] if chain else path
        raise ScenarioError(where, [("", None, f"file not found: {path}")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(path, [("", None, f"cannot read the file ({err})")]) from None
    data, lines, found = _parse(text, path, collect)
    problems = tuple((path, *p) for p in found)
    parent_ref = data.pop("extends", None)
    if parent_ref is None:
        return Located(data, lines, (path,), (text,), problems)
    if not isinstance(parent_ref, str) or not parent_ref.strip():
        line = lines.get(("extends",), (path, None))[1]
        raise ScenarioError(
            path,
            [
                (
                    "extends",
                    line,
                    f"must be a relative path to another YAML file or {LIBRARY}NAME",
                )
            ],
        )
    line = lines.get(("extends",), (path, None))[1]
    if parent_ref.startswith(LIBRARY):
        parent_path, parent_root = _in_library(path, parent_ref, line)
    else:
        parent_path, parent_root = _inside(root, path, parent_ref, line), root
    if parent_path in (*chain, path):
        cycle = " -> ".join(p.name for p in (*chain, path, parent_path))
        raise ScenarioError(path, [("extends", line, f"cycle: {cycle}")])
    parent = _read(parent_path, parent_root, (*chain, path), collect)
    merged_lines = dict(parent.lines)
    merged = _merge(parent.data, data, (), merged_lines, lines)
    return Located(
        merged,
        merged_lines,
        (path, *parent.files),
        (text, *parent.texts),
        (*problems, *parent.problems),
    )


def _in_library(path: Path, ref: str, line: int | None) -> tuple[Path, Path]:
    """`robustbench-liver:NAME` -> the library's NAME.yaml (a bare file name, no folders)."""
    name = ref.removeprefix(LIBRARY).strip()
    name = name if name.endswith((".yaml", ".yml")) else f"{name}.yaml"
    if not _LIBRARY_NAME.match(name):
        raise ScenarioError(
            path,
            [
                (
                    "extends",
                    line,
                    f"{ref!r}: name a file of the shipped library, e.g. "
                    f"{LIBRARY}_defaults (no folders)",
                )
            ],
        )
    folder = library_dir().resolve()
    target = (folder / name).resolve()
    if not target.is_relative_to(folder):  # a symlink out of the library
        raise ScenarioError(path, [("extends", line, f"{ref!r} leaves the library {folder}")])
    if not target.is_file():
        shipped = sorted(p.stem for p in folder.glob("*.yaml"))
        hint = (
            f"it holds {', '.join(shipped)}"
            if shipped
            else "it is missing from this installation (the library ships with a source "
            "checkout or editable install)"
        )
        raise ScenarioError(
            path, [("extends", line, f"{ref!r}: no {name} in the shipped library {folder}; {hint}")]
        )
    return target, folder


def _inside(root: Path, path: Path, ref: str, line: int | None) -> Path:
    """Resolve `extends:` relative to the extending file; refuse absolute paths and escapes."""
    if Path(ref).is_absolute():
        raise ScenarioError(path, [("extends", line, f"{ref!r} must be a relative path")])
    target = (path.parent / ref).resolve()
    if not target.is_relative_to(root):
        raise ScenarioError(
            path, [("extends", line, f"{ref!r} leaves the scenario folder {root}; keep it inside")]
        )
    return target


def _merge(base: Any, over: Any, key: Key, lines: dict, over_lines: dict) -> Any:
    """Deep-merge mappings (lists and scalars are replaced), keeping line records in step."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base.get(k), v, (*key, k), lines, over_lines)
        if key in over_lines:
            lines[key] = over_lines[key]
        return out
    for k in [k for k in lines if k[: len(key)] == key]:
        del lines[k]  # the whole subtree comes from the extending file now
    lines.update({k: v for k, v in over_lines.items() if k[: len(key)] == key})
    return over


def _parse(
    text: str, path: Path, collect: bool = False
) -> tuple[dict[str, Any], dict[Key, tuple[Path, int]], list[tuple[str, int | None, str]]]:
    loader = yaml.SafeLoader(text)  # one parse gives both the nodes (lines) and the data
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(err, "problem", None) or str(err)
        raise ScenarioError(path, [("", line, f"not valid YAML: {problem}")]) from None
    finally:
        loader.dispose()
    if data is None:
        raise ScenarioError(path, [("", None, "the file is empty")])
    if not isinstance(data, dict):
        raise ScenarioError(path, [("", 1, "a scenario must be a mapping of fields")])
    lines: dict[Key, tuple[Path, int]] = {}
    problems: list[tuple[str, int | None, str]] = []
    _walk(node, (), node.start_mark.line + 1, path, lines, problems)
    if problems and not collect:
        raise ScenarioError(path, problems)
    return data, lines, problems


def _walk(node: yaml.Node, key: Key, line: int, path: Path, lines: dict, problems: list) -> None:
    """Record the line of every key (where the key is written, not where its value starts)."""
    lines[key] = (path, line)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k_node, v_node in node.value:
            k, k_line = k_node.value, k_node.start_mark.line + 1
            if k in seen:  # PyYAML keeps the last silently; a typo'd copy would hide
                problems.append((dotted((*key, k)), k_line, "duplicate key"))
            seen.add(k)
            _walk(v_node, (*key, k), k_line, path, lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*key, i), item.start_mark.line + 1, path, lines, problems)


def dotted(key: Key) -> str:
    """('sweep', 'axes', 0, 'name') -> 'sweep.axes[0].name'."""
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
