"""Read scenario YAML safely, remembering where every value came from (file and line), and
resolve `extends:` (relative paths inside the scenario root, or `robustbench-liver:NAME` for a
file of the shipped library; no cycles).

A scenario is small, so the reader refuses what no scenario needs before it can cost time or
memory: files over `MAX_FILE_BYTES`, values nested deeper than `MAX_DEPTH`, more than
`MAX_VALUES` values once YAML aliases are expanded (a "billion laughs" file composes in
microseconds and then takes gigabytes to walk), aliases to their own ancestors, and `extends:`
chains of more than `MAX_EXTENDS` files."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from robustbench_liver.errors import ScenarioError

Key = tuple[str | int, ...]

LIBRARY = "robustbench-liver:"
"""`extends: robustbench-liver:_defaults` names a file of the shipped scenario library."""
_LIBRARY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

MAX_FILE_BYTES = 1_000_000
"""Largest scenario file read (the shipped ones are 1-3 kB)."""
MAX_DEPTH = 32
"""Deepest nesting of mappings and lists (the shipped scenarios reach 9)."""
MAX_VALUES = 10_000
"""Most values (mapping keys and values, list items, scalars) in one file with its aliases
expanded (the shipped scenarios hold at most 90)."""
MAX_EXTENDS = 8
"""Longest `extends:` chain, the requested file included (the shipped ones use 2)."""
_NOT_STRINGS = {
    "tag:yaml.org,2002:bool": "the boolean",
    "tag:yaml.org,2002:int": "the number",
    "tag:yaml.org,2002:float": "the number",
    "tag:yaml.org,2002:null": "null",
}
"""Tags YAML gives unquoted keys such as `on`, `off`, `yes`, `5` or `~`."""


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
    words: dict[Key, str] = field(default_factory=dict)
    """The text of unquoted values YAML read as booleans or null (`on`, `off`, `yes`, `no`,
    `~`), by key path: an error on such a value says to quote the word."""

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
        if path.exists() and not path.is_file():
            raise ScenarioError(path, [("", None, "not a file: name a scenario's YAML file")])
        with path.open("rb") as handle:  # at most one byte past the cap: /dev/zero ends too
            raw = handle.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise ScenarioError(
                path,
                [
                    (
                        "",
                        None,
                        f"the file is over {MAX_FILE_BYTES:,} bytes; a scenario is a few kB "
                        "(is this the right file?)",
                    )
                ],
            )
        text = raw.decode("utf-8")
    except FileNotFoundError:
        where = chain[-1] if chain else path
        raise ScenarioError(where, [("", None, f"file not found: {path}")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(path, [("", None, f"cannot read the file ({err})")]) from None
    data, lines, found, words = _parse(text, path, collect)
    problems = tuple((path, *p) for p in found)
    parent_ref = data.pop("extends", None)
    if parent_ref is None:
        return Located(data, lines, (path,), (text,), problems, words)
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
    if len(chain) + 2 > MAX_EXTENDS:
        first = (*chain, path)[0]
        raise ScenarioError(
            path,
            [
                (
                    "extends",
                    line,
                    f"the chain of files from {first.name} is longer than {MAX_EXTENDS}; "
                    "merge some of them into one",
                )
            ],
        )
    parent = _read(parent_path, parent_root, (*chain, path), collect)
    merged_lines = dict(parent.lines)
    merged = _merge(parent.data, data, (), merged_lines, lines)
    merged_words = {k: v for k, v in parent.words.items() if k in merged_lines and k not in lines}
    merged_words.update(words)
    return Located(
        merged,
        merged_lines,
        (path, *parent.files),
        (text, *parent.texts),
        (*problems, *parent.problems),
        merged_words,
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


class _Limit(Exception):
    """A YAML file past one of the reader's limits, with the line where it went past."""

    def __init__(self, message: str, mark: yaml.Mark | None):
        super().__init__(message)
        self.line = None if mark is None else mark.line + 1


