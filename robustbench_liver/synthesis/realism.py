"""Generator 3's realism steps, on a tumor's tight box: clefts painted through, a necrotic
core, calcified specks; and the per-tumor draws of their parameters.

Records written before generator 3 have none of these fields: they read as generator 2's
values (`RECORD_DEFAULTS`), which switch every step here off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from robustbench_liver.synthesis.shape import extent
from robustbench_liver.synthesis.texture import noise_texture

if TYPE_CHECKING:
    from robustbench_liver.synthesis.config import TumorConfig

RECORD_DEFAULTS: dict[str, Any] = {
    "label_level": None,
    "mass_effect_keep_grain": False,
    "necrosis_share": 0.0,
    "necrosis_hu": 0.0,
    "calcification_share": 0.0,
    "calcification_hu": 0.0,
    "fill_clefts_mm": 0.0,
}
"""The tumor-record fields of generator 3, with the values that reproduce generator 2."""

NECROSIS_STREAM, CALCIFICATION_STREAM = 4, 5
"""Noise streams of a tumor's seed (0 is its texture, 1 the released model's)."""
IRREGULARITY = 0.35
"""Weight of the noise against the closeness to the centre in the necrotic core's score:
0 gives an ellipsoidal core, 1 scattered patches; 0.35 a central, ragged one."""
NECROSIS_EDGE_MM = 0.75
"""Blur of the necrotic core's edge (partial volume, and a less than razor-sharp wall)."""
CALCIFICATION_GRAIN_MM = 8.0
"""Lattice step of the field whose highest values are the calcifications: coarse blobs of a
few mm (the calcified real tumor of issue 13 had coarse ones, and kept its noise ratio)."""
CALCIFICATION_EDGE_MM = 1.5
"""Blur of the calcifications' edges: the scanner's point spread (a hard-edged speck would
add high-pass energy that real calcifications do not show)."""


@dataclass(frozen=True)
class Realism:
    """A record's realism parameters (see TumorRecord)."""

    label_level: float | None
    mass_effect_keep_grain: bool
    necrosis_share: float
    necrosis_hu: float
    calcification_share: float
    calcification_hu: float
    fill_clefts_mm: float


def of(record: Any) -> Realism:
    """The realism parameters of a tumor record (generator 2's values where it has none)."""
    return Realism(**{name: getattr(record, name, v) for name, v in RECORD_DEFAULTS.items()})


def draw(cfg: TumorConfig, seed: int, radius_mm: float) -> dict[str, Any]:
    """The realism fields of one tumor's record. Drawn from the tumor's own seed (stream 7),
    always in this order, so the draws of generator 2 (and its places) are unchanged."""
    rng = np.random.default_rng([seed, 7])
    necrotic = float(rng.uniform()) < cfg.necrosis_chance
    necrosis_share = float(rng.uniform(*cfg.necrosis_share))
    necrosis_hu = float(rng.uniform(*cfg.necrosis_hu))
    calcified = float(rng.uniform()) < cfg.calcification_chance
    calcification_share = float(rng.uniform(*cfg.calcification_share))
    calcification_hu = float(rng.uniform(*cfg.calcification_hu))
    # the released model is the authors' own: always hypo-attenuating, no extras
    texture = cfg.intensity_model == "texture"
    necrotic = necrotic and texture and radius_mm >= cfg.necrosis_min_radius_mm
    calcified = calcified and texture and calcification_share > 0
    necrotic = necrotic and necrosis_share > 0
    return {
        "label_level": cfg.label_level,
        "mass_effect_keep_grain": cfg.mass_effect_keep_grain,
        "necrosis_share": necrosis_share if necrotic else 0.0,
        "necrosis_hu": necrosis_hu if necrotic else 0.0,
        "calcification_share": calcification_share if calcified else 0.0,
        "calcification_hu": calcification_hu if calcified else 0.0,
        "fill_clefts_mm": cfg.fill_clefts_mm,
    }


