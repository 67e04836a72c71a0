"""The fast paths of synthesis give what the plain computation gives: reused buffers, the
mask cache, the shape's first box, the warp's zone box, the spline and blur matrices, the
local parenchyma and the lesion numbering, each against a plain implementation written
here."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
from scipy import ndimage
from scipy.interpolate import make_interp_spline

from robustbench_liver.errors import SynthesisError
from robustbench_liver.synthesis import (
    CaseBuffer,
    TumorConfig,
    apply,
    context,
    mass_effect,
    measure,
    noise,
    paint,
    sample,
    shape,
    synthesize,
)

from .conftest import make_small_scan


def same_case(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.image.tobytes() == b.image.tobytes()
    assert a.label.tobytes() == b.label.tobytes()
    assert a.tumors == b.tumors


def test_a_reused_buffer_gives_the_bytes_of_a_new_case(small_scan):
    other = make_small_scan(seed=1, scan_id="other")
    buffer = CaseBuffer()
    for scan, level, seed in [
        (small_scan, "mix", 0),
        (small_scan, "medium", 1),  # restores only what the case before changed
        (other, "small", 2),  # another scan: copied whole
        (small_scan, "tiny", 3),
        (small_scan, "tiny", 3),
    ]:
        records = sample(scan, level, seed)
        case = apply(scan, records, out=buffer)
        same_case(case, apply(scan, records))
        assert not case.image.flags.writeable and not case.label.flags.writeable
    with pytest.raises(SynthesisError, match="CaseBuffer"):
        apply(small_scan, [], out=(np.zeros(1), np.zeros(1)))  # type: ignore[arg-type]


def test_the_mask_cache_changes_nothing(small_scan):
    records = sample(small_scan, "mix", 5)  # masks computed (and kept) for the radii
    warm = apply(small_scan, records)
    shape._MASKS.items.clear()
    shape._MASKS.size = 0
    cold = apply(small_scan, records)
    same_case(warm, cold)


def plain_deformed_mask(r, center, tumor_half, spacing, shape_):  # type: ignore[no-untyped-def]
    """t' on the reach box grown by the blur margin, else on the worst-case box."""
    a, rot = paint.geometry(r)
    full = shape.clip_box(center, tumor_half, shape_)
    offsets = shape._offsets(full, center, spacing)
    reach = shape.displacement_reach(r.seed, r.elastic_sigma_mm, r.elastic_points, a, offsets)
    base = shape.axis_reach_mm(a, rot is not None)
    margin = shape.blur_margin(r.edge_blur_mm, spacing)
    half = np.ceil((base * (1.0 + r.lobulation) + reach) / spacing).astype(int) + 1 + margin
    dirs = shape.lobe_directions(r.seed, r.lobes) if r.lobulation > 0 else None
    for box in (shape.clip_box(center, np.minimum(half, tumor_half), shape_), full):
        offsets = shape._offsets(box, center, spacing)
        disp = shape.elastic_displacement(r.seed, r.elastic_sigma_mm, r.elastic_points, a, offsets)
        mask = shape.tumor_mask(offsets, a, rot, disp, r.lobulation, dirs)
        if box == full or not shape._touches_inner_face(mask, box, full, margin + 1):
            break
    return (mask if mask.any() else None), box


