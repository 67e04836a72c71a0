"""Twin cases for the calibration: a real scan with, for each of its measured real lesions, one
size-matched synthetic tumor of the tumor model, placed in the scan's tumor-free liver.

A twin case holds as many synthetic tumors, of the same sizes, as the real case holds
measured lesions, in the same scan (same patient, noise, contrast phase and liver): the
synthetic counterpart of the real case, so that per-case scores compare like with like.

The bench paints tumors into tumor-free livers, so a twin case must not show the real tumors
as well: with them left in, a model sees twice the tumor burden (a detector that takes its
parenchyma statistics over the liver shifts its thresholds; measured here: twins scored 0.02
lower local DSC than identical 'real' tumors, against 0.007 with them filled). So the real
tumors (and a one-voxel rim) are filled with parenchyma first (`heal`): the local liver level
plus noise drawn from the scan's own parenchyma. The fill is not real tissue, so no twin goes
there and scoring leaves it out (`fidelity.scoring`).

Size: as in `fidelity.matching`, each twin case is made twice from the same seed, once at
the real radii, then with each radius scaled by what the first pass missed by
(`matching.corrected_radius`; uncorrected, twins of 'real' tumors made with the model's own
settings came out 5 % smaller and scored 0.01-0.04 lower DSC).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from robustbench_liver.errors import SynthesisError
from robustbench_liver.fidelity.lesions import CONNECTIVITY, Lesion, ScanFrame
from robustbench_liver.fidelity.matching import corrected_radius, matched_config, stable_id
from robustbench_liver.metrics import bounding_box
from robustbench_liver.synthesis import SynthesisWarning, TumorConfig, apply, sample
from robustbench_liver.types import Case, Scan

TWIN_KEY = 0x7417
"""Separates the twins' seeds from the fidelity study's single matched tumors."""
HEAL_KEY = 0x4EA1
"""Separates the fill's noise from the twins' draws."""
LEVEL_SIGMA_MM = 10.0
"""Scale of the local liver level the fill takes (a normalised Gaussian average)."""


def twin_config(
    model: TumorConfig, lesions: Sequence[Lesion], radii: Mapping[str, float] | None = None
) -> TumorConfig:
    """`model` with exactly one tumor per lesion, each drawn around the lesion's equivalent
    radius (or `radii[lesion.name]`; `matching.matched_config`), in a size class named after
    the lesion: the records then say which real lesion each synthetic tumor stands for."""
    if not lesions:
        raise SynthesisError("a twin case needs at least one real lesion to match")
    radii = radii or {}
    sizes = tuple(
        dataclasses.replace(
            matched_config(model, radii.get(lesion.name, lesion.radius_mm)).sizes[0],
            name=lesion.name,
        )
        for lesion in lesions
    )
    return dataclasses.replace(model, sizes=sizes)


@dataclass(frozen=True)
class Twin:
    """One twin case of a real scan, or why it could not be made."""

    scan_id: str
    replicate: int
    case: Case | None
    warning: str = ""
    """Synthesis warnings (e.g. a tumor skipped for want of space)."""
    error: str = ""

    @property
    def case_id(self) -> str:
        return twin_id(self.scan_id, self.replicate)


def twin_id(scan_id: str, replicate: int) -> str:
    return f"{scan_id}~twin{replicate}"


def heal(frame: ScanFrame, seed: int = 0) -> Scan:
    """`frame`'s scan with its real tumors, and a one-voxel rim round them, filled with
    parenchyma: at each voxel the local liver level (a Gaussian average of the parenchyma,
    `LEVEL_SIGMA_MM`) plus a residual of the nearby parenchyma drawn at random (its texture
    and noise, without values beyond 3 robust SDs: vessels). The liver mask stays the
    tumor-free one. Computed in a box round the tumors only."""
    scan = frame.scan
    organ = np.asarray(scan.liver) | frame.tumors
    region = ndimage.binary_dilation(frame.tumors, structure=CONNECTIVITY) & organ
    box = bounding_box(region)
    if box is None:
        return scan
    sigma = [LEVEL_SIGMA_MM / s for s in scan.spacing]
    box = tuple(
        slice(max(b.start - int(3 * g) - 1, 0), min(b.stop + int(3 * g) + 1, n))
        for b, g, n in zip(box, sigma, scan.shape, strict=True)
    )
    inside = region[box]
    parenchyma = np.asarray(scan.liver)[box] & ~inside
    if not parenchyma.any():
        return scan
    image = np.asarray(scan.image, dtype=np.float32)
    crop = image[box]
    weight = ndimage.gaussian_filter(parenchyma.astype(np.float32), sigma)
    total = ndimage.gaussian_filter(np.where(parenchyma, crop, 0.0).astype(np.float32), sigma)
    median = float(np.median(crop[parenchyma]))
    level = np.where(weight > 1e-3, total / np.maximum(weight, 1e-3), median)
    residual = (crop - level)[parenchyma]
    centre = float(np.median(residual))
    spread = 1.4826 * float(np.median(np.abs(residual - centre)))
    residual = residual[np.abs(residual - centre) <= 3.0 * max(spread, 1e-3)]
    rng = np.random.default_rng(np.random.SeedSequence([seed, HEAL_KEY, stable_id(scan.id)]))
    filled = image.copy()
    values = level[inside] + rng.choice(residual, size=int(inside.sum()))
    filled[box][inside] = values.astype(np.float32)
    return dataclasses.replace(scan, image=filled)


def make_twin(
    frame: ScanFrame,
    model: TumorConfig,
    lesions: Sequence[Lesion],
    replicate: int,
    seed: int,
    healed: Scan | None = None,
) -> Twin:
    """Twin case `replicate` of `frame`'s scan, seeded by (seed, scan, replicate): the same
    inputs give the same case in any order and any process. Sizes are corrected (module
    doc); where the corrected sizes cannot be placed, the first pass is kept. The real tumors
    are filled first (`heal`; pass `healed` to reuse it from twin to twin)."""
    scan = heal(frame, seed) if healed is None else healed
    first = _make(scan, twin_config(model, lesions), replicate, seed)
    if first.case is None:
        return first
    made = {t.size_class: t.equivalent_radius_mm for t in first.case.tumors}
    radii = {les.name: corrected_radius(les.radius_mm, made.get(les.name)) for les in lesions}
    second = _make(scan, twin_config(model, lesions, radii), replicate, seed)
    return second if second.case is not None else first


def _make(scan: Scan, config: TumorConfig, replicate: int, seed: int) -> Twin:
    entropy = [seed, TWIN_KEY, stable_id(scan.id), replicate]
    rng = np.random.default_rng(np.random.SeedSequence(entropy))
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SynthesisWarning)
        try:
            records = sample(scan, config, rng)
            case = apply(scan, records, case_id=twin_id(scan.id, replicate), replicate=replicate)
        except SynthesisError as err:
            return Twin(scan.id, replicate, None, error=str(err))
    for caught_warning in caught:
        if issubclass(caught_warning.category, SynthesisWarning):
            notes.append(str(caught_warning.message))
        else:  # not ours to keep quiet
            warnings.warn(caught_warning.message, caught_warning.category, stacklevel=2)
    return Twin(scan.id, replicate, case, warning="; ".join(notes))
