"""Size-matched synthetic tumors."""

from __future__ import annotations

import numpy as np
import pytest

from robustbench_liver.fidelity.matching import matched_config, nearest_size, synthesize_matched
from robustbench_liver.sources.phantom import make_phantom
from robustbench_liver.synthesis import TumorConfig


def test_the_size_class_holding_the_radius_is_rescaled_around_it():
    model = TumorConfig.level("mix", capsule=False)
    assert nearest_size(model, 15.0).name == "medium"
    assert nearest_size(model, 5.5).name in ("tiny", "small")  # between: the nearer on a log scale
    config = matched_config(model, 15.0)
    (size,) = config.sizes
    assert size.count == (1, 1)
    # medium is U(12, 20) around 16: 15 / 16 of it
    assert size.semi_axes_mm == pytest.approx((12 * 15 / 16, 20 * 15 / 16))
    assert size.elastic_sigma_mm == pytest.approx((3 * 15 / 16, 6 * 15 / 16))
    assert config.capsule is False and config.delta_hu == model.delta_hu


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(0, shape=(128, 112, 48), spacing=(3.0, 3.0, 5.0))


def test_matched_tumors_are_replayable_and_about_the_asked_size(phantom):
    model = TumorConfig.level("medium")
    radii = []
    for replicate in range(4):
        made = synthesize_matched(phantom, model, 14.0, "real#1", replicate, seed=3)
        again = synthesize_matched(phantom, model, 14.0, "real#1", replicate, seed=3)
        assert made.case is not None and again.case is not None
        assert np.array_equal(made.case.image, again.case.image)
        radii.append(made.case.tumors[0].equivalent_radius_mm)
    assert np.median(radii) == pytest.approx(14.0, rel=0.15)
    other = synthesize_matched(phantom, model, 14.0, "real#2", 0, seed=3)
    assert other.case is not None
    assert not np.array_equal(other.case.image, made.case.image)


def test_a_tumor_that_cannot_be_placed_is_a_failure_not_a_crash(phantom):
    made = synthesize_matched(phantom, TumorConfig.level("large"), 150.0, "huge#1", 0, seed=0)
    assert made.case is None and made.error
