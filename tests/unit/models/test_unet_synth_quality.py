"""The bar for the shipped unet-synth weights.

Phantoms (issue 6), held-out seeds that no training run used: per tumor level, the mean
tumor DSC of `synthesize(make_phantom(seed), level, rng)` may fall at most 0.05 below what
version 1 scored on the same cases (issue 13, item 6), and medium tumors keep DSC >= 0.6
with at least 80 % of the lesions hit.

Real CT (issue 13, item 6): on totalseg-full, a non-contrast scan no training run saw, at
most one false-positive tumor component on the tumor-free scan (and on totalseg-small, its
slices 82-111), and mean DSC >= 0.6 on medium tumors synthesized into it. Version 4 meets
none of the three (version 3 met the first): they are strict expected failures, so the day a
model meets one it fails.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from robustbench_liver.io import load_scan
from robustbench_liver.models import get_model
from robustbench_liver.sources.phantom import make_phantom
from robustbench_liver.synthesis import synthesize

pytestmark = pytest.mark.slow

HELD_OUT_SEEDS = range(1000, 1010)
"""Training uses phantom seeds 100-123; the shipped scenarios 0-3."""
VERSION_1 = {"medium": 0.669, "small": 0.632, "large": 0.749}
"""Version 1's mean tumor DSC on these cases (generator-3 tumors), measured 2026-11-29."""
CONNECTED = np.ones((3, 3, 3), dtype=bool)


@pytest.fixture(scope="module")
def model():
    return get_model("unet-synth")


def _score(pred: np.ndarray, truth: np.ndarray) -> tuple[float, int, int, int]:
    """Tumor DSC, lesions hit, lesions, predicted components touching no lesion."""
    p, t = pred == 2, truth == 2
    dsc = 2.0 * (p & t).sum() / max(1, p.sum() + t.sum())
    lesions, n = ndimage.label(t, CONNECTED)
    found, m = ndimage.label(p, CONNECTED)
    hit = len(set(np.unique(lesions[p])) - {0})
    false = len(set(range(1, m + 1)) - set(np.unique(found[t])))
    return float(dsc), hit, n, false


@pytest.mark.parametrize("level", ["medium", "small", "large"])
def test_unet_synth_holds_its_phantom_figures(model, level):
    scores = []
    for seed in HELD_OUT_SEEDS:
        case = synthesize(make_phantom(seed), level, np.random.default_rng(seed))
        scores.append(_score(model.predict(np.array(case.image), case.spacing), case.label))
    dsc = np.mean([s[0] for s in scores])
    hit, total = sum(s[1] for s in scores), sum(s[2] for s in scores)
    assert dsc >= VERSION_1[level] - 0.05, f"{level}: mean tumor DSC {dsc:.3f}"
    if level == "medium":
        assert dsc >= 0.6 and hit / total >= 0.8, f"DSC {dsc:.3f}, {hit} of {total} hit"


@pytest.fixture(scope="module")
def full_scan(shared_data):
    folder = shared_data / "totalseg-full"
    return load_scan(
        folder / "ct.nii.gz", labels=folder / "labels.nii.gz", liver_label=5, vessel_labels=[63, 64]
    )


NOT_YET = pytest.mark.xfail(
    strict=True,
    reason="issue 13, item 6: version 4 leaves 3 false-positive components on totalseg-full "
    "and 5 on totalseg-small (mostly the unenhanced portal vein where it enters the liver), "
    "and medium DSC 0.598 on totalseg-full (README, Models); strict, so a model that meets "
    "the bar shows up here",
)


@NOT_YET
@pytest.mark.parametrize("folder", ["totalseg-full", "totalseg-small"])
def test_unet_synth_finds_no_tumor_in_a_healthy_non_contrast_liver(model, shared_data, folder):
    path = shared_data / folder
    scan = load_scan(path / "ct.nii.gz", labels=path / "labels.nii.gz", liver_label=5)
    pred = model.predict(np.array(scan.image), scan.spacing)
    _, _, _, false = _score(pred, np.zeros_like(pred))
    assert false <= 1, f"{folder}: {false} false-positive tumor components"


@NOT_YET
def test_unet_synth_segments_medium_tumors_in_real_non_contrast_ct(model, full_scan):
    scores = []
    for seed in range(6):
        case = synthesize(full_scan, "medium", np.random.default_rng(100 + seed))
        scores.append(_score(model.predict(np.array(case.image), case.spacing), case.label))
    dsc = np.mean([s[0] for s in scores])
    assert dsc >= 0.6, f"mean tumor DSC {dsc:.3f}: {[round(s[0], 2) for s in scores]}"
    assert np.mean([s[3] for s in scores]) <= 1.0, [s[3] for s in scores]
