"""From a scenario's `tumors`/`image` mappings and its sweep to concrete conditions."""

from __future__ import annotations

import ast
import inspect
import itertools
import re
import textwrap
import types
from dataclasses import dataclass, fields, replace
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from robustbench_liver.synthesis.config import (
    IF_NO_PLACE,
    INTENSITY_MODELS,
    LEVELS,
    VESSEL_SOURCES,
    SizeClass,
    TumorConfig,
    TumorConfigError,
)
from robustbench_liver.synthesis.image_shift import ImageShift

# Scenario sugar on top of TumorConfig: one size class from a radius range and a count.
SIZE_SUGAR = ("radius_mm", "count")
SUGAR_DOCS = {
    "level": ("str", "The paper's size preset; sets `sizes`.", "medium"),
    "radius_mm": (
        "[low, high] float",
        "One size class: semi-axes drawn from U(low, high) (replaces `sizes`).",
        "the level's",
    ),
    "count": ("[low, high] int", "Tumors per case of that size class.", "the level's"),
}
"""type, description and default of the scenario-only tumor parameters."""
TUMOR_PARAMS = frozenset({f.name for f in fields(TumorConfig)} | {"level", *SIZE_SUGAR})
IMAGE_PARAMS = frozenset(f.name for f in fields(ImageShift))
PARAMS = frozenset({f"tumors.{p}" for p in TUMOR_PARAMS} | {f"image.{p}" for p in IMAGE_PARAMS})


@dataclass(frozen=True)
class Condition:
    """One cell of the sweep: a tumor model and an image shift."""

    id: str
    """'default', 'contrast-hypo', or 'size-r5+texture-coarse' (file-name safe)."""
    levels: tuple[tuple[str, str], ...]
    """(axis, level) pairs that define it."""
    tumors: TumorConfig
    image: ImageShift
    settings: dict[str, Any]
    """The parameter paths the sweep set, with their values (for reports)."""


def elastic_for_radius(radius_mm: float) -> tuple[float, float]:
    """sigma_e of the paper's size level whose radii are nearest (DESIGN.md §3 table)."""
    for level in ("tiny", "small", "medium", "large"):
        if radius_mm <= LEVELS[level][0].semi_axes_mm[1] * 1.2:
            return LEVELS[level][0].elastic_sigma_mm
    return LEVELS["large"][0].elastic_sigma_mm


def tumor_config(mapping: dict[str, Any], name: str = "custom") -> TumorConfig:
    """TumorConfig from a scenario mapping: `level` preset, TumorConfig fields, and the
    size sugar (`radius_mm: [lo, hi]`, `count: [a, b]`) for a single size class."""
    data = dict(mapping)
    _check_shapes(data)
    radius, count = data.pop("radius_mm", None), data.pop("count", None)
    if radius is not None or count is not None:
        base = TumorConfig.from_dict({"level": data.pop("level", "medium")}).sizes[0]
        try:
            size = SizeClass(
                name=name,
                semi_axes_mm=radius if radius is not None else base.semi_axes_mm,
                count=count if count is not None else base.count,
                elastic_sigma_mm=(0.0, 0.0),
            )
        except TumorConfigError as err:  # name the field the scenario wrote, not ours
            raise TumorConfigError(_sugar_names(str(err), name)) from None
        sigma = elastic_for_radius(float(sum(size.semi_axes_mm)) / 2)
        data.pop("sizes", None)
        data["sizes"] = (replace(size, elastic_sigma_mm=sigma),)
    return TumorConfig.from_dict(data)


