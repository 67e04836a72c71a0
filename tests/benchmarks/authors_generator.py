"""The authors' tumor generator, re-implemented as a same-run speed reference.

The algorithm of Hu et al. (CVPR 2023) as their released code runs it (MrGiovanni/
SyntheticTumors, TumorGenerated/utils.py: `get_fixed_geo`, `get_tumor`, `SynthesisTumor`),
written here from its description, plus the paper's steps the release leaves out (the
vessel-free cube, mass effect, capsule), so that it does the same work per tumor as ours:

- the work area is the liver's bounding box (theirs, shrunk by one voxel);
- per tumor: an ellipsoid on a box of four semi-axes, deformed by three 2D elastic passes
  on a 3 x 3 control grid (their `elasticdeform.deform_random_grid(..., points=3,
  order=0)` on axes (0, 1), (1, 2), (0, 2)), pasted at a location drawn as theirs (a slice
  at 30-70 % of the liver's height, a voxel of that slice eroded by a 5 x 5 kernel), and
  redrawn while a vessel voxel lies in the cube of half-size min(r, 12 mm) (the paper's
  check; at most 200 draws, then the last one);
- per case: the union of the tumors inside the liver, its edge blur with sigma ~ U(1, 2),
  the blend f - texture x t'' x Delta with a crop of a texture built beforehand (their
  ten 420 x 300 x 320 textures take a minute to build, once per process, so the build is
  left out of the timing here too), the capsule band, and the mass-effect warp of each
  tumor's zone (gamma_max = 1.5 semi-axes; on the zone's box only).

Sizes are in mm and converted to voxels per axis, so a tumor covers the same volume as ours.
Elsewhere the cheap choice is taken where their code leaves room (local boxes for the warp,
a texture crop, a reused output buffer restored only where the case before wrote).

The elastic resampling: elasticdeform reads every voxel of the box from its displaced
coordinates, one by one in C; `voxelwise=True` (the default) does the same with
`map_coordinates(order=0)`. As the displacement of a 2D pass does not vary along the third
axis, the same result can be had by copying whole rows (`voxelwise=False`), which their
code does not do: that variant is a lower bound of their cost. Calibration against the
figures measured on the authors' code in issue 17 (the code before the issue vs theirs, on
the 384 x 384 x 256 phantom: 0.24 for a 'medium' case, 0.79 for 'mix'): the same ratios
against this reference are about 0.4 and 0.65 voxel by voxel, 0.5 and 1.1 by rows (two
runs). Voxel by voxel, the reference is cheaper than theirs on 'medium' and some 20 %
dearer on 'mix'; by rows, it is cheaper on both (by 2.2x and 1.4x).

This is a benchmark reference only: the package never imports it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# The authors' mix level: (semi-axes mm, count, elastic sigma mm) per size class.
MIX = (
    ((3.0, 5.0), (3, 10), (0.5, 1.0)),
    ((6.0, 10.0), (5, 10), (1.0, 2.0)),
    ((12.0, 20.0), (2, 5), (3.0, 6.0)),
    ((24.0, 40.0), (1, 3), (5.0, 10.0)),
)
MAX_CUBE_MM = 12.0
MAX_DRAWS = 200


@dataclass
class Texture:
    """The authors' predefined texture (their `get_predefined_texture`), built once."""

    values: np.ndarray

    @classmethod
    def build(cls, shape: tuple[int, ...], rng: np.random.Generator) -> Texture:
        sigma_a = float(rng.choice([3, 6, 9, 12, 15]))
        sigma_b = float(rng.choice([4, 7]))
        a = ndimage.gaussian_filter(rng.uniform(0, 1, size=shape).astype(np.float32), sigma_a)
        scale, base = rng.uniform(0.19, 0.21), rng.uniform(0.04, 0.06)
        a = scale * (a - a.min()) / (a.max() - a.min()) + base
        b = (a > rng.uniform(0, 1, size=shape)).astype(np.float32)
        b = ndimage.gaussian_filter(b, sigma_b)
        u0 = rng.uniform(0.5, 0.55)
        high = b > 0.12
        beta = u0 / (float(b[high].sum()) / high.sum())
        return cls(np.clip(beta * b, 0, 1).astype(np.float32))


def _ellipsoid(radii: np.ndarray) -> np.ndarray:
    """Their `get_ellipsoid`: a binary ellipsoid centred in a box of 4 x the semi-axes."""
    shape = tuple(int(4 * r) for r in radii)
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    rho2 = sum(((g - 2 * r) / r) ** 2 for g, r in zip(grids, radii, strict=True))
    return (rho2 <= 1.0).astype(np.int8)


