"""The tumors a study shows: real lesions drawn from labelled scans, synthetic ones made in
healthy base scans, each as an axial slab and a crop square (no pixels drawn yet)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robustbench_liver.errors import SynthesisError
from robustbench_liver.io import read_volume
from robustbench_liver.synthesis import TumorConfig
from robustbench_liver.turing import crops
from robustbench_liver.turing.errors import TuringError
from robustbench_liver.turing.lesions import Lesion, find_lesions, read_labelled
from robustbench_liver.turing.options import SELECT, SYNTH, Reporter, StudyOptions, rng, seq
from robustbench_liver.turing.synthetic import matched, one_tumor
from robustbench_liver.types import Scan


@dataclass(eq=False)
class Item:
    """One tumor to show: its slab, where the crop lies, and what the key says of it."""

    truth: str
    """'real' or 'synthetic'."""
    slab: crops.Slab
    center_mm: tuple[float, float]
    fov: float
    lesion: Lesion
    source: dict[str, Any]
    key: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    """A real lesion that may be shown (its scan is read again if it is chosen)."""

    scan: int
    """Index into the list of real scans."""
    lesion: Lesion
    fov: float
    depth: int
    """Slices in the scan."""
    slice_mm: float


def real_candidates(
    real: Sequence[tuple[str | Path, str | Path]], opts: StudyOptions, rep: Reporter
) -> tuple[list[Candidate], list[tuple[float, float, float]], dict[str, int]]:
    """Every real lesion big enough whose crop fits in its scan (scans read one at a time)."""
    candidates: list[Candidate] = []
    spacings: list[tuple[float, float, float]] = []
    excluded = {"small": 0, "edge": 0}
    if not opts.n_real:
        return candidates, spacings, excluded
    rep.stage("read real scans", len(real))
    for index, (_, labels) in enumerate(real):
        # the label map alone says where the lesions are; the CT is read if one is chosen
        scan = read_volume(labels)
        spacings.append(scan.spacing)
        tumor = scan.array == opts.tumor_label
        if not tumor.any():
            raise TuringError(
                f"tumor label {opts.tumor_label} does not occur (values: {_values(scan.array)})",
                labels,
                "set --tumor-label, or leave out scans without tumors",
            )
        if not (scan.array == opts.liver_label).any():
            raise TuringError(
                f"liver label {opts.liver_label} does not occur (values: {_values(scan.array)})",
                labels,
                "set --liver-label: the liver sets each crop's window and its noise estimate",
            )
        for lesion in find_lesions(tumor, scan.spacing):
            if lesion.diameter_mm < opts.min_diameter_mm:
                excluded["small"] += 1
                continue
            fov = crops.field_of_view(
                lesion.diameter_mm, opts.fov_scale, opts.min_fov_mm, opts.fov_mm
            )
            if not crops.fits(scan.array.shape, scan.spacing, lesion.center_mm(scan.spacing), fov):
                excluded["edge"] += 1
                continue
            depth = scan.array.shape[2]
            candidates.append(Candidate(index, lesion, fov, depth, scan.spacing[2]))
        rep.advance()
    return candidates, spacings, excluded


def _values(labels: np.ndarray) -> str:
    return ", ".join(str(int(v)) for v in np.unique(labels)[:20])


def choose(candidates: list[Candidate], n: int, seed: int) -> list[Candidate]:
    if len(candidates) <= n:
        return list(candidates)
    picks = rng(seed, SELECT).choice(len(candidates), size=n, replace=False)
    return [candidates[i] for i in sorted(int(p) for p in picks)]


def real_items(
    real: Sequence[tuple[str | Path, str | Path]],
    chosen: list[Candidate],
    opts: StudyOptions,
    slab_mm: float,
) -> list[Item]:
    items: list[Item] = []
    for index in sorted({c.scan for c in chosen}):
        image, labels = real[index]
        scan = read_labelled(image, labels)
        parenchyma = scan.labels == opts.liver_label
        n = crops.slab_slices(scan.spacing[2], slab_mm)
        for c in (c for c in chosen if c.scan == index):
            slab = crops.take_slab(scan.image, parenchyma, scan.spacing, c.lesion.slice, n)
            if slab is None:  # checked when chosen: the files changed meanwhile
                raise TuringError("the scan changed while the study was being made", image)
            source = {"scan": scan.id, "image": str(image), "labels": str(labels)}
            items.append(
                Item("real", slab, c.lesion.center_mm(scan.spacing), c.fov, c.lesion, source)
            )
    return items


def synthetic_items(
    bases: Sequence[Scan],
    tumors: TumorConfig,
    radii: list[float],
    opts: StudyOptions,
    seed: int,
    slab_mm: float,
    rep: Reporter,
    notes: list[str],
) -> list[Item]:
    if not opts.n_synthetic:
        return []
    rep.stage("synthesize tumors", opts.n_synthetic)
    targets = list(radii)
    rng(seed, SYNTH).shuffle(targets)
    items: list[Item] = []
    failed: list[str] = []
    for j in range(opts.n_synthetic):
        base = bases[j % len(bases)]
        radius = targets[j % len(targets)] if opts.size_match and targets else None
        item, why = _one_synthetic(base, tumors, radius, opts, seed, j, slab_mm)
        if item is None:
            failed.append(f"#{j} in {base.id} ({why})")
        else:
            items.append(item)
        rep.advance()
    if failed:
        notes.append(
            f"{len(failed)} of {opts.n_synthetic} synthetic tumors could not be made after "
            f"{opts.tries} tries each: {'; '.join(failed[:5])}"
        )
    return items


def _one_synthetic(
    base: Scan,
    tumors: TumorConfig,
    radius: float | None,
    opts: StudyOptions,
    seed: int,
    j: int,
    slab_mm: float,
) -> tuple[Item | None, str]:
    why = ""
    n = crops.slab_slices(base.spacing[2], slab_mm)
    for attempt in range(opts.tries):
        # halfway through the tries, a size that fits nowhere shrinks (size-matched "where
        # possible"); the key records the radius asked for and the one made
        shrink = 0.85 ** max(0, attempt - opts.tries // 2 + 1)
        config = tumors if radius is None else matched(tumors, radius * shrink)
        try:
            made = one_tumor(base, config, seq(seed, SYNTH, j, attempt))
        except SynthesisError as err:
            why = str(err)
            continue
        lesion = made.lesion
        fov = crops.field_of_view(lesion.diameter_mm, opts.fov_scale, opts.min_fov_mm, opts.fov_mm)
        center = lesion.center_mm(base.spacing)
        if not crops.fits(base.image.shape, base.spacing, center, fov):
            why = "crop leaves the scan"
            continue
        slab = crops.take_slab(made.case.image, made.case.label == 1, base.spacing, lesion.slice, n)
        if slab is None:
            why = "slab leaves the scan"
            continue
        record = made.record
        source = {
            "base_scan": base.id,
            "attempt": attempt,
            "target_radius_mm": radius,
            "asked_radius_mm": None if radius is None else radius * shrink,
            "record": _record_summary(record),
            "synthesis_warnings": list(made.notes),
        }
        return Item("synthetic", slab, center, fov, lesion, source), ""
    return None, why or "no try succeeded"


def _record_summary(record: Any) -> dict[str, Any]:
    """The tumor record as JSON (enough to replay it with `synthesis.apply`)."""
    data = asdict(record)
    return json.loads(
        json.dumps(data, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))
    )
