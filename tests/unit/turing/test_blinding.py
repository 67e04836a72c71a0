"""Nothing on the reader's page gives the answer away: not the markup, not the images' bytes,
not their grid, not the order. Real tumors from lits-tiny (5.3 mm voxels), synthetic ones in
small phantoms (3 mm): two sources that differ in everything the page must hide."""

from __future__ import annotations

import base64
import io
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustbench_liver.sources.phantom import make_phantom
from robustbench_liver.synthesis import as_config
from robustbench_liver.turing import StudyOptions, TuringError, TuringWarning, export_study
from robustbench_liver.turing.png import chunk_types
from robustbench_liver.turing.study import item_order

SEED = 918273645
PHANTOM = {"shape": (128, 112, 48), "spacing": (3.0, 3.0, 5.0)}


@pytest.fixture(scope="module")
def bases():
    return [make_phantom(seed, **PHANTOM) for seed in (0, 1)]


@pytest.fixture(scope="module")
def real(shared_data):
    lits = shared_data / "lits-tiny"
    return [(lits / "ct.nii.gz", lits / "labels.nii.gz")]


def export(real, bases, out: Path, **options):
    settings = {"n_real": 20, "n_synthetic": 5, "seed": SEED, "min_fov_mm": 60.0, **options}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TuringWarning)  # fewer real lesions than asked
        return export_study(real, bases, as_config("medium"), out, StudyOptions(**settings))


@pytest.fixture(scope="module")
def study(real, bases, tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    made = export(real, bases, out)
    html = made.page.read_text()
    data = json.loads(re.search(r'id="study-data">(.*?)</script>', html, re.S).group(1))
    return {"made": made, "html": html, "data": data, "key": json.loads(made.key.read_text())}


def pngs(data) -> list[bytes]:
    return [base64.b64decode(item["image"].split(",", 1)[1]) for item in data["items"]]


def test_the_study_has_both_kinds(study):
    assert study["made"].n_real == 4 and study["made"].n_synthetic == 5  # lits-tiny: 4 usable
    assert {i["truth"] for i in study["key"]["items"]} == {"real", "synthetic"}


def test_the_page_holds_ids_and_images_only(study):
    data, key = study["data"], study["key"]
    assert set(data) == {"study_id", "answers_format", "items"}
    assert all(set(item) == {"id", "image"} for item in data["items"])
    assert [i["id"] for i in data["items"]] == [i["item"] for i in key["items"]]
    assert data["study_id"] == key["study_id"]


def test_no_key_material_in_the_html(study):
    html, key = study["html"], study["key"]
    assert "truth" not in html and "key.json" not in html and str(SEED) not in html
    for item in key["items"]:
        assert html.count(item["item"]) == 1  # its id, once, in the data block
        for value in item["source"].values():
            if isinstance(value, str) and value:
                assert value not in html, value  # scan ids and file paths
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html).lower()  # images aside
    for word in ("lits", "phantom", "nii", "base_scan", "lesion", "radius_mm", "window_hu"):
        assert word not in text, word
    assert "http://" not in html and "https://" not in html  # nothing to fetch


def test_pngs_carry_no_text_and_one_byte_size(study):
    images = pngs(study["data"])
    assert len({len(png) for png in images}) == 1  # the page source says nothing by size
    for png in images:
        assert chunk_types(png) == [b"IHDR", b"IDAT", b"IEND"]
        with Image.open(io.BytesIO(png)) as image:
            assert image.info == {} and image.size == (256, 256) and image.mode == "L"


def test_real_and_synthetic_share_one_detail_grid(study):
    """Every crop has the same number of samples across, and none more than its source has
    pixels: the 3 mm phantoms are brought down to the 5.3 mm LiTS scan's detail."""
    key = study["key"]
    detail = key["settings"]["detail_pixels_used"]
    assert detail == study["made"].detail_pixels >= 8
    for item in key["items"]:
        crop = item["crop"]
        assert crop["detail_pixel_mm"] == pytest.approx(crop["fov_mm"] / detail)
        assert crop["detail_pixel_mm"] >= max(crop["source_spacing_mm"]) - 1e-9
        assert crop["slab_slices"] == 1  # both sources have 5 mm slices


def test_a_fixed_field_of_view_gives_one_pixel_size(real, bases, tmp_path):
    made = export(real, bases, tmp_path, fov_mm=70.0, window="fixed")
    items = json.loads(made.key.read_text())["items"]
    pixel = 70.0 / made.detail_pixels
    assert {i["truth"] for i in items} == {"real", "synthetic"}
    assert all(i["crop"]["detail_pixel_mm"] == pytest.approx(pixel) for i in items)
    assert {tuple(i["crop"]["window_hu"]) for i in items} == {(-160.0, 240.0)}


def test_one_window_width_and_matched_noise(study):
    items = study["key"]["items"]
    assert {round(i["crop"]["window_hu"][1] - i["crop"]["window_hu"][0], 6) for i in items} == {
        400.0
    }
    final = [np.hypot(i["noise"]["detail_sd_hu"], i["noise"]["added_sd_hu"]) for i in items]
    assert max(final) - min(final) < 1e-6 * max(final)


def test_crops_lie_inside_their_scans(study):
    for item in study["key"]["items"]:
        crop = item["crop"]
        shape = (64, 64) if item["truth"] == "real" else PHANTOM["shape"][:2]
        for c, n, s in zip(crop["center_mm"], shape, crop["source_spacing_mm"], strict=True):
            assert crop["fov_mm"] / 2 <= c <= (n - 1) * s - crop["fov_mm"] / 2


def test_order_depends_on_the_seed_only(study, real, bases, tmp_path):
    key = study["key"]
    truths = ["real"] * study["made"].n_real + ["synthetic"] * study["made"].n_synthetic
    order = item_order(SEED, len(truths))
    assert [i["truth"] for i in key["items"]] == [truths[k] for k in order]
    assert np.array_equal(item_order(SEED, 9), item_order(SEED, 9))
    assert not np.array_equal(item_order(SEED, 9), item_order(SEED + 1, 9))
    again = export(real, bases, tmp_path / "again")
    assert again.page.read_bytes() == study["made"].page.read_bytes()
    assert again.key.read_bytes() == study["made"].key.read_bytes()
    other = json.loads(export(real, bases, tmp_path / "other", seed=SEED + 1).key.read_text())
    assert [i["item"] for i in other["items"]] != [i["item"] for i in key["items"]]
    assert other["study_id"] != key["study_id"]


def test_other_inputs_with_one_seed_give_another_study_id(study, real, bases, tmp_path):
    fewer = export(real, bases, tmp_path, n_synthetic=4)
    assert fewer.study_id != study["made"].study_id


def test_an_existing_key_is_not_replaced(study, real, bases):
    with pytest.raises(TuringError, match="already exists"):
        export(real, bases, study["made"].key.parent)


def test_synthetic_tumors_are_sized_like_the_real_ones(study):
    items = study["key"]["items"]
    real = sorted(i["lesion"]["radius_mm"] for i in items if i["truth"] == "real")
    for item in (i for i in items if i["truth"] == "synthetic"):
        target = item["source"]["target_radius_mm"]
        assert min(abs(target - r) for r in real) < 1e-9  # asked for a real lesion's radius
        assert item["lesion"]["radius_mm"] == pytest.approx(target, rel=0.5)
