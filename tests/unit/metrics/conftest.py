"""Small masks for the metric tests: hand-made 4×4×4 cases and smooth random blobs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage


def random_blobs(rng: np.random.Generator, shape: tuple[int, ...], fill: float) -> np.ndarray:
    """A smooth random mask covering roughly `fill` of the volume (lumpy, tumor-like)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=rng.uniform(0.8, 2.0))
    return field > np.quantile(field, 1.0 - fill)


@pytest.fixture
def cube4() -> np.ndarray:
    """4×4×4 with a 2×2×2 tumor in the middle."""
    mask = np.zeros((4, 4, 4), dtype=bool)
    mask[1:3, 1:3, 1:3] = True
    return mask


@pytest.fixture
def blobs():
    """`random_blobs` as a fixture (test modules should not import conftest by name)."""
    return random_blobs