def test_the_shape_is_that_of_the_plain_two_box_computation(small_scan):
    base = sample(small_scan, "medium", 0)[0]
    rng = np.random.default_rng(0)
    volume = (120, 110, 60)
    for spacing in (np.array([0.8, 0.8, 1.5]), np.array([3.0, 3.0, 3.0])):
        for i in range(40):
            r = dataclasses.replace(
                base,
                seed=int(rng.integers(2**40)),
                semi_axes_mm=tuple(float(x) for x in rng.uniform(2, 30, 3)),
                elastic_sigma_mm=float(rng.uniform(0, 8)),
                edge_blur_mm=float(rng.uniform(0, 2)),
                rotation_deg=tuple(float(x) for x in rng.uniform(-90, 90, 3))
                if i % 3 == 0
                else (0.0, 0.0, 0.0),
                lobulation=0.3 if i % 4 == 0 else 0.0,
            )
            centre = rng.integers(0, volume) if i % 2 else np.asarray(volume) // 2  # some cut
            half, _ = paint._half_sizes(r, spacing)
            want, want_box = plain_deformed_mask(r, centre, half, spacing, volume)
            got, _, got_box, _ = paint._shape(r, centre, half, spacing, volume)
            assert (want is None) == (got is None)
            if want is not None:
                # painting works on the mask's tight box (its extent plus the blur's reach),
                # which holds every voxel of the plain computation's mask
                assert all(
                    w.start <= g.start and g.stop <= w.stop
                    for g, w in zip(got_box, want_box, strict=True)
                )
                inner = tuple(
                    slice(g.start - w.start, g.stop - w.start)
                    for g, w in zip(got_box, want_box, strict=True)
                )
                np.testing.assert_array_equal(got, want[inner])
                assert int(got.sum()) == int(want.sum())


def plain_warp(image, label, center, spacing, a, strength, extent):  # type: ignore[no-untyped-def]
    """The mass effect over every voxel of the arrays (axis-aligned), scipy's reads."""
    grids = np.meshgrid(
        *[
            ((np.arange(n) - c) * s).astype(np.float32)
            for n, c, s in zip(image.shape, center, spacing, strict=True)
        ],
        indexing="ij",
        sparse=True,
    )
    af = a.astype(np.float32)
    rho2 = (grids[0] / af[0]) ** 2 + (grids[1] / af[1]) ** 2 + (grids[2] / af[2]) ** 2
    idx = np.nonzero(rho2 < np.float32(extent * extent))
    factor = mass_effect.source_scale(np.sqrt(rho2[idx]), strength, extent)
    coords = np.empty((3, idx[0].size), dtype=np.float32)
    for axis in range(3):
        coords[axis] = center[axis] + (idx[axis] - np.float32(center[axis])) * factor
    image[idx] = ndimage.map_coordinates(image, coords, order=1, mode="nearest")
    label[idx] = ndimage.map_coordinates(label, coords, order=0, mode="nearest")


def test_the_warp_is_that_of_the_whole_box(small_scan):
    rng = np.random.default_rng(1)
    spacing = np.asarray(small_scan.spacing)
    for _ in range(6):
        a = rng.uniform(4, 15, 3)
        crop = (60, 50, 30)  # bigger than the zone: the warp works on the zone's box
        lo = rng.integers(0, np.asarray(small_scan.shape) - crop)
        box = tuple(slice(int(x), int(x) + n) for x, n in zip(lo, crop, strict=True))
        image = np.array(small_scan.image[box])
        label = small_scan.liver[box].astype(np.uint8)
        label[20:25, 20:25, 10:15] = 3  # another tumor's voxels
        centre = rng.integers(5, np.asarray(crop) - 5)
        want_i, want_l = image.copy(), label.copy()
        plain_warp(want_i, want_l, centre, spacing, a, 60.0, 1.5)
        mass_effect.warp(image, label, centre, spacing, a, None, 60.0, 1.5)
        np.testing.assert_array_equal(image, want_i)
        np.testing.assert_array_equal(label, want_l)


def test_spline_and_blur_matrices_are_the_plain_ones():
    rng = np.random.default_rng(3)
    for _ in range(30):
        n = int(rng.integers(2, 30))
        nodes = np.arange(n) * rng.uniform(0.5, 8) - rng.uniform(0, 50)
        targets = rng.uniform(nodes[0] - 5, nodes[-1] + 5, 40)
        plain = make_interp_spline(nodes, np.eye(n), k=min(3, n - 1))(
            np.clip(targets, nodes[0], nodes[-1])
        )
        np.testing.assert_allclose(noise.interp_matrix(nodes, targets), plain, atol=1e-6)
    for n, sigma in ((1, 1.0), (5, 0.7), (40, 2.3), (7, 5.0)):
        radius = int(np.ceil(3.0 * sigma))
        kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        kernel /= kernel.sum()
        plain = np.zeros((n, n))
        for off, w in zip(range(-radius, radius + 1), kernel, strict=True):
            np.add.at(plain, (np.arange(n), np.clip(np.arange(n) + off, 0, n - 1)), w)
        np.testing.assert_array_equal(noise.gaussian_matrix(n, sigma), plain.astype(np.float32))


