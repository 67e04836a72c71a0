"""Step 3: tumor texture, in two intensity models.

texture (Hu et al., CVPR 2023, Sec. 3.1 "texture generation"): Gaussian noise N(mu_t, sigma_p)
on a lattice, upscaled by cubic-spline interpolation with factor eta (here: lattice step eta in
mm, so the grain is the same at any voxel size), then blurred with g(sigma_b). mu_t is set
relative to the parenchyma, so hypo-, iso- and hyper-attenuating tumors are one parameter
apart; `generator` calibrates it so that the mean change inside the label is the request.

released (the authors' code, MrGiovanni/SyntheticTumors, TumorGenerated/utils.py,
`get_predefined_texture` and `get_tumor`): uniform noise smoothed with sigma_a in 3..15,
min-max scaled to [base, base + scale] with scale ~ U(0.19, 0.21), base ~ U(0.04, 0.06),
a Bernoulli draw with that probability, a blur sigma_b in {4, 7}, then a scale so that
the mean of the values above 0.12 is u0 ~ U(0.5, 0.55), clipped to [0, 1]; the tumor is
f - texture x t'' x Delta with Delta ~ U(65, 145) HU. We compute the same field in closed
form on a coarse lattice: the two smoothings compose to one of sigma = sqrt(sigma_a^2 +
sigma_b^2); the min-max of their 420 x 300 x 320 texture is replaced by its expected
extreme; the Bernoulli draw is left out: after the sigma_b >= 4 mm blur it adds noise of
s.d. sqrt(p (1 - p) / (8 pi^1.5 sigma_b^3)) < 0.007, i.e. < 3 HU of the tumor's intensity.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage, special

from robustbench_liver.numerics import matmul, separable_apply
from robustbench_liver.synthesis.noise import gaussian_matrix, interp_matrix, lattice_normal

# The authors' texture volume (voxels of 1 mm) that their min-max scaling runs over.
_RELEASED_VOLUME_MM3 = 420 * 300 * 320
_RELEASED_CUTOFF = 0.12


def _lattice(offsets: np.ndarray, step: float, margin: int) -> range:
    return range(
        int(np.floor(offsets.min() / step)) - margin,
        int(np.ceil(offsets.max() / step)) + margin + 1,
    )


def noise_texture(
    seed: int,
    offsets: tuple[np.ndarray, ...],
    eta_mm: float,
    blur_mm: float,
    spacing: np.ndarray,
    stream: int = 0,
) -> np.ndarray:
    """Unit-s.d. (at the lattice nodes) noise upscaled from lattice step eta and blurred.

    `offsets` are the box's voxel positions in mm relative to the tumor centre, per axis.
    Multiply by sigma_p and add mu_t for the paper's T''. `stream` picks an independent
    field of the same seed (0: the texture; others: necrosis, calcification).
    """
    ranges = tuple(_lattice(off, eta_mm, 3) for off in offsets)
    values = lattice_normal(seed, stream, ranges)
    mats = []
    for off, rng_, s in zip(offsets, ranges, spacing, strict=True):
        nodes = np.asarray(rng_, dtype=np.float64) * eta_mm
        sigma_vox = blur_mm / s
        pad = int(np.ceil(3.0 * sigma_vox)) if blur_mm > 0 else 0
        # evaluate on the box grown by the blur radius, then blur with 'valid' rows, so the
        # result does not depend on where the box ends
        ext = np.concatenate(
            [off[0] - s * np.arange(pad, 0, -1), off, off[-1] + s * np.arange(1, pad + 1)]
        )
        w = interp_matrix(nodes, ext)
        if pad:
            g = gaussian_matrix(len(ext), sigma_vox)[pad : pad + len(off)]
            w = matmul(g, w)
        mats.append(w)
    return separable_apply(values, tuple(mats))


def released_texture(
    seed: int,
    offsets: tuple[np.ndarray, ...],
    grain_mm: float,
    blur_mm: float,
) -> np.ndarray:
    """The authors' texture in [0, 1] (mean about u0 ~ 0.52) on the box, see module doc."""
    scale, base, u0 = _released_levels(seed)
    sigma = math.hypot(grain_mm, blur_mm)
    # shrink of the s.d. by the second blur, for Gaussian-smoothed white noise
    shrink = (grain_mm / sigma) ** 1.5 if grain_mm > 0 else 0.0
    cells = _RELEASED_VOLUME_MM3 / (2.0 * math.sqrt(math.pi) * max(grain_mm, 1.0)) ** 3
    extreme = math.sqrt(2.0 * math.log(max(cells, 2.0)))
    step = sigma / 2.0  # two lattice steps per sigma: the smoothed field is band-limited
    margin = 8  # 3 sigma of smoothing + spline support, in lattice steps
    ranges = tuple(_lattice(off, step, margin) for off in offsets)
    white = lattice_normal(seed, 1, ranges)
    kernel_sigma = sigma / step
    smooth = ndimage.gaussian_filter(white, kernel_sigma, mode="nearest", truncate=3.0)
    z = smooth / _smoothed_sd(kernel_sigma)
    mats = tuple(
        interp_matrix(np.asarray(r, dtype=np.float64) * step, off)
        for r, off in zip(ranges, offsets, strict=True)
    )
    z = separable_apply(z, mats)
    b = base + scale * (0.5 + shrink * z / (2.0 * extreme))
    beta = u0 / _mean_above(base + 0.5 * scale, scale * shrink / (2.0 * extreme), _RELEASED_CUTOFF)
    return np.clip(beta * b, 0.0, 1.0).astype(np.float32)


