"""Load and fully validate a scenario: every problem of a file reported at once, each with
its file, line and dotted field path."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from robustbench_liver.errors import RobustBenchError, ScenarioError, did_you_mean
from robustbench_liver.scenarios.conditions import (
    PARAMS,
    Condition,
    build_condition,
    combine,
    condition_id,
    level_settings,
    tumor_config,
)
from robustbench_liver.scenarios.schema import (
    Axis,
    FolderSource,
    LiverFromModel,
    MetricOptions,
    MsdSource,
    PhantomSource,
    ScenarioSpec,
    StatisticsOptions,
    Sweep,
)
from robustbench_liver.scenarios.yaml_source import Key, Located, dotted, read_yaml
from robustbench_liver.synthesis.image_shift import ImageShift

Problem = tuple[str, int | None, str]

MAX_CONDITIONS = 256
"""Most conditions a sweep may make unless asked for more (`--max-conditions`): a grid of
4 axes x 4 levels. Each condition is `tumor_cases` cases per model (2,048 cases at the default
8), and a report with more conditions than this can no longer be read."""
MAX_CASES = 1_000_000
"""Most cases a plan may hold (conditions x (tumor_cases + control_cases)): the plan itself is
built in memory before anything runs."""
MAX_CONDITION_ID = 120
"""Longest condition id ('size-r5+texture-coarse'): it starts every case's file names."""


