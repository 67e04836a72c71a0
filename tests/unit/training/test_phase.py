"""The contrast-phase augmentation moves each tissue from its median toward its target, by
the degree asked, leaves other tissue alone, and is a pure function of the case's draws."""

from __future__ import annotations

import numpy as np
import pytest

from robustbench_liver.training import config_from_dict
from robustbench_liver.training.data import BaseScans, training_case
from robustbench_liver.training.loop import settings_of
from robustbench_liver.training.phase import (
    draw_targets,
    phantom_tissue_labels,
    tissue_masks,
    toward_non_contrast,
)


@pytest.fixture
def body() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Fat, a liver block at 100 HU, a vessel at 160 HU inside it (noise of 5 HU)."""
    rng = np.random.default_rng(0)
    image = (-100.0 + 5 * rng.standard_normal((40, 40, 40))).astype(np.float32)
    liver = np.zeros(image.shape, dtype=bool)
    liver[5:35, 5:35, 5:35] = True
    vessel = np.zeros(image.shape, dtype=bool)
    vessel[18:22, 18:22, 5:35] = True
    liver &= ~vessel
    image[liver] += 200.0
    image[vessel] += 260.0
    return image, {"liver": liver, "blood": vessel}


def test_full_degree_lands_each_tissue_on_its_target(body):
    image, tissues = body
    moved = toward_non_contrast(image, tissues, 1.0, {"liver": 50.0, "blood": 40.0})
    core = np.zeros(image.shape, dtype=bool)
    core[10:30, 10:30, 10:30] = True
    assert np.median(moved[tissues["liver"] & core]) == pytest.approx(50.0, abs=1.0)
    inner = np.zeros(image.shape, dtype=bool)
    inner[19:21, 19:21, 10:30] = True  # the vessel's core, away from the blurred edge
    assert np.median(moved[inner]) == pytest.approx(40.0, abs=8.0)
    assert np.median(moved[inner]) < np.median(moved[tissues["liver"] & core])  # darker now
    far = np.zeros(image.shape, dtype=bool)
    far[:2] = True
    assert np.array_equal(moved[far], image[far])  # fat away from the tissues stays
    away = (slice(8, 15), slice(8, 15), slice(10, 30))  # liver away from the vessel
    assert np.std(moved[away]) == pytest.approx(np.std(image[away]), rel=0.05)  # grain kept


def test_half_degree_moves_half_way_and_zero_changes_nothing(body):
    image, tissues = body
    half = toward_non_contrast(image, tissues, 0.5, {"liver": 50.0})
    core = (slice(10, 17), slice(10, 17), slice(10, 30))
    assert np.median(half[core]) == pytest.approx(75.0, abs=1.0)
    assert np.array_equal(toward_non_contrast(image, tissues, 0.0, {"liver": 50.0}), image)


def test_tissue_masks_skip_tissues_too_small_to_measure():
    labels = np.zeros((10, 10, 10), dtype=np.uint8)
    labels[:5] = 5
    labels[9, 9, 9] = 1
    masks = tissue_masks(labels, {"liver": (5,), "spleen": (1,)})
    assert set(masks) == {"liver"} and masks["liver"].sum() == 500


def test_targets_do_not_depend_on_the_order_of_the_ranges():
    a = draw_targets(np.random.default_rng(3), {"liver": (40, 65), "blood": (30, 50)})
    b = draw_targets(np.random.default_rng(3), {"blood": (30, 50), "liver": (40, 65)})
    assert a == b and 40 <= a["liver"] <= 65


def test_phantom_tissues_name_real_labels():
    labels = phantom_tissue_labels()
    assert set(labels) == {"liver", "blood", "spleen", "kidney", "pancreas"}
    assert all(values for values in labels.values())


def test_a_training_case_moved_to_non_contrast_has_a_darker_liver(tiny_config_dict):
    cfg = {**tiny_config_dict, "data": {**tiny_config_dict["data"], "control_share": 1.0}}
    plain = config_from_dict(cfg)
    cfg["data"] = {**cfg["data"], "phase_share": 1.0, "phase_degree": [1.0, 1.0]}
    moved = config_from_dict(cfg)
    a = training_case(plain, BaseScans(plain, None), settings_of(plain), 0)
    b = training_case(moved, BaseScans(moved, None), settings_of(moved), 0)
    again = training_case(moved, BaseScans(moved, None), settings_of(moved), 0)
    assert b.info["non_contrast"] == 1.0 and a.info["non_contrast"] == 0.0
    assert a.info["scan"] == b.info["scan"]  # the old draws come first and are unchanged
    assert np.array_equal(b.image.numpy(), again.image.numpy())  # a pure function of the draws
    assert np.array_equal(a.label.numpy(), b.label.numpy())
    assert not np.array_equal(a.image.numpy(), b.image.numpy())
