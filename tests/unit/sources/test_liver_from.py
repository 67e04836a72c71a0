"""Liver masks from a model: the checks that refuse a wrong mask, the model's path rules, the
cache (one run of the model per scan and model), and what a scenario may say."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from robustbench_liver.errors import DataError, ModelError, ScenarioError
from robustbench_liver.io import save_nifti
from robustbench_liver.io.scan import LiverMaskWarning
from robustbench_liver.models import ModelCard, register_model
from robustbench_liver.scenarios import scenario_from_dict
from robustbench_liver.sources import liver_from as lf
from robustbench_liver.sources.liver_cache import LiverMaskCache, default_root, mask_key

SPACING = (3.0, 3.0, 3.0)


def body_with_liver(shape=(70, 64, 64), liver_at=(35, 32, 32), radius=22):
    """A 'body' (40 HU, 6.4 l) filling the grid but its border (air), with a ball of 60 HU:
    the liver, 1.2 l at 3 mm voxels, away from every face."""
    image = np.full(shape, -1000.0, np.float32)
    image[2:-2, 2:-2, 2:-2] = 40.0
    grid = np.indices(shape)
    dist = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, liver_at, strict=True)))
    liver = dist <= radius
    image[liver] = 60.0
    return image, liver


def spec(**changes) -> lf.LiverFrom:
    return lf.LiverFrom(model="liver-test", label=(1,), **changes)


def test_a_plausible_mask_is_kept_whole():
    image, liver = body_with_liver()
    kept = lf.checked_liver(liver, image, SPACING, spec(), "scan-a")
    np.testing.assert_array_equal(kept, liver)


@pytest.mark.parametrize(
    ("mask", "found", "knob"),
    [
        ("empty", "the model marked no voxel [1]", "label"),
        ("huge", "outside 0.6-3.5 l", "volume_l"),
        ("small", "outside 0.6-3.5 l", "volume_l"),
        ("halves", "fragmented into 2 pieces, the largest holds 50%", "min_largest_share"),
    ],
)
def test_a_wrong_mask_is_refused_with_the_scan_named(mask, found, knob):
    image, liver = body_with_liver()
    if mask == "empty":
        liver[:] = False
    elif mask == "huge":
        liver = image > -500  # the whole body
    elif mask == "small":
        liver[:, :, :32] = False
        liver[:, :32] = False  # a quarter of the ball, away from the faces: 0.3 l
    else:
        liver[33:38] = False  # two equal halves
    with pytest.raises(DataError) as err:
        lf.checked_liver(liver, image, SPACING, spec(), "scan-7", "tool", Path("/c/k.nii.gz"))
    text = str(err.value)
    assert text.startswith("scan scan-7: the liver mask from model 'tool' looks wrong: ")
    assert found in text and f"widen `liver_from.{knob}`" in text
    assert text.endswith("its output: /c/k.nii.gz (open it over the CT))")


def test_hu_and_body_share_are_checked():
    image, liver = body_with_liver()
    fat = np.where(liver, -100.0, image).astype(np.float32)
    with pytest.raises(DataError, match=r"median -100 HU, outside -20\.\.250 HU"):
        lf.checked_liver(liver, fat, SPACING, spec(), "s")
    slim = np.where(liver | (image < -500), image, -1000.0).astype(np.float32)  # body = liver
    with pytest.raises(DataError, match="it holds 100% of the body"):
        lf.checked_liver(liver, slim, SPACING, spec(), "s")
    assert lf.checked_liver(liver, slim, SPACING, spec(max_body_share=1.0), "s").any()


def test_a_cut_liver_is_held_to_the_upper_bound_only():
    image, liver = body_with_liver()
    cut = liver.copy()
    cut[:, :, 20:] = False  # the scan ends in the liver, touching a face: 0.3 l
    cut_image = image[:, :, :20].copy()
    kept = lf.checked_liver(cut[:, :, :20], cut_image, SPACING, spec(), "s")
    assert kept.sum() == cut.sum()  # no lower bound but PARTIAL_MIN_L
    crumb = np.zeros_like(cut[:, :, :20])
    crumb[35, 32, 17:20] = True
    with pytest.raises(DataError, match=r"\(the scan cuts the liver\), outside 0.05-3.5 l"):
        lf.checked_liver(crumb, cut_image, SPACING, spec(), "s")


def test_small_stray_pieces_are_dropped_with_a_warning():
    image, liver = body_with_liver()
    stray = liver.copy()
    stray[5:7, 5:7, 5:7] = True
    with pytest.warns(LiverMaskWarning, match=r"scan s: kept the largest piece .* 1 smaller"):
        kept = lf.checked_liver(stray, image, SPACING, spec(), "s")
    np.testing.assert_array_equal(kept, liver)


def test_model_paths_are_the_scenario_files_and_stay_inside(tmp_path):
    scenario = tmp_path / "scenarios" / "s.yaml"
    (tmp_path / "scenarios" / "models").mkdir(parents=True)
    (tmp_path / "scenarios" / "models" / "tool.yaml").write_text("adapter: command\n")
    (tmp_path / "outside.yaml").write_text("adapter: command\n")
    assert lf.model_reference("unet-synth", scenario) == "unet-synth"
    resolved = lf.model_reference("models/tool.yaml", scenario)
    assert resolved == str((tmp_path / "scenarios" / "models" / "tool.yaml").resolve())
    with pytest.raises(DataError, match="leaves the scenario folder"):
        lf.model_reference("../outside.yaml", scenario)
    with pytest.raises(DataError, match="must be a path relative to the scenario file"):
        lf.model_reference(str(tmp_path / "outside.yaml"), scenario)
    with pytest.raises(DataError, match="no model spec at"):
        lf.model_reference("models/missing.yaml", scenario)
    (tmp_path / "scenarios" / "models" / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    with pytest.raises(DataError, match="leaves the scenario folder"):
        lf.model_reference("models/link.yaml", scenario)


class Finder:
    """A model that finds the test body's liver (60 HU) and counts its runs."""

    runs = 0

    def __init__(self, value=1, version="1"):
        self.card = ModelCard(name="liver-test", version=version)
        self.value = value

    def predict(self, image_hu, spacing, liver=None):
        Finder.runs += 1
        return (np.asarray(image_hu) > 50).astype(np.uint8) * np.uint8(self.value)


