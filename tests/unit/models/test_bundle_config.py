"""What a bundle config may run, and the errors of broken bundles: each names the file and
the item, and nothing of a refused config is built or evaluated."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from robustbench_liver.errors import ModelError
from robustbench_liver.models.bundle import from_directory, from_spec
from robustbench_liver.models.bundle_config import IMPORTS_ID, check_expression, checked_config
from robustbench_liver.models.checksum import sha256_of

_spec = importlib.util.spec_from_file_location(
    "make_bundle", Path(__file__).resolve().parents[2] / "fixtures" / "make_bundle.py"
)
assert _spec is not None and _spec.loader is not None
make_bundle_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_bundle_module)
make_bundle = make_bundle_module.make_bundle
inference_config = make_bundle_module.inference_config


def locator():
    from monai.bundle.config_item import ComponentLocator

    return ComponentLocator()


def with_step(step: dict, where: str = "preprocessing") -> dict:
    """The fixture's config with `step` appended to a Compose section."""
    config = inference_config()
    config[where]["transforms"].append(step)
    return {where: config[where]}


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",
        "open('/etc/passwd').read()",
        "torch.load('weights.pt')",
        "torch.hub.load('a/b', 'net')",
        "@network_def.__class__.__subclasses__()",
        "np.load('x.npy', allow_pickle=True)",
        "glob.glob('*.nii.gz')",
        "getattr(torch, 'lo' + 'ad')('x')",
        "import os",
        "from subprocess import run",
        "from torch import load",
        "import monai.bundle",
    ],
)
def test_expressions_that_leave_monai_torch_numpy_are_refused(expression):
    with pytest.raises(ModelError, match=r"cfg.json: `x`: the expression .* is refused"):
        check_expression(expression, "cfg.json: `x`", ["monai", "torch", "np", "len"])


@pytest.mark.parametrize(
    "expression",
    [
        "torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')",
        "@network_def.to(@device)",
        "lambda x: x[0:1] > 0.5",
        "[i * 2 for i in range(3)]",
        "np.float32(1.5) + len(@preprocessing::transforms)",
        "from monai.transforms import Compose",
        "import numpy as np",
    ],
)
def test_ordinary_bundle_expressions_pass(expression):
    check_expression(expression, "cfg.json: `x`", ["monai", "torch", "np", "range", "len"])


def test_only_what_inference_needs_is_kept_and_checked():
    config = inference_config()
    config["imports"].append("$from monai.transforms import Compose")
    kept = checked_config(config, ["preprocessing", "inferer"], "cfg.json", locator())
    assert set(kept) == {"preprocessing", "inferer", IMPORTS_ID}
    # `$import os` (unused) is dropped, never run; the monai import is kept as MONAI runs it
    assert kept[IMPORTS_ID] == ["$from monai.transforms import Compose"]
    config["postprocessing"]["transforms"].pop()  # SaveImaged: the adapter leaves it out
    kept = checked_config(config, ["postprocessing"], "cfg.json", locator())
    assert set(kept) == {"postprocessing", "preprocessing", IMPORTS_ID}  # via Invertd
    kept = checked_config(config, ["network"], "cfg.json", locator())
    assert set(kept) == {"network", "network_def", "device", IMPORTS_ID}


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"_target_": "os.system", "command": "true"}, "builds os.system"),
        ({"_target_": "scripts.net.MyNet"}, "builds scripts.net.MyNet.*TorchScript"),
        ({"_target_": "SaveImaged", "keys": "image"}, "builds monai.transforms.io"),
        ({"_target_": "monai.bundle.download", "name": "x"}, "builds monai.bundle.download"),
        ({"_target_": "Identityd", "keys": "image", "_mode_": "debug"}, "_mode_: debug"),
        ({"_target_": "Lambdad", "keys": "image", "func": "$lambda x: os.remove(x)"}, "'os'"),
        ({"_target_": "Identityd", "keys": "%other.json::keys"}, "reads another file"),
        ({"_target_": "Identityd", "keys": "@nowhere"}, "`nowhere` is referenced but not"),
    ],
)
def test_refused_targets_name_the_item(step, message):
    with pytest.raises(ModelError, match=message) as err:
        checked_config(with_step(step), ["preprocessing"], "cfg.json", locator())
    assert "cfg.json" in str(err.value)
    if "referenced" not in message:  # the item itself, or the field inside it
        assert "`preprocessing::transforms::6" in str(err.value)


def test_pretrained_networks_are_refused(tmp_path):
    config = {"network_def": {"_target_": "DenseNet121", "spatial_dims": 3, "in_channels": 1,
                              "out_channels": 3, "pretrained": True}}  # fmt: skip
    with pytest.raises(ModelError, match=r"`pretrained: True` \(a download\)"):
        checked_config(config, ["network_def"], "cfg.json", locator())
    config["network_def"]["pretrained"] = False
    assert checked_config(config, ["network_def"], "cfg.json", locator())
    config = {"network_def": {"_target_": "HoVerNet", "pretrained_url": "https://x/y.pth"}}
    with pytest.raises(ModelError, match=r"`pretrained_url: 'https://x/y.pth'`"):
        checked_config(config, ["network_def"], "cfg.json", locator())