@dataclass(frozen=True)
class Scenario:
    """A validated scenario, expanded into its conditions (cheap: nothing is synthesized)."""

    spec: ScenarioSpec
    conditions: tuple[Condition, ...]
    reference: str
    """Id of the reference condition."""
    path: Path | None = None
    sources: dict[str, str] = field(default_factory=dict)
    """Text of every file read (the scenario and what it extends), by path."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def canonical(self) -> str:
        """The merged scenario as sorted JSON: what the hash covers."""
        return json.dumps(self.spec.model_dump(mode="json"), sort_keys=True)

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.canonical.encode()).hexdigest()

    def condition(self, condition_id: str) -> Condition:
        for c in self.conditions:
            if c.id == condition_id:
                return c
        raise RobustBenchError(
            did_you_mean(condition_id, [c.id for c in self.conditions], "condition")
        )


def load_scenario(
    path: str | Path,
    root: str | Path | None = None,
    max_conditions: int | None = MAX_CONDITIONS,
) -> Scenario:
    """Read, merge (`extends:`) and validate a scenario file.

    Args:
        max_conditions: refuse a sweep of more conditions (None: no cap); counted from the
            axes' levels before any condition is built.
    """
    located = read_yaml(path, root, collect=True)
    scenario = validate(located, max_conditions)
    sources = {str(p): text for p, text in zip(located.files, located.texts, strict=True)}
    return Scenario(
        scenario.spec, scenario.conditions, scenario.reference, located.files[0], sources
    )


def scenario_from_dict(data: dict[str, Any]) -> Scenario:
    """Validate a scenario given as plain data (errors carry paths but no lines)."""
    return validate(Located(dict(data), {}, (Path("<dict>"),)))


def validate(located: Located, max_conditions: int | None = None) -> Scenario:
    """Check the structure (pydantic) and the meaning (tumor model, parameters, sweep) and
    report every problem found by any stage, not just the first.

    Each stage goes on with what the earlier ones left usable: the schema's errors do not stop
    the tumor model's checks, a bad field of the base tumor model is left out when the sweep's
    levels are checked, and an axis the schema refuses is skipped while the others are checked.
    """
    problems: list[tuple[Key, str]] = []
    spec = None
    data = located.data
    try:
        spec = ScenarioSpec.model_validate(data)
    except ValidationError as err:
        for e in err.errors():
            if e["loc"][-1:] == ("[key]",) and located.texts:
                continue  # a key YAML did not read as a name: the YAML stage says to quote it
            key = _yaml_key(data, e["loc"])
            problems.append((key, _pydantic_message(e, key, data)))
    raw_sweep = data.get("sweep", {})
    raw_sweep = raw_sweep if isinstance(raw_sweep, dict) else {}
    raw_axes = raw_sweep.get("axes", [])
    axes: list[tuple[int, Axis | None]] = []
    for i, item in enumerate(raw_axes if isinstance(raw_axes, list) else []):
        try:
            axes.append((i, Axis.model_validate(item)))
        except ValidationError:
            axes.append((i, None))  # reported by the schema above
    mode = raw_sweep.get("combine", "grid")
    tumors, image = data.get("tumors", {}), data.get("image", {})
    reference = data.get("reference")
    conditions, reference_id = _conditions(
        tumors if isinstance(tumors, dict) else {},
        image if isinstance(image, dict) else {},
        axes,
        mode if mode in ("grid", "zip") else "grid",
        reference if isinstance(reference, dict) else None,
        problems,
        sweep_given="sweep" in data and isinstance(raw_axes, list) and not raw_axes,
        max_conditions=max_conditions,
    )
    if spec is not None and len(conditions) * sum(spec.case_counts) > MAX_CASES:
        total = len(conditions) * sum(spec.case_counts)
        problems.append(
            (
                ("tumor_cases",) if "tumor_cases" in data else ("cases_per_condition",),
                f"{len(conditions)} conditions x {sum(spec.case_counts):,} cases make "
                f"{total:,} cases, more than {MAX_CASES:,}; plan fewer cases per condition",
            )
        )
    if problems or located.problems or spec is None:
        raise _error(located, problems)
    return Scenario(spec, tuple(conditions), reference_id)


_USER_ERRORS = (RobustBenchError, TypeError, ValueError, AttributeError, KeyError)


def _say(err: Exception, value: Any) -> str:
    """The message of a check's error; Python's own (a TypeError from a number where a list
    belongs) becomes the value and what it is."""
    if isinstance(err, RobustBenchError | ValueError):
        return _strip(str(err))
    kind = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    what = kind.get(type(value), "a list" if isinstance(value, list) else "a mapping")
    return (
        f"{value!r} ({what}) is not what this parameter takes; `robustbench-liver validate "
        "--params` shows its type"
    )


def _check_tumors(tumors: dict[str, Any], problems: list[tuple[Key, str]]) -> dict[str, Any]:
    """Report every bad field of the base tumor model; return it without them."""
    try:
        tumor_config(tumors)
        return tumors
    except _USER_ERRORS as whole:
        first = whole
    clean = dict(tumors)
    found = len(problems)
    if "level" in tumors:
        try:
            tumor_config({"level": tumors["level"]})
        except _USER_ERRORS as err:
            problems.append((("tumors",), _say(err, tumors["level"])))
            clean.pop("level")
    for key, value in tumors.items():
        if key == "level":
            continue
        try:
            tumor_config({key: value})
        except _USER_ERRORS as err:
            problems.append((("tumors", key), _say(err, value)))
            clean.pop(key)
    if len(problems) == found:  # each field is fine alone: they clash
        problems.append((("tumors", *_field_in(str(first))), _say(first, tumors)))
        return {}
    try:
        tumor_config(clean)
    except _USER_ERRORS:
        return {}
    return clean


def _check_image(image: dict[str, Any], problems: list[tuple[Key, str]]) -> dict[str, Any]:
    """Report every bad field of the base image shift; return it without them."""
    clean = {}
    for key, value in image.items():
        if f"image.{key}" not in PARAMS:
            problems.append((("image", key), did_you_mean(key, _names("image"), "image parameter")))
            continue
        try:
            ImageShift(**{key: value})
        except _USER_ERRORS as err:
            problems.append((("image", key), _say(err, value)))
            continue
        clean[key] = value
    return clean


def _check_level(
    axis: str,
    level: str,
    settings: dict[str, Any],
    tumors: dict[str, Any],
    image: dict[str, Any],
    at: Key,
    shorthand: bool,
    problems: list[tuple[Key, str]],
) -> bool:
    """Check one level on the (usable part of the) base model; each bad setting is reported
    under the parameter path the level wrote."""
    found = len(problems)
    for path, value in settings.items():
        try:
            build_condition(((axis, level),), {path: value}, tumors, image)
        except _USER_ERRORS as err:
            key: Key = at if shorthand else (*at, path)
            problems.append((key, f"condition {axis}={level}: {_say(err, value)}"))
    if len(problems) > found:
        return False
    try:
        build_condition(((axis, level),), settings, tumors, image)
    except _USER_ERRORS as err:
        problems.append((at, f"condition {axis}={level}: {_say(err, settings)}"))
        return False
    return True


def _conditions(
    tumors: dict[str, Any],
    image: dict[str, Any],
    all_axes: list[tuple[int, Axis | None]],
    mode: str,
    reference: dict[str, str] | None,
    problems: list[tuple[Key, str]],
    sweep_given: bool = False,
    max_conditions: int | None = None,
) -> tuple[list[Condition], str]:
    found = len(problems)
    clean_tumors = _check_tumors(tumors, problems)
    clean_image = _check_image(image, problems)
    base_ok = len(problems) == found

    axes: list[tuple[str, list[str]]] = []
    settings: dict[tuple[str, str], dict[str, Any]] = {}
    names = [a.name for _, a in all_axes if a is not None]
    sweep_ok = all(a is not None for _, a in all_axes)
    for i, axis in all_axes:
        if axis is None:
            continue
        at: Key = ("sweep", "axes", i)
        if names.count(axis.name) > 1:
            problems.append(((*at, "name"), f"axis name {axis.name!r} is used twice"))
            sweep_ok = False
        axes.append((axis.name, list(axis.levels)))
        if axis.param is not None and axis.param not in PARAMS:
            problems.append(((*at, "param"), _unknown_param(axis.param)))
            sweep_ok = False
            continue
        for level, value in axis.levels.items():
            try:
                found_settings = level_settings(axis.param, value)
            except ValueError as err:
                problems.append(((*at, "levels", level), str(err)))
                sweep_ok = False
                continue
            bad = [p for p in found_settings if p not in PARAMS]
            for p in bad:
                problems.append(((*at, "levels", level, p), _unknown_param(p)))
            good = {p: v for p, v in found_settings.items() if p not in bad}
            ok = _check_level(
                axis.name,
                level,
                good,
                clean_tumors,
                clean_image,
                (*at, "levels", level),
                axis.param is not None,
                problems,
            )
            if ok and not bad:
                settings[(axis.name, level)] = found_settings
            else:
                sweep_ok = False
    if sweep_given:
        problems.append(
            (("sweep", "axes"), "the sweep has no axes; remove `sweep:` for one condition")
        )
    if mode == "zip" and len({len(levels) for _, levels in axes}) > 1:
        problems.append((("sweep", "combine"), "zip needs the same number of levels on every axis"))
        sweep_ok = False
    n = count_conditions(axes, mode)
    if max_conditions is not None and n > max_conditions:
        shape = " x ".join(str(len(levels)) for _, levels in axes)
        problems.append(
            (
                ("sweep", "axes"),
                f"the sweep makes {n:,} conditions ({mode} of {shape} levels), more than the "
                f"cap of {max_conditions}; use fewer axes or levels (or combine: zip), or pass "
                "--max-conditions N to validate and run if you mean it",
            )
        )
        sweep_ok = False
    if not sweep_ok or not base_ok or any(k[:1] == ("sweep",) for k, _ in problems):
        if all(a is not None for _, a in all_axes) and len(set(names)) == len(names):
            _reference(reference, axes, [], problems)  # the axes and levels are known
        return [], ""
    for combo in combine(axes, mode):
        cid = condition_id(combo)
        if len(cid) > MAX_CONDITION_ID:
            problems.append(
                (
                    ("sweep", "axes"),
                    f"condition id {cid[:40]}... is {len(cid)} characters, more than "
                    f"{MAX_CONDITION_ID}; it starts the file name of each of its cases: use "
                    "shorter axis and level names",
                )
            )
            return [], ""

    conditions: list[Condition] = []
    for combo in combine(axes, mode):
        merged: dict[str, Any] = {}
        for pair in combo:
            merged.update(settings[pair])
        try:
            conditions.append(build_condition(combo, merged, tumors, image))
        except _USER_ERRORS as err:
            last_axis, last_level = combo[-1] if combo else ("", "")
            i = names.index(last_axis) if last_axis in names else 0
            at_level: Key = ("sweep", "axes", i, "levels", last_level) if combo else ("tumors",)
            where = " + ".join(f"{a}={lv}" for a, lv in combo)
            problems.append((at_level, f"condition {where}: {_strip(str(err))}"))
    return conditions, _reference(reference, axes, conditions, problems)


def count_conditions(axes: list[tuple[str, list[str]]], mode: str) -> int:
    """How many conditions `combine(axes, mode)` makes, without making them."""
    if not axes:
        return 1
    if mode == "zip":
        return len(axes[0][1])
    return math.prod(len(levels) for _, levels in axes)


def _reference(
    reference: dict[str, str] | None,
    axes: list[tuple[str, list[str]]],
    conditions: list[Condition],
    problems: list[tuple[Key, str]],
) -> str:
    if reference is None:
        return conditions[0].id if conditions else ""
    wanted = {a: lv for a, lv in reference.items() if isinstance(a, str) and isinstance(lv, str)}
    for axis, level in wanted.items():  # the schema reports names that are not strings
        known = dict(axes)
        if axis not in known:
            problems.append((("reference", axis), did_you_mean(axis, known, "axis")))
        elif level not in known[axis]:
            problems.append((("reference", axis), did_you_mean(level, known[axis], "level")))
    if not conditions:
        return ""
    matches = [
        c for c in conditions if all(dict(c.levels).get(a) == lv for a, lv in wanted.items())
    ]
    if len(matches) != 1 and not problems:
        problems.append(
            (("reference",), f"names {len(matches)} conditions; name one level per axis")
        )
    return matches[0].id if matches else ""


def _names(section: str) -> list[str]:
    return sorted(p.split(".", 1)[1] for p in PARAMS if p.startswith(section + "."))


def _unknown_param(path: str) -> str:
    return (
        did_you_mean(path, sorted(PARAMS), "parameter path", listing=False)
        + " Paths are tumors.<TumorConfig field, level, radius_mm or count> or"
        " image.<ImageShift field>; `robustbench-liver validate --params` lists them."
    )


_FIELD = re.compile(r"(?:TumorConfig|image shift|size class '[^']*')\.?\s?(\w+)")


def _field_in(message: str) -> tuple[str, ...]:
    m = _FIELD.search(message)
    return (m.group(1),) if m else ()


def _strip(message: str) -> str:
    return (
        message.replace("TumorConfig.", "").replace("TumorConfig: ", "").replace("image shift ", "")
    )


def _yaml_key(data: Any, loc: tuple[Any, ...]) -> Key:
    """Map a pydantic location onto the YAML's keys (dropping union tags pydantic adds)."""
    key: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            key.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            key.append(part)
            node = node[part]
        elif isinstance(node, dict | list):
            continue  # a union tag such as 'phantom' or 'function-after[...]'
        else:
            break
    return tuple(key)


