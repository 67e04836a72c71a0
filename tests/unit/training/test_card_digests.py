"""Training writes the image digests of its base scans into the card it exports."""

from __future__ import annotations

import yaml

from robustbench_liver.sources.phantom import make_phantom
from robustbench_liver.sources.refs import image_digest
from robustbench_liver.training import train
from robustbench_liver.training.data import BaseScans
from robustbench_liver.training.digests import base_scan_digests, main
from robustbench_liver.training.loop import card_of


def _tiny_phantom_digests(config) -> list[str]:
    options = {k: tuple(v) for k, v in config.data.phantom_options.items()}
    return [image_digest(make_phantom(seed, **options)) for seed in (100, 101)]


def test_digests_are_of_the_phantoms_as_training_makes_them(tiny_config):
    rows = base_scan_digests(tiny_config, BaseScans(tiny_config, None))
    assert [name for name, _ in rows] == ["phantom-100", "phantom-101"]
    assert [d for _, d in rows] == _tiny_phantom_digests(tiny_config)
    assert card_of(tiny_config, "", [d for _, d in rows]).trained_on_scans == tuple(
        d for _, d in rows
    )
    assert card_of(tiny_config).trained_on_scans == ()  # settings_of stays cheap


def test_exported_card_lists_its_base_scans(tmp_path, tiny_config):
    result = train(tiny_config, tmp_path / "run")
    spec = yaml.safe_load(result.spec.read_text())
    assert spec["card"]["trained_on_scans"] == _tiny_phantom_digests(tiny_config)


def test_command_prints_yaml_lines(tmp_path, tiny_config, tiny_config_dict, capsys):
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(tiny_config_dict))
    assert main([str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].endswith("# phantom-100")
    assert yaml.safe_load("\n".join(lines)) == _tiny_phantom_digests(tiny_config)


def test_a_fine_tuning_config_prints_its_parents_scans_too(
    tmp_path, tiny_config, tiny_config_dict, capsys
):
    parent = train(tiny_config, tmp_path / "parent")  # phantoms 100-101
    tiny_config_dict["data"]["phantom_seeds"] = [101, 103]  # 101 again, and 102
    tiny_config_dict["init_from"] = {"spec": str(parent.spec), "sha256": parent.sha256}
    path = tmp_path / "tuned.yaml"
    path.write_text(yaml.safe_dump(tiny_config_dict))
    assert main([str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("# ")[1] for line in lines] == [
        "phantom-101",
        "phantom-102",
        "via unet-synth version 1",
    ]
    assert set(yaml.safe_load("\n".join(lines))) == set(_tiny_phantom_digests(tiny_config)) | {
        yaml.safe_load(lines[1])[0]
    }