def test_a_refused_expression_is_never_evaluated(tmp_path):
    witness = tmp_path / "pwned"
    step = {"_target_": "Lambdad", "keys": "image", "func": f"$open({str(witness)!r}, 'w')"}
    bundle = make_bundle(tmp_path / "b", config={"preprocessing": with_step(step)["preprocessing"]})
    with pytest.raises(ModelError, match=r"uses 'open'"):
        from_directory(bundle)
    assert not witness.exists()


def test_allowed_expressions_run(tmp_path):
    config = inference_config()
    config["inferer"]["roi_size"] = "$[16] * 3"
    config["postprocessing"]["transforms"].insert(
        0, {"_target_": "Lambdad", "keys": "pred", "func": "$lambda x: x * 2.0"}
    )
    model = from_directory(make_bundle(tmp_path / "b", config=config))
    image = np.full((40, 40, 20), 300.0, np.float32)
    assert (model.predict(image, (2.0, 2.0, 2.0)) == 2).all()


def write_spec(tmp_path: Path, **data: object) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"adapter": "monai-bundle", "bundle": "b", **data}))
    return path


def load(path: Path):
    return from_spec(yaml.safe_load(path.read_text()), path)


def test_missing_pieces_are_named(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    (bundle / "configs" / "inference.json").rename(bundle / "configs" / "train.json")
    with pytest.raises(ModelError, match=r"no configs/inference.json .*holds metadata.json, train"):
        from_directory(bundle)
    (bundle / "configs" / "metadata.json").unlink()
    with pytest.raises(ModelError, match=r"no configs/metadata\.json; is this a MONAI bundle"):
        from_directory(bundle)
    with pytest.raises(ModelError, match=r"not a folder"):
        from_directory(tmp_path / "nowhere")


def test_bad_metadata_is_named(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    meta = bundle / "configs" / "metadata.json"
    meta.write_text("{not json")
    with pytest.raises(ModelError, match=r"metadata.json: not valid JSON"):
        from_directory(bundle)
    meta.write_text("[1, 2]")
    with pytest.raises(ModelError, match=r"metadata\.json: a bundle config must be a mapping"):
        from_directory(bundle)
    meta.write_text(json.dumps({"network_data_format": {"outputs": []}}))
    with pytest.raises(ModelError, match=r"outputs must be a mapping"):
        from_directory(bundle)
    data = make_bundle_module.metadata({"zero": "background", "1": "liver"})
    meta.write_text(json.dumps(data))
    with pytest.raises(ModelError, match=r"channel_def key 'zero' is not a label number"):
        from_directory(bundle)
    data = make_bundle_module.metadata()
    data["network_data_format"]["inputs"]["image"]["num_channels"] = 4
    meta.write_text(json.dumps(data))
    with pytest.raises(ModelError, match=r"input has 4 channels"):
        from_directory(bundle)


def test_missing_or_wrong_weights_are_named(tmp_path):
    bundle = make_bundle(tmp_path / "b", weights=None)
    with pytest.raises(ModelError, match=r"no weights \(models/model.pt or models/model.ts\)$"):
        from_directory(bundle)
    (bundle / "large_files.yml").write_text("large_files: []\n")
    with pytest.raises(ModelError, match=r"large_files\.yml says where to download them"):
        from_directory(bundle)
    torch.save(make_bundle_module.unet().state_dict(), bundle / "models" / "model.pt")
    with pytest.raises(ModelError, match=r"model\.pt does not fit its network_def"):
        from_directory(bundle)


def test_a_spec_needs_the_weights_sha256(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    with pytest.raises(ModelError, match=r"no sha256 given .* add `sha256: [0-9a-f]{64}`"):
        load(write_spec(tmp_path))
    with pytest.raises(ModelError, match=r"has sha256 .* the card expects"):
        load(write_spec(tmp_path, sha256="0" * 64))
    with pytest.raises(ModelError, match=r"unknown key 'remapp'.*'remap'"):
        load(write_spec(tmp_path, sha256=sha256_of(bundle / "models/model.pt"), remapp={}))


def test_a_folder_checks_the_hash_its_large_files_list_gives(tmp_path):
    import hashlib

    bundle = make_bundle(tmp_path / "b")
    weights = bundle / "models" / "model.pt"
    md5 = hashlib.md5(weights.read_bytes()).hexdigest()
    listing = {"large_files": [{"path": "models/model.pt", "url": "x", "hash_val": md5}]}
    (bundle / "large_files.yml").write_text(yaml.safe_dump(listing))
    assert from_directory(bundle).card.sha256 == sha256_of(weights)
    listing["large_files"][0]["hash_val"] = "0" * 32
    (bundle / "large_files.yml").write_text(yaml.safe_dump(listing))
    with pytest.raises(ModelError, match=r"has md5 .*large_files\.yml expects 0000"):
        from_directory(bundle)


def test_a_preprocessing_without_one_loader_is_refused(tmp_path):
    config = inference_config()
    config["preprocessing"]["transforms"].pop(0)
    with pytest.raises(ModelError, match=r"has 0 LoadImaged steps"):
        from_directory(make_bundle(tmp_path / "a", config=config))
    config = inference_config()
    config["preprocessing"]["transforms"][0]["keys"] = ["image", "label"]
    with pytest.raises(ModelError, match=r"LoadImaged must load one key"):
        from_directory(make_bundle(tmp_path / "b", config=config))