_MODELS: dict[str, type[BaseModel]] = {
    "": ScenarioSpec,
    "sweep": Sweep,
    "metrics": MetricOptions,
    "statistics": StatisticsOptions,
}
_SOURCES: dict[str, type[BaseModel]] = {
    "phantom": PhantomSource,
    "folder": FolderSource,
    "msd": MsdSource,
}


def _pydantic_message(e: Any, key: Key, data: dict[str, Any]) -> str:
    if e["type"] == "extra_forbidden" and key:
        parent = key[:-1]
        model = _model_for(parent, data)
        if model is not None:
            return did_you_mean(str(key[-1]), list(model.model_fields), "field")
    if e["type"] == "missing":
        return f"required field {e['loc'][-1]!r} is missing"
    if e["type"] == "union_tag_invalid":
        return f"unknown source; use one of {', '.join(sorted(_SOURCES))}"
    message = str(e["msg"]).removeprefix("Value error, ")
    return (
        f"{message} (got {e['input']!r})"
        if e["type"] != "value_error" and "input" in e
        else message
    )


def _model_for(parent: Key, data: dict[str, Any]) -> type[BaseModel] | None:
    if len(parent) == 2 and parent[0] == "base_scans":
        item = data["base_scans"][parent[1]]
        return _SOURCES.get(item.get("source", "")) if isinstance(item, dict) else None
    if len(parent) == 3 and parent[0] == "base_scans" and parent[2] == "liver_from":
        return LiverFromModel
    if len(parent) == 3 and parent[:2] == ("sweep", "axes"):
        return Axis
    return _MODELS.get(".".join(str(p) for p in parent))


