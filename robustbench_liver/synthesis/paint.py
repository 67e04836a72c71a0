"""Apply one tumor record to a case, on a crop around the tumor: steps 3-7.

Pure and deterministic: the result depends only on the record and the arrays it is painted
into. Work happens on the tumor's box (its deformed extent plus blur, or the mass-effect
zone when larger), never on the whole volume.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage

from robustbench_liver.errors import SynthesisError
from robustbench_liver.synthesis import capsule, edge, mass_effect, realism, shape, texture
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
    real = realism.of(record)
    tumor_half, crop_half = _half_sizes(record, spacing)
    crop = _clip_box(center, crop_half, image.shape)
    crop_lo = np.asarray([s.start for s in crop])
    # Work on contiguous copies of the crop (gathers, scatters and filters are faster there),
    # written back at the end.
    img = image[crop].copy()
    lab = label[crop].copy()
    moved = False

    # Step 4 (shape on the tumor's box, blur on the tight box around it) first: it does not
    # depend on the image, and says where the scan's grain is needed.
    mask, offsets, tbox, blurred = _shape(record, center, tumor_half, spacing, image.shape)
    local: Box | None = None
    if mask is not None:
        tbox_lo = np.asarray([s.start for s in tbox]) - crop_lo
        local = tuple(  # type: ignore[assignment]
            slice(int(lo), int(lo + n)) for lo, n in zip(tbox_lo, mask.shape, strict=True)
        )
    kept = None
    if record.mass_effect > 0 and real.mass_effect_keep_grain:
        # the scan's grain, once, where the warp and the blend need it
        zone = mass_effect.zone_box(
            center - crop_lo, spacing, a, rot is not None, record.mass_effect_extent, img.shape
        )
        box = _union(zone, local)
        if box is not None:
            kept = mass_effect.Grain(box, texture.scan_grain(img[box], truncate=2.0))

    # Step 6: push the tissue aside, then paint the tumor at its requested size.
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
            grain=kept,
        )
    if mask is None or blurred is None or local is None:
        image[crop] = img
        label[crop] = lab
        return Painted(None, crop, moved)

    f = img[local]
    # step 5: blend inside the (warped) liver only, and through the small clefts in it
    liver_here = lab[local] >= 1
    in_liver = realism.fill_clefts(liver_here, mask, spacing, real.fill_clefts_mm)
    if in_liver is not liver_here:
        # a cleft painted through is tissue to the tumor: without the fat (and its edges in
        # the scan's grain) it leaves no ghost of itself inside the tumor
        f = f.copy()
        f[in_liver & ~liver_here] = np.float32(record.parenchyma_hu)
        kept = None
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
    necrosis = None
    if real.necrosis_share > 0:
        necrosis = realism.necrosis_weight(
            record.seed, offsets, a, rot, inside, real.necrosis_share, spacing
        )
    calcium = None
    if real.calcification_share > 0:
        deep = inside & (blurred >= np.float32(0.5))
        calcium = realism.calcification_weight(
            record.seed, offsets, deep, int(inside.sum()), real.calcification_share, spacing
        )

    # Step 3 and 5: texture and blend.
    grain = None
    if record.intensity_model == "released":
        if record.texture_sigma_hu > 0:
            tex = texture.released_texture(
                record.seed, offsets, record.texture_scale_mm, record.texture_blur_mm
            )
        else:
            tex = np.full(f.shape, texture.released_flat(record.seed), dtype=np.float32)
        new = f + np.float32(record.delta_hu) * tex * weight
        if necrosis is not None:
            new += np.float32(real.necrosis_hu) * necrosis * weight
    else:
        noise = None
        if record.texture_sigma_hu > 0:
            noise = texture.noise_texture(
                record.seed, offsets, record.texture_scale_mm, record.texture_blur_mm, spacing
            )
        grain = None
        if record.keep_scan_noise:
            # the grain the warp kept in place is the scan's own: no second filter for it
            grain = None if kept is None else kept.on(local)
            if grain is None:
                grain = texture.scan_grain(f)
        dark = None if necrosis is None else np.float32(real.necrosis_hu) * necrosis
        level = _calibrated_level(record, f, weight, inside, noise, band, grain, dark)
        # tumor = level + sigma_p noise + grain (+ necrosis), then new = f + w (tumor - f); in
        # place, with the operations in the same order as the plain expressions
        if noise is not None:
            tumor = np.multiply(noise, np.float32(record.texture_sigma_hu), out=noise)
            tumor += np.float32(level)
        else:
            tumor = np.full(f.shape, level, dtype=np.float32)
        if grain is not None:
            tumor += grain
        if dark is not None:
            tumor += dark
        tumor -= f
        tumor *= weight
        new = np.add(f, tumor, out=tumor)
    if calcium is not None:  # calcium is absolute HU: it replaces the tissue (noise stays)
        target = np.full(new.shape, real.calcification_hu, dtype=np.float32)
        if grain is not None:
            target += grain
        new += calcium * (target - new)
    # Step 7: capsule.
    if band is not None:
        capsule.add_capsule(new, band, soft, record.capsule_hu)
    img[local] = new
    lab_local = lab[local]
    lab_local[inside] = 2 + record.index
    image[crop] = img
    label[crop] = lab
    # the box of t' (which holds the label's voxels): less to search when measuring
    hit = shape.extent(mask)
    labelled = tuple(
        slice(int(s.start + h.start + c), int(s.start + h.stop + c))
        for s, h, c in zip(local, hit, crop_lo, strict=True)
    )
    return Painted(labelled, crop, moved)  # type: ignore[arg-type]


def _union(a: Box | None, b: Box | None) -> Box | None:
    """The smallest box holding both (either may be None)."""
    if a is None or b is None:
        return a or b
    return tuple(  # type: ignore[return-value]
        slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b, strict=True)
    )


def _shape(
    record: TumorRecord,
    center: np.ndarray,
    tumor_half: np.ndarray,
    spacing: np.ndarray,
    shape_: tuple[int, ...],
) -> tuple[np.ndarray | None, tuple[np.ndarray, ...], Box, np.ndarray | None]:
    """t', offsets, box and t'' on the tumor's tight box (see `edge.blurred_tumor`)."""
    a, rot = geometry(record)
    return edge.blurred_tumor(
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
        realism.of(record).label_level,
    )


def _calibrated_level(
    record: TumorRecord,
    f: np.ndarray,
    weight: np.ndarray,
    inside: np.ndarray,
    noise: np.ndarray | None,
    band: np.ndarray | None,
    grain: np.ndarray | None,
    dark: np.ndarray | None = None,
) -> float:
    """mu_t so that the mean HU inside the label is parenchyma + delta (capsule and necrotic
    core included; calcifications come on top: delta describes the tumor's tissue).

    Inside the label the result is f + w (mu_t + sigma_p n + g + k - f) + d e (g: the scan's
    own grain, k: the necrotic core's darkening); solving its mean for mu_t accounts for the
    soft edge (w < 1), the sample means of texture, grain and necrosis, and the capsule.
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
    if dark is not None:
        rest += np.mean(w * dark[inside])
    if band is not None:
        rest += record.capsule_hu * np.mean(band[inside])
    visible = float(np.mean(w))
    if not visible > 1e-6:  # e.g. a tumor cut by the field of view down to its faint rim
        raise SynthesisError(
            f"tumor {record.index} (centre voxel {record.center_vox}) shows no tumor tissue "
            f"inside its label within the scan ({int(inside.sum())} label voxels, none "
            "above the edge's floor): it lies almost wholly beyond the field of view"
        )
    return float((target - rest) / visible)
