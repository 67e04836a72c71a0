"""Training configs: validation names the field; the shipped config is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustbench_liver.training import ConfigError, config_from_dict, load_config

SHIPPED = (
    Path(__file__).resolve().parents[3] / "robustbench_liver/models/weights/unet_synth.train.yaml"
)


def test_the_shipped_config_loads():
    config = load_config(SHIPPED)
    assert config.model.name == "unet-synth"
    first, _ = config.data.phantom_seeds
    assert first >= 4, "phantom seeds 0-3 belong to the shipped scenarios"
    assert [s.image for s in config.data.real_scans] == ["totalseg-dicom/dicom"]


def test_round_trip_and_digest(tiny_config):
    again = config_from_dict(tiny_config.to_dict())
    assert again == tiny_config and again.digest == tiny_config.digest


def test_threads_do_not_change_the_digest(tiny_config_dict):
    a = config_from_dict(tiny_config_dict)
    tiny_config_dict["threads"] = 2
    assert config_from_dict(tiny_config_dict).digest == a.digest


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"iteratons": 3}, "Did you mean 'iterations'"),
        ({"iterations": 0}, "iterations: must be an integer >= 1"),
        ({"learning_rate": -1}, "learning_rate"),
        ({"model": {"spacing_mm": [0, 1, 1]}}, "model.spacing_mm"),
        ({"data": {"levels": {"hugee": 1}}}, "Did you mean 'huge'|unknown level"),
        ({"data": {"patch_size": [4, 4, 4]}}, "data.patch_size"),
        ({"data": {"real_share": 0.5}}, "no real_scans"),
        ({"data": {"tumor_overrides": {"min_insid": 0.5}}}, "data.tumor_overrides"),
        ({"data": {"patch_centres": {"vessel": 1}}}, "data.patch_centres"),
        ({"data": {"phantom_options": {"shape": [2, 2, 2]}}}, "data.phantom_options"),
        ({"data": {"real_scans": [{"labels": "x/labels.nii.gz"}]}}, "RealScan.*'image'"),
        ({"data": {"phase_share": 1.5}}, "data.phase_share"),
        ({"data": {"phase_degree": [0.8, 0.2]}}, "data.phase_degree: low above high"),
        ({"data": {"non_contrast_hu": {"livr": [40, 60]}}}, "Did you mean 'liver'"),
        ({"data": {"non_contrast_hu": {"liver": [60, 40]}}}, "non_contrast_hu.liver"),
        ({"model": {"tumors_in_liver": "yes"}}, "model.tumors_in_liver"),
        ({"data": {"spatial_share": -0.1}}, "data.spatial_share"),
        ({"data": {"zoom": [1.2, 0.9]}}, "data.zoom: low above high"),
        ({"data": {"zoom": [0.1, 1.0]}}, "data.zoom"),
        ({"data": {"rotation_deg": [10.0]}}, "data.rotation_deg"),
        ({"model": {"classes": ["background", "liver", "tumour"]}}, "model.classes: must be"),
        (
            {"model": {"classes": ["background", "liver", "tumor", "vessel"]}},
            "model.network_args.out_channels: is 3, but model.classes names 4",
        ),
        ({"init_from": {"spec": "a.yaml", "sha256": "abc"}}, "init_from: needs spec"),
        ({"init_from": {"spec": "a.yaml"}}, "init_from needs spec and sha256"),
        ({"init_from": {"specs": "a.yaml", "sha256": "0" * 64}}, "Did you mean 'spec'"),
        (
            {
                "data": {
                    "real_scans": [{"image": "a", "labels": "b", "tissue_labels": {"bone": [1]}}]
                }
            },
            "tissue_labels.*unknown tissue|tissue_labels.*Did you mean",
        ),
    ],
)
def test_bad_values_name_the_field(tiny_config_dict, change, message):
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(tiny_config_dict.get(key), dict):
            tiny_config_dict[key].update(value)
        else:
            tiny_config_dict[key] = value
    with pytest.raises(ConfigError, match=message):
        config_from_dict(tiny_config_dict)


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_fields_added_later_leave_old_digests_alone(tiny_config_dict):
    """A run started before the contrast-phase fields existed still resumes: at their
    defaults they are not part of the digest."""
    plain = config_from_dict(tiny_config_dict).digest
    tiny_config_dict["data"]["real_scans"] = []
    tiny_config_dict["data"]["phase_share"] = 0.0
    tiny_config_dict["model"]["tumors_in_liver"] = False
    tiny_config_dict["init_from"] = None
    tiny_config_dict["data"] |= {"spatial_share": 0.0, "rotation_deg": [15, 8], "zoom": [0.85, 1.2]}
    tiny_config_dict["model"]["classes"] = ["background", "liver", "tumor"]
    assert config_from_dict(tiny_config_dict).digest == plain
    again = config_from_dict(tiny_config_dict | {"init_from": {"spec": "a", "sha256": "0" * 64}})
    assert again.digest != plain and config_from_dict(again.to_dict()) == again
    tiny_config_dict["data"]["phase_share"] = 0.5
    assert config_from_dict(tiny_config_dict).digest != plain


def test_the_shipped_config_fine_tunes_version_2_on_non_contrast_anatomy():
    config = load_config(SHIPPED)
    assert config.data.phase_share == 0.7 and config.model.tumors_in_liver
    assert config.init_from is not None and config.init_from.sha256.startswith("a46cca40")
    options = config.data.phantom_options
    assert options == {"vary_gallbladder": True, "duodenum": True, "liver_tip": True}
    assert config.data.real_share == 0.4 and config.model.version == "4"
    version_2 = load_config(SHIPPED.with_name("unet_synth.v2.train.yaml"))
    assert version_2.init_from is None and version_2.data.phase_share == 0.5
    (real,) = config.data.real_scans
    assert real.tissue_labels["liver"] == (5,) and real.tissue_labels["blood"] == (51, 52, 63, 64)