def fill_clefts(
    liver: np.ndarray, tumor: np.ndarray, spacing: np.ndarray, width_mm: float
) -> np.ndarray:
    """`liver` (bool) plus the non-liver voxels of `tumor` in clefts narrower than about
    `width_mm`: a closing of the liver with a box of half-size width / 2 per axis, kept
    where the tumor is. Outside the array counts as not liver (so nothing is filled that
    is open to the box's faces)."""
    if width_mm <= 0 or liver.all() or not liver.any():
        return liver
    half = np.floor(width_mm / 2.0 / np.asarray(spacing) + 1e-6).astype(int)
    gaps = tumor & ~liver
    if not half.any() or not gaps.any():
        return liver
    # only around the tumor's non-liver voxels: the closing there needs 2 x half of context
    hit = extent(gaps)
    lo = np.maximum(np.asarray([h.start for h in hit]) - 2 * half, 0)
    hi = np.minimum(np.asarray([h.stop for h in hit]) + 2 * half, liver.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    closed = np.ascontiguousarray(liver[box]).view(np.uint8)
    for axis in range(3):
        if half[axis]:
            size = int(2 * half[axis] + 1)
            closed = ndimage.maximum_filter1d(closed, size, axis=axis, mode="constant", cval=0)
    for axis in range(3):
        if half[axis]:
            size = int(2 * half[axis] + 1)
            closed = ndimage.minimum_filter1d(closed, size, axis=axis, mode="constant", cval=0)
    out = liver.copy()
    out[box] |= closed.view(bool) & gaps[box]
    return out


_QUANTILE_SAMPLE = 50_000
"""Thresholds are read off at most about this many voxels (a fixed stride, no RNG): a share
within a fraction of a percent, at a fraction of the cost for large tumors."""


def _top(values: np.ndarray, count: int) -> float:
    """About the `count`-th largest of `values` (count >= 1): exact up to _QUANTILE_SAMPLE
    values, else read off every k-th."""
    step = max(1, values.size // _QUANTILE_SAMPLE)
    if step > 1:
        values, count = values[::step], max(1, round(count / step))
    count = min(count, values.size)
    return float(np.partition(values, values.size - count)[values.size - count])


def necrosis_weight(
    seed: int,
    offsets: tuple[np.ndarray, ...],
    semi_axes: np.ndarray,
    rotation: np.ndarray | None,
    label: np.ndarray,
    share: float,
    spacing: np.ndarray,
) -> np.ndarray | None:
    """Weight (0..1, float32) of the necrotic core on the box: the `share` of the label's
    voxels with the highest score (closeness to the centre + IRREGULARITY x smooth noise of
    about a quarter of the tumor's size), its edge blurred by NECROSIS_EDGE_MM."""
    n = int(label.sum())
    count = round(share * n)
    if share <= 0 or count < 1:
        return None
    p = list(np.meshgrid(*[o.astype(np.float32) for o in offsets], indexing="ij", sparse=True))
    if rotation is not None:
        r = rotation.astype(np.float32)
        p = [r[0, i] * p[0] + r[1, i] * p[1] + r[2, i] * p[2] for i in range(3)]
    a = np.asarray(semi_axes, dtype=np.float32)
    rho = np.sqrt((p[0] / a[0]) ** 2 + (p[1] / a[1]) ** 2 + (p[2] / a[2]) ** 2)
    eta = max(float(np.min(semi_axes)) / 2.0, 2.0)
    noise = noise_texture(seed, offsets, eta, 0.0, spacing, stream=NECROSIS_STREAM)
    score = (np.float32(1.0) - rho) + np.float32(IRREGULARITY) * noise
    core = (score >= np.float32(_top(score[label], count))) & label
    sigma = NECROSIS_EDGE_MM / np.asarray(spacing)
    return ndimage.gaussian_filter(core.astype(np.float32), sigma, mode="constant", truncate=2.0)


def calcification_weight(
    seed: int,
    offsets: tuple[np.ndarray, ...],
    deep: np.ndarray,
    label_voxels: int,
    share: float,
    spacing: np.ndarray,
) -> np.ndarray | None:
    """Weight (0..1, float32) of the calcifications: the voxels of `deep` (the tumor away
    from its edge) where a field of grain CALCIFICATION_GRAIN_MM is highest, `share` x
    `label_voxels` of them, edges blurred by CALCIFICATION_EDGE_MM."""
    count = round(share * label_voxels)
    if share <= 0 or count < 1 or not deep.any():
        return None
    noise = noise_texture(
        seed, offsets, CALCIFICATION_GRAIN_MM, 0.0, spacing, stream=CALCIFICATION_STREAM
    )
    blobs = (noise >= np.float32(_top(noise[deep], count))) & deep
    sigma = CALCIFICATION_EDGE_MM / np.asarray(spacing)
    return ndimage.gaussian_filter(blobs.astype(np.float32), sigma, mode="constant", truncate=2.0)


def radius_mm(semi_axes: tuple[float, ...]) -> float:
    """Geometric mean of the semi-axes."""
    return math.prod(semi_axes) ** (1.0 / 3.0)
