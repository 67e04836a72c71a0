"""Our generated surfel-area table equals DeepMind's (MONAI's copy) for every code."""

from __future__ import annotations

import numpy as np
import pytest

from robustbench_liver.metrics._surfels import CORNERS, corner_bit, surfel_area_table
from robustbench_liver.metrics.surface import neighbour_codes


@pytest.mark.parametrize("seed", range(5))
def test_table_matches_monai_at_random_spacings(seed):
    pytest.importorskip("torch")
    from monai.metrics.utils import create_table_neighbour_code_to_surface_area

    rng = np.random.default_rng(seed)
    spacing = tuple(float(s) for s in rng.uniform(0.2, 5.0, size=3))
    theirs = create_table_neighbour_code_to_surface_area(spacing)[0].double().numpy()
    # MONAI keeps its table in float32: agree to float32 precision
    np.testing.assert_allclose(surfel_area_table(spacing), theirs, rtol=2e-6, atol=1e-7)


def test_known_entries_at_unit_spacing():
    table = surfel_area_table((1.0, 1.0, 1.0))
    assert table[0] == 0.0 and table[255] == 0.0
    single = 1 << corner_bit((1, 1, 1))
    assert table[single] == pytest.approx(np.sqrt(3) / 8)  # corner cut: one small triangle
    half = sum(1 << corner_bit(c) for c in CORNERS if c[0] == 1)
    assert table[half] == pytest.approx(1.0)  # a flat unit square across the block


def test_neighbour_codes_follow_the_encoding():
    mask = np.zeros((2, 2, 2), dtype=bool)
    for corner in CORNERS:
        mask[:] = False
        mask[corner] = True
        assert neighbour_codes(mask)[0, 0, 0] == 1 << corner_bit(corner)
