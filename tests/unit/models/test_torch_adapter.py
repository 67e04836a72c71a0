"""The torch adapter on a tiny untrained MONAI UNet saved in tmp."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import yaml

from robustbench_liver.errors import ModelError
from robustbench_liver.models import get_model
from robustbench_liver.models.torch import NETWORKS, build_network


def test_prediction_keeps_the_input_shape_and_labels(tiny_spec, small_volume):
    image, spacing, _ = small_volume
    model = get_model(str(tiny_spec))
    out = model.predict(image, spacing)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 1, 2}


def test_odd_shapes_and_spacings_round_trip(tiny_spec):
    model = get_model(str(tiny_spec))
    for shape, spacing in (((17, 9, 5), (0.8, 0.8, 5.0)), ((7, 30, 11), (3.0, 1.1, 2.0))):
        image = np.random.default_rng(1).normal(80, 30, shape).astype(np.float32)
        assert model.predict(image, spacing).shape == shape


def test_probability_output_lies_in_0_1(tiny_spec, small_volume):
    data = yaml.safe_load(tiny_spec.read_text())
    data["card"]["output"] = "probability"
    tiny_spec.write_text(yaml.safe_dump(data))
    image, spacing, _ = small_volume
    prob = get_model(str(tiny_spec)).predict(image, spacing)
    assert prob.dtype == np.float32 and prob.shape == image.shape
    assert 0.0 <= prob.min() and prob.max() <= 1.0


def test_same_input_same_output(tiny_spec, small_volume):
    image, spacing, _ = small_volume
    a = get_model(str(tiny_spec)).predict(image, spacing)
    b = get_model(str(tiny_spec)).predict(image, spacing)
    np.testing.assert_array_equal(a, b)


def test_sha256_mismatch_is_refused_before_loading(tiny_spec, tiny_checkpoint):
    with open(tiny_checkpoint, "ab") as f:
        f.write(b"tampered")
    with pytest.raises(ModelError, match=r"has sha256 .* the card expects"):
        get_model(str(tiny_spec))


def test_missing_sha256_is_refused_with_the_value_to_add(tiny_spec, tiny_checkpoint):
    from robustbench_liver.models.checksum import sha256_of

    data = yaml.safe_load(tiny_spec.read_text())
    del data["sha256"]
    tiny_spec.write_text(yaml.safe_dump(data))
    with pytest.raises(ModelError, match=f"sha256: {sha256_of(tiny_checkpoint)}"):
        get_model(str(tiny_spec))


def test_pickled_objects_are_not_loaded(tiny_spec, tiny_checkpoint):
    """weights_only=True: a checkpoint holding arbitrary Python objects is refused."""
    from robustbench_liver.models.checksum import sha256_of

    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"state_dict": Payload()}, tiny_checkpoint, pickle_module=pickle)
    data = yaml.safe_load(tiny_spec.read_text())
    data["sha256"] = sha256_of(tiny_checkpoint)
    tiny_spec.write_text(yaml.safe_dump(data))
    with pytest.raises(ModelError, match="weights_only=True"):
        get_model(str(tiny_spec))


def test_checkpoint_inside_a_dict_is_found(tiny_spec, tiny_checkpoint):
    from robustbench_liver.models.checksum import sha256_of

    state = torch.load(tiny_checkpoint, weights_only=True)
    torch.save({"epoch": 3, "state_dict": state}, tiny_checkpoint)
    data = yaml.safe_load(tiny_spec.read_text())
    data["sha256"] = sha256_of(tiny_checkpoint)
    tiny_spec.write_text(yaml.safe_dump(data))
    assert get_model(str(tiny_spec)).card.name == "tiny-unet"


def test_network_args_that_do_not_fit_the_checkpoint(tiny_spec):
    data = yaml.safe_load(tiny_spec.read_text())
    data["network_args"]["channels"] = [8, 16]
    tiny_spec.write_text(yaml.safe_dump(data))
    with pytest.raises(ModelError, match="does not fit UNet"):
        get_model(str(tiny_spec))


def test_only_allow_listed_networks():
    assert "UNet" in NETWORKS and "SwinUNETR" in NETWORKS
    with pytest.raises(ModelError, match="Did you mean 'UNet'"):
        build_network("Unet", {})
    with pytest.raises(ModelError, match="unknown network"):
        build_network("os.system", {})


def test_building_leaves_the_global_rng_alone():
    before = torch.random.get_rng_state()
    build_network(
        "UNet",
        {
            "spatial_dims": 3,
            "in_channels": 1,
            "out_channels": 2,
            "channels": [4, 8],
            "strides": [2],
        },
    )
    assert torch.equal(before, torch.random.get_rng_state())


def test_missing_checkpoint_file(tiny_spec, tiny_checkpoint):
    tiny_checkpoint.unlink()
    with pytest.raises(ModelError, match="not found"):
        get_model(str(tiny_spec))
