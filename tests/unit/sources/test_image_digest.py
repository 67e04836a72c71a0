"""image_digest: one base scan image, one digest, whatever its path, format or labels."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np

from robustbench_liver.io import load_scan
from robustbench_liver.io.scan import save_nifti
from robustbench_liver.sources.phantom import make_phantom
from robustbench_liver.sources.refs import file_refs, image_digest, image_file_digest, phantom_refs
from robustbench_liver.types import Scan

SMALL = {"shape": (96, 84, 40), "spacing": (4.0, 4.0, 6.0)}


def _scan(image: np.ndarray, spacing=(1.0, 1.0, 2.0), liver=None) -> Scan:
    if liver is None:
        liver = np.zeros(image.shape, bool)
        liver[1:3, 1:3, 1:3] = True
    return Scan(image=image, spacing=spacing, liver=liver, affine=np.eye(4), id="s")


def test_digest_is_of_the_image_and_spacing_only():
    image = np.random.default_rng(0).normal(60, 20, (6, 5, 4)).astype(np.float32)
    a = _scan(image)
    other_liver = np.zeros(image.shape, bool)
    other_liver[2:5, 2:4, :] = True
    same = [
        _scan(image.copy(), liver=other_liver),  # labels are not the image
        _scan(image.astype(np.float64)),  # dtype of the array handed in
        _scan(np.asfortranarray(image)),  # memory layout
        _scan(image, spacing=(1.0001, 0.9999, 2.0)),  # header round-off
    ]
    assert all(image_digest(s) == image_digest(a) for s in same)
    assert a.digest != same[0].digest  # the case-cache key does see the masks
    changed = image.copy()
    changed[3, 2, 1] += 1.0
    different = [
        _scan(changed),  # one voxel
        _scan(image, spacing=(1.0, 1.0, 2.5)),
        _scan(image[:, :, :3]),
        _scan(np.ascontiguousarray(image.transpose(1, 0, 2))),  # same bytes, other shape
    ]
    digests = {image_digest(s) for s in different}
    assert len(digests) == len(different) and image_digest(a) not in digests


def test_negative_zero_hashes_as_zero():
    image = np.zeros((4, 4, 4), np.float32)
    assert image_digest(_scan(image)) == image_digest(_scan(-image))


def test_phantom_digest_follows_seed_and_options():
    a, b = phantom_refs(2, 7, **SMALL)
    assert a.image_digest() == image_digest(make_phantom(7, **SMALL))
    assert a.image_digest() != b.image_digest()
    assert phantom_refs(1, 7, shape=(96, 84, 44), spacing=(4.0, 4.0, 6.0))[0].image_digest() != (
        a.image_digest()
    )


def test_copies_formats_and_orientations_of_a_real_scan(shared_data, tmp_path):
    full = shared_data / "totalseg-full"
    labels = full / "labels.nii.gz"
    reference = image_digest(load_scan(full / "ct.nii.gz", labels=labels, liver_label=5))
    assert image_file_digest(full / "ct.nii.gz") == reference  # no labels needed
    # a copy elsewhere, under another name, read with other labels
    copy = tmp_path / "elsewhere" / "patient_7.nii.gz"
    copy.parent.mkdir()
    shutil.copy(full / "ct.nii.gz", copy)
    scan = load_scan(copy, labels=labels, liver_label=5, vessel_labels=(63, 64))
    assert image_digest(scan) == reference
    # int16 instead of int32 on disk, axes stored flipped (LPS) and uncompressed
    img = nib.load(full / "ct.nii.gz")
    data = np.asarray(img.dataobj).astype(np.int16)[::-1, ::-1, :]
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    flip[:2, 3] = [data.shape[0] - 1, data.shape[1] - 1]
    lps = tmp_path / "lps.nii"
    nib.save(nib.Nifti1Image(data, img.affine @ flip), lps)
    assert image_file_digest(lps) == reference
    # and a different scan is a different digest
    assert image_file_digest(shared_data / "totalseg-small" / "ct.nii.gz") != reference


def test_dicom_and_its_nifti_conversion_agree(shared_data, tmp_path):
    folder = shared_data / "totalseg-dicom"
    dicom = load_scan(folder / "dicom", labels=folder / "labels.nii.gz", liver_label=5)
    assert np.array_equal(dicom.image, np.rint(dicom.image))  # whole HU: int16 keeps them
    nifti = save_nifti(tmp_path / "ct.nii.gz", dicom.image, dicom.affine)
    assert image_file_digest(nifti) == image_digest(dicom) == image_file_digest(folder / "dicom")


def test_file_refs_digest_is_path_independent(shared_data, tmp_path):
    root = tmp_path / "data" / "case_a"
    root.mkdir(parents=True)
    for name in ("ct.nii.gz", "labels.nii.gz"):
        shutil.copy(shared_data / "totalseg-full" / name, root / name)
    here = file_refs(tmp_path / "data", "*/ct.nii.gz", "{dir}/labels.nii.gz", liver_label=5)
    there = file_refs(shared_data, "totalseg-full/ct.nii.gz", "{dir}/labels.nii.gz", liver_label=5)
    assert here[0].id != there[0].id and here[0].image_digest() == there[0].image_digest()
