"""The built-in phantom: deterministic, anatomically plausible, and a valid base scan."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from robustbench_liver.errors import DataError
from robustbench_liver.sources.phantom import LABELS, generate_phantom, make_phantom


@pytest.fixture(scope="module")
def phantom():
    return generate_phantom(0)


def test_same_seed_gives_identical_bytes(phantom):
    again = generate_phantom(0)
    assert again.scan.image.tobytes() == phantom.scan.image.tobytes()
    assert again.labels.tobytes() == phantom.labels.tobytes()
    assert again.scan.digest == phantom.scan.digest


def test_other_seed_gives_another_patient(phantom):
    other = make_phantom(1, shape=(128, 112, 48), spacing=(3.0, 3.0, 5.0))
    assert other.id == "phantom-1"
    assert other.provenance["anatomy"] != phantom.scan.provenance["anatomy"]


@pytest.mark.parametrize("seed", [0, 3, 10])
def test_liver_volume_and_attenuation(seed, phantom):
    scan = phantom.scan if seed == 0 else make_phantom(seed)
    assert 1150 <= scan.liver_volume_ml <= 2250  # drawn from 1.2-2.2 l, fitted to ~2 %
    median = float(np.median(scan.image[scan.liver]))
    assert 90 <= median <= 130  # portal-venous-phase parenchyma
    # the whole liver lies inside the field of view
    z = np.flatnonzero(scan.liver.any(axis=(0, 1)))
    assert z.min() > 0 and z.max() < scan.shape[2] - 1


def test_liver_volume_follows_the_request():
    scan = make_phantom(4, liver_volume_ml=1500.0, shape=(160, 140, 60), spacing=(2.4, 2.4, 4.0))
    assert scan.liver_volume_ml == pytest.approx(1500.0, rel=0.05)


def test_vessels_are_enhanced_tubes_of_2_to_10_mm(phantom):
    scan, labels = phantom.scan, phantom.labels
    liver_vessels = scan.vessels & scan.liver
    assert 0.02 < liver_vessels.sum() / scan.liver.sum() < 0.15
    # parenchyma and vessel cores, away from partial-volume edges
    parenchyma = ndimage.binary_erosion(scan.liver & ~scan.vessels, iterations=3)
    cores = ndimage.binary_erosion(liver_vessels, iterations=1)
    delta = float(np.median(scan.image[cores]) - np.median(scan.image[parenchyma]))
    assert 35 <= delta <= 95
    # radius from the distance to the wall: the thickest intrahepatic vessel is 10 mm at most
    radius = ndimage.distance_transform_edt(liver_vessels, sampling=scan.spacing)
    assert 2.0 <= radius.max() <= 10.5
    # both trees are present inside the liver
    for name in ("portal_vein", "hepatic_veins"):
        assert ((labels == LABELS[name]) & scan.liver).sum() > 500


def test_anatomy_sits_where_it_should(phantom):
    labels, image = phantom.labels, phantom.scan.image
    centre_x = (labels.shape[0] - 1) / 2

    def centroid_x(name: str) -> float:
        return float(np.nonzero(labels == LABELS[name])[0].mean())

    # RAS: larger x is the patient's right
    assert centroid_x("liver") > centre_x + 10
    assert centroid_x("spleen") < centre_x - 30
    assert centroid_x("stomach") < centre_x
    assert centroid_x("kidney_right") > centre_x > centroid_x("kidney_left")
    assert (image[labels == LABELS["stomach"]] < -500).any()  # gas in the stomach
    assert np.median(image[labels == LABELS["bone"]]) > 200
    assert -120 < np.median(image[labels == LABELS["subcutaneous_fat"]]) < -80
    assert np.median(image[labels == LABELS["background"]]) < -900
    top = labels[:, :, -3:]
    assert (top == LABELS["lung"]).any()  # the field of view starts above the diaphragm
    assert LABELS["liver"] == 1 and 2 not in np.unique(labels)  # 2 is kept for tumors


def test_noise_level_is_as_requested():
    phantom = generate_phantom(5, noise_std=15.0, shape=(160, 140, 40), spacing=(2.4, 2.4, 6.0))
    fat = ndimage.binary_erosion(phantom.labels == LABELS["subcutaneous_fat"], iterations=2)
    assert 12.0 < float(phantom.scan.image[fat].std()) < 18.0


def test_options_are_validated():
    with pytest.raises(DataError, match="shape"):
        make_phantom(0, shape=(4, 4, 4))
    with pytest.raises(DataError, match="spacing"):
        make_phantom(0, spacing=(0.0, 1.0, 1.0))
    with pytest.raises(DataError, match="liver_volume_ml"):
        make_phantom(0, liver_volume_ml=50.0)
    with pytest.raises(DataError, match="vary_gallbladder"):
        make_phantom(0, vary_gallbladder="yes")


def test_a_varied_gallbladder_leaves_the_rest_of_the_patient(phantom):
    """Training phantoms draw the gallbladder per seed, from a stream of their own: the
    rest of the patient is the seed's (the liver is refitted to its target volume around
    the new gallbladder), and the gallbladder often meets the liver with no fat plane
    between them (the canonical one never does)."""
    from dataclasses import replace

    gb = LABELS["gallbladder"]
    varied = [
        generate_phantom(0, vary_gallbladder=True),
        generate_phantom(1, vary_gallbladder=True),
    ]
    again = generate_phantom(0, vary_gallbladder=True)
    assert again.scan.image.tobytes() == varied[0].scan.image.tobytes()
    assert replace(varied[0].anatomy, liver_scale=1.0) == replace(phantom.anatomy, liver_scale=1.0)
    for organ in ("spleen", "kidney_left", "kidney_right", "stomach", "aorta"):
        assert np.array_equal(varied[0].labels == LABELS[organ], phantom.labels == LABELS[organ])
    liver = [int(p.scan.liver.sum()) for p in (phantom, varied[0])]
    assert abs(liver[1] - liver[0]) < 0.05 * liver[0]

    def touches_liver(p):
        grown = ndimage.binary_dilation(p.labels == gb)
        return int((grown & p.scan.liver).sum())

    assert touches_liver(phantom) == 0
    volumes = {int((p.labels == gb).sum()) for p in varied}
    assert len(volumes) == 2 and all(touches_liver(p) > 0 for p in varied)


def test_a_field_of_view_without_liver_is_refused():
    # 20 slices of 1 mm from the top of the field of view hold only chest
    with pytest.raises(DataError, match="does not reach the liver"):
        make_phantom(0, shape=(64, 64, 8), spacing=(1.0, 1.0, 1.0))


def test_bytes_do_not_depend_on_the_blas_thread_count():
    """A Dask worker runs with one BLAS thread, a local worker with several: the phantom (and
    so the case cache key and the leakage digests) must be the same bytes in both."""
    import hashlib
    import os
    import subprocess
    import sys

    code = (
        "import hashlib;from robustbench_liver.sources.phantom import make_phantom;"
        "s=make_phantom(3, shape=(128, 112, 56), spacing=(3.0, 3.0, 4.0));"
        "print(hashlib.sha256(s.image.tobytes()).hexdigest())"
    )
    here = make_phantom(3, shape=(128, 112, 56), spacing=(3.0, 3.0, 4.0))
    expected = hashlib.sha256(here.image.tobytes()).hexdigest()
    for threads in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == expected, threads


def test_a_duodenum_meets_the_liver_at_its_hilum(phantom):
    """With `duodenum`, new bowel lies against the liver; the other organs stay the seed's."""
    bowel = LABELS["bowel"]
    with_duodenum = generate_phantom(0, duodenum=True)
    again = generate_phantom(0, duodenum=True)
    assert again.scan.image.tobytes() == with_duodenum.scan.image.tobytes()
    for organ in ("spleen", "kidney_left", "kidney_right", "stomach", "gallbladder"):
        same = with_duodenum.labels == LABELS[organ]
        assert np.array_equal(same, phantom.labels == LABELS[organ]), organ

    new = (with_duodenum.labels == bowel) & (phantom.labels != bowel)
    on_liver = ndimage.binary_dilation(new) & with_duodenum.scan.liver
    assert new.sum() * 1.5 * 1.5 * 2.5 > 10_000 and on_liver.sum() > 200  # > 10 ml


