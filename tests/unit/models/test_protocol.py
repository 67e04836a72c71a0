"""Model cards and the protocol's default batch loop."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robustbench_liver.errors import ModelError
from robustbench_liver.models import BatchItem, ModelCard, SegmentationModel
from robustbench_liver.models.protocol import check_input


def test_card_round_trips_through_json():
    card = ModelCard(
        name="m",
        version="2",
        spacing_mm=(1.0, 1.0, 2.0),
        sha256="A" * 64,
        trained_on="synthetic tumors",
    )
    data = json.loads(json.dumps(card.to_dict()))
    assert data["spacing_mm"] == [1.0, 1.0, 2.0] and data["sha256"] == "a" * 64
    assert ModelCard.from_dict(data) == card


def test_card_defaults_follow_the_paper():
    card = ModelCard(name="m")
    assert card.hu_window == (-21.0, 189.0) and card.normalize == "zscore"
    assert card.roi_size == (96, 96, 96) and card.overlap == 0.75


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"output": "mask"}, "unknown output"),
        ({"adapter": "onnx"}, "unknown adapter"),
        ({"sha256": "abc"}, "64 hex digits"),
        ({"overlap": 1.5}, "overlap"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_cards_are_refused(fields, message):
    with pytest.raises(ModelError, match=message):
        ModelCard(**{"name": "m", **fields})


def test_unknown_card_field_gets_a_suggestion():
    with pytest.raises(ModelError, match="Did you mean 'license'"):
        ModelCard.from_dict({"name": "m", "licence": "MIT"})


class Flaky(SegmentationModel):
    card = ModelCard(name="flaky")

    def predict(self, image_hu, spacing, liver=None):
        if image_hu.sum() > 0:
            raise ValueError("cannot do bright images")
        return np.zeros(image_hu.shape, dtype=np.uint8)


def test_default_batch_loop_keeps_going_after_a_failure():
    model = Flaky()
    items = [
        BatchItem("dark", np.zeros((2, 2, 2), np.float32), (1.0, 1.0, 1.0)),
        BatchItem("bright", np.ones((2, 2, 2), np.float32), (1.0, 1.0, 1.0)),
    ]
    out = model.predict_batch(items)
    assert out["dark"].shape == (2, 2, 2)
    assert isinstance(out["bright"], ValueError)
    assert isinstance(model, SegmentationModel)


def test_check_input_explains_what_to_pass():
    card = ModelCard(name="needy", needs_liver=True)
    image = np.zeros((3, 3, 3), np.float32)
    with pytest.raises(ModelError, match="needs the liver mask"):
        check_input(card, image, (1, 1, 1), None)
    with pytest.raises(ModelError, match="3D"):
        check_input(card, np.zeros((3, 3)), (1, 1, 1), None)
    with pytest.raises(ModelError, match="spacing"):
        check_input(card, image, (1, 0, 1), np.ones((3, 3, 3)))
    with pytest.raises(ModelError, match="liver mask shape"):
        check_input(card, image, (1, 1, 1), np.ones((3, 3, 2)))
