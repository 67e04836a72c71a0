"""Apply one tumor record to a case, on a crop around the tumor: steps 3-7.

Pure and deterministic: the result depends only on the record and the arrays it is painted
into. Work happens on the tumor's box (its deformed extent plus blur, or the mass-effect
zone when larger), never on the whole volume.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage

from robustbench_liver.synthesis import capsule, mass_effect, shape, texture
from robustbench_liver.types import TumorRecord

Box = tuple[slice, slice, slice]


def geometry(record: TumorRecord) -> tuple[np.ndarray, np.ndarray | None]:
    """(semi-axes, rotation matrix or None for axis-aligned)."""
    return np.asarray(record.semi_axes_mm, dtype=np.float64), rotation(record.rotation_deg)


def rotation(angles_deg: tuple[float, float, float]) -> np.ndarray | None:
    """The rotation matrix of z-y-x Euler angles, or None for an axis-aligned tumor."""
    rotated = any(angle != 0 for angle in angles_deg)
    return shape.rotation_matrix(angles_deg) if rotated else None


def _half_sizes(record: TumorRecord, spacing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half-sizes (voxels) of the tumor's own box and of its whole crop."""
    a, rot = geometry(record)
    ext = shape.extent_mm(a, rot is not None, record.lobulation, record.elastic_sigma_mm)
    tumor = np.ceil(ext / spacing).astype(int) + shape.blur_margin(record.edge_blur_mm, spacing) + 1
    crop = tumor
    if record.mass_effect > 0:
        zone = mass_effect.zone_extent_mm(a, rot is not None, record.mass_effect_extent)
        crop = np.maximum(tumor, np.ceil(zone / spacing).astype(int) + 1)
    return tumor, crop


def _clip_box(center: np.ndarray, half: np.ndarray, shape_: tuple[int, ...]) -> Box:
    return shape.clip_box(center, half, shape_)


def tumor_box(record: TumorRecord, shape_: tuple[int, ...], spacing: np.ndarray) -> Box:
    """Every voxel this tumor can change lies inside this box (clipped to the volume)."""
    _, crop = _half_sizes(record, np.asarray(spacing, dtype=np.float64))
    return _clip_box(np.asarray(record.center_vox), crop, shape_)


class Painted(NamedTuple):
    """Where painting one tumor wrote."""

    box: Box | None
    """Holds every voxel labelled as this tumor (None: none)."""
    crop: Box
    """Holds every voxel changed (the tumor's box and its mass-effect zone)."""
    moved_tumors: bool
    """The mass effect may have moved voxels of tumors painted before (within `crop`)."""


