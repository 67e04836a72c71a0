"""Crops by one rule: inside the scan, the same detail grid, matched noise, one window."""

from __future__ import annotations

import numpy as np
import pytest

from robustbench_liver.turing import crops


def flat_slab(shape, spacing, noise_sd, seed=0, hu=100.0) -> crops.Slab:
    rng = np.random.default_rng(seed)
    image = hu + rng.normal(0.0, noise_sd, shape)
    return crops.Slab(image, np.ones(shape, dtype=bool), spacing, 1)


def test_a_crop_must_lie_inside_the_scan():
    shape, spacing = (64, 64, 10), (2.0, 2.0, 5.0)  # voxel centres span 0-126 mm
    assert crops.fits(shape, spacing, (63.0, 63.0), 100.0)
    assert not crops.fits(shape, spacing, (40.0, 63.0), 100.0)  # 10 mm past the left edge
    assert not crops.fits(shape, spacing, (63.0, 100.0), 60.0)


def test_a_slab_must_lie_inside_the_scan():
    assert crops.slab_slices(2.5, 5.0) == 2 and crops.slab_slices(5.0, 5.0) == 1
    assert crops.slab_fits(0, 10, 1) and not crops.slab_fits(0, 10, 3)
    assert crops.slab_fits(1, 10, 3) and not crops.slab_fits(9, 10, 2)
    volume = np.arange(2 * 2 * 4, dtype=float).reshape(2, 2, 4)
    slab = crops.take_slab(volume, volume > 0, (1.0, 1.0, 2.5), 1, 2)
    assert slab is not None and slab.slices == 2
    assert np.array_equal(slab.image, volume[:, :, 1:3].mean(axis=2))
    assert crops.take_slab(volume, volume > 0, (1.0, 1.0, 2.5), 3, 2) is None


def test_the_estimated_noise_of_white_noise():
    slab = flat_slab((200, 200), (1.0, 1.0), 15.0)
    assert crops.noise_sd(slab) == pytest.approx(15.0, rel=0.05)
    empty = crops.Slab(slab.image, np.zeros((200, 200), bool), (1.0, 1.0), 1)
    assert crops.noise_sd(empty) is None


def test_matched_noise_evens_out_sources_of_other_noise_and_spacing():
    """A fine noisy source and a coarse quiet one end with the same noise on the detail grid."""
    fov, pixels = 60.0, 20
    sources = [
        flat_slab((120, 120), (0.8, 0.8), 20.0, seed=1),
        flat_slab((40, 40), (3.0, 3.0), 6.0, seed=2),
    ]
    centre = (45.0, 45.0)
    rng = np.random.default_rng(3)
    out = [
        crops.noise_sd(s) * crops.noise_gain(s, centre, fov, pixels, rng)  # type: ignore[operator]
        for s in sources
    ]
    adds = crops.matching_noise(out)
    assert min(adds) == 0.0
    final = []
    for k, s in enumerate(sources):
        sd = []
        for rep in range(30):  # many crops: the SD of one 20 x 20 crop is itself noisy
            image = flat_slab(s.image.shape, s.spacing, [20.0, 6.0][k], seed=100 + rep).image
            again = crops.Slab(image, s.parenchyma, s.spacing, 1)
            d = crops.detail(again, centre, fov, pixels)
            d = d + rng.normal(0.0, adds[k], d.shape)
            sd.append(d.std())
        final.append(float(np.mean(sd)))
    assert final[0] == pytest.approx(final[1], rel=0.1)


def test_liver_window_level_is_the_crops_parenchyma():
    slab = flat_slab((50, 50), (1.0, 1.0), 0.0, hu=180.0)
    assert crops.liver_level(slab, (25.0, 25.0), 20.0) == pytest.approx(180.0)


def test_display_is_radiological_and_8_bit():
    detail = np.zeros((8, 8))
    detail[7, 7] = 1000.0  # RAS: largest x = patient right, largest y = anterior
    image = crops.to_display(detail, (-100.0, 100.0), 32)
    assert image.dtype == np.uint8 and image.shape == (32, 32)
    # patient right on the screen's left, anterior at the top
    quadrants = [image[:16, :16], image[:16, 16:], image[16:, :16], image[16:, 16:]]
    assert int(np.argmax([q.mean() for q in quadrants])) == 0
