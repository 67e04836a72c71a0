"""The shared inference helpers: normalisation, resampling, liver box, output conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robustbench_liver.errors import ModelError
from robustbench_liver.inference import (
    InferenceSettings,
    choose_device,
    liver_box,
    model_grid_shape,
    normalize_hu,
    prepare_image,
    prepare_labels,
    resample,
    segment,
    to_output,
    upsampled_argmax,
)


def test_window_then_zero_mean_unit_variance():
    x = torch.tensor([-500.0, -21.0, 50.0, 189.0, 900.0])
    z = normalize_hu(x, (-21.0, 189.0), "zscore")
    clipped = torch.tensor([-21.0, -21.0, 50.0, 189.0, 189.0])
    assert torch.allclose(z, (clipped - clipped.mean()) / clipped.std())
    assert abs(float(z.mean())) < 1e-6 and abs(float(z.std()) - 1) < 1e-6
    w = normalize_hu(x, (-21.0, 189.0), "window")
    assert float(w.min()) == 0.0 and float(w.max()) == 1.0
    assert torch.equal(normalize_hu(x, None, "none"), x)


def test_constant_volume_does_not_divide_by_zero():
    z = normalize_hu(torch.full((4, 4, 4), 30.0), (-21.0, 189.0), "zscore")
    assert torch.isfinite(z).all()


def test_model_grid_covers_the_same_field_of_view():
    assert model_grid_shape((256, 224, 96), (1.5, 1.5, 2.5), (2.5, 2.5, 2.5)) == (154, 134, 96)
    assert model_grid_shape((10, 10, 10), (1, 1, 1), None) == (10, 10, 10)


def test_resample_round_trip_keeps_a_smooth_volume():
    g = torch.linspace(0, 1, 40)
    volume = g[:, None, None] + 0 * torch.zeros(40, 30, 20)
    there = resample(volume, (20, 15, 10))
    back = resample(there, (40, 30, 20))
    assert back.shape == volume.shape
    assert float((back - volume)[2:-2].abs().max()) < 0.05


def test_nearest_resampling_keeps_label_values():
    labels = np.zeros((20, 20, 10), dtype=np.uint8)
    labels[5:15, 5:15, 2:8] = 1
    labels[8:12, 8:12, 4:6] = 2
    settings = InferenceSettings(spacing_mm=(2.0, 2.0, 2.0))
    y = prepare_labels(labels, (1.0, 1.0, 1.0), settings)
    assert y.shape == (10, 10, 5) and set(torch.unique(y).tolist()) == {0, 1, 2}


def test_prepare_image_accepts_read_only_arrays():
    image = np.zeros((8, 8, 8), dtype=np.float32)
    image.flags.writeable = False
    assert prepare_image(image, (1, 1, 1), InferenceSettings()).shape == (8, 8, 8)


def test_liver_box_with_margin():
    liver = np.zeros((30, 30, 10), dtype=bool)
    liver[10:20, 12:14, 4:6] = True
    box = liver_box(liver, (1.0, 1.0, 2.0), margin_mm=4.0)
    assert box == (slice(6, 24), slice(8, 18), slice(2, 8))
    assert liver_box(np.zeros((3, 3, 3), dtype=bool), (1, 1, 1), 1.0) is None


def test_output_labels_and_probability():
    logits = torch.zeros(3, 4, 4, 4)
    logits[2, :2] = 5.0  # tumor in the first half
    logits[1, 2:] = 5.0  # liver in the second
    labels = to_output(logits, (8, 8, 8), InferenceSettings())
    assert labels.dtype == np.uint8 and labels.shape == (8, 8, 8)
    assert set(np.unique(labels)) == {1, 2}
    prob = to_output(logits, (8, 8, 8), InferenceSettings(output="probability"))
    assert prob.dtype == np.float32 and 0.0 <= prob.min() and prob.max() <= 1.0
    assert prob[0].mean() > 0.9 and prob[-1].mean() < 0.1


def test_single_channel_is_a_tumor_logit():
    logits = torch.full((1, 4, 4, 4), -5.0)
    logits[0, 0] = 5.0
    settings = InferenceSettings(classes=("tumor",))
    labels = to_output(logits, (4, 4, 4), settings)
    assert set(np.unique(labels)) == {0, 2}


def test_a_vessel_channel_is_written_as_background():
    """A network trained with a vessel class (outside the liver) outputs four channels; the
    vessel wins its voxels from tumor and liver, and they are written as background."""
    logits = torch.full((4, 8, 8, 8), -5.0)
    logits[1] = 5.0  # liver everywhere
    logits[3, :3] = 9.0  # but vessel in the first slabs
    logits[2, 3:5] = 9.0  # and tumor after them
    settings = InferenceSettings(classes=("background", "liver", "tumor", "vessel"))
    labels = to_output(logits, (8, 8, 8), settings)
    assert (labels[:3] == 0).all() and (labels[3:5] == 2).all() and (labels[5:] == 1).all()


def test_channel_count_must_match_the_card():
    with pytest.raises(ModelError, match="2 output channels"):
        to_output(torch.zeros(2, 4, 4, 4), (4, 4, 4), InferenceSettings())


def test_settings_are_validated():
    with pytest.raises(ModelError, match="hu_window"):
        InferenceSettings(hu_window=(10.0, -10.0))
    with pytest.raises(ModelError, match="overlap"):
        InferenceSettings(overlap=1.0)
    with pytest.raises(ModelError, match="classes"):
        InferenceSettings(classes=("background", "kidney"))


def test_device_choice():
    assert choose_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert choose_device("auto").type == expected
    with pytest.raises(ModelError, match="unknown device"):
        choose_device("abacus")


def test_segment_keeps_shape_with_crop(small_volume):
    image, spacing, liver = small_volume

    def network(x: torch.Tensor) -> torch.Tensor:
        # a "network" that calls dark voxels tumor: checks the whole plumbing, no weights
        return torch.cat([x, -x, -4 * x], dim=1)

    settings = InferenceSettings(
        spacing_mm=(3.0, 3.0, 3.0), roi_size=(16, 16, 16), overlap=0.25, crop_to_liver=True
    )
    out = segment(network, image, spacing, settings, torch.device("cpu"), liver)
    assert out.shape == image.shape and out.dtype == np.uint8
    box = liver_box(liver, spacing, settings.crop_margin_mm)
    outside = np.ones(image.shape, dtype=bool)
    outside[box] = False
    assert not out[outside].any()


def test_small_tumor_components_become_liver():
    from robustbench_liver.inference import drop_small_tumors

    labels = np.ones((20, 20, 20), dtype=np.uint8)
    labels[2:4, 2:4, 2:4] = 2  # 8 voxels = 8 mm3
    labels[10:16, 10:16, 10:16] = 2  # 216 mm3
    out = drop_small_tumors(labels, (1.0, 1.0, 1.0), 50.0)
    assert (out[2:4, 2:4, 2:4] == 1).all() and (out[10:16, 10:16, 10:16] == 2).all()
    assert labels[2, 2, 2] == 2  # the input is left alone


def test_class_decision_equals_the_argmax_of_the_upsampled_stack():
    probs = torch.softmax(torch.randn(3, 9, 7, 5, generator=torch.Generator().manual_seed(1)), 0)
    probs[:, :2] = 1.0 / 3.0  # exact ties: the first class wins, as with argmax
    for shape in [(9, 7, 5), (20, 15, 11), (5, 4, 3)]:
        expected = resample(probs, shape).argmax(dim=0).numpy()
        got = upsampled_argmax(probs, shape)
        assert got.dtype == np.uint8 and np.array_equal(got, expected)
    assert (upsampled_argmax(probs, (9, 7, 5))[:2] == 0).all()


def test_the_threshold_baseline_runs_without_importing_torch():
    """Each model runs in its own process: one that needs no torch must not pay its import
    (about 2 s and 300 MB per process)."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from robustbench_liver.models import get_model\n"
        "m = get_model('hu-threshold')\n"
        "image = np.full((24, 20, 12), 100.0, np.float32)\n"
        "liver = np.zeros(image.shape, bool); liver[4:20, 4:16, 2:10] = True\n"
        "m.predict(image, (1.5, 1.5, 2.5), liver)\n"
        "sys.exit('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr or "torch was imported"


