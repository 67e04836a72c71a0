"""Load and fully validate a scenario: every problem of a file reported at once, each with
its file, line and dotted field path."""

from __future__ import annotations

import hashlib
import json
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
    level_settings,
    tumor_config,
)
from robustbench_liver.scenarios.schema import (
    Axis,
    FolderSource,
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


def load_scenario(path: str | Path, root: str | Path | None = None) -> Scenario:
    """Read, merge (`extends:`) and validate a scenario file."""
    located = read_yaml(path, root, collect=True)
    scenario = validate(located)
    sources = {str(p): text for p, text in zip(located.files, located.texts, strict=True)}
    return Scenario(
        scenario.spec, scenario.conditions, scenario.reference, located.files[0], sources
    )


def scenario_from_dict(data: dict[str, Any]) -> Scenario:
    """Validate a scenario given as plain data (errors carry paths but no lines)."""
    return validate(Located(dict(data), {}, (Path("<dict>"),)))


def validate(located: Located) -> Scenario:
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
    )
    if problems or located.problems or spec is None:
        raise _error(located, problems)
    return Scenario(spec, tuple(conditions), reference_id)


_USER_ERRORS = (RobustBenchError, TypeError, ValueError, AttributeError)


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
            problems.append((("tumors",), _strip(str(err))))
            clean.pop("level")
    for key, value in tumors.items():
        if key == "level":
            continue
        try:
            tumor_config({key: value})
        except _USER_ERRORS as err:
            problems.append((("tumors", key), _strip(str(err))))
            clean.pop(key)
    if len(problems) == found:  # each field is fine alone: they clash
        problems.append((("tumors", *_field_in(str(first))), _strip(str(first))))
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
            problems.append((("image", key), _strip(str(err))))
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
            problems.append((key, f"condition {axis}={level}: {_strip(str(err))}"))
    if len(problems) > found:
        return False
    try:
        build_condition(((axis, level),), settings, tumors, image)
    except _USER_ERRORS as err:
        problems.append((at, f"condition {axis}={level}: {_strip(str(err))}"))
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
    if not sweep_ok or not base_ok or any(k[:1] == ("sweep",) for k, _ in problems):
        if all(a is not None for _, a in all_axes) and len(set(names)) == len(names):
            _reference(reference, axes, [], problems)  # the axes and levels are known
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


def _reference(
    reference: dict[str, str] | None,
    axes: list[tuple[str, list[str]]],
    conditions: list[Condition],
    problems: list[tuple[Key, str]],
) -> str:
    if reference is None:
        return conditions[0].id if conditions else ""
    wanted = dict(reference)
    for axis, level in wanted.items():
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
        rows.append((dotted(key), line, message + where))
    rows.sort(key=lambda row: row[1] or 0)
    return ScenarioError(located.files[0], rows)