class _BoundedLoader(yaml.SafeLoader):
    """`yaml.safe_load` semantics, with nesting depth and expanded size counted as the
    document is composed: an alias adds the size of what it points to, so a file of nested
    aliases is refused at the first alias that passes `MAX_VALUES`."""

    def __init__(self, stream: str, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES):
        super().__init__(stream)
        self.max_depth, self.max_values = max_depth, max_values
        self.depth = 0
        self.values = 0
        self.sizes: dict[int, int] = {}  # id(node) -> values under it, aliases expanded

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
            size = self.sizes.get(id(node))
            if size is None:  # an alias inside what it names: an endless structure
                raise _Limit("an alias refers to a value that contains it (an endless value)", mark)
            self._count(size, mark)
            return node
        mark = self.peek_event().start_mark
        self.depth += 1
        if self.depth > self.max_depth:
            raise _Limit(
                f"values nested more than {self.max_depth} deep; a scenario needs fewer than 10",
                mark,
            )
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if isinstance(node, yaml.MappingNode):
            size = 1 + sum(self.sizes[id(k)] + self.sizes[id(v)] for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self.sizes[id(item)] for item in node.value)
        else:
            size = 1
        self.sizes[id(node)] = size
        self._count(1, mark)
        return node

    def _count(self, n: int, mark: yaml.Mark) -> None:
        self.values += n
        if self.values > self.max_values:
            raise _Limit(
                f"more than {self.max_values:,} values once YAML aliases (*name) are expanded; "
                "a scenario needs a few hundred: write the values out, or use fewer aliases",
                mark,
            )


def _parse(
    text: str, path: Path, collect: bool = False
) -> tuple[
    dict[str, Any],
    dict[Key, tuple[Path, int]],
    list[tuple[str, int | None, str]],
    dict[Key, str],
]:
    loader = _BoundedLoader(text)  # one parse gives both the nodes (lines) and the data
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except _Limit as err:
        raise ScenarioError(path, [("", err.line, str(err))]) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(err, "problem", None) or str(err)
        raise ScenarioError(path, [("", line, f"not valid YAML: {problem}")]) from None
    except ValueError as err:  # e.g. an integer of more digits than Python converts
        reason = str(err).split(";")[0]
        raise ScenarioError(path, [("", None, f"a value cannot be read ({reason})")]) from None
    finally:
        loader.dispose()
    if data is None:
        raise ScenarioError(path, [("", None, "the file is empty")])
    if not isinstance(data, dict):
        raise ScenarioError(path, [("", 1, "a scenario must be a mapping of fields")])
    lines: dict[Key, tuple[Path, int]] = {}
    problems: list[tuple[str, int | None, str]] = []
    words: dict[Key, str] = {}
    _walk(node, (), node.start_mark.line + 1, path, lines, problems, words)
    if problems and not collect:
        raise ScenarioError(path, problems)
    return data, lines, problems, words


def _walk(
    node: yaml.Node,
    key: Key,
    line: int,
    path: Path,
    lines: dict[Key, tuple[Path, int]],
    problems: list[tuple[str, int | None, str]],
    words: dict[Key, str],
) -> None:
    """Record the line of every key (where the key is written, not where its value starts),
    and the text of values YAML turned into booleans or null; refuse keys that are not
    strings (`on:` is the boolean true to YAML, `5:` a number)."""
    lines[key] = (path, line)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k_node, v_node in node.value:
            k, k_line = k_node.value, k_node.start_mark.line + 1
            if not isinstance(k, str):  # a mapping or list as a key
                problems.append((dotted(key), k_line, "a key must be a plain name"))
                continue
            if k in seen:  # PyYAML keeps the last silently; a typo'd copy would hide
                problems.append((dotted((*key, k)), k_line, "duplicate key"))
            seen.add(k)
            if k_node.tag in _NOT_STRINGS and k != "<<":
                problems.append((dotted((*key, k)), k_line, _quote_key(k, k_node.tag)))
            _walk(v_node, (*key, k), k_line, path, lines, problems, words)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*key, i), item.start_mark.line + 1, path, lines, problems, words)
    elif (
        isinstance(node, yaml.ScalarNode)
        and node.tag in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:null")
        and node.value
    ):
        words[key] = node.value


def _quote_key(text: str, tag: str) -> str:
    read = _NOT_STRINGS[tag]
    if tag == "tag:yaml.org,2002:bool":
        value = yaml.SafeLoader.bool_values.get(text.lower())
        read = f"{read} {str(value).lower()}"
    elif tag != "tag:yaml.org,2002:null":
        read = f"{read} {text}"
    return f"YAML reads the unquoted key {text} as {read}, not as a name; quote it: '{text}'"


def dotted(key: Key) -> str:
    """('sweep', 'axes', 0, 'name') -> 'sweep.axes[0].name'."""
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
