"""What synthesis needs to know about a scan, computed once per scan and vessel setting.

Everything here works on the liver's bounding box, never the whole volume: the liver voxel
list, the vessel points (as a k-d tree, for exact cube checks and distances), the
parenchyma's HU level and spread, and the planes of the coarse liver regions. Building it
takes well under 0.5 s on a 384 x 384 x 256 scan; it is cached per Scan object (a weak
reference, so it goes when the scan goes) and never influences results, only speed.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from robustbench_liver.synthesis.vessels import resolve_source, threshold_vessels
from robustbench_liver.types import Scan

# Vessels this far (mm) outside the liver's box still count for cube checks and distances:
# larger than any cube half-size of the presets (r <= 40 mm, clearance 1).
VESSEL_REACH_MM = 60.0
# Parenchyma statistics use at most this many liver voxels (a fixed stride, no RNG).
_STAT_SAMPLES = 200_000
# Share of the liver volume on the patient's left of the lobe plane: the left lobe holds
# roughly a third of the liver (right:left volume about 60-65 : 35-40).
LEFT_LOBE_SHARE = 0.35


@dataclass(eq=False)
class ScanContext:
    """Per-scan precomputation for placement, synthesis and measurement."""

    scan: Scan
    spacing: np.ndarray
    lo: np.ndarray
    """Lower corner (voxel) of the liver's bounding box."""
    hi: np.ndarray
    """Upper corner, exclusive."""
    liver_flat: np.ndarray
    """Flat (C-order) indices of the liver voxels within the box."""
    parenchyma_hu: float
    parenchyma_sd: float
    vessel_source: str
    """none, scan, threshold or union (auto resolved)."""
    vessel_sigma_mm: float
    vessel_threshold_hu: float | None
    vessel_vox: np.ndarray
    """(N, 3) int32 voxel indices of vessel voxels within reach of the liver."""
    vessel_flat: np.ndarray
    """The same voxels as sorted flat indices of the volume (for membership tests)."""
    vessel_tree: cKDTree | None
    """k-d tree of the vessel voxels in grid mm (index x spacing); None without vessels."""
    lr_axis: int
    lr_split: float
    """Voxel coordinate along `lr_axis` of the left/right lobe plane."""
    right_is_high: bool
    si_axis: int
    si_split: tuple[float, float]
    """Superior/inferior plane (voxel coordinate) in the (left, right) lobe."""
    superior_is_high: bool
    cubes: dict[tuple[int, ...], np.ndarray] = field(default_factory=dict)
    """Vessel-free cube masks by half-size in voxels, bit-packed (location's LRU cache)."""
    maps: dict[str, Any] = field(default_factory=dict)
    """Liver maps of the feasibility search, built on first use (see `feasibility`)."""

    @property
    def box_shape(self) -> tuple[int, int, int]:
        return tuple(int(b - a) for a, b in zip(self.lo, self.hi, strict=True))  # type: ignore[return-value]

    @property
    def box(self) -> tuple[slice, slice, slice]:
        """The liver's bounding box as slices of the volume."""
        return tuple(slice(int(a), int(b)) for a, b in zip(self.lo, self.hi, strict=True))  # type: ignore[return-value]

    @property
    def liver_box(self) -> np.ndarray:
        """The liver mask over its bounding box (a view of the scan's mask)."""
        return self.scan.liver[self.box]

    def liver_vox(self, flat: np.ndarray) -> np.ndarray:
        """(N, 3) voxel indices of box-flat indices."""
        return np.stack(np.unravel_index(flat, self.box_shape), axis=-1) + self.lo

    def region_sides(self, vox: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(on the patient's right, superior) of each voxel (N, 3): the coarse regions."""
        vox = np.atleast_2d(vox)
        lr = vox[:, self.lr_axis].astype(np.float64)
        right = lr >= self.lr_split if self.right_is_high else lr < self.lr_split
        si = vox[:, self.si_axis].astype(np.float64)
        split = np.where(right, self.si_split[1], self.si_split[0])
        sup = si >= split if self.superior_is_high else si < split
        return right, sup

    def region_of(self, vox: np.ndarray) -> np.ndarray:
        """Coarse region name of each voxel (N, 3) -> (N,) strings."""
        right, sup = self.region_sides(vox)
        side = np.where(right, "right", "left")
        level = np.where(sup, "superior", "inferior")
        return np.char.add(np.char.add(side, "-"), level)

    def local_parenchyma(self, center: np.ndarray, semi_axes: np.ndarray) -> float:
        """Median HU of the liver around a tumor: the shell 1.2-2 semi-axes from its centre,
        vessel voxels left out (the scan's global median when the shell is too thin).

        Enhancement varies across a liver (the DICOM test scan spans some 30 HU); a contrast
        set against the global median looked faint in darker regions of the first previews.
        """
        a = float(np.max(semi_axes))
        half = np.ceil(2.0 * a / self.spacing).astype(int)
        lo = np.maximum(center - half, 0)
        hi = np.minimum(center + half + 1, self.scan.shape)
        # a fixed stride keeps large tumors cheap (a median needs no more than ~50k voxels)
        step = max(1, int(np.ceil((np.prod(hi - lo) / 50_000) ** (1 / 3))))
        box = tuple(slice(int(x), int(y), step) for x, y in zip(lo, hi, strict=True))
        grids = np.meshgrid(
            *[
                ((np.arange(x, y, step) - c) * sp / r) ** 2
                for x, y, c, sp, r in zip(lo, hi, center, self.spacing, semi_axes, strict=True)
            ],
            indexing="ij",
            sparse=True,
        )
        rho2 = grids[0] + grids[1] + grids[2]
        shell = (rho2 >= 1.44) & (rho2 <= 4.0) & self._parenchyma_on(lo, hi, step)
        values = self.scan.image[box][shell]
        return float(np.median(values)) if values.size >= 50 else self.parenchyma_hu

    @cached_property
    def parenchyma_box(self) -> np.ndarray:
        """Over the liver box: liver voxels that are not vessel voxels."""
        out = np.array(self.liver_box, dtype=bool)
        if len(self.vessel_vox):
            inside = np.all((self.vessel_vox >= self.lo) & (self.vessel_vox < self.hi), axis=1)
            out[tuple((self.vessel_vox[inside] - self.lo).T)] = False
        return out

    def _parenchyma_on(self, lo: np.ndarray, hi: np.ndarray, step: int) -> np.ndarray:
        """`parenchyma_box` on the volume's grid lo:hi:step (False outside the liver box)."""
        counts = [len(range(int(a), int(b), step)) for a, b in zip(lo, hi, strict=True)]
        out = np.zeros(counts, dtype=bool)
        src, dst = [], []
        for a, n, box_lo, box_hi in zip(lo, counts, self.lo, self.hi, strict=True):
            first = max(0, -(-(int(box_lo) - int(a)) // step))  # first index inside the box
            stop = min(n, -(-(int(box_hi) - int(a)) // step))
            if first >= stop:
                return out
            dst.append(slice(first, stop))
            start = int(a) + first * step - int(box_lo)
            src.append(slice(start, start + (stop - first - 1) * step + 1, step))
        out[tuple(dst)] = self.parenchyma_box[tuple(src)]
        return out

    def _grown_liver(self) -> tuple[np.ndarray, np.ndarray]:
        """The liver mask on its box grown by one voxel (clipped), and that box's corner."""
        liver = self.scan.liver
        lo = np.maximum(self.lo - 1, 0)
        hi = np.minimum(self.hi + 1, liver.shape)
        return liver[tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))], lo

    @cached_property
    def surface_tree(self) -> cKDTree | None:
        """k-d tree (grid mm) of the non-liver voxels touching the liver: depth queries."""
        sub, lo = self._grown_liver()
        # The nearest non-liver voxel to a liver point always has a liver neighbour, so
        # this outer layer gives exact depths. The array edge is not a surface (as in
        # scipy's distance transform): livers cut by the field of view stay "deep" there.
        layer = ndimage.binary_dilation(sub) & ~sub
        pts = (np.argwhere(layer) + lo) * self.spacing
        return cKDTree(pts) if len(pts) else None

    @cached_property
    def depth_map(self) -> np.ndarray:
        """Depth (mm) under the liver surface of every voxel of the liver box."""
        sub, lo = self._grown_liver()
        # Zeros only where the liver really ends; scipy does not treat the array edge as a
        # zero, which matches the k-d tree's convention.
        edt = ndimage.distance_transform_edt(sub, sampling=self.spacing)
        cut = tuple(
            slice(int(a - b), int(a - b + n))
            for a, b, n in zip(self.lo, lo, self.box_shape, strict=True)
        )
        return edt[cut]


_CACHE: weakref.WeakKeyDictionary[Scan, dict[tuple[Any, ...], ScanContext]] = (
    weakref.WeakKeyDictionary()
)


def get_context(scan: Scan, vessel_source: str, sigma_mm: float, margin_hu: float) -> ScanContext:
    """The cached context of `scan` for these vessel settings (built on first use)."""
    source = resolve_source(scan, vessel_source)
    key = (source, float(sigma_mm), float(margin_hu))
    per_scan = _CACHE.setdefault(scan, {})
    if key not in per_scan:
        ctx = build_context(scan, source, sigma_mm, margin_hu)
        # the cached context must not hold its own key: a strong reference would keep every
        # scan (and its context) alive for good, e.g. each augmented copy of a training scan
        ctx.scan = cast(Scan, weakref.proxy(scan))
        per_scan[key] = ctx
    return per_scan[key]


def build_context(scan: Scan, source: str, sigma_mm: float, margin_hu: float) -> ScanContext:
    """Compute a ScanContext (no caching); `source` must already be resolved."""
    liver = scan.liver
    spacing = np.asarray(scan.spacing, dtype=np.float64)
    lo, hi = _bbox(liver)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    liver_box = liver[box]
    liver_flat = np.flatnonzero(liver_box)

    threshold: float | None = None
    flat = np.zeros(0, dtype=np.int64)  # vessel voxels as sorted flat indices of the volume
    if source in ("threshold", "union"):
        mask, threshold = threshold_vessels(
            scan.image,
            liver,
            scan.spacing,
            sigma_mm,
            margin_hu,
            box,  # type: ignore[arg-type]
        )
        flat = _volume_flat(np.flatnonzero(mask), mask.shape, lo, liver.shape)
    if source in ("scan", "union") and scan.vessels is not None:
        reach = np.ceil(VESSEL_REACH_MM / spacing).astype(int)
        rlo = np.maximum(lo - reach, 0)
        rhi = np.minimum(hi + reach, liver.shape)
        rbox = tuple(slice(int(a), int(b)) for a, b in zip(rlo, rhi, strict=True))
        sub = scan.vessels[rbox]
        flat = np.union1d(flat, _volume_flat(np.flatnonzero(sub), sub.shape, rlo, liver.shape))
    vessel_vox = np.stack(np.unravel_index(flat, liver.shape), axis=-1).astype(np.int32)
    tree = cKDTree(vessel_vox * spacing) if len(vessel_vox) else None

    # Parenchyma: liver voxels that are not vessel, on a fixed stride (deterministic).
    step = max(1, liver_flat.size // _STAT_SAMPLES)
    sample_flat = liver_flat[::step]
    sample_vox = np.stack(np.unravel_index(sample_flat, liver_box.shape), axis=-1) + lo
    values = scan.image[tuple(sample_vox.T)]
    if len(vessel_vox):
        keep = ~_is_vessel(sample_vox, flat, liver.shape)
        if keep.sum() > 100:
            values = values[keep]
    median = float(np.median(values))
    mad_sd = float(1.4826 * np.median(np.abs(values - median)))

    lr_axis = int(np.argmax(np.abs(scan.affine[0, :3])))
    si_axis = int(np.argmax(np.abs(scan.affine[2, :3])))
    right_is_high = bool(scan.affine[0, lr_axis] > 0)
    superior_is_high = bool(scan.affine[2, si_axis] > 0)
    lr_split = _lobe_plane(liver_box, lr_axis, right_is_high) + lo[lr_axis]
    si_split = _si_planes(liver_box, lr_axis, si_axis, lr_split - lo[lr_axis], right_is_high)
    return ScanContext(
        scan=scan,
        spacing=spacing,
        lo=lo,
        hi=hi,
        liver_flat=liver_flat,
        parenchyma_hu=median,
        parenchyma_sd=max(mad_sd, 1.0),
        vessel_source=source,
        vessel_sigma_mm=float(sigma_mm) if source in ("threshold", "union") else 0.0,
        vessel_threshold_hu=threshold,
        vessel_vox=vessel_vox,
        vessel_flat=flat,
        vessel_tree=tree,
        lr_axis=lr_axis,
        lr_split=float(lr_split),
        right_is_high=right_is_high,
        si_axis=si_axis,
        si_split=(si_split[0] + float(lo[si_axis]), si_split[1] + float(lo[si_axis])),
        superior_is_high=superior_is_high,
    )


def _bbox(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = [], []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hit = np.flatnonzero(np.any(mask, axis=other))
        lo.append(hit[0])
        hi.append(hit[-1] + 1)
    return np.asarray(lo), np.asarray(hi)


def _volume_flat(
    flat: np.ndarray, sub_shape: tuple[int, ...], lo: np.ndarray, shape: tuple[int, ...]
) -> np.ndarray:
    """Flat indices in a sub-box -> flat indices in the volume (order kept: sorted stays sorted)."""
    idx = np.unravel_index(flat, sub_shape)
    return np.ravel_multi_index(tuple(i + int(o) for i, o in zip(idx, lo, strict=True)), shape)


def _is_vessel(vox: np.ndarray, vessel_flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Membership of voxels in the vessel set, by sorted flat indices (no volume-sized mask)."""
    if not len(vessel_flat):
        return np.zeros(len(vox), dtype=bool)
    flat_q = np.ravel_multi_index(tuple(vox.T), shape)
    pos = np.clip(np.searchsorted(vessel_flat, flat_q), 0, len(vessel_flat) - 1)
    return vessel_flat[pos] == flat_q


def _lobe_plane(liver_box: np.ndarray, axis: int, right_is_high: bool) -> float:
    """Coordinate (in the box) with LEFT_LOBE_SHARE of the liver volume on the patient's left."""
    other = tuple(a for a in range(3) if a != axis)
    counts = liver_box.sum(axis=other).astype(np.float64)
    if right_is_high:  # patient's left is at low indices
        cum = np.cumsum(counts) / counts.sum()
        return float(np.searchsorted(cum, LEFT_LOBE_SHARE) + 0.5)
    cum = np.cumsum(counts[::-1]) / counts.sum()
    return float(len(counts) - np.searchsorted(cum, LEFT_LOBE_SHARE) - 0.5)


def _si_planes(
    liver_box: np.ndarray, lr_axis: int, si_axis: int, lr_split: float, right_is_high: bool
) -> tuple[float, float]:
    """Median superior-inferior coordinate of the left and of the right lobe."""
    cut = int(np.ceil(lr_split - 0.5))
    index = [slice(None)] * 3
    index[lr_axis] = slice(0, cut)
    low_part = liver_box[tuple(index)]
    index[lr_axis] = slice(cut, None)
    high_part = liver_box[tuple(index)]
    medians = []
    for part in (low_part, high_part):
        other = tuple(a for a in range(3) if a != si_axis)
        counts = part.sum(axis=other).astype(np.float64) if part.size else np.zeros(1)
        if counts.sum() == 0:
            medians.append(liver_box.shape[si_axis] / 2.0)
            continue
        cum = np.cumsum(counts) / counts.sum()
        medians.append(float(np.searchsorted(cum, 0.5) + 0.5))
    left, right = (medians[0], medians[1]) if right_is_high else (medians[1], medians[0])
    return left, right