def test_a_liver_tip_reaches_down_beside_the_right_kidney(phantom):
    """With `liver_tip`, the right lobe ends in a thin lateral tip next to the right kidney,
    as many real right lobes do; the volume is still fitted and the other organs stay."""
    tipped = generate_phantom(0, liver_tip=True)
    assert generate_phantom(0, liver_tip=True).scan.image.tobytes() == tipped.scan.image.tobytes()
    for organ in ("spleen", "kidney_left", "kidney_right", "stomach", "gallbladder"):
        assert np.array_equal(tipped.labels == LABELS[organ], phantom.labels == LABELS[organ])
    assert abs(tipped.scan.liver_volume_ml - phantom.scan.liver_volume_ml) < 50

    def lowest_slice(liver):
        return int(np.flatnonzero(liver.any(axis=(0, 1)))[0])

    low = lowest_slice(tipped.scan.liver)
    assert 0 < low <= lowest_slice(phantom.scan.liver) - 8  # 20 mm lower, inside the view
    per_slice = tipped.scan.liver.sum(axis=(0, 1))
    assert per_slice[low] < per_slice[low + 4] / 5  # it ends round, not cut flat by a box
    kidney = tipped.labels == LABELS["kidney_right"]
    both = tipped.scan.liver.any(axis=(0, 1)) & kidney.any(axis=(0, 1))
    z = int(np.flatnonzero(both)[0])  # the lowest slice with liver beside the kidney
    assert not phantom.scan.liver[:, :, z].any()  # the default liver ends above it
    tip = tipped.scan.liver[:, :, z]
    x_tip = np.flatnonzero(tip.any(axis=1)).mean()
    x_kidney = np.flatnonzero(kidney[:, :, z].any(axis=1)).mean()
    right = tipped.scan.affine[0, 0] > 0  # +x in voxels is patient right when the row is +
    assert (x_tip > x_kidney) == right  # lateral to the kidney
    assert tip.sum(axis=0).max() * 1.5 <= 35  # a thin crescent: at most 35 mm across


