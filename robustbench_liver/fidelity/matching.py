"""Size-matched synthetic tumors: for each real lesion, tumors of the tumor model drawn at
the lesion's equivalent radius, one per synthetic case.

A tumor drawn with semi-axes around r does not end up with equivalent radius r: the elastic
deformation, the edge and where the label is cut change its volume (with the generator of
this writing, medium tumors came out about 20 % smaller than asked). So each matched tumor is
made twice from the same seed: at r, then at r scaled by what the first one missed by
(`corrected_radius`). The draws are the same, so the second is the first one resized.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
import zlib
from dataclasses import dataclass

import numpy as np

from robustbench_liver.errors import SynthesisError
from robustbench_liver.synthesis import SizeClass, SynthesisWarning, TumorConfig, apply, sample
from robustbench_liver.types import Case, Scan


def nearest_size(model: TumorConfig, radius_mm: float) -> SizeClass:
    """The model's size class whose semi-axis range holds `radius_mm`, else the one whose
    range's middle is nearest on a log scale."""
    for size in model.sizes:
        low, high = size.semi_axes_mm
        if low <= radius_mm <= high:
            return size
    return min(
        model.sizes,
        key=lambda s: abs(math.log(radius_mm / max(sum(s.semi_axes_mm) / 2.0, 1e-6))),
    )


def matched_config(model: TumorConfig, radius_mm: float) -> TumorConfig:
    """`model` with one tumor per case of equivalent radius about `radius_mm`.

    The nearest size class (`nearest_size`) is rescaled so that the middle of its semi-axis
    range is `radius_mm`: the spread of the semi-axes (the paper's U(0.75 r, 1.25 r)) and the
    elastic deformation scale with it, everything else of the model is kept.
    """
    if not (math.isfinite(radius_mm) and radius_mm > 0):
        raise SynthesisError(f"a matched tumor needs a positive radius, got {radius_mm!r} mm")
    size = nearest_size(model, radius_mm)
    middle = sum(size.semi_axes_mm) / 2.0
    scale = radius_mm / middle
    low, high = (max(a * scale, 0.5) for a in size.semi_axes_mm)
    elastic = tuple(min(e * scale, 50.0) for e in size.elastic_sigma_mm)
    matched = SizeClass(
        name="matched",
        semi_axes_mm=(low, max(high, low)),
        count=(1, 1),
        elastic_sigma_mm=(elastic[0], elastic[1]),
    )
    return dataclasses.replace(model, sizes=(matched,))


MAX_CORRECTION = 1.5
"""The size correction scales a radius by at most this factor (or its inverse)."""


def corrected_radius(target_mm: float, made_mm: float | None) -> float:
    """The radius to ask for so that a tumor that came out `made_mm` at `target_mm` comes
    out at `target_mm` (unchanged when nothing was made)."""
    if not made_mm or not math.isfinite(made_mm) or made_mm <= 0:
        return target_mm
    factor = min(max(target_mm / made_mm, 1.0 / MAX_CORRECTION), MAX_CORRECTION)
    return target_mm * factor


def stable_id(text: str) -> int:
    """A 32-bit number for a name, the same in every process (unlike `hash`)."""
    return zlib.crc32(text.encode())


@dataclass(frozen=True)
class Synthetic:
    """One synthetic counterpart of a real lesion, or why it could not be made."""

    match: str
    """Name of the real lesion it is matched to."""
    replicate: int
    target_scan: str
    case: Case | None
    warning: str = ""
    error: str = ""


def synthesize_matched(
    scan: Scan,
    model: TumorConfig,
    radius_mm: float,
    match: str,
    replicate: int,
    seed: int,
) -> Synthetic:
    """One tumor of `model` of equivalent radius about `radius_mm` in `scan`'s liver (size
    corrected: module doc), seeded by (seed, real lesion, replicate, target scan): the same
    inputs give the same case in any order."""
    first = _synthesize(scan, model, radius_mm, match, replicate, seed)
    if first.case is None or not first.case.tumors:
        return first
    again = corrected_radius(radius_mm, first.case.tumors[0].equivalent_radius_mm)
    second = _synthesize(scan, model, again, match, replicate, seed)
    return second if second.case is not None else first


def _synthesize(
    scan: Scan, model: TumorConfig, radius_mm: float, match: str, replicate: int, seed: int
) -> Synthetic:
    entropy = [seed, stable_id(match), replicate, stable_id(scan.id)]
    rng = np.random.default_rng(np.random.SeedSequence(entropy))
    config = matched_config(model, radius_mm)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SynthesisWarning)
        try:
            records = sample(scan, config, rng)
            case = apply(scan, records, case_id=f"{match}~{replicate}")
        except SynthesisError as err:
            return Synthetic(match, replicate, scan.id, None, error=str(err))
    notes = []
    for caught_warning in caught:
        if issubclass(caught_warning.category, SynthesisWarning):
            notes.append(str(caught_warning.message))
        else:  # not ours to keep quiet
            warnings.warn(caught_warning.message, caught_warning.category, stacklevel=2)
    return Synthetic(match, replicate, scan.id, case, warning="; ".join(notes))
