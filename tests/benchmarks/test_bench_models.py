"""Prediction time of the built-in models on the 2-core reference machine.

Targets: unet-synth <= 5 s and hu-threshold <= 2 s on a default phantom case (256 x 224 x 96
voxels at 1.5 x 1.5 x 2.5 mm), so the quickstart scenario runs both baselines end to end
in under 2 minutes. The issue's figure: unet-synth on a 192 x 192 x 64 volume. Yardstick in
the same run: one forward pass of the same network on a 96^3 patch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robustbench_liver.models import get_model
from robustbench_liver.sources.phantom import make_phantom
from robustbench_liver.synthesis import synthesize

UNET_TARGET_S = 5.0
THRESHOLD_TARGET_S = 2.0


@pytest.fixture(scope="module")
def case():
    return synthesize(make_phantom(0), "medium", np.random.default_rng(0))


@pytest.fixture(scope="module")
def unet():
    return get_model("unet-synth")


def test_unet_synth_default_phantom(benchmark, median_seconds, case, unet):
    image = np.array(case.image)
    out = benchmark.pedantic(
        unet.predict, args=(image, case.spacing), rounds=3, iterations=1, warmup_rounds=1
    )
    assert out.shape == (256, 224, 96)
    assert median_seconds(benchmark) < UNET_TARGET_S


def test_unet_synth_192x192x64(benchmark, median_seconds, case, unet):
    image = np.ascontiguousarray(case.image[32:224, 16:208, 16:80])
    out = benchmark.pedantic(
        unet.predict, args=(image, case.spacing), rounds=3, iterations=1, warmup_rounds=1
    )
    assert out.shape == (192, 192, 64)
    assert median_seconds(benchmark) < UNET_TARGET_S


def test_hu_threshold_default_phantom(benchmark, median_seconds, case):
    model = get_model("hu-threshold")
    image, liver = np.array(case.image), case.label >= 1
    out = benchmark.pedantic(
        model.predict, args=(image, case.spacing, liver), rounds=5, iterations=1, warmup_rounds=1
    )
    assert out.shape == image.shape
    assert median_seconds(benchmark) < THRESHOLD_TARGET_S


def test_reference_one_forward_pass_96(benchmark, unet):
    """Yardstick: the unet-synth network on one 96^3 patch (what each window costs)."""
    patch = torch.zeros(1, 1, 96, 96, 96)

    def forward() -> torch.Tensor:
        with torch.inference_mode():
            return unet.network(patch)

    benchmark.pedantic(forward, rounds=5, iterations=1, warmup_rounds=1)