def _deform_2d(
    geo: np.ndarray,
    sigma_vox: float,
    axes: tuple[int, int],
    rng: np.random.Generator,
    voxelwise: bool = True,
) -> np.ndarray:
    """One `deform_random_grid(points=3, order=0)` pass over two axes: a normal
    displacement at 3 x 3 control points, cubic-spline interpolated, nearest-voxel read.

    `voxelwise`: resample every voxel from its coordinates (`map_coordinates`, order 0), as
    elasticdeform's loop over the output voxels does; else read whole rows along the third
    axis (the same result: the displacement does not vary along it)."""
    a0, a1 = axes
    n0, n1 = geo.shape[a0], geo.shape[a1]
    control = rng.normal(0.0, sigma_vox, size=(2, 3, 3))
    c0 = np.linspace(0, 2, n0)[:, None] * np.ones((1, n1))
    c1 = np.ones((n0, 1)) * np.linspace(0, 2, n1)[None, :]
    disp = [ndimage.map_coordinates(control[i], [c0, c1], order=3, mode="nearest") for i in (0, 1)]
    if voxelwise:
        moved = np.moveaxis(geo, (a0, a1), (0, 1))
        n2 = moved.shape[2]
        coords = np.empty((3, n0, n1, n2))
        coords[0] = (np.arange(n0)[:, None] + disp[0])[:, :, None]
        coords[1] = (np.arange(n1)[None, :] + disp[1])[:, :, None]
        coords[2] = np.arange(n2)[None, None, :]
        out = ndimage.map_coordinates(moved, coords, order=0, mode="constant")
        return np.moveaxis(out, (0, 1), (a0, a1))
    src0 = np.rint(np.arange(n0)[:, None] + disp[0]).astype(np.intp)
    src1 = np.rint(np.arange(n1)[None, :] + disp[1]).astype(np.intp)
    valid = (src0 >= 0) & (src0 < n0) & (src1 >= 0) & (src1 < n1)
    moved = np.moveaxis(geo, (a0, a1), (0, 1))
    out = moved[np.clip(src0, 0, n0 - 1), np.clip(src1, 0, n1 - 1)]
    out[~valid] = 0
    return np.moveaxis(out, (0, 1), (a0, a1))


