"""sample -> apply: TorchIO-style random/deterministic twins for tumor synthesis.

`sample` draws every parameter with the Generator it is given (never global state) and
places the tumors; `apply` is a pure function of the scan and the records, so any case can
be replayed from its records, byte for byte, also after a JSON round trip. Each tumor's
noise and elastic field come from the seed stored in its record.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from robustbench_liver.errors import SynthesisError
from robustbench_liver.synthesis import edge, location, measure, paint, realism, shape
from robustbench_liver.synthesis.config import (
    INTENSITY_MODELS,
    SizeClass,
    TumorConfig,
    as_config,
)
from robustbench_liver.synthesis.context import ScanContext, get_context
from robustbench_liver.types import Case, Scan, TumorRecord

_MAX_TUMORS = 250  # labels hold tumor i as 2 + i while painting (uint8)
_SEED_LIMIT = 2**53  # exact in JSON (a double)
_BOUND_VOXELS = 10_000  # tumors this big are placed with a lower bound of their radius first

RngLike = np.random.Generator | np.random.SeedSequence | int


class SynthesisWarning(UserWarning):
    """A tumor overlaps others, was left out (TumorConfig.if_no_place), or merges with others
    into one lesion."""


def _rng(rng: RngLike) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def context(scan: Scan, config: str | TumorConfig = "medium") -> ScanContext:
    """The per-scan precomputation `sample` uses (built once, then cached)."""
    cfg = as_config(config)
    return get_context(scan, cfg.vessel_source, cfg.vessel_sigma_mm, cfg.vessel_margin_hu)


def sample(scan: Scan, config: str | TumorConfig, rng: RngLike) -> list[TumorRecord]:
    """Draw the tumors of one case: every parameter, and a place for each.

    All parameters are drawn first, in a fixed order and whatever the switches say, and
    placement uses its own child generator: switching a step off changes that step's
    parameters only (switching vessel avoidance changes only the places). Generator 3's
    realism parameters come from each tumor's own seed (`realism.draw`), so that the draws
    before them, and the places, are those of generator 2.
    """
    cfg = as_config(config)
    gen = _rng(rng)
    ctx = context(scan, cfg)
    drafts: list[dict[str, Any]] = []
    counts = [int(gen.integers(s.count[0], s.count[1] + 1)) for s in cfg.sizes]
    for size, count in zip(cfg.sizes, counts, strict=True):
        for _ in range(count):
            drafts.append(_draw(cfg, size, ctx, gen))
    placer = np.random.default_rng(gen.integers(0, 2**63))
    if len(drafts) > _MAX_TUMORS:
        raise SynthesisError(
            f"scan {scan.id!r}: {len(drafts)} tumors asked for, at most {_MAX_TUMORS} per case"
        )
    # Biggest first: they are the hardest to place. Stable, so ties keep their draw order.
    drafts.sort(key=lambda d: -float(np.prod(d["semi_axes_mm"])))
    cons = location.Constraints(
        regions=cfg.regions,
        vessel_gap_mm=cfg.vessel_gap_mm,
        depth_mm=cfg.depth_mm,
        min_inside=cfg.min_inside,
        allow_overlap=cfg.allow_overlap,
        overlap_gap_mm=cfg.overlap_gap_mm,
        max_proposals=cfg.max_proposals,
        spread_share=cfg.spread_share,
        min_inside_floor=min(cfg.min_inside_floor, cfg.min_inside),
    )
    # Tumors apart must not touch: lesions are 26-connected components of the label, so
    # the gap between two tumors' voxel centres must exceed a voxel diagonal.
    diagonal = float(np.linalg.norm(ctx.spacing)) + 1e-3
    cons = dataclasses.replace(cons, overlap_gap_mm=max(cons.overlap_gap_mm, diagonal))
    records: list[TumorRecord] = []
    placed: list[tuple[np.ndarray, float]] = []
    skipped: list[str] = []
    last_error: SynthesisError | None = None
    for number, draft in enumerate(drafts):
        a = np.asarray(draft["semi_axes_mm"])
        rot = paint.rotation(draft["rotation_deg"])
        req = location.Request(
            name=f"tumor {number} ({draft['size_class']})",
            semi_axes=a,
            rotation=rot,
            cube_half_mm=draft["cube_half_mm"],
            bound_mm=0.0,
        )
        lower, exact = _bounds(draft, a, rot, ctx.spacing)
        # "overlap" only prefers a separate place: after the random proposals fail, it lets
        # the tumor overlap rather than search the whole liver for a rare separate spot.
        prefer = cfg.if_no_place == "overlap" and not cons.allow_overlap
        try:
            center, bound = location.place_bounded(
                ctx, req, cons, placed, placer, lower, exact, exhaustive=not prefer
            )
        except SynthesisError as err:
            center = None
            if prefer:
                loose = dataclasses.replace(cons, allow_overlap=True)
                center = location.place(ctx, req, loose, placed, placer)  # or the full error
                bound = exact()
                if placed:
                    warnings.warn(
                        f"scan {scan.id!r}: {req.name} may overlap earlier tumors "
                        f"({err}; placed without the no-overlap rule)",
                        SynthesisWarning,
                        stacklevel=2,
                    )
            elif cfg.if_no_place == "skip":
                radius = math.prod(draft["semi_axes_mm"]) ** (1.0 / 3.0)
                skipped.append(f"{req.name}, radius {radius:.1f} mm")
                last_error = err
                continue
            else:
                raise
        assert center is not None  # placed, or raised above
        placed.append((center * ctx.spacing, bound))
        world = scan.affine @ np.append(center.astype(np.float64), 1.0)
        records.append(
            _record(
                index=len(records),
                center_vox=(int(center[0]), int(center[1]), int(center[2])),
                center_mm=(float(world[0]), float(world[1]), float(world[2])),
                liver_region=str(ctx.region_of(center[None])[0]),
                parenchyma_hu=ctx.local_parenchyma(center, a),
                **draft,
            )
        )
    if last_error is not None and not records:
        raise last_error  # not even one tumor fits: the case cannot be a tumor case
    if skipped:
        warnings.warn(
            f"scan {scan.id!r}: {len(records)} of {len(drafts)} tumors placed; left out "
            f"{'; '.join(skipped)}: no place clear of the others (if_no_place='skip'; "
            "'overlap' keeps them, touching: they may then merge into one lesion)",
            SynthesisWarning,
            stacklevel=2,
        )
    return records


_NEW_FIELDS = frozenset(realism.RECORD_DEFAULTS) - frozenset(TumorRecord.__dataclass_fields__)
"""Realism fields this TumorRecord cannot hold yet (robustbench_liver/types.py predates
generator 3): left out of the record, so the tumor is painted as generator 2 painted it."""


def _record(**values: Any) -> TumorRecord:
    """A TumorRecord of `values` (see `_NEW_FIELDS`)."""
    return TumorRecord(**{k: v for k, v in values.items() if k not in _NEW_FIELDS})


def _bounds(
    draft: dict[str, Any], a: np.ndarray, rot: np.ndarray | None, spacing: np.ndarray
) -> tuple[Callable[[], float] | None, Callable[[], float]]:
    """(a cheap lower bound, the exact value) of the tumor's bounding radius, on demand; no
    lower bound for tumors of fewer than _BOUND_VOXELS voxels (it would save little)."""
    level = draft.get("label_level") if "label_level" not in _NEW_FIELDS else None
    core = edge.core_axes(a, draft["edge_blur_mm"], level, spacing)
    core_axes = None if np.array_equal(core, a) else core  # painting asks for it: kept

    def radius(stride: int) -> float:
        return shape.bounding_radius_mm(
            draft["seed"],
            draft["elastic_sigma_mm"],
            draft["elastic_points"],
            a,
            rot,
            draft["lobulation"],
            draft["lobes"],
            spacing,
            draft["edge_blur_mm"],
            stride=stride,
            core_axes=core_axes,
        )

    voxels = 4.0 / 3.0 * math.pi * float(np.prod(a)) / float(np.prod(spacing))
    exact = functools.cache(lambda: radius(1))
    return ((lambda: radius(2)) if voxels >= _BOUND_VOXELS else None), exact


def _draw(
    cfg: TumorConfig, size: SizeClass, ctx: ScanContext, gen: np.random.Generator
) -> dict[str, Any]:
    """Every parameter of one tumor, always drawn in this order (switches applied after)."""
    u = gen.uniform
    axes = tuple(float(u(*size.semi_axes_mm)) for _ in range(3))
    quat = gen.normal(size=4)
    elastic = float(u(*size.elastic_sigma_mm))
    lobulation = float(u(*cfg.lobulation))
    lobes = int(gen.integers(cfg.lobes[0], cfg.lobes[1] + 1))
    edge_sigma = float(u(*cfg.edge_blur_mm))
    delta = float(u(*cfg.delta_hu))
    released_delta = float(u(*cfg.released_delta_hu))
    sigma_factor = float(u(*cfg.texture_sigma_factor))
    eta = float(u(*cfg.texture_scale_mm))
    blur = float(u(*cfg.texture_blur_mm))
    grain = float(u(*cfg.released_grain_mm))
    released_blur = float(u(*cfg.released_blur_mm))
    strength = float(u(*cfg.mass_effect_strength))
    capsule = float(u(*cfg.capsule_hu))
    seed = int(gen.integers(0, _SEED_LIMIT))

    released = cfg.intensity_model == "released"
    radius = math.prod(axes) ** (1.0 / 3.0)
    edge_sigma = edge.capped_blur(edge_sigma, axes, cfg.edge_blur_max_ratio)
    return {
        "size_class": size.name,
        "seed": seed,
        "semi_axes_mm": axes,
        "rotation_deg": _euler_zyx(quat) if cfg.rotate else (0.0, 0.0, 0.0),
        "cube_half_mm": min(cfg.vessel_clearance * radius, cfg.max_cube_mm or math.inf)
        if cfg.vessels
        else 0.0,
        "elastic_sigma_mm": elastic if cfg.elastic else 0.0,
        "elastic_points": cfg.elastic_points,
        "lobulation": lobulation,
        "lobes": lobes,
        "edge_blur_mm": edge_sigma if cfg.edge_blur else 0.0,
        "intensity_model": cfg.intensity_model,
        "delta_hu": -released_delta if released else delta,
        "texture_sigma_hu": (1.0 if released else sigma_factor * ctx.parenchyma_sd)
        if cfg.texture
        else 0.0,
        "texture_scale_mm": grain if released else eta,
        "texture_blur_mm": released_blur if released else blur,
        "keep_scan_noise": cfg.keep_scan_noise and not released,
        "mass_effect": strength if cfg.mass_effect else 0.0,
        "mass_effect_extent": cfg.mass_effect_extent,
        "capsule_hu": capsule if cfg.capsule else 0.0,
        "capsule_band": cfg.capsule_band,
        "vessel_source": ctx.vessel_source,
        "vessel_sigma_mm": ctx.vessel_sigma_mm,
        "vessel_margin_hu": cfg.vessel_margin_hu,
        "vessel_threshold_hu": ctx.vessel_threshold_hu,
        **realism.draw(cfg, seed, radius),
    }


def _euler_zyx(quat: np.ndarray) -> tuple[float, float, float]:
    """Uniform random rotation (normalised Gaussian quaternion) as z-y-x Euler angles."""
    w, x, y, z = quat / np.linalg.norm(quat)
    r = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    ay = math.asin(max(-1.0, min(1.0, -r[2, 0])))
    az = math.atan2(r[1, 0], r[0, 0])
    ax = math.atan2(r[2, 1], r[2, 2])
    return (math.degrees(az), math.degrees(ay), math.degrees(ax))


def apply(
    scan: Scan,
    records: list[TumorRecord] | tuple[TumorRecord, ...],
    *,
    case_id: str = "",
    condition: str = "",
    replicate: int = 0,
    is_control: bool = False,
    out: CaseBuffer | None = None,
) -> Case:
    """Paint the tumors of `records` into a copy of `scan`; measure them; return the Case.

    Deterministic: the same scan and records give the same bytes. Measured fields of the
    input records are ignored (and recomputed).

    Args:
        out: arrays to reuse from case to case (see `CaseBuffer`); by default new ones.
    """
    records = list(records)
    _check_records(scan, records)
    if out is None:
        image = np.array(scan.image, dtype=np.float32, copy=True)
        label = scan.liver.view(np.uint8).copy()
    else:
        if not isinstance(out, CaseBuffer):
            raise SynthesisError(
                f"apply(out=...): expected a synthesis.CaseBuffer, got {type(out).__name__}"
            )
        image, label = out.take(scan)
    spacing = np.asarray(scan.spacing, dtype=np.float64)
    boxes: list[measure.Box | None] = []  # where each tumor's voxels (2 + i) are
    crops: list[measure.Box] = []
    for record in records:
        painted = paint.paint(image, label, record, spacing)
        if painted.moved_tumors:  # a later warp moves earlier tumors within its crop only
            boxes = [measure.grow_into(b, painted.crop) for b in boxes]
        boxes.append(painted.box)
        crops.append(painted.crop)
    if out is not None:
        out.changed(crops)
    measured: list[TumorRecord] = []
    if records:
        first = records[0]
        ctx = get_context(scan, first.vessel_source, first.vessel_sigma_mm, first.vessel_margin_hu)
        for i, (record, box) in enumerate(zip(records, boxes, strict=True)):
            done, boxes[i] = measure.measure(record, image, label, box, ctx)
            measured.append(done)
        for box in boxes:  # tumors were 2 + i while painting; the case's label says 2
            if box is not None:
                sub = label[box]
                sub[sub > 2] = 2
        measured = _mark_lesions(measured, label, boxes, scan, case_id or scan.id)
    return Case(
        image=image,
        label=label,
        tumors=tuple(measured),
        scan_id=scan.id,
        case_id=case_id,
        condition=condition,
        replicate=replicate,
        is_control=is_control,
        spacing=scan.spacing,
        affine=np.asarray(scan.affine),
    )


def _mark_lesions(
    records: list[TumorRecord],
    label: np.ndarray,
    boxes: list[measure.Box | None],
    scan: Scan,
    name: str,
) -> list[TumorRecord]:
    """Copies of `records` with `lesion_id` and `merged_with` set from the final label, and
    one warning for the case when tumors merged: the metrics score them as one lesion."""
    ids, sizes = measure.case_lesions(label, boxes, records)
    groups: dict[int, list[int]] = {}
    for record, lesion in zip(records, ids, strict=True):
        if lesion:
            groups.setdefault(lesion, []).append(record.index)
    out = [
        dataclasses.replace(
            r,
            lesion_id=lesion,
            merged_with=tuple(i for i in groups.get(lesion, ()) if i != r.index),
        )
        for r, lesion in zip(records, ids, strict=True)
    ]
    merged = {lesion: group for lesion, group in groups.items() if len(group) > 1}
    if merged:
        voxel = float(np.prod(scan.spacing))
        parts = []
        for lesion, group in sorted(merged.items()):
            diameter = 2.0 * (3.0 * sizes[lesion] * voxel / (4.0 * math.pi)) ** (1.0 / 3.0)
            tumors = ", ".join(str(i) for i in group[:-1]) + f" and {group[-1]}"
            parts.append(f"tumors {tumors} form lesion {lesion} ({diameter:.0f} mm)")
        warnings.warn(
            f"case {name!r}: tumors touch or overlap after painting and are scored as one "
            f"lesion: {'; '.join(parts)} (lesion_id and merged_with in the tumor records; "
            "to keep tumors apart, use allow_overlap=False and if_no_place='skip', the "
            "defaults)",
            SynthesisWarning,
            stacklevel=3,
        )
    return out


class CaseBuffer:
    """Arrays for `apply` (and `synthesize`) to write cases into, reused from case to case.

    A new case allocates a whole volume (and the system zeroes it, page by page); written
    into a buffer, a case of the same scan as the one before costs only the restoring of
    the voxels that case changed (a new scan: one copy). Each case written replaces the one
    before: the Case returned holds read-only views of the buffer, so copy its arrays
    (`np.array(case.image)`) to keep them past the next call.

    Example:
        buffer = CaseBuffer()
        for seed in range(100):
            case = synthesize(scan, "mix", seed, out=buffer)
            score(case)  # done with it before the next one
    """

    def __init__(self) -> None:
        self._image: np.ndarray | None = None
        self._label: np.ndarray | None = None
        self._scan: weakref.ref[Scan] | None = None
        # boxes that differ from the scan; None: anything may (restore all)
        self._dirty: list[measure.Box] | None = None

    def take(self, scan: Scan) -> tuple[np.ndarray, np.ndarray]:
        """(image, label) holding `scan` (and its liver as label 1), ready to paint into."""
        same = self._scan is not None and self._scan() is scan
        if self._image is None or self._label is None or self._image.shape != scan.shape:
            self._image = np.empty(scan.shape, dtype=np.float32)
            self._label = np.empty(scan.shape, dtype=np.uint8)
            same = False
        image, label = self._image, self._label
        if same and self._dirty is not None:
            for box in self._dirty:
                image[box] = scan.image[box]
                label[box] = scan.liver[box]
        else:
            np.copyto(image, scan.image)
            np.copyto(label, scan.liver.view(np.uint8))
        self._scan = weakref.ref(scan)
        self._dirty = None  # until `changed` says where this case painted
        return image, label

    def changed(self, boxes: list[measure.Box]) -> None:
        """Every voxel the case painted since `take` lies in one of `boxes`."""
        self._dirty = list(boxes)


def synthesize(
    scan: Scan,
    config: str | TumorConfig,
    rng: RngLike,
    *,
    case_id: str = "",
    condition: str = "",
    replicate: int = 0,
    out: CaseBuffer | None = None,
) -> Case:
    """`apply(scan, sample(scan, config, rng))`: one synthetic case (`out`: see `apply`)."""
    return apply(
        scan,
        sample(scan, config, rng),
        case_id=case_id,
        condition=condition,
        replicate=replicate,
        out=out,
    )


def _check_records(scan: Scan, records: list[TumorRecord]) -> None:
    if len(records) > _MAX_TUMORS:
        raise SynthesisError(
            f"scan {scan.id!r}: {len(records)} tumors, at most {_MAX_TUMORS} per case"
        )
    for i, r in enumerate(records):
        if r.index != i:
            raise SynthesisError(
                f"scan {scan.id!r}: tumor records must be in order with index "
                f"0..{len(records) - 1}; "
                f"record {i} has index {r.index}"
            )
        if not all(0 <= c < n for c, n in zip(r.center_vox, scan.shape, strict=True)):
            raise SynthesisError(
                f"scan {scan.id!r}: tumor {i} centre {r.center_vox} lies outside the volume "
                f"{scan.shape}"
            )
        if r.intensity_model not in INTENSITY_MODELS:
            raise SynthesisError(
                f"scan {scan.id!r}: tumor {i} has unknown intensity_model {r.intensity_model!r}"
            )
        if min(r.semi_axes_mm) <= 0 or not 0 <= r.mass_effect <= 100:
            raise SynthesisError(
                f"scan {scan.id!r}: tumor {i} has semi-axes {r.semi_axes_mm} / mass effect "
                f"{r.mass_effect}: semi-axes must be > 0 and the strength within 0..100"
            )


__all__ = ["CaseBuffer", "SynthesisWarning", "apply", "context", "sample", "synthesize"]