def _check_shapes(data: dict[str, Any]) -> None:
    """Refuse list-valued fields given as something else, before TumorConfig iterates them
    (which would end in "'int' object is not iterable")."""
    sizes = data.get("sizes")
    if sizes is not None and not (
        isinstance(sizes, list | tuple) and all(isinstance(s, dict | SizeClass) for s in sizes)
    ):
        raise TumorConfigError(
            f"sizes: must be a list of size classes, each a mapping of name, semi_axes_mm, "
            f"count and elastic_sigma_mm; got {sizes!r}. For one size class write "
            "radius_mm: [low, high] and count: [a, b] instead"
        )
    regions = data.get("regions")
    if regions is not None and not (
        isinstance(regions, str)
        or (isinstance(regions, list | tuple) and all(isinstance(r, str) for r in regions))
    ):
        raise TumorConfigError(
            f"regions: must be a region name or a list of region names, got {regions!r}"
        )
    level = data.get("level")
    if level is not None and not isinstance(level, str):
        raise TumorConfigError(f"level: must be a level name ({', '.join(LEVELS)}), got {level!r}")


def _sugar_names(message: str, name: str) -> str:
    """'size class 'x'.semi_axes_mm: ...' -> 'radius_mm: ...' (and '.count' -> 'count')."""
    for ours, theirs in (("semi_axes_mm", "radius_mm"), ("count", "count")):
        prefix = f"size class {name!r}.{ours}"
        if message.startswith(prefix):
            return theirs + message[len(prefix) :]
    return message


def level_settings(axis_param: str | None, value: Any) -> dict[str, Any]:
    """A level's parameter settings: `param: value` shorthand, or a mapping of paths."""
    if axis_param is not None:
        return {axis_param: value}
    if not isinstance(value, dict):
        raise ValueError(
            "without `param` on the axis, each level must map parameter paths to values"
        )
    return dict(value)


def combine(axes: list[tuple[str, list[str]]], mode: str) -> list[tuple[tuple[str, str], ...]]:
    """The (axis, level) tuples of every condition, in sweep order."""
    if not axes:
        return [()]
    if mode == "zip":
        n = len(axes[0][1])
        return [tuple((name, levels[i]) for name, levels in axes) for i in range(n)]
    return [
        tuple(zip([a for a, _ in axes], combo, strict=True))
        for combo in itertools.product(*[levels for _, levels in axes])
    ]


def condition_id(levels: tuple[tuple[str, str], ...]) -> str:
    return "+".join(f"{axis}-{level}" for axis, level in levels) or "default"


def build_condition(
    levels: tuple[tuple[str, str], ...],
    settings: dict[str, Any],
    base_tumors: dict[str, Any],
    base_image: dict[str, Any],
) -> Condition:
    """Apply a condition's settings on top of the scenario's defaults and validate."""
    tumors, image = dict(base_tumors), dict(base_image)
    for path, value in settings.items():
        section, _, key = path.partition(".")
        target = tumors if section == "tumors" else image
        if key == "level":
            target.pop("sizes", None)
        if key == "sizes":
            target.pop("level", None)
        target[key] = value
    cid = condition_id(levels)
    return Condition(
        id=cid,
        levels=levels,
        tumors=tumor_config(tumors, name=cid),
        image=ImageShift(**image),
        settings=settings,
    )


@dataclass(frozen=True)
class ParamInfo:
    """One settable parameter, as `validate --params` shows it."""

    path: str
    type: str
    unit: str
    default: str
    allowed: str
    doc: str


_TYPES = {"Range": "[low, high] float", "IntRange": "[low, high] int"}


def _unit(name: str) -> str:
    for suffix, unit in (("_mm", "mm"), ("_hu", "HU"), ("_ml", "ml")):
        if name.endswith(suffix):
            return unit
    return ""