register_model("liver-test")(Finder)
register_model("liver-test-tumor")(lambda: Finder(value=2, version="2"))


def write_scan(folder: Path) -> Path:
    image, _ = body_with_liver()
    return save_nifti(folder / "ct.nii.gz", image, np.diag([*SPACING, 1.0]))


def test_the_model_runs_once_per_scan_and_model(tmp_path):
    path = write_scan(tmp_path)
    Finder.runs = 0
    lf._model.cache_clear()
    first = lf.load_scan_with_model(path, spec(), "body-1")
    again = lf.load_scan_with_model(path, spec(), "body-1")
    assert Finder.runs == 1
    np.testing.assert_array_equal(first.liver, again.liver)
    assert first.liver.sum() == body_with_liver()[1].sum() and first.vessels is None
    stored = Path(first.provenance["liver"])
    assert stored.parent.parent == default_root() and stored.name.endswith(".nii.gz")
    assert first.provenance["liver_from"]["card"] == {
        "name": "liver-test",
        "version": "1",
        "sha256": None,
    }
    # another model (another card version) is another cache entry; its liver is label 2
    lf.load_scan_with_model(path, lf.LiverFrom(model="liver-test-tumor", label=(1, 2)), "b")
    assert Finder.runs == 2
    with pytest.raises(DataError, match="the model marked no voxel \\[1\\]"):
        lf.load_scan_with_model(path, lf.LiverFrom(model="liver-test-tumor", label=(1,)), "b")
    assert Finder.runs == 2  # refused from the cached output, without running the model


def test_the_cache_key_follows_the_models_identity(tmp_path):
    one = mask_key("a" * 64, {"name": "m", "version": "1", "sha256": None})
    assert one == mask_key("a" * 64, {"name": "m", "version": "1", "sha256": None})
    assert one != mask_key("a" * 64, {"name": "m", "version": "2", "sha256": None})
    assert one != mask_key("b" * 64, {"name": "m", "version": "1", "sha256": None})
    cache = LiverMaskCache(tmp_path)
    labels = np.zeros((4, 5, 6), np.uint8)
    labels[1, 2, 3] = 2
    cache.put(one, labels, np.diag([2.0, 2.0, 3.0, 1.0]), {"scan": "x"})
    np.testing.assert_array_equal(cache.get(one, (4, 5, 6)), labels)
    assert cache.get(one, (4, 5, 7)) is None  # another grid: not this entry (and dropped)
    assert not cache.path(one).exists()


def test_a_model_that_needs_the_liver_cannot_make_one(tmp_path):
    class NeedsLiver(Finder):
        def __init__(self):
            self.card = ModelCard(name="n", needs_liver=True)

    register_model("liver-needs-liver")(NeedsLiver)
    with pytest.raises(DataError, match="needs a liver mask itself"):
        lf.load_scan_with_model(write_scan(tmp_path), lf.LiverFrom("liver-needs-liver", (1,)), "s")
    with pytest.raises(ModelError, match="unknown model 'no-such-liver-model'"):
        lf.load_scan_with_model(
            write_scan(tmp_path), lf.LiverFrom("no-such-liver-model", (1,)), "s"
        )


def scenario(**source) -> dict:
    base = {"source": "folder", "images": "*/ct.nii.gz", **source}
    return {"name": "s", "base_scans": [base]}


def test_the_scenario_schema_takes_liver_from_alone():
    ok = scenario_from_dict(scenario(liver_from={"model": "m.yaml", "label": [2, 1]}))
    assert ok.spec.base_scans[0].liver_from.label == (1, 2)
    cases = [
        ({"labels": "{dir}/l.nii.gz"}, "`liver_from` takes the place of `labels`"),
        ({"liver_label": 5}, "drop `liver_label`"),
        ({"vessel_labels": [63]}, "vessels are then found in the image"),
    ]
    for extra, message in cases:
        with pytest.raises(ScenarioError, match=message):
            scenario_from_dict(scenario(liver_from={"model": "m", "label": 1}, **extra))
    with pytest.raises(ScenarioError, match=r"remap: \{5: 1\} for TotalSegmentator"):
        scenario_from_dict(scenario(liver_from={"model": "m", "label": 5}))
    with pytest.raises(ScenarioError, match="Did you mean 'volume_l'"):
        scenario_from_dict(scenario(liver_from={"model": "m", "label": 1, "volume": [1, 2]}))
    with pytest.raises(ScenarioError, match="or `liver_from`"):
        scenario_from_dict(scenario())


def test_no_warning_for_a_clean_mask():
    image, liver = body_with_liver()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lf.checked_liver(liver, image, SPACING, spec(), "s")