def test_tumors_outside_the_liver_become_background():
    from robustbench_liver.inference import keep_tumors_in_liver

    labels = np.zeros((30, 30, 30), dtype=np.uint8)
    labels[2:20, 2:20, 2:20] = 1
    labels[8:12, 8:12, 8:12] = 2  # inside the liver
    labels[17:22, 17:22, 17:22] = 2  # at its edge: touches the liver, stays
    labels[25:28, 25:28, 25:28] = 2  # apart from it
    out = keep_tumors_in_liver(labels)
    assert (out[8:12, 8:12, 8:12] == 2).all() and (out[19:22, 19:22, 19:22] == 2).all()
    assert not out[25:28, 25:28, 25:28].any()
    assert labels[26, 26, 26] == 2  # the input is left alone
    empty = np.zeros((5, 5, 5), dtype=np.uint8)
    assert keep_tumors_in_liver(empty) is empty


def test_unsure_tumor_components_become_liver():
    from robustbench_liver.inference import drop_unsure_tumors

    labels = np.ones((20, 20, 20), dtype=np.uint8)
    prob = np.full(labels.shape, 0.1, dtype=np.float32)
    labels[2:6, 2:6, 2:6] = 2
    prob[2:6, 2:6, 2:6] = 0.6  # a component that never gets sure
    labels[10:16, 10:16, 10:16] = 2
    prob[10:16, 10:16, 10:16] = 0.6
    prob[12, 12, 12] = 0.995  # one sure voxel keeps the whole component
    out = drop_unsure_tumors(labels, prob, 0.99)
    assert (out[2:6, 2:6, 2:6] == 1).all() and (out[10:16, 10:16, 10:16] == 2).all()
    assert labels[2, 2, 2] == 2  # the input is left alone
    assert np.array_equal(drop_unsure_tumors(labels, prob, 0.5), labels)


