"""The bar for the shipped unet-synth weights (issue 6), on held-out phantom seeds that no
training run used: `synthesize(make_phantom(seed=s), "medium", rng)` gives a mean tumor DSC
of at least 0.6, and at least 80 % of the ground-truth lesions are hit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from robustbench_liver.models import get_model
from robustbench_liver.sources.phantom import make_phantom
from robustbench_liver.synthesis import synthesize

pytestmark = pytest.mark.slow

HELD_OUT_SEEDS = range(1000, 1010)
"""Training uses phantom seeds 100-123; the shipped scenarios 0-3."""


def test_unet_synth_meets_the_bar_on_held_out_phantoms():
    model = get_model("unet-synth")
    dscs, hit, total = [], 0, 0
    for seed in HELD_OUT_SEEDS:
        case = synthesize(make_phantom(seed), "medium", np.random.default_rng(seed))
        pred = model.predict(np.array(case.image), case.spacing) == 2
        truth = case.label == 2
        dscs.append(2.0 * (pred & truth).sum() / (pred.sum() + truth.sum()))
        lesions, n = ndimage.label(truth, np.ones((3, 3, 3), dtype=bool))
        hit += len(set(np.unique(lesions[pred])) - {0})
        total += n
    assert np.mean(dscs) >= 0.6, f"mean tumor DSC {np.mean(dscs):.3f}: {np.round(dscs, 2)}"
    assert hit / total >= 0.8, f"{hit} of {total} lesions hit"
