"""A few iterations of real training: checkpoints, resume, determinism, export."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from robustbench_liver.inference import prepare_labels
from robustbench_liver.models import get_model
from robustbench_liver.training import ConfigError, config_from_dict, learning_rate, train
from robustbench_liver.training.data import (
    BaseScans,
    rotation,
    sample_patches,
    training_case,
    warp_patch,
)
from robustbench_liver.training.loop import settings_of


def _weights(path):
    return torch.load(path, weights_only=True)


def test_smoke_run_exports_a_loadable_model(tmp_path, tiny_config):
    legacy_state = np.random.get_state()[1].copy()  # noqa: NPY002 (checking it is untouched)
    torch_state = torch.random.get_rng_state()
    result = train(tiny_config, tmp_path / "run")
    # no global RNG was used or reseeded
    assert torch.equal(torch_state, torch.random.get_rng_state())
    assert np.array_equal(legacy_state, np.random.get_state()[1])  # noqa: NPY002
    assert result.iterations == 4 and len(result.losses) == 4
    assert all(np.isfinite(result.losses))
    out = tmp_path / "run"
    for name in ("train.yaml", "checkpoint.pt", "history.csv", "tiny.pt", "tiny.yaml"):
        assert (out / name).is_file(), name
    assert len((out / "history.csv").read_text().splitlines()) == 5
    spec = yaml.safe_load((out / "tiny.yaml").read_text())
    assert spec["sha256"] == result.sha256 and spec["card"]["spacing_mm"] == [6.0, 6.0, 6.0]
    assert "phantom seeds 100-101" in spec["card"]["trained_on"]
    model = get_model(str(result.spec))
    image = np.random.default_rng(0).normal(60, 40, (30, 28, 12)).astype(np.float32)
    labels = model.predict(image, (4.0, 4.0, 6.0))
    assert labels.shape == image.shape and set(np.unique(labels)) <= {0, 1, 2}


def test_resume_after_a_kill_gives_the_same_weights(tmp_path, tiny_config):
    straight = train(tiny_config, tmp_path / "straight")
    first = train(tiny_config, tmp_path / "resumed", stop_after=2)
    assert first.iterations == 2 and not (tmp_path / "resumed" / "tiny.pt").exists()
    second = train(tiny_config, tmp_path / "resumed")
    assert second.resumed_from == 2 and second.iterations == 4
    assert second.losses == pytest.approx(straight.losses)
    a, b = _weights(straight.weights), _weights(second.weights)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_another_config_in_the_same_folder_is_refused(tmp_path, tiny_config, tiny_config_dict):
    train(tiny_config, tmp_path / "run", stop_after=1)
    tiny_config_dict["seed"] = 6
    with pytest.raises(ConfigError, match="another config"):
        train(config_from_dict(tiny_config_dict), tmp_path / "run")


def test_cases_and_patches_are_a_function_of_seed_and_iteration(tiny_config):
    scans = BaseScans(tiny_config, None)
    settings = settings_of(tiny_config)
    a = training_case(tiny_config, scans, settings, 3)
    b = training_case(tiny_config, scans, settings, 3)
    assert torch.equal(a.image, b.image) and torch.equal(a.label, b.label)
    x, y = sample_patches(a, tiny_config, 3)
    assert x.shape == (2, 1, 16, 16, 16) and y.shape == x.shape
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    x2, _ = sample_patches(b, tiny_config, 3)
    assert torch.equal(x, x2)


def test_a_warp_by_the_identity_is_the_plain_crop():
    x = torch.randn(30, 40, 20)
    y = torch.randint(0, 3, (30, 40, 20))
    patch, start = np.array([8, 12, 6]), np.array([4, 9, 11])
    image, label = warp_patch(x, y, start + patch / 2 - 0.5, np.eye(3), patch)
    box = tuple(slice(int(s), int(s + p)) for s, p in zip(start, patch, strict=True))
    assert torch.allclose(image, x[box], atol=1e-5) and torch.equal(label, y[box])


def test_a_quarter_turn_about_the_body_axis_turns_a_bar():
    """A bar along x, turned 90 degrees about z, lies along y; labels stay whole values."""
    x = torch.zeros(33, 33, 9)
    x[4:29, 15:18, :] = 1.0
    y = (x > 0).long() * 2
    quarter = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    image, label = warp_patch(x, y, np.array([16.0, 16.0, 4.0]), quarter, np.array([33, 33, 9]))
    assert torch.allclose(image, x.transpose(0, 1), atol=1e-5)
    assert set(label.unique().tolist()) == {0, 2} and label.dtype == y.dtype
    turns = [rotation(np.random.default_rng(s), (15.0, 8.0)) for s in range(20)]
    assert all(np.allclose(r @ r.T, np.eye(3)) for r in turns)
    angles = [np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))) for r in turns]
    assert 0 < max(angles) <= np.sqrt(15**2 + 8**2 + 8**2) + 1e-6


def test_spatial_augmentation_warps_patches_reproducibly(tiny_config_dict):
    plain = config_from_dict(tiny_config_dict)
    tiny_config_dict["data"] |= {"spatial_share": 1.0, "rotation_deg": [30.0, 10.0]}
    warped = config_from_dict(tiny_config_dict)
    case = training_case(plain, BaseScans(plain, None), settings_of(plain), 2)
    x0, y0 = sample_patches(case, plain, 2)
    x1, y1 = sample_patches(case, warped, 2)
    x2, y2 = sample_patches(case, warped, 2)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.shape == x0.shape and y1.dtype == y0.dtype
    assert not torch.equal(x1, x0)
    assert set(y1.unique().tolist()) <= {0, 1, 2}


def test_learning_rate_warms_up_then_decays(tiny_config):
    rates = [learning_rate(tiny_config, i) for i in range(tiny_config.iterations)]
    assert rates[0] == pytest.approx(tiny_config.learning_rate)  # warm-up of 1 iteration
    assert rates == sorted(rates, reverse=True) and rates[-1] >= 0


def test_real_scans_need_a_data_root(tiny_config_dict):
    tiny_config_dict["data"]["real_scans"] = [{"image": "x/ct.nii.gz", "labels": "x/l.nii.gz"}]
    tiny_config_dict["data"]["real_share"] = 0.5
    with pytest.raises(ConfigError, match="--data-root"):
        BaseScans(config_from_dict(tiny_config_dict), None)


def test_a_wrong_real_scan_path_fails_before_training(tmp_path, tiny_config_dict):
    tiny_config_dict["data"]["real_scans"] = [{"image": "x/ct.nii.gz", "labels": "x/l.nii.gz"}]
    tiny_config_dict["data"]["real_share"] = 0.5
    with pytest.raises(ConfigError, match=r"real_scans\[0\]"):
        train(config_from_dict(tiny_config_dict), tmp_path / "run", data_root=tmp_path)


def test_cases_on_a_real_base_scan(shared_data, tiny_config_dict):
    tiny_config_dict["data"]["real_scans"] = [
        {
            "image": "totalseg-dicom/dicom",
            "labels": "totalseg-dicom/labels.nii.gz",
            "liver_label": 5,
            "vessel_labels": [63, 64],
        }
    ]
    tiny_config_dict["data"]["real_share"] = 1.0
    tiny_config_dict["data"]["phantom_seeds"] = [100, 100]
    config = config_from_dict(tiny_config_dict)
    scans = BaseScans(config, shared_data)
    assert scans.describe() == ["totalseg-dicom/dicom"]
    case = training_case(config, scans, settings_of(config), 0)
    assert case.info["scan"] == "totalseg-dicom"
    x, y = sample_patches(case, config, 0)  # the 40 mm slab is padded up to the patch
    assert x.shape == (2, 1, 16, 16, 16) and int(y.max()) >= 1


def test_a_vessel_class_marks_the_vessels_outside_the_liver(tiny_config_dict):
    """With model.classes ending in vessel, the base scan's vessel voxels that are
    background become class 3; liver, tumor and the rest of the case stay as they were, and
    liver-centred patches never centre on a vessel."""
    plain_config = config_from_dict(tiny_config_dict)
    tiny_config_dict["model"]["classes"] = ["background", "liver", "tumor", "vessel"]
    tiny_config_dict["model"]["network_args"]["out_channels"] = 4
    tiny_config_dict["data"]["patch_centres"] = {"liver": 1.0}
    config = config_from_dict(tiny_config_dict)
    scans = BaseScans(config, None)
    plain = training_case(plain_config, BaseScans(plain_config, None), settings_of(plain_config), 0)
    case = training_case(config, scans, settings_of(config), 0)
    assert torch.equal(case.image, plain.image)
    vessel = case.label == 3
    assert 20 < int(vessel.sum()) and bool((plain.label[vessel] == 0).all())
    assert torch.equal(case.label[~vessel], plain.label[~vessel])
    scan = scans.phantom(int(case.info["scan"].removeprefix("phantom-")))
    on_grid = prepare_labels(scan.vessels.astype(np.uint8), scan.spacing, settings_of(config))
    assert bool((on_grid[vessel] == 1).all())  # on the scan's own vessels
    _, y = sample_patches(case, config, 0)
    assert all(int(y[i, 0][tuple(s // 2 for s in y.shape[2:])]) in (1, 2) for i in range(2))


def test_fine_tuning_widens_a_parent_to_new_classes(tiny_config_dict):
    """A vessel class added to a 3-class parent starts as a copy of background: the widened
    network gives the parent's logits for background, liver and tumor, and background's for
    vessel (also through residual units and the transposed convolution)."""
    from robustbench_liver.models.torch import build_network
    from robustbench_liver.training.finetune import widened

    args = tiny_config_dict["model"]["network_args"] | {"num_res_units": 2}
    parent = build_network("UNet", args).eval()
    child = build_network("UNet", args | {"out_channels": 4}).eval()
    child.load_state_dict(widened(child, parent.state_dict(), 3, 4))
    x = torch.randn(1, 1, 16, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = parent(x), child(x)
    assert torch.allclose(b[:, :3], a, atol=1e-5)
    assert torch.equal(b[:, 3], b[:, 0])
    other = build_network("UNet", args | {"channels": [4, 6]})
    state = widened(other, parent.state_dict(), 3, 4)  # not a class change: left alone
    with pytest.raises(RuntimeError, match="size mismatch"):
        other.load_state_dict(state)


def test_a_non_finite_loss_stops_the_run_and_keeps_the_checkpoint(
    tmp_path, tiny_config, monkeypatch
):
    """One case with a NaN once turned every weight into NaN for the rest of a run, which
    then exported them; now the run stops at that iteration and names the case."""
    from robustbench_liver.training import loop

    train(tiny_config, tmp_path / "run", stop_after=2)  # a checkpoint at iteration 2
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    real = loop.training_case

    def poisoned(config, scans, settings, iteration):
        case = real(config, scans, settings, iteration)
        case.image[:] = float("nan")
        return case

    monkeypatch.setattr(loop, "training_case", poisoned)
    with pytest.raises(ConfigError, match=r"iteration 3: the loss is nan .*image finite: False"):
        train(tiny_config, tmp_path / "run")
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before
    assert not (tmp_path / "run" / "tiny.pt").exists()


def test_fine_tuning_starts_from_the_pinned_model(tmp_path, tiny_config, tiny_config_dict):
    from robustbench_liver.models.checksum import sha256_of

    first = train(tiny_config, tmp_path / "first")
    start = _weights(first.weights)
    tiny_config_dict["iterations"] = 1
    tiny_config_dict["learning_rate"] = 1e-7  # one tiny step: the weights stay close to start
    tiny_config_dict["data"]["phantom_seeds"] = [102, 103]
    tiny_config_dict["init_from"] = {"spec": str(first.spec), "sha256": first.sha256}
    tuned = train(config_from_dict(tiny_config_dict), tmp_path / "tuned")
    after = _weights(tuned.weights)
    assert all(torch.allclose(start[k].float(), after[k].float(), atol=1e-4) for k in start)
    card = yaml.safe_load(tuned.spec.read_text())["card"]
    assert (
        f"fine-tuned from unet-synth version 1 (weights sha256 {first.sha256})"
        in (card["trained_on"])
    )
    # it saw its own phantom and, through its parent, the parent's two
    parent = yaml.safe_load(first.spec.read_text())["card"]["trained_on_scans"]
    assert len(parent) == 2 and set(parent) < set(card["trained_on_scans"])
    assert len(card["trained_on_scans"]) == 3
    # from scratch, the same one step lands far from those weights
    tiny_config_dict.pop("init_from")
    scratch = _weights(train(config_from_dict(tiny_config_dict), tmp_path / "scratch").weights)
    assert not all(torch.allclose(start[k].float(), scratch[k].float(), atol=1e-4) for k in start)
    assert sha256_of(first.weights) == first.sha256  # the parent's file is never written


def test_fine_tuning_refuses_changed_or_unfitting_weights(tmp_path, tiny_config_dict):
    from robustbench_liver.models.checksum import sha256_of

    weights = tmp_path / "start.pt"
    torch.save({"w": torch.zeros(2)}, weights)
    spec = tmp_path / "start.yaml"
    spec.write_text(
        yaml.safe_dump({"adapter": "torch", "checkpoint": "start.pt", "card": {"name": "s"}})
    )
    tiny_config_dict["init_from"] = {"spec": str(spec), "sha256": "0" * 64}
    with pytest.raises(ConfigError, match=r"init_from.spec: .*start.pt have sha256"):
        train(config_from_dict(tiny_config_dict), tmp_path / "a")
    tiny_config_dict["init_from"]["sha256"] = sha256_of(weights)
    with pytest.raises(ConfigError, match="do not fit the configured network"):
        train(config_from_dict(tiny_config_dict), tmp_path / "b")
    weights.unlink()
    with pytest.raises(ConfigError, match="cannot read its weights"):
        train(config_from_dict(tiny_config_dict), tmp_path / "c")
    tiny_config_dict["init_from"]["spec"] = str(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="cannot read model spec"):
        train(config_from_dict(tiny_config_dict), tmp_path / "d")
