"""The default phantom must build in under 2 s on the 2-core reference machine."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from robustbench_liver.sources.phantom import make_phantom

TARGET_S = 2.0


def test_default_phantom(benchmark, median_seconds):
    scan = benchmark.pedantic(make_phantom, args=(0,), rounds=5, iterations=1, warmup_rounds=1)
    assert scan.shape == (256, 224, 96)
    assert median_seconds(benchmark) < TARGET_S


def test_reference_one_gaussian_pass(benchmark):
    """Yardstick in the same run: one 3D Gaussian filter over a volume of the same size."""
    volume = np.random.default_rng(0).standard_normal((256, 224, 96), dtype=np.float32)
    benchmark(ndimage.gaussian_filter, volume, 1.0)