def test_local_parenchyma_is_the_plain_median(small_scan):
    ctx = context(small_scan)
    rng = np.random.default_rng(4)
    vessels = np.zeros(small_scan.shape, dtype=bool)
    vessels[tuple(ctx.vessel_vox.T)] = True
    for _ in range(40):
        centre = rng.integers(0, small_scan.shape)
        a = rng.uniform(2, 40, 3)
        half = np.ceil(2.0 * a.max() / ctx.spacing).astype(int)
        lo = np.maximum(centre - half, 0)
        hi = np.minimum(centre + half + 1, small_scan.shape)
        step = max(1, int(np.ceil((np.prod(hi - lo) / 50_000) ** (1 / 3))))
        box = tuple(slice(int(x), int(y), step) for x, y in zip(lo, hi, strict=True))
        grids = np.meshgrid(
            *[
                ((np.arange(x, y, step) - c) * sp / r) ** 2
                for x, y, c, sp, r in zip(lo, hi, centre, ctx.spacing, a, strict=True)
            ],
            indexing="ij",
        )
        rho2 = grids[0] + grids[1] + grids[2]
        shell = (rho2 >= 1.44) & (rho2 <= 4.0) & small_scan.liver[box] & ~vessels[box]
        values = small_scan.image[box][shell]
        want = float(np.median(values)) if values.size >= 50 else ctx.parenchyma_hu
        assert ctx.local_parenchyma(centre, a) == want


def test_lesion_ids_are_those_of_labelling_the_whole_volume(small_scan):
    """Touching tumors (overlap allowed) and apart ones: the ids the records carry are the
    26-connected components of the case's tumor label, numbered in raster order over the
    whole volume (labelled here in one piece)."""
    merged = 0
    for level, seed in [("small", s) for s in range(4)] + [("mix", s) for s in range(3)]:
        cfg = TumorConfig.level(level, allow_overlap=True, min_inside=0.5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            case = synthesize(small_scan, cfg, seed)
        _, want = measure.lesions(case.label == 2, case.tumors)
        assert [r.lesion_id for r in case.tumors] == want
        merged += sum(1 for r in case.tumors if r.merged_with)
        voxel = float(np.prod(small_scan.spacing))
        assert sum(r.volume_mm3 or 0.0 for r in case.tumors) == pytest.approx(
            (case.label == 2).sum() * voxel
        )
    assert merged  # some tumors did touch


def test_the_context_cache_lets_a_dropped_scan_go():
    """The cache is keyed weakly by the scan; its context must not hold the scan strongly,
    or every scan synthesized into (e.g. each augmented training copy) stays in memory."""
    import gc
    import weakref

    scan = make_small_scan()
    synthesize(scan, TumorConfig.level("small"), np.random.default_rng(0))
    gone = weakref.ref(scan)
    del scan
    gc.collect()
    assert gone() is None


def test_a_tumor_with_no_visible_tissue_is_an_error_not_nan():
    """A tumor cut by the field of view down to its faint rim has no weight inside its
    label; solving for its level divided by zero and painted NaN into the case."""
    record = synthesize(make_small_scan(), TumorConfig.level("small"), np.random.default_rng(0))
    f = np.full((4, 4, 4), 60.0, dtype=np.float32)
    inside = np.ones(f.shape, dtype=bool)
    with pytest.raises(SynthesisError, match="beyond the field of view"):
        paint._calibrated_level(record.tumors[0], f, np.zeros_like(f), inside, None, None, None)
