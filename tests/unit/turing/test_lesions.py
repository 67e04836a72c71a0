"""Real lesions: 26-connected components, measured where they are widest."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robustbench_liver.turing.lesions import find_lesions, lesion_in_box


def test_two_lesions_largest_first_with_their_widest_slice():
    mask = np.zeros((12, 12, 6), dtype=bool)
    mask[1:3, 1:3, 1] = True  # 4 voxels in slice 1
    mask[6:10, 5:9, 3] = True  # 16 voxels in slice 3 ...
    mask[7:9, 6:8, 4] = True  # ... and 4 in slice 4: widest at 3
    spacing = (2.0, 2.0, 5.0)
    big, small = find_lesions(mask, spacing)
    assert (big.number, small.number) == (1, 2)
    assert big.volume_mm3 == pytest.approx(20 * 20.0)
    assert big.slice == 3
    assert big.center_vox == pytest.approx((7.5, 6.5))
    assert big.center_mm(spacing) == pytest.approx((15.0, 13.0))
    assert big.diameter_mm == pytest.approx(2 * math.sqrt(16 * 4.0 / math.pi))
    assert big.radius_mm == pytest.approx((3 * 400.0 / (4 * math.pi)) ** (1 / 3))
    assert small.slice == 1


def test_diagonal_neighbours_are_one_lesion():
    mask = np.zeros((4, 4, 4), dtype=bool)
    mask[0, 0, 0] = mask[1, 1, 1] = mask[2, 2, 2] = True
    assert len(find_lesions(mask, (1.0, 1.0, 1.0))) == 1
    assert find_lesions(np.zeros((3, 3, 3), bool), (1.0, 1.0, 1.0)) == []


def test_the_lesion_in_a_box_is_the_one_with_most_voxels_there():
    mask = np.zeros((10, 10, 3), dtype=bool)
    mask[0:2, 0:2, 1] = True
    mask[5:9, 5:9, 1] = True
    box = (slice(4, 10), slice(4, 10), slice(0, 3))
    lesion = lesion_in_box(mask, (1.0, 1.0, 1.0), box)
    assert lesion is not None and lesion.volume_mm3 == 16
    assert lesion_in_box(mask, (1.0, 1.0, 1.0), (slice(3, 4), slice(0, 1), slice(0, 1))) is None
