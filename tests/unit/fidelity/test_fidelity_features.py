"""Each feature on a constructed lesion whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from robustbench_liver.fidelity import features as F
from robustbench_liver.fidelity.edge import GAUSSIAN_RISE, edge_profile
from robustbench_liver.fidelity.texture import glcm_features

from .conftest import CONTRAST, LIVER_HU, RADIUS, ball, blurred_ball, view_of


def test_equivalent_radius_of_a_ball():
    assert F.equivalent_radius_mm(blurred_ball(0.0)) == pytest.approx(RADIUS, rel=0.01)


def test_contrast_of_a_flat_lesion_is_its_step():
    assert F.contrast_hu(blurred_ball(0.0)) == pytest.approx(CONTRAST)


def blurred_ball_level(distance: float, sigma: float, radius: float = RADIUS) -> float:
    """Normalised level (0 core, 1 parenchyma) at `distance` from the surface of a ball
    blurred with a Gaussian: 1 - P(an isotropic normal about that point falls in the ball)."""
    r = radius + distance
    a, b = (radius - r) / sigma, (radius + r) / sigma
    inside = (
        stats.norm.cdf(a) - stats.norm.cdf(-b) - sigma / r * (stats.norm.pdf(a) - stats.norm.pdf(b))
    )
    return 1.0 - float(inside)


def expected_edge(sigma: float) -> tuple[float, float]:
    """10-90 % rise and 50 % offset of the blurred ball's exact radial profile (a sphere's
    edge is steeper than a plane's erf: both tails are cut by the curvature)."""
    at = [
        optimize.brentq(lambda d, v=level: blurred_ball_level(d, sigma) - v, -RADIUS + 0.1, 20.0)
        for level in (0.1, 0.5, 0.9)
    ]
    return at[2] - at[0], at[1]


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_edge_rise_and_offset_of_a_blurred_ball(sigma):
    # (a blur of more than R/5 leaves no core at full contrast: the rise is then measured
    # from the core's own level, which this reference does not model)
    # voxelisation adds a box blur of one voxel: sigma^2 + 1/12 in all
    effective = math.sqrt(sigma**2 + 1.0 / 12.0)
    rise, offset = expected_edge(effective)
    edge = edge_profile(blurred_ball(sigma))
    assert edge.rise_mm == pytest.approx(rise, rel=0.08)
    assert edge.offset_mm == pytest.approx(offset, abs=0.3)
    assert edge.sigma_mm == pytest.approx(rise / GAUSSIAN_RISE, rel=0.12)


def test_a_plane_edge_rises_over_2_56_sigma():
    assert expected_edge(0.01)[0] < 0.05  # the reference itself: a sharp ball, no rise
    big = 1e4  # the same formula for a ball so large its surface is a plane
    level = [
        optimize.brentq(lambda d, v=v: blurred_ball_level(d, 2.0, big) - v, -50.0, 50.0)
        for v in (0.1, 0.9)
    ]
    assert level[1] - level[0] == pytest.approx(GAUSSIAN_RISE * 2.0, rel=1e-3)


def test_edge_rise_survives_noise():
    edge = edge_profile(blurred_ball(2.0, noise=15.0))
    assert edge.rise_mm == pytest.approx(expected_edge(math.sqrt(4.0 + 1.0 / 12.0))[0], rel=0.15)


def test_a_hard_edge_rises_within_about_a_voxel():
    assert edge_profile(blurred_ball(0.0)).rise_mm < 1.5


def test_an_iso_attenuating_lesion_has_no_edge():
    lesion = ball()
    edge = edge_profile(view_of(np.full(lesion.shape, LIVER_HU), lesion))
    assert math.isnan(edge.rise_mm) and math.isnan(edge.sigma_mm)


def test_noise_ratio_and_internal_sd():
    lesion = ball()
    rng = np.random.default_rng(3)
    image = np.where(lesion, LIVER_HU + CONTRAST, LIVER_HU)
    image = image + np.where(lesion, 5.0, 10.0) * rng.standard_normal(lesion.shape)
    view = view_of(image, lesion)
    assert F.noise_ratio(view) == pytest.approx(0.5, rel=0.06)
    assert F.internal_sd_hu(view) == pytest.approx(5.0, rel=0.05)