def test_fissures_cut_thin_fat_filled_clefts_into_the_liver(phantom):
    """With `fissures`, seed 0 gets both fissures: fat sheets inside the liver's outline,
    left out of the liver mask, a few ml in all; everything else stays the seed's."""
    clefted = generate_phantom(0, fissures=True)
    again = generate_phantom(0, fissures=True)
    assert again.scan.image.tobytes() == clefted.scan.image.tobytes()
    for organ in ("spleen", "kidney_left", "kidney_right", "stomach", "gallbladder"):
        assert np.array_equal(clefted.labels == LABELS[organ], phantom.labels == LABELS[organ])

    liver = clefted.scan.liver
    cleft = phantom.scan.liver & ~liver & (clefted.labels == LABELS["visceral_fat"])
    voxel_ml = 1.5 * 1.5 * 2.5 / 1000
    assert 2.0 < cleft.sum() * voxel_ml < 20.0
    assert (phantom.scan.liver & ~liver & ~cleft).sum() * voxel_ml < 0.5  # only clefts went
    image = clefted.scan.image
    assert np.median(image[cleft]) < np.median(image[liver]) - 100  # fat, not parenchyma
    assert len(np.unique(ndimage.label(cleft, np.ones((3, 3, 3)))[0])) - 1 >= 2  # two sheets
    depth = ndimage.distance_transform_edt(cleft, sampling=(1.5, 1.5, 2.5))
    assert depth.max() <= 4.5  # sheets at most 8 mm thick, not blobs
    near_liver = ndimage.binary_dilation(liver, iterations=2)
    assert near_liver[cleft].mean() > 0.95  # in the liver's outline, not beside it
