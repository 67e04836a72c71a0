"""The nnunet adapter with the tiny real nnU-Net model of tests/fixtures/nnunet_tiny (made
by nnU-Net's own training code, see its README): prediction where the tumor is, the card it
fills, and every spec error a person can make."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from scipy import ndimage

from robustbench_liver.errors import ModelError
from robustbench_liver.models import load_spec, nnunet
from robustbench_liver.models.checksum import sha256_of
from robustbench_liver.models.protocol import BatchItem, card_for_display

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SPEC = FIXTURES / "nnunet_tiny.yaml"
FOLDER = FIXTURES / "nnunet_tiny"
DIGEST = sha256_of(FOLDER / "fold_0" / "checkpoint_final.pth")
needs_nnunet = pytest.mark.skipif(
    importlib.util.find_spec("nnunetv2") is None,
    reason=f"nnunetv2 is not installed ({nnunet.INSTALL})",
)

# A bright (+150..200 HU) large tumor, as the fixture was trained on, on a phantom patient it
# never saw (training used seeds 100-109), at the training data's grid.
BRIGHT = textwrap.dedent(
    """\
    name: bright
    seed: 3
    base_scans:
      - {source: phantom, count: 1, first_seed: 0, shape: [128, 112, 56], spacing: [3.0, 3.0, 4.0]}
    tumor_cases: 1
    control_cases: 0
    tumors: {level: large, count: [1, 1], delta_hu: [150, 200]}
    """
)


@pytest.fixture(scope="module")
def bright_case(tmp_path_factory) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    from robustbench_liver.scenarios import base_scans, load_scenario, make_plan
    from robustbench_liver.scenarios.cases import build_case

    path = tmp_path_factory.mktemp("bright") / "bright.yaml"
    path.write_text(BRIGHT)
    scenario = load_scenario(path)
    spec = make_plan(scenario, base_scans(scenario, None)).cases[0]
    scan = spec.scan.load()
    case = build_case(scenario, spec, scan)
    return case.image, case.label, tuple(scan.spacing)


@pytest.fixture(scope="module")
def model():
    if importlib.util.find_spec("nnunetv2") is None:
        pytest.skip(f"nnunetv2 is not installed ({nnunet.INSTALL})")
    return load_spec(SPEC)


@pytest.fixture(scope="module")
def bright_prediction(model, bright_case) -> np.ndarray:
    image, _, spacing = bright_case
    return model.predict(image, spacing)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / max(1, a.sum() + b.sum()))


def spec_file(tmp_path: Path, folder: Path = FOLDER, **keys) -> Path:
    data = {"adapter": "nnunet", "folder": str(folder), "configuration": "3d_fullres"}
    data.update({"sha256": {0: DIGEST}, "device": "cpu", "mirroring": False})
    data.update(keys)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in data.items() if v is not None}))
    return path


def copy_folder(tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(FOLDER, copy)
    return copy


@needs_nnunet
def test_finds_the_bright_tumor_where_it_is(bright_case, bright_prediction):
    image, label, _ = bright_case
    out = bright_prediction
    assert out.shape == image.shape and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 1, 2}
    tumor, truth = out == 2, label == 2
    # measured: tumor DSC 0.93, liver + tumor 0.85, 98 % of the tumor found, 89 % of the
    # largest predicted tumor inside it (the axis order is the reader test's job: this tiny
    # bright-blob finder still finds the blob in a wrongly transposed input)
    assert dice(tumor, truth) > 0.7
    assert dice(out > 0, label > 0) > 0.7
    assert (tumor & truth).sum() > 0.8 * truth.sum()
    components, _ = ndimage.label(tumor)
    largest = components == np.argmax(np.bincount(components.ravel())[1:]) + 1
    assert (largest & truth).sum() > 0.7 * largest.sum()


@needs_nnunet
def test_nnunet_sees_the_case_as_its_own_reader_gives_it(model, bright_case, tmp_path):
    """The axis order: the case reaches nnU-Net as `nnUNetv2_predict` would read the suite's
    NIfTI file of it (SimpleITK's (z, y, x), spacing reversed): the same labels."""
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

    from robustbench_liver.io import save_nifti

    image, _, spacing = bright_case
    image = np.round(image).astype(np.float32)  # the file holds whole HU
    path = tmp_path / "case_0000.nii.gz"
    save_nifti(path, image, np.diag([*spacing, 1.0]))
    data, properties = SimpleITKIO().read_images([str(path)])
    theirs = model.predictor.predict_single_npy_array(data, properties)
    ours = model.predict(image, spacing)
    assert (ours == 2).sum() > 1000
    assert np.array_equal(ours, model.lut[np.asarray(theirs).transpose(2, 1, 0)])


@needs_nnunet
def test_batch_keeps_a_bad_case_apart(model, bright_case, bright_prediction):
    image, _, spacing = bright_case
    items = [BatchItem("flat", image[:, :, 0], spacing), BatchItem("good", image, spacing)]
    results = model.predict_batch(items)
    assert isinstance(results["flat"], ModelError) and "3D" in str(results["flat"])
    assert np.array_equal(results["good"], bright_prediction)


@needs_nnunet
def test_card_fills_itself_from_the_folder(model):
    card = model.card
    assert (card.name, card.adapter, card.output) == ("nnunet-tiny", "nnunet", "labels")
    assert card.classes == ("background", "liver", "tumor")
    assert card.spacing_mm == (4.0, 4.0, 5.0)  # plans.json's (z, y, x) 5x4x4, as (x, y, z)
    assert card.roi_size == (64, 64, 32)
    assert card.overlap == 0.5 and not card.needs_liver
    assert card.weights == str(FOLDER / "fold_0" / "checkpoint_final.pth")
    assert card.sha256 == DIGEST
    assert card.trained_on == "nnU-Net dataset Dataset999_LiverSynthTiny (10 training cases)"
    for part in (
        "nnUNetTrainer__nnUNetPlans__3d_fullres",
        "fold(s) 0",
        "channels {'0': 'CT'}",
        "CTNormalization (HU clipped to",
        "labels by name: liver→liver, tumor→tumor",
    ):
        assert part in card.description
    assert "not given" not in card.description  # the spec gives version, license, citation
    shown = card_for_display(card.to_dict())
    assert "hu_window" not in shown and "normalize" not in shown  # nnU-Net normalizes itself
    assert shown["roi_size"] == [64, 64, 32]


@needs_nnunet
def test_card_says_what_it_could_not_fill(tmp_path):
    card = load_spec(spec_file(tmp_path, card={"description": "mine"})).card
    assert card.name == "spec" and card.description.startswith("mine (nnU-Net v2 ")
    assert "not given: version, license, citation (add under `card:`)" in card.description


def test_sha256_is_required_and_checked(tmp_path):
    with pytest.raises(ModelError, match=rf"add to the spec: `sha256: {{0: {DIGEST}}}`"):
        load_spec(spec_file(tmp_path, sha256=None))
    with pytest.raises(ModelError, match=r"has sha256 .*, the spec expects 0000"):
        load_spec(spec_file(tmp_path, sha256="0" * 64))


def test_spec_errors_name_the_key(tmp_path):
    with pytest.raises(ModelError, match=r"card.hu_window: nnU-Net normalizes its input itself"):
        load_spec(spec_file(tmp_path, card={"hu_window": [-100, 200]}))
    with pytest.raises(ModelError, match=r"card.min_tumor_confidence: .* reads labels"):
        load_spec(spec_file(tmp_path, card={"min_tumor_confidence": 0.9}))
    with pytest.raises(ModelError, match=r"tile_step_size must lie in \(0, 1\]"):
        load_spec(spec_file(tmp_path, tile_step_size=0))
    with pytest.raises(ModelError, match=r"unknown key 'fold'.*folds"):
        load_spec(spec_file(tmp_path, fold=0))
    with pytest.raises(ModelError, match=r"no configuration '2d'.*3d_fullres"):
        load_spec(spec_file(tmp_path, configuration="2d"))
    with pytest.raises(ModelError, match=r"fold 1: .* not found .*\[0\]"):
        load_spec(spec_file(tmp_path, folds=[0, 1]))
    with pytest.raises(ModelError, match=r"nnU-Net model folder .*absent not found"):
        load_spec(spec_file(tmp_path, folder=tmp_path / "absent"))


def test_labels_that_cannot_map_are_refused(tmp_path):
    copy = copy_folder(tmp_path)
    dataset = json.loads((copy / "dataset.json").read_text())
    dataset["labels"] = {"background": 0, "organ": 1, "finding": 2}
    (copy / "dataset.json").write_text(json.dumps(dataset))
    with pytest.raises(ModelError, match=r"no label is a liver tumor by its name.*remap"):
        load_spec(spec_file(tmp_path, folder=copy))
    if importlib.util.find_spec("nnunetv2") is not None:
        model = load_spec(spec_file(tmp_path, folder=copy, remap={"finding": "tumor", 1: "liver"}))
        assert model.card.classes == ("background", "liver", "tumor")
        assert "labels by the spec's remap: organ→liver, finding→tumor" in model.card.description


def test_a_checkpoint_of_another_configuration_is_refused(tmp_path):
    copy = copy_folder(tmp_path)
    plans = json.loads((copy / "plans.json").read_text())
    plans["configurations"]["3d_other"] = plans["configurations"]["3d_fullres"]
    (copy / "plans.json").write_text(json.dumps(plans))
    with pytest.raises(ModelError, match=r"trained as configuration '3d_fullres', the spec"):
        load_spec(spec_file(tmp_path, folder=copy, configuration="3d_other"))


def test_without_nnunetv2_it_says_how_to_install(tmp_path, monkeypatch):
    for name in ("nnunetv2", "nnunetv2.inference.predict_from_raw_data"):
        monkeypatch.setitem(sys.modules, name, None)  # `import` now fails as if absent
    with pytest.raises(ModelError) as err:
        load_spec(spec_file(tmp_path))
    assert "needs nnunetv2" in str(err.value)
    assert "pip install 'robustbench-liver[nnunet]' -c constraints/nnunet.txt" in str(err.value)


@needs_nnunet
@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (
            RuntimeError("Could not find requested nnunet trainer MyTrainer in ..."),
            "nnUNet_extTrainer",
        ),
        (RuntimeError("operator torchvision::nms does not exist"), "torchvision does not fit"),
    ],
)
def test_a_trainer_nnunet_cannot_find_is_named(tmp_path, monkeypatch, raised, expected):
    checkpoint = nnunet.load_checkpoint(FOLDER / "fold_0" / "checkpoint_final.pth", "tiny")
    checkpoint["trainer_name"] = "MyTrainer"
    copy = copy_folder(tmp_path)
    torch.save(checkpoint, copy / "fold_0" / "checkpoint_final.pth")
    api = nnunet.nnunet_api()

    def find(name):
        raise raised

    monkeypatch.setattr(nnunet, "nnunet_api", lambda: {**api, "find_trainer": find})
    digest = sha256_of(copy / "fold_0" / "checkpoint_final.pth")
    with pytest.raises(ModelError, match=rf"MyTrainer.*{expected}"):
        load_spec(spec_file(tmp_path, folder=copy, sha256=digest))


@needs_nnunet
def test_the_cards_post_processing_applies(bright_case, tmp_path):
    """min_tumor_mm3 and tumors_in_liver act on nnU-Net's labels as on a torch model's."""
    from robustbench_liver.inference import postprocess_labels

    image, _, spacing = bright_case
    image = image.copy()
    image[4:16, 4:16, 4:16] = 200.0  # a bright blob in a corner, far from the liver
    plain = load_spec(spec_file(tmp_path / "a")).predict(image, spacing)
    assert (plain[4:16, 4:16, 4:16] == 2).any(), "the blob must be taken for tumor"
    card = {"min_tumor_mm3": 500.0, "tumors_in_liver": True}
    model = load_spec(spec_file(tmp_path / "b", card=card))
    got = model.predict(image, spacing)
    assert np.array_equal(got, postprocess_labels(plain, spacing, 500.0, True))
    assert not (got[4:16, 4:16, 4:16] == 2).any()
