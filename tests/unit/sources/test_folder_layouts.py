"""Folder sources read the common layouts on disk, follow symlinks inside the data root and
refuse those that leave it."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from robustbench_liver.errors import DataError, ScenarioError
from robustbench_liver.io import save_nifti
from robustbench_liver.io.scan import LiverMaskWarning
from robustbench_liver.scenarios.load import scenario_from_dict
from robustbench_liver.scenarios.plan import base_scans
from robustbench_liver.sources.refs import file_refs

AFFINE = np.diag([3.0, 3.0, 3.0, 1.0])
SHAPE = (40, 40, 40)
LIVER_VOXELS = 30 * 30 * 30  # 0.73 l


def _labels(totalseg: bool) -> np.ndarray:
    """A whole liver (5 as in TotalSegmentator, else 1) and, for TotalSegmentator, a spleen
    (1), an aorta (52) and a portal vein (64)."""
    labels = np.zeros(SHAPE, dtype=np.uint8)
    labels[4:34, 4:34, 4:34] = 5 if totalseg else 1
    if totalseg:
        labels[35:39, 4:34, 4:34] = 1  # spleen
        labels[20:22, 35:37, 2:38] = 52
        labels[10:12, 35:37, 10:20] = 64
    return labels


def _ct(labels: np.ndarray) -> np.ndarray:
    image = np.full(SHAPE, -80.0, dtype=np.float32)
    image[(labels == 5) if (labels == 5).any() else (labels == 1)] = 70.0
    return image


def _case(image_path: Path, label_path: Path | None, totalseg: bool = True) -> None:
    labels = _labels(totalseg)
    save_nifti(image_path, _ct(labels), AFFINE)
    if label_path is not None:
        save_nifti(label_path, labels, AFFINE, kind="label")


def _loaded(refs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LiverMaskWarning)
        return [r.load() for r in refs]


def test_totalseg_folders_without_liver_label_read_the_liver_not_the_spleen(tmp_path):
    for case in ("s0001", "s0002"):
        _case(tmp_path / case / "ct.nii.gz", tmp_path / case / "labels.nii.gz")
    refs = file_refs(tmp_path, "*/ct.nii.gz", labels="{dir}/labels.nii.gz")
    assert [r.id for r in refs] == ["s0001", "s0002"]
    with pytest.warns(LiverMaskWarning, match=r"scan s0001: .*liver = 5 \(TotalSegmentator"):
        scan = refs[0].load()
    assert int(scan.liver.sum()) == LIVER_VOXELS


def test_totalseg_segmentations_folder(tmp_path):
    case = tmp_path / "s0001"
    _case(case / "ct.nii.gz", None)
    liver = (_labels(totalseg=True) == 5).astype(np.uint8)
    save_nifti(case / "segmentations" / "liver.nii.gz", liver, AFFINE, kind="label")
    save_nifti(case / "segmentations" / "spleen.nii.gz", 0 * liver, AFFINE, kind="label")
    refs = file_refs(tmp_path, "*/ct.nii.gz", liver="{dir}/segmentations/liver.nii.gz")
    assert int(_loaded(refs)[0].liver.sum()) == LIVER_VOXELS


def test_msd_nnunet_names_pair_image_0000_with_label(tmp_path):
    for case in ("liver_0", "liver_1"):
        _case(
            tmp_path / "imagesTr" / f"{case}_0000.nii.gz",
            tmp_path / "labelsTr" / f"{case}.nii.gz",
            totalseg=False,
        )
    (tmp_path / "imagesTr" / "._liver_0_0000.nii.gz").write_bytes(b"\0" * 4096)  # macOS junk
    refs = file_refs(tmp_path, "imagesTr/*.nii.gz", labels="labelsTr/{case}.nii.gz")
    assert [r.id for r in refs] == ["liver_0", "liver_1"]
    assert dict(refs[1].args)["labels"].endswith("labelsTr/liver_1.nii.gz")
    assert all(int(s.liver.sum()) == LIVER_VOXELS for s in _loaded(refs))


def test_flat_folder_with_a_label_folder(tmp_path):
    for case in ("a", "b"):
        _case(tmp_path / "images" / f"{case}.nii.gz", tmp_path / "labels" / f"{case}.nii.gz")
    (tmp_path / "images" / "._a.nii.gz").write_bytes(b"\0" * 4096)
    refs = file_refs(tmp_path, "images/*.nii.gz", labels="labels/{name}", liver_label=5)
    assert [r.id for r in refs] == ["a", "b"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", LiverMaskWarning)  # liver_label given: nothing to say
        assert all(int(r.load().liver.sum()) == LIVER_VOXELS for r in refs)


def test_symlinked_folder_inside_the_root_is_followed(tmp_path):
    root = tmp_path / "root"
    _case(root / "store" / "s0001" / "ct.nii.gz", root / "store" / "s0001" / "labels.nii.gz")
    (root / "cases").mkdir()
    os.symlink(root / "store" / "s0001", root / "cases" / "s0001", target_is_directory=True)
    refs = file_refs(root, "cases/**/ct.nii.gz", labels="{dir}/labels.nii.gz", liver_label=5)
    assert [r.id for r in refs] == ["cases-s0001"]
    assert int(_loaded(refs)[0].liver.sum()) == LIVER_VOXELS


def test_symlink_leaving_the_root_is_refused(tmp_path):
    outside = tmp_path / "elsewhere" / "s0002"
    _case(outside / "ct.nii.gz", outside / "labels.nii.gz")
    root = tmp_path / "root"
    _case(root / "s0001" / "ct.nii.gz", root / "s0001" / "labels.nii.gz")
    os.symlink(outside, root / "s0002", target_is_directory=True)
    with pytest.raises(DataError, match=r"s0002.*outside the data root") as info:
        file_refs(root, "*/ct.nii.gz", labels="{dir}/labels.nii.gz", liver_label=5)
    assert str(outside.resolve()) in str(info.value)


def test_symlinked_label_leaving_the_root_is_refused(tmp_path):
    root = tmp_path / "root"
    _case(root / "s0001" / "ct.nii.gz", tmp_path / "labels.nii.gz")
    os.symlink(tmp_path / "labels.nii.gz", root / "s0001" / "labels.nii.gz")
    with pytest.raises(DataError, match=r"labels 's0001/labels\.nii\.gz' is a symlink to"):
        file_refs(root, "*/ct.nii.gz", labels="{dir}/labels.nii.gz")


def test_folder_source_in_a_scenario_without_liver_label(tmp_path):
    _case(tmp_path / "s0001" / "ct.nii.gz", tmp_path / "s0001" / "labels.nii.gz")
    spec = {"source": "folder", "images": "*/ct.nii.gz", "labels": "{dir}/labels.nii.gz"}
    s = scenario_from_dict({"name": "f", "base_scans": [spec]})
    (ref,) = base_scans(s, tmp_path)
    assert "liver_label" not in ref.describe()
    with pytest.warns(LiverMaskWarning, match="liver = 5"):
        assert int(ref.load().liver.sum()) == LIVER_VOXELS


def test_escaping_symlink_in_a_scenario_names_the_source(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    _case(tmp_path / "out" / "ct.nii.gz", tmp_path / "out" / "labels.nii.gz")
    os.symlink(tmp_path / "out", root / "s0001", target_is_directory=True)
    spec = {"source": "folder", "images": "*/ct.nii.gz", "labels": "{dir}/labels.nii.gz"}
    s = scenario_from_dict({"name": "f", "base_scans": [spec]})
    with pytest.raises(ScenarioError, match=r"base_scans\[0\].*outside the data root"):
        base_scans(s, root)