def paint(
    image: np.ndarray, label: np.ndarray, record: TumorRecord, spacing: np.ndarray
) -> Painted:
    """Add the tumor to `image` (float32) and `label` (uint8, tumor i as 2 + i), in place."""
    spacing = np.asarray(spacing, dtype=np.float64)
    center = np.asarray(record.center_vox)
    a, rot = geometry(record)
    tumor_half, crop_half = _half_sizes(record, spacing)
    crop = _clip_box(center, crop_half, image.shape)
    crop_lo = np.asarray([s.start for s in crop])
    # Work on contiguous copies of the crop (gathers, scatters and filters are faster there),
    # written back at the end.
    img = image[crop].copy()
    lab = label[crop].copy()
    moved = False

    # Step 6 first: push the tissue aside, then paint the tumor at its requested size.
    if record.mass_effect > 0:
        moved = bool(lab.max() >= 2)
        mass_effect.warp(
            img,
            lab,
            center - crop_lo,
            spacing,
            a,
            rot,
            record.mass_effect,
            record.mass_effect_extent,
        )

    # Step 4: shape on the tumor's box, then the blur on the tight box around it.
    mask, offsets, tbox = _shape(record, center, tumor_half, spacing, image.shape)
    if mask is None:
        image[crop] = img
        label[crop] = lab
        return Painted(None, crop, moved)
    margin = shape.blur_margin(record.edge_blur_mm, spacing)
    hit = shape.extent(mask)
    tight_lo = np.maximum(np.asarray([h.start for h in hit]) - margin, 0)
    tight_hi = np.minimum(np.asarray([h.stop for h in hit]) + margin, mask.shape)
    tight = tuple(slice(int(a_), int(b_)) for a_, b_ in zip(tight_lo, tight_hi, strict=True))
    mask = mask[tight]
    offsets = tuple(o[t] for o, t in zip(offsets, tight, strict=True))
    blurred = shape.edge_blur(mask, record.edge_blur_mm, spacing)

    # The tight box in crop coordinates.
    tbox_lo = np.asarray([s.start for s in tbox]) + tight_lo - crop_lo
    local = tuple(slice(int(lo), int(lo + n)) for lo, n in zip(tbox_lo, mask.shape, strict=True))
    f = img[local]
    in_liver = lab[local] >= 1  # step 5: blend inside the (warped) liver only
    # Half a voxel of partial volume at the liver's edge: label masks are staircases (a
    # vessel carved out of the liver showed as a bright square inside a dark tumor).
    if in_liver.all():  # the filter of ones is exactly one (float32 of a unit kernel sum)
        soft = np.ones(in_liver.shape, dtype=np.float32)
    else:
        soft = ndimage.gaussian_filter(
            in_liver.astype(np.float32), 1.0, mode="nearest", truncate=2.0
        )
    weight = blurred * soft
    inside = mask & in_liver
    band = capsule.capsule_band(blurred, record.capsule_band) if record.capsule_hu != 0 else None

    # Step 3 and 5: texture and blend.
    if record.intensity_model == "released":
        if record.texture_sigma_hu > 0:
            tex = texture.released_texture(
                record.seed, offsets, record.texture_scale_mm, record.texture_blur_mm
            )
        else:
            tex = np.full(f.shape, texture.released_flat(record.seed), dtype=np.float32)
        new = f + np.float32(record.delta_hu) * tex * weight
    else:
        noise = None
        if record.texture_sigma_hu > 0:
            noise = texture.noise_texture(
                record.seed, offsets, record.texture_scale_mm, record.texture_blur_mm, spacing
            )
        grain = texture.scan_grain(f) if record.keep_scan_noise else None
        level = _calibrated_level(record, f, weight, inside, noise, band, grain)
        # tumor = level + sigma_p noise + grain, then new = f + w (tumor - f); in place, with
        # the operations in the same order as the plain expressions
        if noise is not None:
            tumor = np.multiply(noise, np.float32(record.texture_sigma_hu), out=noise)
            tumor += np.float32(level)
        else:
            tumor = np.full(f.shape, level, dtype=np.float32)
        if grain is not None:
            tumor += grain
        tumor -= f
        tumor *= weight
        new = np.add(f, tumor, out=tumor)
    # Step 7: capsule.
    if band is not None:
        capsule.add_capsule(new, band, soft, record.capsule_hu)
    img[local] = new
    lab_local = lab[local]
    lab_local[inside] = 2 + record.index
    image[crop] = img
    label[crop] = lab
    box = tuple(
        slice(int(s.start + c), int(s.stop + c)) for s, c in zip(local, crop_lo, strict=True)
    )
    return Painted(box, crop, moved)  # type: ignore[arg-type]


def _shape(
    record: TumorRecord,
    center: np.ndarray,
    tumor_half: np.ndarray,
    spacing: np.ndarray,
    shape_: tuple[int, ...],
) -> tuple[np.ndarray | None, tuple[np.ndarray, ...], Box]:
    """t' on a box around the tumor (see `shape.deformed_mask`)."""
    a, rot = geometry(record)
    return shape.deformed_mask(
        record.seed,
        record.elastic_sigma_mm,
        record.elastic_points,
        a,
        rot,
        record.lobulation,
        record.lobes,
        record.edge_blur_mm,
        center,
        tumor_half,
        spacing,
        shape_,
    )


def _calibrated_level(
    record: TumorRecord,
    f: np.ndarray,
    weight: np.ndarray,
    inside: np.ndarray,
    noise: np.ndarray | None,
    band: np.ndarray | None,
    grain: np.ndarray | None,
) -> float:
    """mu_t so that the mean HU inside the label is parenchyma + delta (capsule included).

    Inside the label the result is f + w (mu_t + sigma_p n + g - f) + d e (g: the scan's own
    grain); solving its mean for mu_t accounts for the soft edge (w < 1), the sample means
    of texture and grain, and the capsule.
    """
    p = record.parenchyma_hu
    target = p + record.delta_hu
    if not inside.any():
        return target
    w = weight[inside].astype(np.float64)
    fl = f[inside].astype(np.float64)
    rest = np.mean((1.0 - w) * fl)
    if noise is not None:
        rest += record.texture_sigma_hu * np.mean(w * noise[inside])
    if grain is not None:
        rest += np.mean(w * grain[inside])
    if band is not None:
        rest += record.capsule_hu * np.mean(band[inside])
    return float((target - rest) / np.mean(w))
