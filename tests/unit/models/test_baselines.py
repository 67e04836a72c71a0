"""The built-in baselines on the phantom: hu-threshold and the shipped unet-synth."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from scipy import ndimage

from robustbench_liver.errors import ModelError
from robustbench_liver.models import get_model
from robustbench_liver.models.baselines import UNET_SYNTH_SPEC, HuThreshold
from robustbench_liver.models.checksum import sha256_of
from robustbench_liver.sources.phantom import make_phantom
from robustbench_liver.synthesis import synthesize

COMPONENTS = np.ones((3, 3, 3), dtype=bool)


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(1)


@pytest.fixture(scope="module")
def medium_case(phantom):
    return synthesize(phantom, "medium", np.random.default_rng(1))


def _dsc(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def test_hu_threshold_finds_hypo_tumors(medium_case):
    model = get_model("hu-threshold")
    truth = medium_case.label == 2
    pred = model.predict(np.array(medium_case.image), medium_case.spacing, medium_case.label >= 1)
    assert pred.shape == truth.shape and pred.dtype == np.uint8
    assert _dsc(pred == 2, truth) > 0.7
    lesions, n = ndimage.label(truth, COMPONENTS)
    hit = set(np.unique(lesions[pred == 2])) - {0}
    assert len(hit) == n


def test_hu_threshold_is_quiet_on_a_tumor_free_phantom(phantom):
    pred = get_model("hu-threshold").predict(
        np.array(phantom.image), phantom.spacing, phantom.liver
    )
    _, n = ndimage.label(pred == 2, COMPONENTS)
    assert n == 0
    assert ((pred == 1) == phantom.liver).all()  # the liver it was given, labelled 1


def test_hu_threshold_card_and_determinism(medium_case):
    model = HuThreshold()
    assert model.card.needs_liver and model.card.output == "labels"
    assert "MAD" in model.card.trained_on
    args = (np.array(medium_case.image), medium_case.spacing, medium_case.label >= 1)
    np.testing.assert_array_equal(model.predict(*args), model.predict(*args))


def test_hu_threshold_needs_the_liver(medium_case):
    with pytest.raises(ModelError, match="needs the liver mask"):
        get_model("hu-threshold").predict(np.array(medium_case.image), medium_case.spacing)


def test_unet_synth_card_matches_the_shipped_weights():
    spec = yaml.safe_load(UNET_SYNTH_SPEC.read_text())
    weights = UNET_SYNTH_SPEC.parent / spec["checkpoint"]
    assert weights.stat().st_size <= 20 * 2**20
    assert sha256_of(weights) == spec["sha256"]
    card = get_model("unet-synth").card
    assert card.sha256 == spec["sha256"] and card.name == "unet-synth"
    assert not card.needs_liver and card.spacing_mm is not None
    assert "synthetic" in card.trained_on and "totalseg-dicom" in card.trained_on
    assert (UNET_SYNTH_SPEC.parent / "unet_synth.train.yaml").is_file()


def test_unet_synth_segments_the_phantom(medium_case):
    model = get_model("unet-synth")
    pred = model.predict(np.array(medium_case.image), medium_case.spacing)
    assert pred.shape == medium_case.image.shape and pred.dtype == np.uint8
    assert set(np.unique(pred)) <= {0, 1, 2}
    assert _dsc(pred >= 1, medium_case.label >= 1) > 0.8  # liver + tumor from the image alone
    assert (pred == 2).any()
