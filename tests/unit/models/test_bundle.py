"""The monai-bundle adapter: predictions through the bundle's own transforms, aligned with
the input, labels mapped to 0/1/2, the card filled from metadata.json."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from robustbench_liver.errors import ModelError
from robustbench_liver.models.bundle import from_directory, from_spec
from robustbench_liver.models.bundle_card import classify
from robustbench_liver.models.checksum import sha256_of
from robustbench_liver.models.registry import get_model

_spec = importlib.util.spec_from_file_location(
    "make_bundle", Path(__file__).resolve().parents[2] / "fixtures" / "make_bundle.py"
)
assert _spec is not None and _spec.loader is not None
make_bundle_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_bundle_module)
make_bundle = make_bundle_module.make_bundle

SPACING = (1.0, 1.2, 2.5)
BLOB = (slice(30, 40), slice(30, 42), slice(10, 18))


def scan() -> np.ndarray:
    """60 HU body, a 150 HU 'liver' block and a 300 HU blob inside it; anisotropic grid of
    a shape no resampling maps onto itself."""
    image = np.full((80, 70, 40), 60.0, np.float32)
    image[20:50, 10:60, 5:35] = 150.0
    image[BLOB] = 300.0
    return image


def write_spec(folder: Path, bundle: Path, **extra: object) -> Path:
    data = {"adapter": "monai-bundle", "bundle": bundle.name, **extra}
    data.setdefault("sha256", sha256_of(next((bundle / "models").iterdir())))
    path = folder / "bundle.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def load(path: Path):
    return from_spec(yaml.safe_load(path.read_text()), path)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def test_a_bright_blob_is_predicted_where_it_is(tmp_path):
    model = from_directory(make_bundle(tmp_path / "b"))
    out = model.predict(scan(), SPACING)
    assert out.dtype == np.uint8 and out.shape == scan().shape
    assert set(np.unique(out)) == {0, 1, 2}
    truth = np.zeros(out.shape, bool)
    truth[BLOB] = True
    assert dice(out == 2, truth) > 0.8
    centre = np.argwhere(out == 2).mean(axis=0)
    assert np.abs(centre - np.argwhere(truth).mean(axis=0)).max() < 1.0
    liver = np.zeros(out.shape, bool)
    liver[20:50, 10:60, 5:35] = True
    assert dice(out >= 1, liver) > 0.9


def test_the_bundle_window_decides_what_it_sees(tmp_path):
    narrow = from_directory(make_bundle(tmp_path / "narrow", window=(0.0, 400.0)))
    wide = from_directory(make_bundle(tmp_path / "wide", window=(0.0, 2000.0)))
    assert (narrow.predict(scan(), SPACING) == 2).sum() > 500
    # 300 HU is 0.15 of a 0-2000 window: below the network's first cut, background
    assert not (wide.predict(scan(), SPACING) > 0).any()


def test_a_bundle_without_invertd_is_inverted_by_the_adapter(tmp_path):
    inverted = from_directory(make_bundle(tmp_path / "a")).predict(scan(), SPACING)
    model = from_directory(make_bundle(tmp_path / "b", invert=False))
    assert not model.inverts
    out = model.predict(scan(), SPACING)
    assert out.shape == scan().shape
    assert dice(out == 2, inverted == 2) > 0.8


def test_torchscript_weights_and_yaml_configs_predict_the_same(tmp_path):
    reference = from_directory(make_bundle(tmp_path / "pt")).predict(scan(), SPACING)
    scripted = from_directory(make_bundle(tmp_path / "ts", weights="ts"))
    assert scripted.card.weights.endswith("model.ts")
    assert np.array_equal(scripted.predict(scan(), SPACING), reference)
    yamled = from_directory(make_bundle(tmp_path / "y", config_format="yaml"))
    assert np.array_equal(yamled.predict(scan(), SPACING), reference)


def test_a_random_unet_bundle_runs_and_is_deterministic(tmp_path):
    model = from_directory(make_bundle(tmp_path / "u", network="unet", pixdim=None))
    first = model.predict(scan(), SPACING)
    assert first.shape == scan().shape and first.dtype == np.uint8
    assert set(np.unique(first)) <= {0, 1, 2}
    assert np.array_equal(first, model.predict(scan(), SPACING))


def test_a_spec_remaps_labels(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    plain = load(write_spec(tmp_path, bundle)).predict(scan(), SPACING)
    model = load(write_spec(tmp_path, bundle, remap={1: 0, 2: 1}))
    out = model.predict(scan(), SPACING)
    assert np.array_equal(out, np.array([0, 0, 1], np.uint8)[plain])
    assert (
        "Labels (remap): 1 liver->0, 2 liver tumor->1; others -> 0; it segments no liver tumor"
        in model.card.description
    )


def test_channel_names_decide_the_mapping(tmp_path):
    names = {"0": "background", "1": "spleen", "2": "Hepatic tumour"}
    model = from_directory(make_bundle(tmp_path / "b", channels=names))
    out = model.predict(scan(), SPACING)
    assert set(np.unique(out)) == {0, 2}  # the 'liver' band is the bundle's spleen: 0
    assert "2 Hepatic tumour->2" in model.card.description
    assert "spleen -> 0" in model.card.description


def test_a_liver_only_bundle_loads_and_says_so(tmp_path):
    """A liver model (for liver masks, say) is usable; its card warns that it finds no tumor."""
    model = from_directory(make_bundle(tmp_path / "b", channels={"0": "bg", "1": "Liver"}))
    assert model.mapping == {0: 0, 1: 1}
    assert "Labels: 1 Liver->1; it segments no liver tumor" in model.card.description


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("background", 0),
        ("liver", 1),
        ("Liver segment 4", 1),
        ("liver tumor", 2),
        ("hepatic tumour", 2),
        ("lesion", 2),
        ("HCC", 2),
        ("kidney tumor", 0),
        ("hepatic vessel", 0),
        ("spleen", 0),
    ],
)
def test_class_names(name, label):
    assert classify(name) == label


def test_labels_that_map_to_nothing_are_refused(tmp_path):
    with pytest.raises(ModelError, match=r"names no liver and no liver tumor.*remap"):
        from_directory(make_bundle(tmp_path / "a", channels={"0": "background", "1": "spleen"}))
    with pytest.raises(ModelError, match=r"no network_data_format\.outputs\.pred\.channel_def"):
        from_directory(make_bundle(tmp_path / "b", channels=None))
    bundle = make_bundle(tmp_path / "c")
    with pytest.raises(ModelError, match=r"remap maps no label to 1"):
        load(write_spec(tmp_path, bundle, remap={1: 0, 2: 0}))
    with pytest.raises(ModelError, match=r"remap names label 7.*has only \[0, 1, 2\]"):
        load(write_spec(tmp_path, bundle, remap={7: 2}))
    with pytest.raises(ModelError, match=r"use 0, 1 or 2"):
        load(write_spec(tmp_path, bundle, remap={2: 3}))


def test_an_output_label_the_metadata_does_not_name_fails_the_case(tmp_path):
    model = from_directory(
        make_bundle(tmp_path / "b", channels={"0": "background", "1": "liver tumor"})
    )
    with pytest.raises(ModelError, match=r"predicted label\(s\) \[2\].*remap"):
        model.predict(scan(), SPACING)


def test_the_card_comes_from_the_bundle(tmp_path):
    bundle = make_bundle(tmp_path / "tiny_liver")
    card = from_directory(bundle).card
    assert card.name == "tiny_liver" and card.adapter == "monai-bundle"
    assert re.fullmatch(r"0\.3\.1\+config\.[0-9a-f]{8}", card.version)
    assert (
        card.license
        == "Apache License, Version 2.0, January 2004 (Copyright (c) robustbench-liver)"
    )
    assert card.citation == "Hu et al., Label-Free Liver Tumor Segmentation, CVPR 2023"
    assert card.trained_on == "no data: weights set by hand"
    assert card.description.startswith("Tiny liver CT segmentation: A test bundle")
    assert "LoadImaged > EnsureChannelFirstd > Orientationd > Spacingd" in card.description
    assert card.spacing_mm == (2.0, 2.0, 2.0)
    assert card.hu_window == (0.0, 400.0) and card.normalize == "window"
    assert card.roi_size == (32, 32, 32) and card.overlap == 0.25
    assert card.classes == ("background", "liver", "tumor")
    assert card.sha256 == sha256_of(bundle / "models" / "model.pt")
    assert card.weights == str(bundle / "models" / "model.pt")
    assert "Not in the bundle" not in card.description


def test_the_card_says_what_the_bundle_lacks_and_the_spec_overrides(tmp_path):
    bundle = make_bundle(
        tmp_path / "b",
        license_text=None,
        meta={"version": None, "references": [], "data_source": "", "copyright": ""},
    )
    card = from_directory(bundle).card
    assert card.license == "unknown" and card.version.startswith("0+config.")
    assert "Not in the bundle: version, license, citation, trained_on." in card.description
    spec = write_spec(tmp_path, bundle, card={"name": "mine", "license": "MIT"})
    card = load(spec).card
    assert card.name == "mine" and card.license == "MIT"
    assert "Not in the bundle: version, citation, trained_on." in card.description


def test_the_version_changes_with_the_config_and_the_mapping(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    first = from_directory(bundle).card.version
    assert from_directory(bundle).card.version == first
    remapped = load(write_spec(tmp_path, bundle, remap={1: 1, 2: 2, 0: 0})).card.version
    assert remapped == first  # the same mapping, said explicitly
    assert load(write_spec(tmp_path, bundle, remap={1: 0, 2: 2})).card.version != first
    make_bundle(bundle, window=(0.0, 500.0))
    assert from_directory(bundle).card.version != first
    assert load(write_spec(tmp_path, bundle, card={"version": "7"})).card.version == "7"


def test_a_spec_goes_through_the_registry(tmp_path):
    spec = write_spec(tmp_path, make_bundle(tmp_path / "b"), device="cpu")
    model = get_model(spec)
    assert model.card.name == "bundle" and str(model.device) == "cpu"
    assert (model.predict(scan(), SPACING) == 2).any()


def test_get_model_takes_a_bundle_folder(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    assert get_model(str(bundle)).card.adapter == "monai-bundle"


def test_the_bundle_sees_the_scan_at_its_physical_size(tmp_path):
    """The temporary NIfTI carries the spacing: the bundle's Spacingd (2 mm) turns 80 x 1.0,
    70 x 1.2 and 40 x 2.5 mm into 40, 42 and 50 voxels."""
    model = from_directory(make_bundle(tmp_path / "b"))
    seen = []
    inner = model.inferer

    def recording(inputs, network):
        seen.append(tuple(inputs.shape))
        return inner(inputs, network)

    model.inferer = recording
    model.predict(scan(), SPACING)
    assert seen == [(1, 1, 40, 42, 50)]


def test_a_bundle_card_does_not_show_the_suite_post_processing():
    from robustbench_liver.types import card_for_display

    shown = card_for_display({"adapter": "monai-bundle", "min_tumor_mm3": 0.0, "roi_size": [96]})
    assert "min_tumor_mm3" not in shown and shown["roi_size"] == [96]
