"""Read scenario YAML safely, remembering where every value came from (file and line), and
resolve `extends:` (relative paths only, inside the scenario root, no cycles)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from robustbench_liver.errors import ScenarioError

Key = tuple[str | int, ...]


@dataclass(frozen=True)
class Located:
    """Plain data from YAML plus, for every key path, the file and line it was written on."""

    data: dict[str, Any]
    lines: dict[Key, tuple[Path, int]]
    files: tuple[Path, ...]
    """The files read, the requested one first, then what it extends."""
    texts: tuple[str, ...] = ()
    """Their text, in the same order."""

    def where(self, key: Key) -> tuple[Path, int | None]:
        """The file and line of `key`, or of its nearest written ancestor."""
        for n in range(len(key), -1, -1):
            if key[:n] in self.lines:
                return self.lines[key[:n]]
        return self.files[0], None


def read_yaml(path: str | Path, root: str | Path | None = None) -> Located:
    """Load a scenario file and everything it `extends:`, merged (the extending file wins).

    Args:
        root: folder that `extends:` may not leave (default: the file's own folder).
    """
    path = Path(path).resolve()
    root = Path(root).resolve() if root is not None else path.parent
    return _read(path, root, ())


def _read(path: Path, root: Path, chain: tuple[Path, ...]) -> Located:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        where = chain[-1] if chain else path
        raise ScenarioError(where, [("", None, f"file not found: {path}")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(path, [("", None, f"cannot read the file ({err})")]) from None
    data, lines = _parse(text, path)
    parent_ref = data.pop("extends", None)
    if parent_ref is None:
        return Located(data, lines, (path,), (text,))
    if not isinstance(parent_ref, str) or not parent_ref.strip():
        line = lines.get(("extends",), (path, None))[1]
        raise ScenarioError(
            path, [("extends", line, "must be a relative path to another YAML file")]
        )
    line = lines.get(("extends",), (path, None))[1]
    parent_path = _inside(root, path, parent_ref, line)
    if parent_path in (*chain, path):
        cycle = " -> ".join(p.name for p in (*chain, path, parent_path))
        raise ScenarioError(path, [("extends", line, f"cycle: {cycle}")])
    parent = _read(parent_path, root, (*chain, path))
    merged_lines = dict(parent.lines)
    merged = _merge(parent.data, data, (), merged_lines, lines)
    return Located(merged, merged_lines, (path, *parent.files), (text, *parent.texts))


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


def _parse(text: str, path: Path) -> tuple[dict[str, Any], dict[Key, tuple[Path, int]]]:
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
    if problems:
        raise ScenarioError(path, problems)
    return data, lines


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
