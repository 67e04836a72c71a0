"""Size-matched synthetic tumors: for each real lesion, tumors of the tumor model drawn at
the lesion's equivalent radius, one per synthetic case."""

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
    """One tumor of `model` at `radius_mm` in `scan`'s liver, seeded by (seed, real lesion,
    replicate, target scan): the same inputs give the same case in any order."""
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
