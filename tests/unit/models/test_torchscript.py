"""A TorchScript file gives the same predictions as the network it was scripted from."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from robustbench_liver.errors import ModelError
from robustbench_liver.models import get_model
from robustbench_liver.models.checksum import sha256_of
from robustbench_liver.models.torch import build_network

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning:torch.*", "ignore::torch.jit.TracerWarning"
)


def _scripted(tmp_path, tiny_checkpoint, tiny_unet_args):
    net = build_network("UNet", tiny_unet_args)
    net.load_state_dict(torch.load(tiny_checkpoint, weights_only=True))
    path = tmp_path / "tiny.ts"
    torch.jit.save(torch.jit.trace(net.eval(), torch.zeros(1, 1, 16, 16, 16)), str(path))
    return path


def test_torchscript_round_trip(tmp_path, tiny_spec, tiny_checkpoint, tiny_unet_args, small_volume):
    path = _scripted(tmp_path, tiny_checkpoint, tiny_unet_args)
    card = yaml.safe_load(tiny_spec.read_text())["card"]
    spec = tmp_path / "tiny_ts.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "adapter": "torchscript",
                "file": "tiny.ts",
                "sha256": sha256_of(path),
                "device": "cpu",
                "card": {**card, "name": "tiny-ts"},
            }
        )
    )
    image, spacing, _ = small_volume
    scripted = get_model(str(spec))
    assert scripted.card.adapter == "torchscript"
    np.testing.assert_array_equal(
        scripted.predict(image, spacing), get_model(str(tiny_spec)).predict(image, spacing)
    )


def test_torchscript_sha256_is_checked(tmp_path, tiny_checkpoint, tiny_unet_args):
    path = _scripted(tmp_path, tiny_checkpoint, tiny_unet_args)
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        yaml.safe_dump({"adapter": "torchscript", "file": "tiny.ts", "sha256": "0" * 64})
    )
    with pytest.raises(ModelError, match="the card expects"):
        get_model(str(spec))
    assert path.exists()


def test_not_a_torchscript_file(tmp_path):
    path = tmp_path / "junk.ts"
    path.write_bytes(b"not a zip archive")
    spec = tmp_path / "junk.yaml"
    spec.write_text(
        yaml.safe_dump({"adapter": "torchscript", "file": "junk.ts", "sha256": sha256_of(path)})
    )
    with pytest.raises(ModelError, match="not a loadable TorchScript"):
        get_model(str(spec))