def _select(
    liver: np.ndarray, vessels: np.ndarray, half: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Their `random_select`, redrawn while a vessel lies in the cube (the paper's check)."""
    zs = np.flatnonzero(np.any(liver, axis=(0, 1)))
    z0, z1 = int(zs[0]), int(zs[-1])
    point = np.zeros(3, dtype=int)
    for _ in range(MAX_DRAWS):
        z = round(rng.uniform(0.3, 0.7) * (z1 - z0)) + z0
        eroded = ndimage.binary_erosion(liver[..., z], np.ones((5, 5), dtype=bool))
        coords = np.argwhere(eroded if eroded.any() else liver[..., z])
        if not len(coords):
            continue
        point = np.array([*coords[rng.integers(len(coords))], z])
        lo = np.maximum(point - half, 0)
        cube = vessels[tuple(slice(a, b + 1) for a, b in zip(lo, point + half, strict=True))]
        if not cube.any():
            break
    return point


def _mass_effect(
    image: np.ndarray,
    label: np.ndarray,
    center: np.ndarray,
    radii: np.ndarray,
    strength: float,
    extent: float = 1.5,
) -> None:
    """The paper's warp gamma' = (1 - (gamma/gamma_max - 1)^2 I/100) gamma on the zone's box."""
    half = np.ceil(radii * extent).astype(int) + 1
    lo = np.maximum(center - half, 0)
    hi = np.minimum(center + half + 1, image.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    c = center - lo
    grids = np.meshgrid(
        *[np.arange(b - a, dtype=np.float64) for a, b in zip(lo, hi, strict=True)], indexing="ij"
    )
    rho = np.sqrt(sum(((g - ci) / r) ** 2 for g, ci, r in zip(grids, c, radii, strict=True)))
    t = np.minimum(rho / extent, 1.0) - 1.0
    factor = 1.0 - t * t * strength / 100.0
    coords = [ci + (g - ci) * factor for g, ci in zip(grids, c, strict=True)]
    image[box] = ndimage.map_coordinates(image[box], coords, order=1, mode="nearest")
    label[box] = ndimage.map_coordinates(label[box], coords, order=0, mode="nearest")


class Buffer:
    """Reused output arrays, as ours (`synthesis.CaseBuffer`): the next case restores only the
    region the case before changed (here the liver's box, which theirs writes whole)."""

    def __init__(self, image: np.ndarray, liver: np.ndarray) -> None:
        self.image = np.array(image, dtype=np.float32, copy=True)
        self.label = liver.astype(np.uint8)
        self.dirty: tuple[slice, ...] | None = None

    def take(self, image: np.ndarray, liver: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.dirty is not None:
            self.image[self.dirty] = image[self.dirty]
            self.label[self.dirty] = liver[self.dirty]
        self.dirty = None
        return self.image, self.label


def synthesize(
    image: np.ndarray,
    liver: np.ndarray,
    vessels: np.ndarray,
    spacing: tuple[float, float, float],
    texture: Texture,
    rng: np.random.Generator,
    out: Buffer | None = None,
    sizes: tuple = MIX,
    voxelwise: bool = True,
) -> tuple[np.ndarray, np.ndarray, int]:
    """A mix case: (image, label, number of tumors); into `out` when given (reused buffers)."""
    sp = np.asarray(spacing, dtype=np.float64)
    hit = [
        np.flatnonzero(np.any(liver, axis=tuple(j for j in range(3) if j != i))) for i in range(3)
    ]
    box = tuple(slice(int(h[0]) + 1, int(h[-1])) for h in hit)  # theirs: shrunk by one voxel
    if out is None:
        volume, labels = np.array(image, dtype=np.float32, copy=True), liver.astype(np.uint8)
    else:
        volume, labels = out.take(image, liver)
        out.dirty = box  # everything below writes within the box
    vol = volume[box]
    mask = liver[box]
    ves = vessels[box]
    pad = 160
    geo_mask = np.zeros(tuple(n + pad for n in mask.shape), dtype=np.int8)
    placed: list[tuple[np.ndarray, np.ndarray]] = []
    for axes_mm, count, sigma_mm in sizes:
        for _ in range(int(rng.integers(count[0], count[1] + 1))):
            radii_mm = rng.uniform(*axes_mm, size=3)
            radii = np.maximum(np.rint(radii_mm / sp), 1.0)
            sigma = rng.uniform(*sigma_mm) / sp[0]
            geo = _ellipsoid(radii)
            for axes in ((0, 1), (1, 2), (0, 2)):
                geo = _deform_2d(geo, sigma, axes, rng, voxelwise)
            r_mm = float(np.prod(radii_mm) ** (1 / 3))
            half = np.floor(min(r_mm, MAX_CUBE_MM) / sp).astype(int)
            point = _select(mask, ves, half, rng)
            lo = point + pad // 2 - np.asarray(geo.shape) // 2
            hi = lo + 2 * (np.asarray(geo.shape) // 2)
            if np.any(lo < 0) or np.any(hi > geo_mask.shape):
                continue  # would not fit the padded box (theirs would crash)
            target = geo_mask[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]
            target += geo[tuple(slice(0, b - a) for a, b in zip(lo, hi, strict=True))]
            placed.append((point, radii))
    half_pad = pad // 2
    geo_mask = geo_mask[half_pad:-half_pad, half_pad:-half_pad, half_pad:-half_pad]
    tumor = (geo_mask * mask) >= 1
    sigma = rng.uniform(1.0, 2.0) / sp
    difference = rng.uniform(65.0, 145.0)
    blurred = ndimage.gaussian_filter(tumor * 1.0, sigma)
    start = [
        int(rng.integers(0, t - n)) for t, n in zip(texture.values.shape, mask.shape, strict=True)
    ]
    cut = texture.values[tuple(slice(s, s + n) for s, n in zip(start, mask.shape, strict=True))]
    abnormal = (vol - cut * blurred * difference) * mask
    new = vol * (1 - mask) + abnormal
    band = (blurred > 0.2) & (blurred < 0.5) & mask
    new += rng.uniform(5.0, 15.0) * band
    vol[...] = new
    lab = labels[box]
    lab[...] = mask.astype(np.uint8) + tumor
    for point, radii in placed:
        _mass_effect(vol, lab, point, radii, rng.uniform(30.0, 70.0))
    return volume, labels, len(placed)


def texture_for(liver: np.ndarray, rng: np.random.Generator) -> Texture:
    """A predefined texture big enough for crops of this liver's box (built once)."""
    hit = [
        np.flatnonzero(np.any(liver, axis=tuple(j for j in range(3) if j != i))) for i in range(3)
    ]
    shape = tuple(int(h[-1] - h[0]) + 16 for h in hit)
    return Texture.build(shape, rng)
