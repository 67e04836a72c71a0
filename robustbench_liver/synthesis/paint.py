"""Apply one tumor record to a case, on a crop around the tumor: steps 3-7.

Pure and deterministic: the result depends only on the record and the arrays it is painted
into. Work happens on the tumor's box (its deformed extent plus blur, or the mass-effect
zone when larger), never on the whole volume.
"""

from __future__ import annotations

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
    lo = np.maximum(center - half, 0)
    hi = np.minimum(center + half + 1, shape_)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))  # type: ignore[return-value]


def tumor_box(record: TumorRecord, shape_: tuple[int, ...], spacing: np.ndarray) -> Box:
    """Every voxel this tumor can change lies inside this box (clipped to the volume)."""
    _, crop = _half_sizes(record, np.asarray(spacing, dtype=np.float64))
    return _clip_box(np.asarray(record.center_vox), crop, shape_)


def paint(image: np.ndarray, label: np.ndarray, record: TumorRecord, spacing: np.ndarray) -> None:
    """Add the tumor to `image` (float32) and `label` (uint8, tumor i as 2 + i), in place."""
    spacing = np.asarray(spacing, dtype=np.float64)
    center = np.asarray(record.center_vox)
    a, rot = geometry(record)
    tumor_half, crop_half = _half_sizes(record, spacing)
    crop = _clip_box(center, crop_half, image.shape)
    crop_lo = np.asarray([s.start for s in crop])
    img = image[crop]
    lab = label[crop]

    # Step 6 first: push the tissue aside, then paint the tumor at its requested size.
    if record.mass_effect > 0:
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
        return
    margin = shape.blur_margin(record.edge_blur_mm, spacing)
    hit = [
        np.flatnonzero(np.any(mask, axis=tuple(j for j in range(3) if j != i))) for i in range(3)
    ]
    tight_lo = np.maximum(np.asarray([h[0] for h in hit]) - margin, 0)
    tight_hi = np.minimum(np.asarray([h[-1] + 1 for h in hit]) + margin, mask.shape)
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
    soft = ndimage.gaussian_filter(in_liver.astype(np.float32), 1.0, mode="nearest", truncate=2.0)
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
        tumor = np.full(f.shape, level, dtype=np.float32)
        if noise is not None:
            tumor += np.float32(record.texture_sigma_hu) * noise
        if grain is not None:
            tumor += grain
        new = f + weight * (tumor - f)
    # Step 7: capsule.
    if band is not None:
        capsule.add_capsule(new, band, soft, record.capsule_hu)
    img[local] = new
    lab_local = lab[local]
    lab_local[inside] = 2 + record.index


def _shape(
    record: TumorRecord,
    center: np.ndarray,
    tumor_half: np.ndarray,
    spacing: np.ndarray,
    shape_: tuple[int, ...],
) -> tuple[np.ndarray | None, tuple[np.ndarray, ...], Box]:
    """t' on a box around the tumor: first the box the deformation usually reaches (a coarse
    look at the field), and the worst-case box only if the tumor touches its faces."""
    a, rot = geometry(record)
    dirs = shape.lobe_directions(record.seed, record.lobes) if record.lobulation > 0 else None
    full = _clip_box(center, tumor_half, shape_)
    full_offsets = _offsets(full, center, spacing)
    reach = shape.displacement_reach(
        record.seed, record.elastic_sigma_mm, record.elastic_points, a, full_offsets
    )
    base = shape.axis_reach_mm(a, rot is not None)
    margin = shape.blur_margin(record.edge_blur_mm, spacing)
    half = np.ceil((base * (1.0 + record.lobulation) + reach) / spacing).astype(int) + 1 + margin
    half = np.minimum(half, tumor_half)
    for box in (_clip_box(center, half, shape_), full):
        offsets = _offsets(box, center, spacing)
        disp = shape.elastic_displacement(
            record.seed, record.elastic_sigma_mm, record.elastic_points, a, offsets
        )
        mask = shape.tumor_mask(offsets, a, rot, disp, record.lobulation, dirs)
        if box == full or not _touches_inner_face(mask, box, full, margin + 1):
            break
    if not mask.any():
        return None, offsets, box
    return mask, offsets, box


def _offsets(box: Box, center: np.ndarray, spacing: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(
        shape.axis_offsets(s.start, s.stop, c, sp)
        for s, c, sp in zip(box, center, spacing, strict=True)
    )


def _touches_inner_face(mask: np.ndarray, box: Box, full: Box, width: np.ndarray) -> bool:
    """Does the mask come within `width` voxels of a face of `box` that lies inside `full`
    (so that it, or its blur, may be cut)?"""
    for axis in range(3):
        w = int(width[axis])
        low = [slice(None)] * 3
        low[axis] = slice(0, w)
        high = [slice(None)] * 3
        high[axis] = slice(-w, None)
        if box[axis].start > full[axis].start and mask[tuple(low)].any():
            return True
        if box[axis].stop < full[axis].stop and mask[tuple(high)].any():
            return True
    return False


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