def _error(located: Located, problems: list[tuple[Key, str]]) -> ScenarioError:
    rows: list[Problem] = []
    for file, field_name, line, message in located.problems:  # from the YAML stage
        where = f" (in {file.name})" if file != located.files[0] else ""
        rows.append((field_name, line, message + where))
    for key, message in problems:
        file, line = located.where(key)
        where = f" (in {file.name})" if file != located.files[0] else ""
        message += _hint(located, key, message)
        rows.append((dotted(key), line, message + where))
    rows.sort(key=lambda row: row[1] or 0)
    return ScenarioError(located.files[0], rows)


_UNIT = re.compile(
    r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*([a-zµμ%]+[23]?)\s*$", re.IGNORECASE
)
_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "um": 0.001, "µm": 0.001}


def _unit_free(value: Any) -> tuple[Any, bool] | None:
    """`value` with its '5mm'-style strings as plain numbers (lengths in mm), and whether a
    length was among them; None when it holds no such string."""
    if isinstance(value, list):
        parts = [_unit_free(v) for v in value]
        if all(p is None for p in parts):
            return None
        plain = [v if p is None else p[0] for v, p in zip(value, parts, strict=True)]
        return plain, any(p is not None and p[1] for p in parts)
    if not isinstance(value, str):
        return None
    m = _UNIT.match(value)
    if m is None:
        return None
    number, unit = float(m.group(1)), m.group(2)
    scale = _TO_MM.get(unit.lower().replace("μ", "µ"))
    number = number * scale if scale is not None else number
    return (int(number) if number.is_integer() else round(number, 6)), scale is not None


def _hint(located: Located, key: Key, message: str) -> str:
    """A did-you-mean for the two mistakes YAML makes easy: units in numbers ('5mm') and
    words it reads as booleans (on, off, yes, no)."""
    value = _value_at(located.data, key)
    plain = _unit_free(value) if value is not _MISSING else None
    if plain is not None:
        what = "numbers in mm" if plain[1] else "numbers"
        shown = json.dumps(plain[0])
        return f" (give {what} without units: {shown})"
    for k, word in located.words.items():
        if k[: len(key)] == key and len(k) <= len(key) + 1 and "quote it" not in message:
            read = _value_at(located.data, k)
            if read is not _MISSING and repr(read) in message:
                shown = "null" if read is None else str(read).lower()
                return (
                    f" (YAML reads the unquoted {word} as {shown}; if you mean the word, "
                    f"quote it: '{word}')"
                )
    return ""


_MISSING = object()


def _value_at(data: Any, key: Key) -> Any:
    for part in key:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return _MISSING
    return data