def scan_grain(f: np.ndarray, sigma_vox: float = 1.0, truncate: float = 3.0) -> np.ndarray:
    """The scan's own fine grain: f minus f smoothed over about one voxel.

    Replacing the parenchyma by a smooth texture would also remove the CT's noise, leaving a
    tumor visibly cleaner than its surroundings (the first previews showed exactly that);
    adding this high-pass back keeps the scan's noise, at its own grain, inside the tumor.
    It is clipped at 2.5 robust s.d. so that the edges of a vessel the tumor covers leave
    no ghost (noise passes almost untouched: 99 % of Gaussian noise lies within 2.5 s.d.).
    """
    grain = f - ndimage.gaussian_filter(f, sigma_vox, mode="nearest", truncate=truncate)
    # robust s.d. from a fixed stride of the voxels (the median of all is needlessly slow)
    sample = np.abs(grain.ravel()[:: max(1, grain.size // 20000)])
    limit = np.float32(2.5 * 1.4826) * np.median(sample)
    return np.clip(grain, -limit, limit)


def released_flat(seed: int) -> float:
    """The released texture's mean level u0 (used when the texture step is off)."""
    return _released_levels(seed)[2]


def _released_levels(seed: int) -> tuple[float, float, float]:
    """The released model's per-tumor scale, base and mean level u0."""
    rng = np.random.default_rng([seed, 3])
    scale, base, u0 = rng.uniform(0.19, 0.21), rng.uniform(0.04, 0.06), rng.uniform(0.5, 0.55)
    return float(scale), float(base), float(u0)


def _smoothed_sd(sigma: float, truncate: float = 3.0) -> float:
    """S.d. of unit white noise after a discrete 3D Gaussian of this sigma (lattice units)."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    w /= w.sum()
    return float(np.sqrt(np.sum(w**2) ** 3))


def _mean_above(mean: float, sd: float, cutoff: float) -> float:
    """E[X | X > cutoff] for X ~ N(mean, sd): the authors' 'mean of values above 0.12'."""
    if sd <= 0:
        return max(mean, cutoff)
    a = (cutoff - mean) / sd
    tail = 0.5 * special.erfc(a / math.sqrt(2.0))
    if tail < 1e-12:
        return cutoff
    pdf = math.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)
    return mean + sd * pdf / tail