def _show(value: Any) -> str:
    if isinstance(value, tuple) and value and isinstance(value[0], SizeClass):
        return "+".join(s.name for s in value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field of a class, by field name (first sentence)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _choices() -> dict[str, tuple[str, ...]]:
    from robustbench_liver.synthesis.location import REGION_NAMES

    return {
        "tumors.level": tuple(LEVELS),
        "tumors.vessel_source": VESSEL_SOURCES,
        "tumors.intensity_model": INTENSITY_MODELS,
        "tumors.if_no_place": IF_NO_PLACE,
        "tumors.regions": REGION_NAMES,
    }


def parameters() -> list[ParamInfo]:
    """Every parameter a sweep level can set, read from TumorConfig and ImageShift (type,
    default, docstring), plus the scenario's size sugar; sorted by path."""
    choices = _choices()
    rows = []
    for section, cls in (("tumors", TumorConfig), ("image", ImageShift)):
        docs = field_docs(cls)
        for f in fields(cls):
            path = f"{section}.{f.name}"
            kind = str(f.type)
            for alias, shown in _TYPES.items():
                kind = re.sub(rf"\b{alias}\b", shown, kind)
            allowed = ", ".join(choices.get(path, ()))
            if path == "tumors.regions":
                allowed = f"a list of: {allowed}"
            rows.append(
                ParamInfo(
                    path, kind, _unit(f.name), _show(f.default), allowed, docs.get(f.name, "")
                )
            )
    for name, (kind, doc, default) in SUGAR_DOCS.items():
        path = f"tumors.{name}"
        allowed = ", ".join(choices.get(path, ()))
        rows.append(ParamInfo(path, kind, _unit(name), default, allowed, doc))
    return sorted(rows, key=lambda r: r.path)


def _type_name(annotation: Any) -> tuple[str, tuple[str, ...], list[str]]:
    """(shown type, allowed literal values, numeric bounds) of a pydantic annotation."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        name, allowed, bounds = _type_name(args[0])
        for m in args[1:]:
            for item in getattr(m, "metadata", [m]):
                for attr, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
                    if getattr(item, attr, None) is not None:
                        bounds.append(f"{op} {getattr(item, attr)}")
        return name, allowed, bounds
    if origin is Literal:
        return "str", tuple(str(a) for a in args), []
    if origin in (Union, types.UnionType):
        parts = [_type_name(a) for a in args]
        allowed = tuple(v for _, vals, _ in parts for v in vals)
        bounds = [b for _, _, bs in parts for b in bs]
        return " | ".join(n for n, _, _ in parts), allowed, bounds
    if origin is tuple:
        inner = ", ".join("..." if a is Ellipsis else _type_name(a)[0] for a in args)
        return f"tuple[{inner}]", (), []
    if annotation is type(None):
        return "None", (), []
    return getattr(annotation, "__name__", str(annotation)), (), []


def _doc_unit(doc: str) -> str:
    m = re.search(r"\b(mm|HU|ml|voxels)\b", doc, flags=re.IGNORECASE)
    return "" if m is None else m.group(1) if m.group(1) != "Voxels" else "voxels"


def base_scan_parameters() -> list[ParamInfo]:
    """The knobs of each base-scan source (`base_scans[i].<field>`), from the schema; a
    phantom knob left unset takes PhantomOptions' default, shown with its docstring."""
    from robustbench_liver.scenarios.schema import FolderSource, MsdSource, PhantomSource
    from robustbench_liver.sources.phantom import PhantomOptions

    phantom_defaults = {f.name: f.default for f in fields(PhantomOptions)}
    phantom_docs = field_docs(PhantomOptions)
    rows = []
    for model in (PhantomSource, FolderSource, MsdSource):
        source = get_args(model.model_fields["source"].annotation)[0]
        for name, info in model.model_fields.items():
            if name == "source":
                continue
            kind, allowed, bounds = _type_name(info.annotation)
            for m in info.metadata:
                for attr, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
                    if getattr(m, attr, None) is not None:
                        bounds.append(f"{op} {getattr(m, attr)}")
            doc = " ".join((info.description or "").split())
            default = "required" if info.is_required() else _show(info.default)
            if model is PhantomSource and name in phantom_docs:
                doc = doc or phantom_docs[name]
                if info.default is None and phantom_defaults[name] is not None:
                    default = f"null = {_show(phantom_defaults[name])}"
            rows.append(
                ParamInfo(
                    f"base_scans[source={source}].{name}",
                    kind,
                    _unit(name) or _doc_unit(doc),
                    default,
                    ", ".join(allowed) or " and ".join(bounds),
                    doc,
                )
            )
    return rows
