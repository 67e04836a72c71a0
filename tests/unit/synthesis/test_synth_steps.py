"""The single steps: vessel mask, shape, texture, mass effect, capsule, noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from robustbench_liver.errors import SynthesisError
from robustbench_liver.synthesis import capsule, mass_effect, shape, texture
from robustbench_liver.synthesis.noise import interp_matrix, lattice_normal
from robustbench_liver.synthesis.vessels import resolve_source, threshold_vessels

from .conftest import make_small_scan


def test_threshold_finds_the_bright_tubes_and_little_else(small_scan):
    box = tuple(slice(0, n) for n in small_scan.shape)
    mask, threshold = threshold_vessels(
        small_scan.image, small_scan.liver, small_scan.spacing, 2.0, 20.0, box
    )
    truth = small_scan.vessels
    assert 100 < threshold < 190
    assert not (mask & ~small_scan.liver).any()  # v = 1[f' > T] (.) liver
    recall = (mask & truth).sum() / truth.sum()
    # smoothing widens the tubes a little; nothing is found away from them
    near = ndimage.binary_dilation(truth, iterations=2)
    assert recall > 0.9 and (mask & ~near).sum() / mask.sum() < 0.02


def test_vessel_source_resolution():
    with_mask = make_small_scan(shape=(24, 24, 12))
    without = make_small_scan(shape=(24, 24, 12), vessels=False, scan_id="novessels")
    assert resolve_source(with_mask, "auto") == "union"
    assert resolve_source(without, "auto") == "threshold"
    with pytest.raises(SynthesisError, match=r"'novessels'.*vessel_source='scan'"):
        resolve_source(without, "scan")


def test_ellipsoid_volume_honours_anisotropic_spacing():
    spacing = np.array([0.8, 1.0, 2.5])
    axes = np.array([9.0, 7.0, 12.0])
    offsets = tuple((np.arange(-30, 31) * s) for s in spacing)
    mask = shape.tumor_mask(offsets, axes, None, None, 0.0, None)
    volume = mask.sum() * spacing.prod()
    assert volume == pytest.approx(4 / 3 * math.pi * axes.prod(), rel=0.03)


def test_elastic_field_does_not_depend_on_the_box():
    axes = np.array([10.0, 12.0, 9.0])
    big = tuple(np.arange(-30, 31) * 1.0 for _ in range(3))
    small = tuple(np.arange(-10, 21) * 1.0 for _ in range(3))
    u_big = shape.elastic_displacement(7, 2.0, 3, axes, big)
    u_small = shape.elastic_displacement(7, 2.0, 3, axes, small)
    assert u_big is not None and u_small is not None
    for a, b in zip(u_big, u_small, strict=True):
        np.testing.assert_allclose(a[20:51, 20:51, 20:51], b, atol=1e-4)
    assert max(float(np.abs(c).max()) for c in u_big) <= shape.ELASTIC_CLIP * 2.0
    assert shape.elastic_displacement(7, 0.0, 3, axes, big) is None


def test_rotation_matrix_is_a_rotation():
    r = shape.rotation_matrix((30.0, -50.0, 110.0))
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)


def test_lobulation_adds_bulges():
    offsets = tuple(np.arange(-25, 26) * 1.0 for _ in range(3))
    axes = np.array([10.0, 10.0, 10.0])
    plain = shape.tumor_mask(offsets, axes, None, None, 0.0, None)
    dirs = shape.lobe_directions(3, 5)
    lobed = shape.tumor_mask(offsets, axes, None, None, 0.4, dirs)
    assert (plain & ~lobed).sum() == 0 and lobed.sum() > 1.15 * plain.sum()


def test_lattice_noise_is_addressed_by_position():
    whole = lattice_normal(11, 0, (range(-8, 9), range(-8, 9), range(-8, 9)))
    part = lattice_normal(11, 0, (range(-2, 3), range(0, 9), range(-8, -3)))
    np.testing.assert_array_equal(whole[6:11, 8:17, 0:5], part)
    assert abs(float(whole.mean())) < 0.1 and 0.9 < float(whole.std()) < 1.1
    other = lattice_normal(12, 0, (range(-8, 9),) * 3)
    assert abs(np.corrcoef(whole.ravel(), other.ravel())[0, 1]) < 0.1


def test_cubic_interpolation_passes_through_the_nodes():
    nodes = np.arange(-3, 4) * 2.5
    w = interp_matrix(nodes, nodes)
    np.testing.assert_allclose(w, np.eye(len(nodes)), atol=1e-5)


def test_texture_grain_grows_with_eta():
    spacing = np.ones(3)
    offsets = tuple(np.arange(-20, 21) * 1.0 for _ in range(3))
    fine = texture.noise_texture(5, offsets, 2.0, 0.0, spacing)
    coarse = texture.noise_texture(5, offsets, 8.0, 0.0, spacing)

    def lag1(a: np.ndarray) -> float:
        return float(np.corrcoef(a[:-1].ravel(), a[1:].ravel())[0, 1])

    assert lag1(coarse) > lag1(fine) > 0.3


def test_released_texture_is_a_fraction_near_u0():
    offsets = tuple(np.arange(-25, 26) * 1.0 for _ in range(3))
    for seed in range(4):
        t = texture.released_texture(seed, offsets, 6.0, 5.0)
        assert t.min() >= 0.0 and t.max() <= 1.0
        assert 0.35 < float(t.mean()) < 0.7
        assert 0.5 <= texture.released_flat(seed) <= 0.55


def test_scan_grain_is_the_high_pass():
    rng = np.random.default_rng(0)
    f = (100 + rng.normal(0, 10, (30, 30, 30))).astype(np.float32)
    g = texture.scan_grain(f)
    assert abs(float(g.mean())) < 0.5 and 4 < float(g.std()) < 12


def test_mass_effect_pushes_outward_and_stops_at_the_zone():
    n = 41
    image = np.zeros((n, n, n), np.float32)
    label = np.ones((n, n, n), np.uint8)
    image[20, 28, 20] = 100.0  # a marker 8 mm from the centre, on a 1 mm grid
    label[20, 28, 20] = 7
    image[20, 38, 20] = 50.0  # outside the zone (extent 1.5 x 10 mm)
    center = np.array([20, 20, 20])
    axes = np.array([10.0, 10.0, 10.0])
    mass_effect.warp(image, label, center, np.ones(3), axes, None, 100.0, 1.5)
    assert image[20, 38, 20] == 50.0
    ys = np.nonzero(label[20, :, 20] == 7)[0]
    assert ys.min() > 28  # the marker moved away from the centre
    assert image[20, 20, 20] == 0.0
    # the mapping is monotone: no folding for any strength
    rho = np.linspace(0, 1.5, 301, dtype=np.float32)
    for strength in (0.0, 50.0, 100.0):
        src = rho * mass_effect.source_scale(rho, strength, 1.5)
        assert np.all(np.diff(src) >= -1e-6)


def test_mass_effect_off_is_the_identity():
    rng = np.random.default_rng(1)
    image = rng.normal(size=(21, 21, 21)).astype(np.float32)
    label = (rng.random((21, 21, 21)) > 0.5).astype(np.uint8)
    before = image.copy(), label.copy()
    mass_effect.warp(
        image, label, np.array([10, 10, 10]), np.ones(3), np.ones(3) * 5, None, 0.0, 2.0
    )
    np.testing.assert_array_equal(image, before[0])
    np.testing.assert_array_equal(label, before[1])


def test_capsule_brightens_only_the_band():
    blurred = np.linspace(0, 1, 11, dtype=np.float32).reshape(11, 1, 1)
    band = capsule.capsule_band(blurred, (0.2, 0.5))
    assert band.ravel().tolist() == [
        False,
        False,
        False,
        True,
        True,
        False,
        False,
        False,
        False,
        False,
        False,
    ]
    image = np.zeros_like(blurred)
    capsule.add_capsule(image, band, np.ones_like(blurred), 12.0)
    assert image.ravel().tolist() == [0, 0, 0, 12, 12, 0, 0, 0, 0, 0, 0]