def test_segment_applies_the_confidence_threshold():
    """Two dark blobs the "network" calls tumor, one far darker (surer) than the other:
    the threshold keeps only the sure one, and is off at 0."""
    image = np.full((32, 32, 32), 100.0, dtype=np.float32)
    image[4:10, 4:10, 4:10] = 80.0  # faint
    image[18:26, 18:26, 18:26] = 0.0  # dark

    def network(hu: torch.Tensor) -> torch.Tensor:  # normalize "none": the input is HU
        return torch.cat([torch.zeros_like(hu), torch.ones_like(hu), (90.0 - hu) / 4], dim=1)

    base = InferenceSettings(hu_window=None, normalize="none", roi_size=(32, 32, 32))
    spacing = (1.0, 1.0, 1.0)
    off = segment(network, image, spacing, base, torch.device("cpu"))
    assert off[6, 6, 6] == 2 and off[20, 20, 20] == 2
    sure = InferenceSettings(
        hu_window=None, normalize="none", roi_size=(32, 32, 32), min_tumor_confidence=0.99
    )
    on = segment(network, image, spacing, sure, torch.device("cpu"))
    assert on[6, 6, 6] == 1 and on[20, 20, 20] == 2
    with pytest.raises(ModelError, match="min_tumor_confidence"):
        InferenceSettings(min_tumor_confidence=1.5)


@pytest.mark.parametrize("channels", [1, 3])
def test_labels_come_with_the_tumor_probability_they_were_decided_on(channels):
    from robustbench_liver.inference import labels_and_tumor_probability

    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(channels, 6, 5, 4, generator=gen)
    settings = InferenceSettings(
        classes=("tumor",) if channels == 1 else ("background", "liver", "tumor")
    )
    probs = torch.sigmoid(logits) if channels == 1 else torch.softmax(logits, 0)
    labels, tumor = labels_and_tumor_probability(probs, settings.classes, (12, 10, 8))
    assert np.array_equal(labels, to_output(logits, (12, 10, 8), settings))
    expected = resample(probs[-1], (12, 10, 8)).numpy()
    assert tumor.shape == (12, 10, 8) and np.allclose(tumor, expected)
