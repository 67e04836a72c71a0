"""A two-minute run of the shipped unet-synth recipe (fewer iterations and phantoms): the
loss must come down, and the exported model must load. `make slow` runs it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from robustbench_liver.models import get_model
from robustbench_liver.training import config_from_dict, train

pytestmark = pytest.mark.slow

SHIPPED = (
    Path(__file__).resolve().parents[3] / "robustbench_liver/models/weights/unet_synth.train.yaml"
)


def test_two_minute_run_of_the_shipped_recipe(tmp_path, shared_data):
    data = yaml.safe_load(SHIPPED.read_text())
    data.update({"iterations": 150, "warmup": 10, "checkpoint_every": 50, "threads": 2})
    data.pop("init_from", None)  # from scratch: the loss has somewhere to come down from
    data["data"]["phantom_seeds"] = [100, 104]
    result = train(config_from_dict(data, str(SHIPPED)), tmp_path / "run", data_root=shared_data)
    first, last = np.mean(result.losses[:20]), np.mean(result.losses[-20:])
    assert last < 0.8 * first, f"loss went from {first:.3f} to {last:.3f}"
    assert result.seconds < 240, f"took {result.seconds:.0f} s"
    model = get_model(str(result.spec))
    assert model.card.name == "unet-synth" and model.card.sha256 == result.sha256
