"""The registry: decorator, entry points, YAML specs by path, did-you-mean."""

from __future__ import annotations

import importlib.metadata
import sys
import types

import numpy as np
import pytest

from robustbench_liver.errors import ModelError
from robustbench_liver.models import (
    ENTRY_POINT_GROUP,
    ModelCard,
    SegmentationModel,
    get_model,
    list_models,
    register_model,
    registry,
)


class Constant(SegmentationModel):
    def __init__(self, name: str = "constant"):
        self.card = ModelCard(name=name, description="labels everything liver")

    def predict(self, image_hu, spacing, liver=None):
        return np.ones(np.shape(image_hu), dtype=np.uint8)


@pytest.fixture
def clean_registry(monkeypatch):
    """Registrations made in a test do not leak into others."""
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))


def test_builtins_are_registered():
    assert {"hu-threshold", "unet-synth"} <= set(list_models())


def test_decorator_registers_a_factory(clean_registry):
    @register_model("constant-test")
    def make() -> Constant:
        return Constant("constant-test")

    assert "constant-test" in list_models()
    model = get_model("constant-test")
    assert model.card.name == "constant-test"
    assert model.predict(np.zeros((2, 2, 2), np.float32), (1, 1, 1)).shape == (2, 2, 2)


def test_the_same_name_twice_is_refused(clean_registry):
    register_model("twice")(lambda: Constant())
    with pytest.raises(ModelError, match="already registered"):

        @register_model("twice")
        def other() -> Constant:
            return Constant()


def test_bad_names_are_refused():
    with pytest.raises(ModelError, match="model name"):
        register_model("has space")


def test_unknown_name_suggests_the_close_one_and_lists_all():
    with pytest.raises(ModelError) as info:
        get_model("unet-synht")
    text = str(info.value)
    assert "Did you mean 'unet-synth'" in text
    assert "hu-threshold" in text and "spec file" in text


def test_a_factory_that_returns_no_model_is_refused(clean_registry):
    register_model("not-a-model")(lambda: object())
    with pytest.raises(ModelError, match="not a model"):
        get_model("not-a-model")


def _fake_entry_points(monkeypatch, points):
    real = importlib.metadata.entry_points

    def entry_points(**kwargs):
        if kwargs.get("group") == ENTRY_POINT_GROUP:
            return importlib.metadata.EntryPoints(points)
        return real(**kwargs)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_third_party_entry_points(monkeypatch):
    module = types.ModuleType("fake_plugin_models")
    module.make = lambda: Constant("plugin-model")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_plugin_models", module)
    point = importlib.metadata.EntryPoint(
        name="plugin-model", value="fake_plugin_models:make", group=ENTRY_POINT_GROUP
    )
    _fake_entry_points(monkeypatch, [point])
    assert "plugin-model" in list_models()
    assert get_model("plugin-model").card.name == "plugin-model"


def test_a_broken_entry_point_names_its_package(monkeypatch):
    point = importlib.metadata.EntryPoint(
        name="broken", value="no_such_package_xyz.models:make", group=ENTRY_POINT_GROUP
    )
    _fake_entry_points(monkeypatch, [point])
    with pytest.raises(ModelError, match="no_such_package_xyz"):
        get_model("broken")


def test_yaml_spec_by_path(tiny_spec):
    model = get_model(str(tiny_spec))
    assert model.card.name == "tiny-unet" and model.card.adapter == "torch"
    assert model.card.weights is not None and model.card.weights.endswith("tiny.pt")
    assert get_model(tiny_spec).card.sha256 == model.card.sha256  # a Path works too


def test_spec_with_unknown_adapter(tmp_path):
    path = tmp_path / "odd.yaml"
    path.write_text("adapter: torchh\n")
    with pytest.raises(ModelError, match="Did you mean 'torch'"):
        get_model(str(path))


def test_spec_yaml_is_safe_loaded(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("adapter: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ModelError, match="not valid YAML"):
        get_model(str(path))


def test_spec_with_unknown_key(tiny_spec):
    text = tiny_spec.read_text().replace("device: cpu", "devise: cpu")
    tiny_spec.write_text(text)
    with pytest.raises(ModelError, match="Did you mean 'device'"):
        get_model(str(tiny_spec))


def test_missing_spec_file(tmp_path):
    with pytest.raises(ModelError, match="cannot read model spec"):
        get_model(str(tmp_path / "nowhere.yaml"))


def test_cards_of_every_model():
    names = dict(registry.cards())
    assert isinstance(names["hu-threshold"], ModelCard)
    assert names["hu-threshold"].needs_liver
