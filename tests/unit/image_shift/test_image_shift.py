"""Image-level shifts: physical units, image only, seeded, validated."""

from __future__ import annotations

import numpy as np
import pytest

from robustbench_liver.errors import DataError
from robustbench_liver.synthesis.image_shift import ImageShift, apply_image_shift

SPACING = (1.0, 1.0, 1.0)


def step_image(axis: int) -> np.ndarray:
    image = np.zeros((40, 40, 40), dtype=np.float32)
    index = [slice(None)] * 3
    index[axis] = slice(20, None)
    image[tuple(index)] = 100.0
    return image


def rng(seed=0):
    return np.random.default_rng(seed)


def test_identity_returns_the_input():
    image = step_image(2)
    assert apply_image_shift(image, SPACING, ImageShift(), rng()) is image


def test_noise_has_the_requested_std_and_is_seeded():
    image = np.zeros((64, 64, 16), dtype=np.float32)
    shift = ImageShift(noise_std_hu=20.0, noise_grain_mm=1.5)
    a = apply_image_shift(image, SPACING, shift, rng(1))
    b = apply_image_shift(image, SPACING, shift, rng(1))
    c = apply_image_shift(image, SPACING, shift, rng(2))
    assert a.tobytes() == b.tobytes() != c.tobytes()
    assert float(a.std()) == pytest.approx(20.0, rel=0.05)
    # correlated: neighbours in-plane are alike, slices are independent
    assert np.corrcoef(a[:-1].ravel(), a[1:].ravel())[0, 1] > 0.5
    assert abs(np.corrcoef(a[..., :-1].ravel(), a[..., 1:].ravel())[0, 1]) < 0.05


def test_thick_slices_blur_along_z_only_and_keep_the_mean():
    image = step_image(2)
    out = apply_image_shift(image, SPACING, ImageShift(slice_thickness_mm=5.0), rng())
    profile = out[10, 10]
    assert profile[0] == 0 and profile[-1] == 100
    assert 0 < profile[20] < 100 and 0 < profile[18] < 100  # the edge spreads over slices
    assert abs(float(out.mean()) - float(image.mean())) < 1.5
    np.testing.assert_array_equal(out[:, :, 5], out[0:1, 0:1, 5].repeat(40, 0).repeat(40, 1))


def test_coarse_pixels_blur_in_plane_only():
    image = step_image(0)
    out = apply_image_shift(image, SPACING, ImageShift(inplane_mm=4.0), rng())
    assert out.shape == image.shape
    assert 0 < out[19, 5, 5] < 100 or 0 < out[20, 5, 5] < 100
    np.testing.assert_array_equal(out[:, :, 0], out[:, :, 39])  # z untouched
    assert out[:15].max() < 1 and out[26:].min() > 99


def test_blur_fwhm_in_mm():
    image = np.zeros((41, 41, 3), dtype=np.float32)
    image[20, 20, :] = 1000.0
    out = apply_image_shift(image, (0.5, 0.5, 2.0), ImageShift(blur_fwhm_mm=3.0), rng())
    profile = out[:, 20, 1]
    above_half = np.flatnonzero(profile >= profile.max() / 2)
    fwhm_mm = (above_half[-1] - above_half[0] + 1) * 0.5
    assert 2.5 <= fwhm_mm <= 3.5
    np.testing.assert_allclose(out[..., 0], out[..., 2])


def test_hu_scale_and_offset():
    image = np.array([[[-1000.0, 0.0, 100.0]]], dtype=np.float32)
    out = apply_image_shift(image, SPACING, ImageShift(hu_scale=0.8, hu_offset=-10), rng())
    np.testing.assert_allclose(out.ravel(), [-810.0, -10.0, 70.0])


@pytest.mark.parametrize(
    "field, value",
    [
        ("noise_std_hu", -1),
        ("hu_scale", 0),
        ("slice_thickness_mm", 0.0),
        ("blur_fwhm_mm", float("nan")),
    ],
)
def test_bad_values_name_the_field(field, value):
    with pytest.raises(DataError, match=field):
        ImageShift(**{field: value})
