"""Where a lesion sits in its liver."""

from __future__ import annotations

import numpy as np
import pytest

from robustbench_liver.fidelity.location import liver_frame, location
from robustbench_liver.types import Scan


def box_liver(affine=None):
    liver = np.zeros((60, 40, 30), dtype=bool)
    liver[10:50, 5:35, 5:25] = True
    scan = Scan(
        image=np.where(liver, 100.0, -1000.0).astype(np.float32),
        spacing=(1.0, 1.0, 2.0),
        liver=liver,
        affine=np.diag([1.0, 1.0, 2.0, 1.0]) if affine is None else affine,
        id="box",
    )
    return scan, liver_frame(scan, liver)


def lesion_at(x, y, z):
    mask = np.zeros((60, 40, 30), dtype=bool)
    mask[x - 1 : x + 2, y - 1 : y + 2, z - 1 : z + 2] = True
    return mask


def test_depth_and_place_in_the_liver():
    _, frame = box_liver()
    # RAS: x grows to the patient's right, so the high-x end is the liver's right edge
    right = location(frame, lesion_at(47, 20, 15))
    assert right["position_lr"] == pytest.approx(0.05, abs=0.03)
    assert right["depth_mm"] == pytest.approx(3.0)  # 3 voxels of 1 mm to x = 50
    centre = location(frame, lesion_at(30, 20, 15))
    assert centre["position_lr"] == pytest.approx(0.5, abs=0.03)
    assert centre["position_si"] == pytest.approx(0.5, abs=0.05)
    assert centre["depth_mm"] == pytest.approx(15.0)  # 15 voxels of 1 mm to y = 5 or 35
    assert right["region"].startswith("right-")


def test_a_flipped_axis_flips_the_position():
    flipped = np.diag([-1.0, 1.0, 2.0, 1.0])
    _, frame = box_liver(flipped)
    assert location(frame, lesion_at(47, 20, 15))["position_lr"] == pytest.approx(0.95, abs=0.03)