def test_texture_sd_sees_coarse_heterogeneity_not_voxel_noise():
    lesion = ball()
    fine = np.indices(lesion.shape).sum(axis=0) % 2 * 50.0  # a voxel checkerboard
    coarse = (np.indices(lesion.shape)[0] // 12 % 2) * 50.0  # 12 mm slabs
    for pattern, low, high in ((fine, 0.0, 0.2), (coarse, 0.7, 1.05)):
        view = view_of(np.where(lesion, 40.0 + pattern, LIVER_HU), lesion)
        ratio = F.texture_sd_hu(view) / F.internal_sd_hu(view)
        assert low <= ratio <= high


def test_hyperdense_share():
    lesion = ball()
    image = np.where(lesion, 40.0, LIVER_HU)
    view = view_of(image, lesion)
    core = np.argwhere(view.core)
    bright = core[: len(core) // 10]
    view.image[tuple(bright.T)] = LIVER_HU + 150.0
    assert F.hyperdense_share(view) == pytest.approx(0.1, abs=0.01)


def test_rim_of_a_bright_capsule():
    lesion = ball()
    shell = ball(RADIUS + 3.0) & ~lesion
    image = np.where(lesion, 40.0, LIVER_HU) + np.where(shell, 30.0, 0.0)
    assert F.rim_hu(view_of(image, lesion)) == pytest.approx(30.0, abs=3.0)
    assert F.rim_hu(view_of(np.where(lesion, 40.0, LIVER_HU), lesion)) == pytest.approx(0.0)


def test_sphericity_of_a_ball_and_of_an_elongated_ellipsoid():
    round_ = F.sphericity(blurred_ball(0.0))
    # a digitised ball's marching-cubes surface has a staircase: about 0.91, not 1
    assert 0.88 <= round_ <= 0.95
    long = ball(axes=(24.0, 8.0, 8.0))
    elongated = F.sphericity(view_of(np.where(long, 40.0, LIVER_HU), long))
    # a 3:1:1 prolate spheroid's sphericity is 0.846; the same staircase factor applies
    assert elongated == pytest.approx(0.846 * round_, rel=0.03)


def test_vessel_distance():
    lesion = ball()
    vessels = np.zeros(lesion.shape, dtype=bool)
    centre = lesion.shape[0] // 2
    x = round((lesion.shape[0] - 1) / 2.0 + RADIUS + 8.0)
    vessels[x, centre - 3 : centre + 3, centre] = True
    view = view_of(np.where(lesion, 40.0, LIVER_HU), lesion, vessels=vessels)
    assert F.vessel_distance_mm(view) == pytest.approx(8.0, abs=1.0)
    assert F.vessel_distance_mm(view_of(np.where(lesion, 40.0, LIVER_HU), lesion)) == 30.0


def test_glcm_of_a_flat_and_of_a_checkerboard_lesion():
    lesion = ball()
    flat = glcm_features(view_of(np.where(lesion, 40.0, LIVER_HU), lesion))
    assert flat.contrast_hu2 == 0.0 and flat.homogeneity == 1.0
    board = np.indices(lesion.shape)[:2].sum(axis=0) % 2 * 50.0
    checked = glcm_features(view_of(np.where(lesion, 40.0 + board, LIVER_HU), lesion))
    # horizontal and vertical neighbours differ by 50 HU, diagonal ones not at all
    assert checked.contrast_hu2 == pytest.approx(0.5 * 50.0**2, rel=0.05)


def test_a_single_voxel_lesion_gives_nan_not_numbers():
    lesion = np.zeros((40, 40, 40), dtype=bool)
    lesion[20, 20, 20] = True
    values = F.lesion_features(view_of(np.where(lesion, 40.0, LIVER_HU), lesion))
    assert values["contrast_hu"] == pytest.approx(-60.0)
    assert math.isnan(values["internal_sd_hu"]) and math.isnan(values["glcm_contrast_hu2"])
